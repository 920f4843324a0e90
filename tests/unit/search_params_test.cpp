// GET /v1/search's parameters: validation, defaults and page tokens bound to
// their search.
#include <gtest/gtest.h>

#include "leaves/api/search.h"

using namespace leaves;

namespace {

api::params P(std::initializer_list<std::pair<std::string, std::string>> kv) { return api::params(kv); }

result<search::search_request> parse(const api::params& p) { return api::parse_search(p, {}, {}); }

}  // namespace

TEST(SearchParams, Defaults) {
  auto r = parse(P({{"q", "kafka"}}));
  ASSERT_TRUE(r.ok()) << r.err().message;
  EXPECT_EQ(r->sort, search::sort_by::relevance);
  EXPECT_EQ(r->limit, 30u);
  EXPECT_EQ(r->offset, 0u);
  EXPECT_FALSE(r->facet_tags);
  auto e = parse(P({{"tag", "kafka"}, {"facets", "tags,users,domains"}}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->sort, search::sort_by::created) << "without a query, newest first";
  EXPECT_TRUE(e->descending);
  EXPECT_TRUE(e->facet_tags && e->facet_users && e->facet_domains);
  auto t = parse(P({{"sort", "title"}}));
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->descending) << "titles A-Z by default";
}

TEST(SearchParams, BadParametersAreNamed) {
  const std::vector<std::pair<api::params, std::string>> cases = {
      {P({{"bogus", "1"}}), "unknown query parameter: bogus"},
      {P({{"match", "some"}}), "match must be all or any"},
      {P({{"sort", "random"}}), "sort must be"},
      {P({{"order", "up"}}), "order must be asc or desc"},
      {P({{"order", "asc"}, {"q", "x"}}), "order=asc needs a sort"},
      {P({{"limit", "0"}}), "limit must be an integer from 1 to 100"},
      {P({{"limit", "101"}}), "limit must be an integer from 1 to 100"},
      {P({{"facet_limit", "x"}}), "facet_limit must be an integer"},
      {P({{"facets", "colours"}}), "facets takes"},
      {P({{"starred", "yes"}}), "starred must be true"},
      {P({{"since", "last week"}}), "since must be an ISO 8601 time"},
      {P({{"tag", ""}}), "tag: "},
      {P({{"user", ""}}), "user must be 1 to 256 bytes"},
      {P({{"q", "(kafka"}}), "position"},
      {P({{"page_token", "garbage"}}), "page_token is not valid"},
  };
  for (const auto& [p, want] : cases) {
    auto r = parse(p);
    ASSERT_FALSE(r.ok()) << "expected an error containing '" << want << "'";
    EXPECT_EQ(r.err().code, errc::invalid_argument);
    EXPECT_NE(r.err().message.find(want), std::string::npos) << "expected '" << want << "' in: " << r.err().message;
  }
}

TEST(SearchParams, PageTokensAreBoundToTheirSearch) {
  auto p = P({{"q", "kafka"}, {"tag", "java"}, {"limit", "10"}});
  auto r = parse(p);
  ASSERT_TRUE(r.ok());
  const std::string token = api::next_page_token(p, *r);
  auto next = P({{"q", "kafka"}, {"tag", "java"}, {"limit", "10"}, {"page_token", token}});
  auto r2 = parse(next);
  ASSERT_TRUE(r2.ok()) << r2.err().message;
  EXPECT_EQ(r2->offset, 10u);
  // The same token with another page size still pages the same search.
  auto r3 = parse(P({{"tag", "java"}, {"q", "kafka"}, {"limit", "20"}, {"page_token", token}}));
  ASSERT_TRUE(r3.ok());
  // Taken to another search, cut, or with a character flipped: refused.
  EXPECT_FALSE(parse(P({{"q", "kafka"}, {"tag", "go"}, {"page_token", token}})).ok());
  EXPECT_FALSE(parse(P({{"q", "kafka"}, {"tag", "java"}, {"page_token", token.substr(0, token.size() / 2)}})).ok());
  std::string flipped = token;
  flipped.back() = flipped.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(parse(P({{"q", "kafka"}, {"tag", "java"}, {"page_token", flipped}})).ok());
  std::string other_offset = "20" + token.substr(token.find('.'));
  EXPECT_FALSE(parse(P({{"q", "kafka"}, {"tag", "java"}, {"page_token", other_offset}})).ok());
}
