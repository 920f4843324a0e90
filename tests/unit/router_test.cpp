#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "leaves/api/api.h"
#include "leaves/api/router.h"

namespace leaves::api {
namespace {

TEST(Router, MatchesPathsAndExtractsIds) {
  auto m = find_route("GET", "/v1/leaves/abc%2D1");
  ASSERT_NE(m.r, nullptr);
  EXPECT_EQ(m.r->id, route_id::v1_get);
  EXPECT_EQ(m.id, "abc-1");
  EXPECT_EQ(find_route("POST", "/v1/leaves/x/tags").r->id, route_id::v1_tags_add);
  EXPECT_EQ(find_route("GET", "/v1/leaves/").r->id, route_id::v1_list);
  EXPECT_EQ(find_route("GET", "/nope").r, nullptr);
  EXPECT_TRUE(find_route("GET", "/nope").allow.empty());
  auto wrong = find_route("PUT", "/v1/leaves/x");
  EXPECT_EQ(wrong.r, nullptr);
  EXPECT_EQ(std::set<std::string>(wrong.allow.begin(), wrong.allow.end()),
            (std::set<std::string>{"GET", "PATCH", "DELETE"}));
}

TEST(Router, PatternsTakeSeveralParametersAndARest) {
  path_params p;
  ASSERT_TRUE(match_pattern("/v1/collections/{cid}/leaves/{id}", "/v1/collections/c%201/leaves/abc", p));
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], (std::pair<std::string, std::string>{"cid", "c 1"}));
  EXPECT_EQ(p[1], (std::pair<std::string, std::string>{"id", "abc"}));
  EXPECT_FALSE(match_pattern("/v1/collections/{cid}/leaves/{id}", "/v1/collections//leaves/abc", p))
      << "a parameter is one non-empty segment";
  EXPECT_FALSE(match_pattern("/v1/collections/{cid}/leaves/{id}", "/v1/collections/c/leaves/a/b", p));

  ASSERT_TRUE(match_pattern("/ui/{path...}", "/ui/assets/app.3f2a.js", p));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].first, "path");
  EXPECT_EQ(p[0].second, "assets/app.3f2a.js") << "the rest keeps its slashes";
  ASSERT_TRUE(match_pattern("/ui/{path...}", "/ui/", p));
  EXPECT_EQ(p[0].second, "") << "the rest may be empty";
  EXPECT_FALSE(match_pattern("/ui/{path...}", "/uix/a", p));
  EXPECT_FALSE(match_pattern("/ui/{path...}/x", "/ui/a/x", p)) << "a rest parameter must come last";
  EXPECT_FALSE(match_pattern("/v1/{broken", "/v1/x", p)) << "a malformed pattern matches nothing";

  auto m = find_route("GET", "/api/leaves/abc/tags");
  ASSERT_NE(m.r, nullptr);
  ASSERT_NE(m.param("id"), nullptr);
  EXPECT_EQ(*m.param("id"), "abc");
  EXPECT_EQ(m.param("cid"), nullptr);
}

TEST(Router, PercentDecoding) {
  std::string out;
  EXPECT_TRUE(percent_decode("a%20b+c", out, true));
  EXPECT_EQ(out, "a b c");
  EXPECT_TRUE(percent_decode("a+b", out, false));
  EXPECT_EQ(out, "a+b");
  EXPECT_FALSE(percent_decode("bad%2", out, false));
  EXPECT_FALSE(percent_decode("bad%zz", out, false));
}

// docs/openapi.json (embedded and served at /openapi.json) lists exactly the routes.
TEST(Router, OpenApiDescribesEveryRouteAndNothingElse) {
  auto doc = boost::json::parse(openapi_document()).as_object();
  EXPECT_TRUE(std::string(doc.at("openapi").as_string()).starts_with("3.1"));
  std::set<std::string> documented;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      static const std::set<std::string> verbs = {"get", "post", "put", "patch", "delete"};
      if (!verbs.contains(std::string(method))) continue;
      std::string m(method);
      for (char& c : m) c = static_cast<char>(std::toupper(c));
      documented.insert(m + " " + std::string(path));
    }
  }
  std::set<std::string> routed;
  for (const auto& r : routes()) routed.insert(std::string(r.method) + " " + r.pattern);
  EXPECT_EQ(documented, routed);
}

}  // namespace
}  // namespace leaves::api
