// The search surface: GET /v1/search's parameters to a search request, and a
// result to its JSON answer (docs/api.md, docs/search.md). Pure.
#pragma once

#include <string>

#include "leaves/api/params.h"
#include "leaves/domain/leaf.h"
#include "leaves/search/search_index.h"

namespace leaves::api {

struct search_limits {
  size_t max_limit = 100;
  size_t max_offset = 100000;  // deepest page: offset + limit
  size_t max_facet_limit = 100;
  search::query_limits query;
};

// Validates every parameter (400 invalid_query naming it). Page tokens carry
// their offset and a checksum of the query they belong to: a token that was
// altered or taken from another query is refused.
result<search::search_request> parse_search(const params& p, const domain::limits& lim, const search_limits& sl);

// The page token of the page after `r`'s, for the same parameters.
std::string next_page_token(const params& p, const search::search_request& r);

std::string render_search(const search::search_result& res, const search::search_request& r,
                          const std::string& next_token);

// GET /v1/tags?prefix=: the answer for tag suggestions.
std::string render_tag_suggestions(const std::vector<search::facet_value>& tags);

}  // namespace leaves::api
