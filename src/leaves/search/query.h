// The search query language (docs/search.md): a pure parser from the text a
// user types to a small syntax tree. It knows nothing of Xapian; the index
// adapter turns the tree into its own query. Thread-compatible, no I/O.
//
// Grammar (informal; `match` decides how bare words are joined):
//   query    := clause*                  clauses are joined by AND
//   clause   := or_expr
//   or_expr  := unary ( "OR" unary )*    OR binds tighter than the implicit AND
//   unary    := "-" atom | atom
//   atom     := WORD | "\"" phrase "\"" | "(" query ")" | FIELD ":" value | "#" tag
//   FIELD    := tag | user | domain | title | url | lang | is | after | before
// With match=any the bare words and phrases of the top level are joined by OR
// (each other clause still AND); with match=all (the default) by AND.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "leaves/base/result.h"

namespace leaves::search {

// Where a term or phrase is looked for.
enum class field { text, title, url, tag, user, domain, lang };

enum class flag { starred, archived, is_public };

struct node {
  enum class kind {
    term,    // `text` in `f` (field::text: every free-text field)
    phrase,  // the words of `text`, in order, in `f` (text, title or url)
    flag,    // is:starred | is:archived | is:public
    range,   // created_at in [lo_ms, hi_ms): after:D sets lo (D 00:00 UTC), before:D sets hi
    all_of,  // every child (>= 1)
    any_of,  // at least one child (>= 1)
    none_of  // not the single child
  };
  kind k = kind::term;
  field f = field::text;
  std::string text;  // term or phrase as typed (not lower-cased; the adapter normalises)
  flag fl = flag::starred;
  std::optional<int64_t> lo_ms, hi_ms;
  std::vector<node> children;
};

enum class match_mode { all, any };

struct query_limits {
  size_t max_bytes = 1024;  // of the query text
  size_t max_terms = 64;    // terms + phrase words + filters
  size_t max_depth = 8;     // nested parentheses
};

// nullopt: an empty query (only spaces), which matches every leaf.
// Errors: errc::invalid_argument, detail "invalid_query", and a message that
// names the 1-based character position and the problem, e.g.
// "at position 7: unbalanced ')'".
result<std::optional<node>> parse_query(std::string_view q, match_mode m, const query_limits& lim = {});

// A canonical text of a tree (tests and logs), e.g. AND(term:kafka, NOT(tag:java)).
std::string to_string(const node& n);

}  // namespace leaves::search
