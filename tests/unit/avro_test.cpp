// Avro leaf records (ingest/avro.h): records encoded with Avro C under
// several writer schemas decode, resolved against leaves' reader schema, to the
// JSON a JSON record would be; evolution (fields added, removed, promoted,
// unions with null, enums) and damage (corrupt bytes, types that cannot be
// resolved) each behave as the Avro specification says.
#include <avro.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "leaves/ingest/avro.h"
#include "leaves/ingest/ingest.h"

namespace json = boost::json;
using leaves::ingest::avro_decoder;

namespace {

// Encodes one record of `schema_json` whose fields are set by `fill`.
template <class Fill>
std::string encode(const std::string& schema_json, Fill fill) {
  avro_schema_t schema = nullptr;
  EXPECT_EQ(avro_schema_from_json_length(schema_json.data(), schema_json.size(), &schema), 0) << avro_strerror();
  avro_value_iface_t* cls = avro_generic_class_from_schema(schema);
  avro_value_t v;
  avro_generic_value_new(cls, &v);
  fill(v);
  char buf[65536];
  avro_writer_t w = avro_writer_memory(buf, sizeof buf);
  EXPECT_EQ(avro_value_write(w, &v), 0) << avro_strerror();
  std::string out(buf, static_cast<size_t>(avro_writer_tell(w)));
  avro_writer_free(w);
  avro_value_decref(&v);
  avro_value_iface_decref(cls);
  avro_schema_decref(schema);
  return out;
}

avro_value_t field(avro_value_t& rec, const char* name) {
  avro_value_t f;
  EXPECT_EQ(avro_value_get_by_name(&rec, name, &f, nullptr), 0) << name << ": " << avro_strerror();
  return f;
}
void set_string(avro_value_t& rec, const char* name, const char* s) {
  auto f = field(rec, name);
  avro_value_set_string(&f, s);
}
void set_int(avro_value_t& rec, const char* name, int32_t i) {
  auto f = field(rec, name);
  avro_value_set_int(&f, i);
}
void set_long(avro_value_t& rec, const char* name, int64_t i) {
  auto f = field(rec, name);
  avro_value_set_long(&f, i);
}
// A union field: branch `b`, then `set` on the branch value.
template <class Set>
void set_branch(avro_value_t& rec, const char* name, int b, Set set) {
  auto f = field(rec, name);
  avro_value_t branch;
  ASSERT_EQ(avro_value_set_branch(&f, b, &branch), 0) << avro_strerror();
  set(branch);
}
void append_strings(avro_value_t& arr, std::initializer_list<const char*> items) {
  for (const char* s : items) {
    avro_value_t e;
    avro_value_append(&arr, &e, nullptr);
    avro_value_set_string(&e, s);
  }
}

std::string reference_schema() {
  std::ifstream in(std::string(LEAVES_SOURCE_DIR) + "/data/leaves-record-schema.avsc");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(Avro, TheConfluentFrameIsAZeroByteAndABigEndianId) {
  const std::string v = std::string("\0\0\0\x01\x2a", 5) + "payload";
  auto f = leaves::ingest::parse_confluent_frame(v);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->schema_id, 298);
  EXPECT_EQ(f->payload, "payload");
  EXPECT_FALSE(leaves::ingest::parse_confluent_frame("{\"url\": 1}")) << "JSON is not framed";
  EXPECT_FALSE(leaves::ingest::parse_confluent_frame(std::string("\0\0\0", 3))) << "too short for an id";
}

TEST(Avro, AReferenceRecordDecodesToTheJsonOfAJsonRecord) {
  const auto schema = reference_schema();
  ASSERT_FALSE(schema.empty()) << "data/leaves-record-schema.avsc";
  const auto bytes = encode(schema, [](avro_value_t& r) {
    set_int(r, "is_archived", 0);
    set_int(r, "is_starred", 1);
    set_string(r, "user_name", "ada");
    set_string(r, "user_email", "ada@example.com");
    set_int(r, "user_id", 7);
    set_branch(r, "tags", 1, [](avro_value_t& a) { append_strings(a, {"kafka", "avro"}); });
    set_branch(r, "slugs", 0, [](avro_value_t& n) { avro_value_set_null(&n); });
    auto pub = field(r, "is_public");
    avro_value_set_boolean(&pub, 1);
    set_string(r, "id", "0123456789abcdef0123456789abcdef");
    set_string(r, "title", "Avro");
    set_string(r, "url", "https://avro.apache.org/");
    set_branch(r, "content_text", 0, [](avro_value_t& s) { avro_value_set_string(&s, "text"); });
    set_long(r, "created_at", 1564782312000);
    set_long(r, "updated_at", 1564782318000);
    set_branch(r, "mimetype", 1, [](avro_value_t& n) { avro_value_set_null(&n); });
    set_branch(r, "language", 0, [](avro_value_t& s) { avro_value_set_string(&s, "en"); });
    set_int(r, "reading_time", 3);
    set_string(r, "domain_name", "avro.apache.org");
    set_branch(r, "preview_picture", 1, [](avro_value_t& n) { avro_value_set_null(&n); });
    set_branch(r, "http_status", 0, [](avro_value_t& i) { avro_value_set_int(&i, 200); });
    set_branch(r, "published_by", 1, [](avro_value_t& n) { avro_value_set_null(&n); });
    set_branch(r, "published_at", 1, [](avro_value_t& n) { avro_value_set_null(&n); });
    set_branch(r, "content", 0, [](avro_value_t& s) { avro_value_set_string(&s, "<p>text</p>"); });
  });
  auto d = avro_decoder::make(schema);
  ASSERT_TRUE(d) << d.err().message;
  auto o = (*d)->decode(bytes);
  ASSERT_TRUE(o) << o.err().message;
  EXPECT_EQ(json::value(o->at("url")), json::value("https://avro.apache.org/"));
  EXPECT_EQ(o->at("tags"), (json::array{"kafka", "avro"}));
  EXPECT_EQ(o->at("is_starred"), json::value(1));
  EXPECT_EQ(o->at("is_public"), json::value(true));
  EXPECT_EQ(o->at("created_at"), json::value(1564782312000));
  EXPECT_EQ(o->at("http_status"), json::value(200));
  EXPECT_FALSE(o->contains("slugs")) << "a null union is left out, as an absent JSON field";
  EXPECT_FALSE(o->contains("mimetype"));
  auto cmd = leaves::ingest::ingester::to_command(*o, leaves::domain::limits{});
  ASSERT_TRUE(cmd) << cmd.err().message << " for " << json::serialize(*o);
  // The same record as JSON gives the same command.
  auto same = leaves::ingest::ingester::to_command(json::serialize(*o), leaves::domain::limits{});
  ASSERT_TRUE(same) << same.err().message;
  EXPECT_EQ(cmd->leaf_id, same->leaf_id);
}

TEST(Avro, WritersMayAddDropAndPromoteFields) {
  // No user fields at all (dropped), a field leaves does not know (added),
  // created_at as an int (promoted to long), title in a union with null.
  const std::string schema = R"({"type": "record", "name": "Saved", "namespace": "com.example", "fields": [
      {"name": "url", "type": "string"},
      {"name": "title", "type": ["null", "string"], "default": null},
      {"name": "created_at", "type": "int"},
      {"name": "source_system", "type": "string", "default": "crm"}]})";
  const auto bytes = encode(schema, [](avro_value_t& r) {
    set_string(r, "url", "https://example.org/evolved");
    set_branch(r, "title", 1, [](avro_value_t& s) { avro_value_set_string(&s, "Evolved"); });
    set_int(r, "created_at", 1700000000);
    set_string(r, "source_system", "crm");
  });
  auto d = avro_decoder::make(schema);
  ASSERT_TRUE(d) << d.err().message;
  auto o = (*d)->decode(bytes);
  ASSERT_TRUE(o) << o.err().message;
  EXPECT_EQ(json::value(*o), json::parse(R"({"created_at":1700000000,"title":"Evolved","url":"https://example.org/evolved"})"))
      << "the added field is dropped, the int is read as a long, the rest are absent: " << json::serialize(*o);
}

TEST(Avro, AnEnumIsGivenAsItsSymbol) {
  const std::string schema = R"({"type": "record", "name": "Leaves", "fields": [
      {"name": "url", "type": "string"},
      {"name": "language", "type": {"type": "enum", "name": "Lang", "symbols": ["en", "de", "fr"]}}]})";
  const auto bytes = encode(schema, [](avro_value_t& r) {
    set_string(r, "url", "https://example.org/de");
    auto f = field(r, "language");
    avro_value_set_enum(&f, 1);
  });
  auto d = avro_decoder::make(schema);
  ASSERT_TRUE(d) << d.err().message;
  auto o = (*d)->decode(bytes);
  ASSERT_TRUE(o) << o.err().message;
  EXPECT_EQ(o->at("language"), json::value("de"));
}

TEST(Avro, TypesThatCannotBeReadAsALeafAreRefusedWithAReason) {
  // url as a long: no resolution rule reads a long as a string.
  auto d = avro_decoder::make(R"({"type": "record", "name": "Leaves", "fields": [{"name": "url", "type": "long"}]})");
  ASSERT_FALSE(d) << "a long url should not resolve";
  EXPECT_EQ(d.err().detail, "avro_schema_unresolvable") << d.err().message;
  auto u = avro_decoder::make(
      R"({"type": "record", "name": "Leaves", "fields": [{"name": "title", "type": ["null", "string", "double"]}]})");
  ASSERT_FALSE(u) << "a union with a branch no reader branch reads";
  EXPECT_EQ(u.err().detail, "avro_schema_unresolvable");
  EXPECT_NE(u.err().message.find("title"), std::string::npos) << u.err().message;
  auto n = avro_decoder::make(R"({"type": "string"})");
  ASSERT_FALSE(n);
  EXPECT_EQ(n.err().detail, "avro_schema_invalid");
  auto bad = avro_decoder::make("{not json");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.err().detail, "avro_schema_invalid");
}

TEST(Avro, CorruptBytesAreRefusedNotGuessed) {
  const std::string schema = R"({"type": "record", "name": "Leaves", "fields": [
      {"name": "url", "type": "string"}, {"name": "reading_time", "type": "int"}]})";
  const auto good = encode(schema, [](avro_value_t& r) {
    set_string(r, "url", "https://example.org/x");
    set_int(r, "reading_time", 5);
  });
  auto d = avro_decoder::make(schema);
  ASSERT_TRUE(d) << d.err().message;
  ASSERT_TRUE((*d)->decode(good));
  for (const std::string& bytes : {good.substr(0, good.size() - 1), good + "extra", std::string("\x7f\xff\xff\xff\x0f", 5),
                                   std::string()}) {
    auto o = (*d)->decode(bytes);
    EXPECT_FALSE(o) << "decoded " << bytes.size() << " damaged bytes to " << (o ? json::serialize(*o) : "");
    if (!o) {
      EXPECT_EQ(o.err().detail, "avro_corrupt");
    }
  }
  // The decoder is still good after a failure.
  auto again = (*d)->decode(good);
  ASSERT_TRUE(again) << again.err().message;
  EXPECT_EQ(again->at("reading_time"), json::value(5));
}

TEST(Avro, APythonReprIsNamedForWhatItIs) {
  auto c = leaves::ingest::ingester::to_command("{'url': 'https://example.org/', 'title': 'x'}", leaves::domain::limits{});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.err().detail, "python_repr") << c.err().message;
}

TEST(Avro, TheEncoderWritesAvroJsonAsTheDecoderReadsIt) {
  const std::string schema = R"({"type": "record", "name": "Leaves", "fields": [
      {"name": "url", "type": "string"},
      {"name": "title", "type": ["null", "string"], "default": null},
      {"name": "tags", "type": {"type": "array", "items": "string"}},
      {"name": "reading_time", "type": "int"},
      {"name": "language", "type": {"type": "enum", "name": "Lang", "symbols": ["en", "de"]}},
      {"name": "content", "type": ["null", "string"]}]})";
  auto e = leaves::ingest::avro_encoder::make(schema);
  ASSERT_TRUE(e) << e.err().message;
  auto bytes = (*e)->encode(json::parse(
      R"({"url": "https://example.org/enc", "title": {"string": "Encoded"}, "tags": ["a", "b"], "reading_time": 4,
          "language": "de"})"));
  ASSERT_TRUE(bytes) << bytes.err().message;
  auto d = avro_decoder::make(schema);
  ASSERT_TRUE(d) << d.err().message;
  auto o = (*d)->decode(*bytes);
  ASSERT_TRUE(o) << o.err().message;
  EXPECT_EQ(json::value(*o),
            json::parse(R"({"language":"de","reading_time":4,"tags":["a","b"],"title":"Encoded","url":"https://example.org/enc"})"))
      << "content, missing and nullable, is null: " << json::serialize(*o);
  const auto framed = leaves::ingest::confluent_framed(300, *bytes);
  auto f = leaves::ingest::parse_confluent_frame(framed);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->schema_id, 300);
  EXPECT_EQ(f->payload, *bytes);
}

TEST(Avro, TheEncoderNamesWhatDoesNotFit) {
  const std::string schema = R"({"type": "record", "name": "Leaves", "fields": [
      {"name": "url", "type": "string"}, {"name": "n", "type": "int"},
      {"name": "u", "type": ["null", "long"]}]})";
  auto e = leaves::ingest::avro_encoder::make(schema);
  ASSERT_TRUE(e) << e.err().message;
  struct bad {
    const char* json;
    const char* names;
  };
  for (const bad& b : {bad{R"({"url": 5, "n": 1})", "url"}, bad{R"({"url": "x"})", "n"},
                       bad{R"({"url": "x", "n": 3000000000})", "n"}, bad{R"({"url": "x", "n": 1, "u": 7})", "u"},
                       bad{R"({"url": "x", "n": 1, "u": {"string": "7"}})", "u"}, bad{R"([1])", "value"}}) {
    auto r = (*e)->encode(json::parse(b.json));
    ASSERT_FALSE(r) << b.json << " should not fit";
    EXPECT_NE(r.err().message.find(b.names), std::string::npos) << b.json << ": " << r.err().message;
  }
  auto ok = (*e)->encode(json::parse(R"({"url": "x", "n": 1, "u": {"long": 7}})"));
  EXPECT_TRUE(ok) << "the encoder is still good after refusals: " << (ok ? "" : ok.err().message);
}

TEST(Avro, ClaimedLengthsAndCountsMustFitTheBytes) {
  // Avro C trusts a record's lengths and counts: a 1 GiB string or a 2^40-item
  // array claimed in a few bytes must be refused before it allocates.
  const std::string schema = R"({"type": "record", "name": "Leaves", "fields": [
      {"name": "url", "type": "string"}, {"name": "tags", "type": {"type": "array", "items": "string"}},
      {"name": "n", "type": {"type": "array", "items": "null"}}]})";
  auto d = avro_decoder::make(schema);
  ASSERT_TRUE(d) << d.err().message;
  auto zigzag = [](int64_t v) {
    uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
    std::string out;
    do {
      out.push_back(static_cast<char>((z & 0x7f) | (z > 0x7f ? 0x80 : 0)));
      z >>= 7;
    } while (z);
    return out;
  };
  const std::string url = zigzag(1) + "u";
  for (const std::string& bytes : {zigzag(1LL << 30) + "abc",                            // a 1 GiB url
                                   url + zigzag(1LL << 40) + zigzag(1) + "t",             // 2^40 tags
                                   url + zigzag(0) + zigzag(1LL << 40) + zigzag(0),       // 2^40 nulls
                                   url + zigzag(0) + [&] {                               // 10,000 nulls, 2 a byte
                                     std::string b;
                                     for (int i = 0; i < 5000; ++i) b += zigzag(2);
                                     return b + zigzag(0);
                                   }(),
                                   url + zigzag(-3) + zigzag(1LL << 50) + zigzag(0),      // a block of 2^50 bytes
                                   url + zigzag(0) + zigzag(0) + "x"}) {                  // a byte left over
    auto o = (*d)->decode(bytes);
    EXPECT_FALSE(o) << bytes.size() << " bytes decoded to " << (o ? json::serialize(*o) : "");
  }
  auto ok = (*d)->decode(url + zigzag(1) + zigzag(1) + "t" + zigzag(0) + zigzag(2) + zigzag(0));
  ASSERT_TRUE(ok) << ok.err().message;
  EXPECT_EQ(ok->at("tags"), (json::array{"t"}));
}
