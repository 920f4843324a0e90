// The route table, as data: the server dispatches on it, and a test checks it
// against docs/openapi.json so the description stays true.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace leaves::api {

enum class route_id {
  v1_list, v1_create, v1_get, v1_patch, v1_delete, v1_tags_add, v1_tags_replace, v1_tags_remove,
  v1_tag_counts, v1_bulk, v1_search, v1_stream, v1_ws,
  ref_list, ref_create, ref_get, ref_patch, ref_delete, ref_tags_get, ref_tags_add, ref_tags_clear,
  healthz, readyz, metrics, openapi,
};

struct route {
  const char* method;
  const char* pattern;  // OpenAPI-style template: /v1/leaves/{id}
  route_id id;
};

std::span<const route> routes();

struct match {
  const route* r = nullptr;       // nullptr: no route for this path and method
  std::string id;                 // the {id} segment, percent-decoded
  std::vector<std::string> allow; // methods of the path when the method did not match
};

match find_route(std::string_view method, std::string_view path);

// Percent-decoding for paths and form-encoded query strings ('+' is a space in
// queries only). Returns false on malformed escapes.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space);

}  // namespace leaves::api
