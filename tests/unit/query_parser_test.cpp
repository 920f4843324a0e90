// The search query language, case by case: every operator, precedence, and
// every error with its position.
#include <gtest/gtest.h>

#include "leaves/search/query.h"

using namespace leaves;
using search::match_mode;

namespace {

std::string tree(std::string_view q, match_mode m = match_mode::all) {
  auto r = search::parse_query(q, m);
  if (!r) return "ERROR " + r.err().message;
  return *r ? search::to_string(**r) : "EMPTY";
}

}  // namespace

TEST(QueryParser, Operators) {
  EXPECT_EQ(tree(""), "EMPTY");
  EXPECT_EQ(tree("   "), "EMPTY");
  EXPECT_EQ(tree("kafka"), "term:kafka");
  EXPECT_EQ(tree("kafka streams"), "AND(term:kafka, term:streams)");
  EXPECT_EQ(tree("\"exact phrase\""), "phrase:\"exact phrase\"");
  EXPECT_EQ(tree("-java"), "NOT(term:java)");
  EXPECT_EQ(tree("-tag:java"), "NOT(tag:java)");
  EXPECT_EQ(tree("kafka OR cassandra"), "OR(term:kafka, term:cassandra)");
  EXPECT_EQ(tree("kafka or cassandra"), "AND(term:kafka, term:or, term:cassandra)") << "only OR is the operator";
  EXPECT_EQ(tree("a OR b c"), "AND(OR(term:a, term:b), term:c)") << "OR binds tighter than AND";
  EXPECT_EQ(tree("(a b) OR c"), "OR(AND(term:a, term:b), term:c)");
  EXPECT_EQ(tree("tag:x #y"), "AND(tag:x, tag:y)");
  EXPECT_EQ(tree("user:ann domain:e.org lang:de"), "AND(user:ann, domain:e.org, lang:de)");
  EXPECT_EQ(tree("title:kafka url:docs"), "AND(title:kafka, url:docs)");
  EXPECT_EQ(tree("title:\"the log\""), "title-phrase:\"the log\"");
  EXPECT_EQ(tree("user:\"Ann Lee\""), "user:Ann Lee") << "a quoted name with a space";
  EXPECT_EQ(tree("is:starred -is:archived is:public"), "AND(is:starred, NOT(is:archived), is:public)");
  EXPECT_EQ(tree("after:2024-01-01"), "range:[1704067200000,)");
  EXPECT_EQ(tree("before:2024-03-01"), "range:[,1709251200000)");
  EXPECT_EQ(tree("after:2024-02-29"), "range:[1709164800000,)") << "a leap day";
  EXPECT_EQ(tree("TAG:x"), "tag:x") << "field names ignore case";
  EXPECT_EQ(tree("10:30"), "term:10:30") << "not a field: a word with a colon";
}

TEST(QueryParser, MatchAnyJoinsBareWordsWithOr) {
  EXPECT_EQ(tree("kafka cassandra", match_mode::any), "OR(term:kafka, term:cassandra)");
  EXPECT_EQ(tree("kafka cassandra tag:db -java", match_mode::any),
            "AND(OR(term:kafka, term:cassandra), tag:db, NOT(term:java))");
  EXPECT_EQ(tree("kafka", match_mode::any), "term:kafka");
}

TEST(QueryParser, ErrorsNameThePositionAndTheProblem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"(kafka", "at position 1: unbalanced '('"},
      {"kafka)", "at position 6: unbalanced ')'"},
      {"()", "at position 1: empty parentheses"},
      {"\"open", "at position 1: unterminated quote"},
      {"\"  \"", "at position 1: empty phrase"},
      {"OR kafka", "at position 1: OR needs something on its left"},
      {"kafka OR", "at position 7: OR needs something on its right"},
      {"a OR OR b", "at position 3: OR needs something on its right"},
      {"- kafka", "at position 1: '-' must be followed"},
      {"tag:", "at position 1: tag: needs a value"},
      {"#", "at position 1: '#' must be followed by a tag"},
      {"is:hidden", "at position 4: is: takes starred, archived or public"},
      {"after:2026-02-30", "at position 7: after: takes a date"},
      {"after:2026-13-01", "at position 7: after: takes a date"},
      {"before:yesterday", "at position 8: before: takes a date"},
      {std::string("a\x01"), "at position 2: a control character"},
      {std::string("caf\xC3"), "at position 4: not valid UTF-8"},
      {std::string(2000, 'a'), "longer than 1024 bytes"},
      {"((((((((((a))))))))))", "nested deeper than 8"},
  };
  for (const auto& [q, want] : cases) {
    const auto got = tree(q);
    EXPECT_NE(got.find(want), std::string::npos) << "query: " << q.substr(0, 40) << "\n expected: " << want
                                                  << "\n got: " << got;
  }
  std::string many;
  for (int i = 0; i < 70; ++i) many += "w" + std::to_string(i) + " ";
  EXPECT_NE(tree(many).find("more than 64 terms"), std::string::npos) << tree(many);
}
