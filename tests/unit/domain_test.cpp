#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "leaves/base/hash.h"
#include "leaves/domain/events.h"

namespace json = boost::json;

namespace leaves::domain {
namespace {

leaf_patch patch_of(const char* text) {
  auto p = parse_patch(json::parse(text).as_object(), limits{});
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.err().message);
  return p.ok() ? *p : leaf_patch{};
}

command save(const char* body) {
  command c;
  c.kind = command_kind::save;
  c.patch = patch_of(body);
  c.leaf_id = leaf_id_for_url(c.patch.values.url);
  return c;
}

command on(const std::string& id, command_kind k) {
  command c;
  c.kind = k;
  c.leaf_id = id;
  return c;
}

// Decides and applies, as the service does; returns the events.
std::vector<event> run(std::optional<leaf>& state, const command& c, int64_t now = 1000) {
  auto evs = decide(state, c, context{now, "tester"});
  EXPECT_TRUE(evs.ok()) << (evs.ok() ? "" : evs.err().message);
  if (!evs.ok()) return {};
  for (const auto& e : *evs) {
    auto st = domain::apply(state, e);
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.err().message);
  }
  return *evs;
}

errc failure(const std::optional<leaf>& state, const command& c) {
  auto evs = decide(state, c, context{1, "tester"});
  EXPECT_FALSE(evs.ok()) << "expected the command to fail";
  return evs.ok() ? errc::internal : evs.err().code;
}

TEST(Leaf, IdIsMd5OfUrl) {
  EXPECT_EQ(leaf_id_for_url("https://example.com/"), md5_hex("https://example.com/"));
}

TEST(Leaf, ValidatesUrls) {
  EXPECT_TRUE(validate_url("https://example.com/a?b=c", 4096).ok());
  EXPECT_TRUE(validate_url("http://127.0.0.1:8080/x", 4096).ok());
  EXPECT_FALSE(validate_url("ftp://example.com/", 4096).ok());
  EXPECT_FALSE(validate_url("https://", 4096).ok());
  EXPECT_FALSE(validate_url("not a url", 4096).ok());
  EXPECT_FALSE(validate_url("https://example.com/" + std::string(4096, 'a'), 4096).ok());
  EXPECT_EQ(*domain_of("https://Example.com:8443/a"), "https://Example.com:8443");
  // A fragment is part of a link; a port must be 1-65535.
  EXPECT_TRUE(validate_url("https://e.org/p#section", 4096).ok());
  EXPECT_EQ(*domain_of("https://e.org/p#section"), "https://e.org");
  for (const char* bad : {"https://e.org:0/", "https://e.org:-1/", "https://e.org:99999/", "https://e.org:/",
                          "https://e.org:8o/p"}) {
    EXPECT_FALSE(validate_url(bad, 4096).ok()) << bad;
  }
  EXPECT_TRUE(validate_url("https://e.org:65535/", 4096).ok());
}

TEST(Leaf, IdsThatArePathSegmentsAreRefused) {
  EXPECT_FALSE(valid_leaf_id("."));
  EXPECT_FALSE(valid_leaf_id(".."));
  EXPECT_TRUE(valid_leaf_id("..."));
  EXPECT_TRUE(valid_leaf_id("a.b"));
}

TEST(Leaf, TagsNullIsEmptyFromClientsAndNullWhenStored) {
  auto p = parse_patch(json::parse(R"({"tags": null})").as_object(), limits{});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->values.tags, std::optional<string_list>(string_list{}));
  auto stored = leaf_from_json(json::parse(R"({"id": "x", "version": 1, "url": "https://e.org/", "tags": null})").as_object());
  ASSERT_TRUE(stored.ok()) << stored.err().message;
  EXPECT_FALSE(stored->tags.has_value());
}

TEST(Leaf, TagsAreNormalised) {
  limits lim;
  auto t = normalize_tags(json::parse(R"(["  sales and marketing ", "sales", "sales"])"), lim);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, (string_list{"sales.and.marketing", "sales"}));
  EXPECT_FALSE(normalize_tags(json::parse(R"([""])"), lim).ok());
  EXPECT_FALSE(normalize_tags(json::parse(R"(["a\u0001b"])"), lim).ok());
  EXPECT_FALSE(normalize_tags(json::parse(R"(["a\u0085b"])"), lim).ok());  // C1 NEXT LINE
  EXPECT_TRUE(normalize_tags(json::parse(R"(["caf\u00e9"])"), lim).ok());
  EXPECT_FALSE(normalize_tags(json::parse(R"([1])"), lim).ok());
  EXPECT_FALSE(normalize_tag(std::string(129, 'x'), lim).ok());
}

TEST(Leaf, PatchIsLenientAboutReferenceRepresentations) {
  auto p = patch_of(R"({"url":"https://a.example/","is_archived":1,"is_starred":false,
      "created_at":"2019-08-02T21:45:12Z","updated_at":1564782318000,"http_status":200,
      "_links":["/api/entries/1"],"user_id":"7"})");
  EXPECT_TRUE(p.values.is_archived);
  EXPECT_FALSE(p.values.is_starred);
  EXPECT_EQ(p.values.created_at, 1564782312000);
  EXPECT_EQ(p.values.updated_at, 1564782318000);
  EXPECT_EQ(p.values.http_status, "200");
  EXPECT_EQ(p.values.links, string_list{"/api/entries/1"});
  EXPECT_EQ(p.values.user_id, 7);
}

TEST(Leaf, PatchRejectsBadInput) {
  limits lim;
  auto bad = [&](const char* text) {
    auto p = parse_patch(json::parse(text).as_object(), lim);
    EXPECT_FALSE(p.ok()) << text;
    return p.ok() ? std::string() : p.err().message;
  };
  EXPECT_NE(bad(R"({"nope":1})").find("unknown field"), std::string::npos);
  EXPECT_NE(bad(R"({"title":5})").find("title"), std::string::npos);
  EXPECT_NE(bad(R"({"is_public":2})").find("is_public"), std::string::npos);
  EXPECT_NE(bad(R"({"created_at":"tuesday"})").find("created_at"), std::string::npos);
  EXPECT_NE(bad(R"({"reading_time":-1})").find("reading_time"), std::string::npos);
  EXPECT_TRUE(parse_patch(json::parse(R"({"nope":1})").as_object(), lim, true).ok());
}

TEST(Decide, SaveCreatesWithReferenceDefaults) {
  std::optional<leaf> s;
  auto c = save(R"({"url":"https://blog.example.com/post","title":"T","tags":["a b"]})");
  auto evs = run(s, c, 5000);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, event_type::created);
  EXPECT_EQ(evs[0].aggregate_version, 1);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->id, leaf_id_for_url("https://blog.example.com/post"));
  EXPECT_EQ(s->domain_name, "https://blog.example.com");
  EXPECT_EQ(s->links, string_list{"api/entries/" + s->id});
  EXPECT_EQ(s->tags, string_list{"a.b"});
  EXPECT_EQ(s->slugs, s->tags);
  EXPECT_EQ(s->created_at, 5000);
  EXPECT_EQ(s->updated_at, 5000);
  EXPECT_EQ(s->version, 1);
}

TEST(Decide, SavingTheSameUrlUpdatesOrDoesNothing) {
  std::optional<leaf> s;
  run(s, save(R"({"url":"https://x.example/","title":"one"})"));
  EXPECT_TRUE(run(s, save(R"({"url":"https://x.example/","title":"one"})")).empty());
  auto evs = run(s, save(R"({"url":"https://x.example/","title":"two"})"), 7000);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, event_type::updated);
  const auto& changes = evs[0].data.at("changes").as_object();
  EXPECT_EQ(changes.at("title"), "two");
  EXPECT_TRUE(changes.contains("updated_at"));
  EXPECT_EQ(s->title, "two");
  EXPECT_EQ(s->version, 2);
  EXPECT_EQ(s->updated_at, 7000);
}

TEST(Decide, UpdateChecksExistenceVersionAndUrl) {
  std::optional<leaf> s;
  command upd = on("missing", command_kind::update);
  upd.patch = patch_of(R"({"title":"x"})");
  EXPECT_EQ(failure(s, upd), errc::not_found);
  run(s, save(R"({"url":"https://y.example/"})"));
  upd.leaf_id = s->id;
  upd.expected_version = 5;
  EXPECT_EQ(failure(s, upd), errc::precondition_failed);
  upd.expected_version = 1;
  run(s, upd);
  EXPECT_EQ(s->title, "x");
  command url = on(s->id, command_kind::update);
  url.patch = patch_of(R"({"url":"https://other.example/"})");
  EXPECT_EQ(failure(s, url), errc::invalid_argument);
}

TEST(Decide, TagCommands) {
  std::optional<leaf> s;
  run(s, save(R"({"url":"https://z.example/","tags":["a"]})"));
  command add = on(s->id, command_kind::add_tags);
  add.tags = {"b", "a"};
  auto evs = run(s, add);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data.at("tags"), json::parse(R"(["b"])"));
  EXPECT_EQ(s->tags, (string_list{"a", "b"}));
  EXPECT_EQ(evs[0].tags_after, s->tags);
  command rm = on(s->id, command_kind::remove_tags);
  rm.tags = {"a", "zzz"};
  run(s, rm);
  EXPECT_EQ(s->tags, string_list{"b"});
  command rep = on(s->id, command_kind::replace_tags);
  rep.tags = {"c"};
  run(s, rep);
  EXPECT_EQ(s->tags, string_list{"c"});
  EXPECT_EQ(s->slugs, string_list{"c"});
  run(s, on(s->id, command_kind::clear_tags));
  EXPECT_FALSE(s->tags.has_value());
  EXPECT_FALSE(s->slugs.has_value());
  EXPECT_EQ(s->version, 5);
}

TEST(Decide, AddingTagsIsBoundedAndClearingNullsSlugsToo) {
  std::optional<leaf> s;
  run(s, save(R"({"url":"https://b.example/","tags":["a"],"slugs":["a-slug"]})"));
  command add = on(s->id, command_kind::add_tags);
  for (int i = 0; i < 100; ++i) add.tags.push_back("t" + std::to_string(i));
  EXPECT_EQ(failure(s, add), errc::invalid_argument) << "101 tags must be refused";
  command clear = on(s->id, command_kind::clear_tags);
  run(s, clear);
  EXPECT_FALSE(s->tags.has_value());
  EXPECT_FALSE(s->slugs.has_value());
  EXPECT_TRUE(decide(s, clear, context{1}).value().empty()) << "clearing twice changes nothing";
}

TEST(Decide, DeleteLeavesATombstoneAndSaveRecreates) {
  std::optional<leaf> s;
  run(s, save(R"({"url":"https://d.example/","title":"t"})"));
  run(s, on(s->id, command_kind::remove));
  EXPECT_TRUE(s->deleted);
  EXPECT_EQ(s->version, 2);
  EXPECT_EQ(failure(s, on(s->id, command_kind::remove)), errc::not_found);
  auto evs = run(s, save(R"({"url":"https://d.example/"})"));
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, event_type::created);
  EXPECT_EQ(evs[0].aggregate_version, 3);
  EXPECT_FALSE(s->deleted);
  EXPECT_EQ(s->title, "");
}

TEST(Apply, RejectsOutOfOrderEvents) {
  std::optional<leaf> s;
  auto evs = run(s, save(R"({"url":"https://o.example/"})"));
  EXPECT_EQ(domain::apply(s, evs[0]).err().code, errc::conflict);  // version 1 again
}

TEST(Events, JsonRoundTripPreservesEverything) {
  std::optional<leaf> s;
  auto evs = run(s, save(R"({"url":"https://r.example/","tags":["t"],"user_id":3})"));
  evs[0].event_id = "abc";
  const auto j = event_to_json(evs[0]);
  EXPECT_EQ(j.at("type"), "leaf.created");
  EXPECT_EQ(j.at("schema_version"), 1);
  auto back = event_from_json(json::parse(json::serialize(j)).as_object());
  ASSERT_TRUE(back.ok()) << back.err().message;
  EXPECT_EQ(event_to_json(*back), j);
  EXPECT_EQ(back->tags_after, string_list{"t"});
  EXPECT_EQ(back->user_after, 3);
  // Replaying the decoded event gives the same leaf.
  std::optional<leaf> replayed;
  ASSERT_TRUE(domain::apply(replayed, *back).ok());
  EXPECT_EQ(*replayed, *s);
}

TEST(Events, UnknownSchemaVersionIsRejected) {
  auto j = json::parse(R"({"type":"leaf.deleted","schema_version":2,"aggregate_id":"x",
      "aggregate_version":1,"time":"2020-01-01T00:00:00Z"})").as_object();
  auto e = event_from_json(j);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.err().message.find("schema_version"), std::string::npos);
}


// Enrichment fills only the fields a leaf has empty, records its request and
// what else the page said, and its failure changes nothing but the version.
TEST(Decide, EnrichmentFillsOnlyEmptyFieldsAndFailuresChangeNothing) {
  std::optional<leaf> s;
  run(s, save(R"({"url":"https://e.example/a","language":"de"})"));
  ASSERT_EQ(s->version, 1);
  auto ask = on(s->id, command_kind::request_enrichment);
  auto asked = run(s, ask);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].type, event_type::enrich_requested);
  EXPECT_EQ(s->version, 2);
  // The user sets a title while the page is being fetched.
  auto title = on(s->id, command_kind::update);
  title.patch = patch_of(R"({"title":"Mine"})");
  run(s, title);
  auto page = on(s->id, command_kind::enrich);
  page.request = "0:1";
  page.patch = patch_of(R"({"title":"The page's","content_text":"words","language":"en","reading_time":3,
                            "mimetype":"text/html","http_status":"200","user_name":"not taken"})");
  page.page = json::object{{"canonical_url", "https://e.example/a"}};
  auto enriched = run(s, page);
  ASSERT_EQ(enriched.size(), 1u);
  EXPECT_EQ(enriched[0].type, event_type::enriched);
  EXPECT_EQ(s->title, "Mine") << "a title the user set is kept";
  EXPECT_EQ(s->language, "de") << "a language the user set is kept";
  EXPECT_EQ(s->content_text, "words");
  EXPECT_EQ(s->reading_time, 3);
  EXPECT_EQ(s->http_status, "200");
  EXPECT_EQ(s->user_name, "") << "enrichment sets page fields only";
  const auto& ch = enriched[0].data.at("changes").as_object();
  EXPECT_FALSE(ch.contains("title"));
  EXPECT_FALSE(ch.contains("language"));
  EXPECT_TRUE(ch.contains("content_text"));
  EXPECT_EQ(enriched[0].data.at("request"), "0:1");
  EXPECT_EQ(enriched[0].data.at("page").at("canonical_url"), "https://e.example/a");
  // A second answer finds nothing empty: an event with no changes, still written.
  auto again = run(s, page);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].data.at("changes").as_object().empty());
  const leaf before = *s;
  auto failed = on(s->id, command_kind::enrich_failed);
  failed.request = "0:9";
  failed.reason = "timed out";
  auto f = run(s, failed);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type, event_type::enrich_failed);
  EXPECT_EQ(f[0].data.at("reason"), "timed out");
  EXPECT_EQ(s->version, before.version + 1);
  leaf same = *s;
  same.version = before.version;
  EXPECT_EQ(same, before) << "a failure changes no field";
  // Round trip of the new types through JSON.
  for (const auto& e : {asked[0], enriched[0], f[0]}) {
    auto back = event_from_json(json::parse(json::serialize(event_to_json(e))).as_object());
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(back->type, e.type);
  }
  EXPECT_EQ(std::string(to_string(event_type::enriched)), "leaf.enriched");
  EXPECT_EQ(failure(std::nullopt, page), errc::not_found) << "no enrichment of a leaf that does not exist";
}

}  // namespace
}  // namespace leaves::domain
