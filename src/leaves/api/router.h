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
  v1_list, v1_create, v1_get, v1_content, v1_history, v1_refetch, v1_patch, v1_marks, v1_delete, v1_tags_add, v1_tags_replace, v1_tags_remove,
  v1_tag_counts, v1_bulk, v1_export, v1_feed, v1_search, v1_stream, v1_ws,
  ref_list, ref_create, ref_get, ref_patch, ref_delete, ref_tags_get, ref_tags_add, ref_tags_clear,
  v1_me, v1_users_list, v1_users_create, v1_user_get, v1_user_patch, v1_tokens_list, v1_token_create,
  v1_token_revoke, v1_webhooks_list, v1_webhook_create, v1_webhook_patch, v1_webhook_delete,
  v1_webhook_deliveries, v1_audit, v1_ops_ingest, v1_session_create, v1_session_delete, v1_password_set,
  v1_teams_list, v1_team_create, v1_team_get, v1_team_patch, v1_team_delete, v1_team_member_set, v1_team_member_delete,
  v1_collections_list, v1_collection_create, v1_collection_get, v1_collection_patch, v1_collection_delete,
  v1_collection_leaves, v1_collection_leaf_add, v1_collection_leaf_move, v1_collection_leaf_remove,
  v1_collection_share, v1_collection_unshare,
  proxy_produce_v2, proxy_produce_v3,
  healthz, readyz, metrics, openapi,
  ui_page, ui_asset,
};

struct route {
  const char* method;
  // OpenAPI-style template: /v1/leaves/{id}. Any number of {name} segments
  // (each one non-empty path segment, e.g. /v1/collections/{cid}/leaves/{id});
  // a last {name...} takes the rest of the path, slashes included, possibly
  // empty (a prefix route such as /ui/{path...}).
  const char* pattern;
  route_id id;
};

std::span<const route> routes();

using path_params = std::vector<std::pair<std::string, std::string>>;

struct match {
  const route* r = nullptr;       // nullptr: no route for this path and method
  path_params params;             // {name} -> segment, percent-decoded (empty when malformed)
  std::string id;                 // the {id} parameter, when the route has one
  std::vector<std::string> allow; // methods of the path when the method did not match
  // The value of {name}, or null when the route has no such parameter.
  const std::string* param(std::string_view name) const;
};

match find_route(std::string_view method, std::string_view path);

// Matches `path` against one pattern (the route table's syntax); fills
// `params` (percent-decoded) when it matches.
bool match_pattern(std::string_view pattern, std::string_view path, path_params& params);

// Percent-decoding for paths and form-encoded query strings ('+' is a space in
// queries only). Returns false on malformed escapes.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space);

}  // namespace leaves::api
