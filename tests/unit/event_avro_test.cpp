// leaves' events in Avro (domain/event_avro.h): the encoding against bytes
// from the Avro specification, exact round trips of events (absent is not
// null), bounded decoding of corrupt input, and the record-value format with
// a registry's ids.
#include "leaves/domain/event_avro.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <iterator>

#include "leaves/domain/events.h"

namespace json = boost::json;
using namespace leaves;
using namespace leaves::domain;

namespace {

std::string hex(std::string_view b) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

std::shared_ptr<const avro_event_schema> schema_of(std::string_view text) {
  auto s = avro_event_schema::parse(text);
  EXPECT_TRUE(s) << (s ? "" : s.err().message);
  return s ? *s : nullptr;
}

std::shared_ptr<const avro_event_schema> own() { return schema_of(event_avro_schema()); }

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

json::object leaf_created() {
  return obj(R"({"event_id":"e1","type":"leaf.created","schema_version":1,"aggregate_id":"a631a7e661ad3c12df54cd1217800f5f",
    "aggregate_version":1,"time":"2026-01-15T09:30:00.000Z","actor":"ann",
    "data":{"leaf":{"url":"https://example.com/a","title":"A","content":null,"content_text":"text","tags":["kafka","x.y"],
      "slugs":["kafka","x.y"],"all":[],"links":["https://l"],"domain_name":"https://example.com","is_archived":false,
      "is_starred":true,"is_public":false,"created_at":"2026-01-15T09:30:00.000Z","updated_at":"2026-01-15T09:30:00.000Z",
      "user_id":42,"user_name":"ann","user_email":"ann@example.com","mimetype":null,"language":"en","reading_time":3,
      "preview_picture":null,"http_status":"200","published_at":null,"published_by":["Ann"]}},
    "context":{"tags":["kafka","x.y"],"user_id":42,"is_public":false}})");
}

}  // namespace

TEST(EventAvro, LongsAndStringsAreEncodedAsTheSpecificationSays) {
  // Zig-zag varints and length-prefixed UTF-8 (Avro 1.11 specification,
  // "Binary Encoding": 0 -> 00, -1 -> 01, 1 -> 02, -64 -> 7f, 64 -> 80 01;
  // "foo" -> 06 66 6f 6f).
  auto s = schema_of(R"({"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"long"},
    {"name":"c","type":"long"},{"name":"d","type":"long"},{"name":"e","type":"long"},{"name":"s","type":"string"},
    {"name":"u","type":["null","string"]},{"name":"x","type":{"type":"array","items":"long"}}]})");
  ASSERT_TRUE(s);
  auto bytes = s->encode(obj(R"({"a":0,"b":-1,"c":1,"d":-64,"e":64,"s":"foo","u":"z","x":[1,2]})"));
  ASSERT_TRUE(bytes) << bytes.err().message;
  // u: branch 1 (02), then "z" (length 1: 02, 7a); x: one block of 2 items (04), 1 (02), 2 (04), end (00).
  EXPECT_EQ(hex(*bytes), "0001027f8001" "06666f6f" "02027a" "04020400");
  auto back = s->decode(*bytes);
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(json::serialize(*back), R"({"a":0,"b":-1,"c":1,"d":-64,"e":64,"s":"foo","u":"z","x":[1,2]})");
}

TEST(EventAvro, AnEventComesBackExactly) {
  auto s = own();
  ASSERT_TRUE(s);
  const auto ev = leaf_created();
  auto bytes = s->encode(ev);
  ASSERT_TRUE(bytes) << bytes.err().message;
  EXPECT_LT(bytes->size(), json::serialize(ev).size()) << "Avro is smaller than the JSON it carries";
  auto back = s->decode(*bytes);
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(*back, ev) << "got " << json::serialize(*back);
  auto parsed = event_from_json(*back);
  ASSERT_TRUE(parsed) << parsed.err().message;
  EXPECT_EQ(parsed->public_after, std::optional<bool>(false));
}

TEST(EventAvro, AnAbsentFieldStaysAbsentAndANullOneNull) {
  auto s = own();
  ASSERT_TRUE(s);
  auto ev = leaf_created();
  ev["type"] = "leaf.updated";
  ev["aggregate_version"] = 2;
  for (const char* changes : {R"({"content":null})", R"({"title":"B"})", R"({"content":"<p>x</p>","is_public":true})"}) {
    ev["data"] = json::object{{"changes", json::parse(changes)}};
    auto bytes = s->encode(ev);
    ASSERT_TRUE(bytes) << bytes.err().message;
    auto back = s->decode(*bytes);
    ASSERT_TRUE(back) << back.err().message;
    EXPECT_EQ(json::serialize(back->at("data")), json::serialize(ev.at("data")))
        << "changes " << changes << " came back as " << json::serialize(back->at("data"));
  }
  // A user's event has no context: it stays without one.
  auto user = obj(R"({"event_id":"e2","type":"user.updated","schema_version":1,"aggregate_id":"user:ann",
    "aggregate_version":3,"time":"2026-01-15T09:30:00.000Z","actor":"leaves","data":{"changes":{"disabled":true}}})");
  auto bytes = s->encode(user);
  ASSERT_TRUE(bytes) << bytes.err().message;
  auto back = s->decode(*bytes);
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(*back, user) << json::serialize(*back);
}

TEST(EventAvro, FreeFormObjectsTravelAsJsonText) {
  auto s = own();
  ASSERT_TRUE(s);
  auto ev = obj(R"({"event_id":"e3","type":"leaf.enrich_failed","schema_version":1,"aggregate_id":"abc",
    "aggregate_version":2,"time":"2026-01-15T09:30:00.000Z","actor":"leaves",
    "data":{"request":"0:12","reason":"http_status 404","page":{"http_status":404,"final_url":"https://x/","retryable":false}},
    "context":{"tags":null,"user_id":null}})");
  auto bytes = s->encode(ev);
  ASSERT_TRUE(bytes) << bytes.err().message;
  auto back = s->decode(*bytes);
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(*back, ev) << json::serialize(*back);
}

TEST(EventAvro, WhatTheSchemaDoesNotHaveIsRefusedByName) {
  auto s = own();
  ASSERT_TRUE(s);
  auto ev = leaf_created();
  ev["data"].as_object()["leaf"].as_object()["colour"] = "red";
  auto bytes = s->encode(ev);
  ASSERT_FALSE(bytes);
  EXPECT_NE(bytes.err().message.find("colour"), std::string::npos) << bytes.err().message;
  ev = leaf_created();
  ev["type"] = "leaf.teleported";  // no branch of data is this type's
  bytes = s->encode(ev);
  ASSERT_FALSE(bytes);
  EXPECT_NE(bytes.err().message.find("event.data"), std::string::npos) << bytes.err().message;
  ev = leaf_created();
  ev["aggregate_version"] = "one";
  bytes = s->encode(ev);
  ASSERT_FALSE(bytes);
  EXPECT_NE(bytes.err().message.find("event.aggregate_version"), std::string::npos) << bytes.err().message;
}

TEST(EventAvro, CorruptInputIsRefusedWithinItsBounds) {
  auto s = own();
  ASSERT_TRUE(s);
  auto good = s->encode(leaf_created());
  ASSERT_TRUE(good);
  // Every truncation, and trailing bytes.
  for (size_t n = 0; n < good->size(); ++n) {
    auto r = s->decode(std::string_view(*good).substr(0, n));
    ASSERT_FALSE(r) << "a record cut at " << n << " of " << good->size() << " bytes decoded";
    EXPECT_EQ(r.err().detail, "avro_corrupt");
  }
  EXPECT_FALSE(s->decode(*good + "x")) << "trailing bytes";
  // A string claiming 2^62 bytes; an array of 2^40 nulls; a union branch 99.
  auto arrays = schema_of(R"({"type":"record","name":"R","fields":[{"name":"a","type":{"type":"array","items":"null"}}]})");
  ASSERT_TRUE(arrays);
  auto r = arrays->decode(std::string("\xfe\xff\xff\xff\xff\xff\x01", 7));
  ASSERT_FALSE(r) << "2^40 elements";
  EXPECT_NE(r.err().message.find("elements"), std::string::npos) << r.err().message;
  EXPECT_FALSE(s->decode(std::string("\x02" "e1" "\xfe\xff\xff\xff\xff\xff\xff\xff\x7f", 12))) << "a huge length";
  auto unions = schema_of(R"({"type":"record","name":"R","fields":[{"name":"u","type":["null","long"]}]})");
  ASSERT_TRUE(unions);
  EXPECT_FALSE(unions->decode(std::string("\xc6\x01", 2))) << "union branch 99";
  EXPECT_FALSE(unions->decode(std::string("\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12)))
      << "a varint of 11 bytes";
}

TEST(EventAvro, RecordValuesAreJsonOrConfluentFramedAvro) {
  // JSON until configured otherwise; both read either way.
  configure_event_format({});
  const auto ev = leaf_created();
  auto value = encode_event_value(ev);
  ASSERT_TRUE(value);
  EXPECT_EQ((*value)[0], '{');
  auto back = decode_event_value(*value);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, ev);

  configure_event_format({.write_avro = true, .schema_id = 0x01020304, .fetch_schema = nullptr});
  value = encode_event_value(ev);
  ASSERT_TRUE(value);
  EXPECT_EQ(hex(value->substr(0, 5)), "0001020304") << "magic byte 0, the id big-endian";
  back = decode_event_value(*value);
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(*back, ev);

  // Another id: without a registry it cannot be read, and says so.
  auto other = std::string("\0\0\0\0\x09", 5) + value->substr(5);
  back = decode_event_value(other);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.err().detail, "avro_no_registry");

  // With one: unknown ids are the record's fault, an unreachable registry is
  // not (unavailable: ask again), and a known id's schema is fetched once.
  int fetched = 0;
  bool reachable = false;
  configure_event_format({.write_avro = false, .schema_id = 0, .fetch_schema = [&](int32_t id) -> result<std::string> {
                            ++fetched;
                            if (!reachable) return make_error(errc::unavailable, "connection refused");
                            if (id == 9) return std::string(event_avro_schema());
                            return make_error(errc::not_found, "no such id");
                          }});
  back = decode_event_value(other);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.err().code, errc::unavailable);
  reachable = true;
  back = decode_event_value(other);
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(*back, ev);
  EXPECT_TRUE(decode_event_value(other));
  EXPECT_EQ(fetched, 2) << "the second read of id 9 came from the cache";
  back = decode_event_value(std::string("\0\0\0\0\x0a", 5) + value->substr(5));
  ASSERT_FALSE(back);
  EXPECT_EQ(back.err().detail, "avro_unknown_schema");
  EXPECT_FALSE(decode_event_value(std::string("\0\0\0", 3))) << "a frame shorter than 5 bytes";
  configure_event_format({});
}

TEST(EventAvro, AnOlderWriterSchemaStillReads) {
  // A writer from before `context.is_public` existed: its events decode with
  // its own schema (fetched by id) to what JSON events of that time were.
  auto text = std::string(event_avro_schema());
  auto root = json::parse(text).as_object();
  for (auto& f : root["fields"].as_array()) {
    if (f.as_object()["name"] != "context") continue;
    auto& ctx = f.as_object()["type"].as_array()[1].as_object();
    auto& fields = ctx["fields"].as_array();
    json::array kept;
    for (auto& cf : fields)
      if (cf.as_object()["name"] != "is_public") kept.push_back(cf);
    fields = kept;
  }
  auto older = schema_of(json::serialize(root));
  ASSERT_TRUE(older);
  auto ev = leaf_created();
  ev["context"].as_object().erase("is_public");
  auto bytes = older->encode(ev);
  ASSERT_TRUE(bytes) << bytes.err().message;
  configure_event_format({.write_avro = false, .schema_id = 0, .fetch_schema = [&](int32_t) -> result<std::string> {
                            return json::serialize(root);
                          }});
  auto back = decode_event_value(std::string("\0\0\0\0\x05", 5) + *bytes);
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(*back, ev) << json::serialize(*back);
  auto parsed = event_from_json(*back);
  ASSERT_TRUE(parsed) << parsed.err().message;
  configure_event_format({});
}

TEST(EventAvro, EventsFastavroWroteAreRead) {
  // fuzz/corpus/event_avro holds events written by fastavro (Python) with the
  // committed schema: another implementation's bytes decode here.
  auto s = own();
  ASSERT_TRUE(s);
  for (const char* name : {"created", "updated", "failed", "user"}) {
    std::ifstream in(std::string(LEAVES_SOURCE_DIR "/fuzz/corpus/event_avro/") + name, std::ios::binary);
    ASSERT_TRUE(in) << name;
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto ev = s->decode(bytes);
    ASSERT_TRUE(ev) << name << ": " << ev.err().message;
    EXPECT_EQ(ev->at("schema_version"), 1) << name;
    auto again = s->encode(*ev);
    ASSERT_TRUE(again) << name << ": " << again.err().message;
    EXPECT_EQ(*again, bytes) << name << ": leaves writes the bytes fastavro wrote";
    if (ev->at("type") == "user.created") {
      EXPECT_FALSE(ev->contains("context")) << "absent from the present fields: " << json::serialize(*ev);
    } else {
      auto parsed = event_from_json(*ev);
      EXPECT_TRUE(parsed) << name << ": " << (parsed ? "" : parsed.err().message);
    }
  }
  auto updated = s->decode([] {
    std::ifstream in(LEAVES_SOURCE_DIR "/fuzz/corpus/event_avro/updated", std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }());
  ASSERT_TRUE(updated);
  EXPECT_EQ(json::serialize(updated->at("data")), R"({"changes":{"title":"B","content":null}})")
      << "the present fields, in the order the writer listed them";
}

TEST(EventAvro, AnEventWhoseDataIsAnotherTypesIsCorrupt) {
  // Found by fuzz_event_avro: `data`'s branch names its type; a record whose
  // type field says otherwise is refused, not read as the other type.
  auto s = own();
  ASSERT_TRUE(s);
  auto bytes = s->encode(leaf_created());
  ASSERT_TRUE(bytes);
  const auto at = bytes->find("leaf.created");
  ASSERT_NE(at, std::string::npos);
  bytes->replace(at, 12, "leaf.updated");  // same length: only the type changes
  auto r = s->decode(*bytes);
  ASSERT_FALSE(r) << json::serialize(*r);
  EXPECT_EQ(r.err().detail, "avro_corrupt");
  EXPECT_NE(r.err().message.find("leaf.created's"), std::string::npos) << r.err().message;
}
