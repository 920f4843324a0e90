#include "leaves/api/router.h"

#include <array>

namespace leaves::api {
namespace {

constexpr std::array<route, 81> kRoutes = {{
    {"GET", "/v1/leaves", route_id::v1_list},
    {"POST", "/v1/leaves", route_id::v1_create},
    {"GET", "/v1/leaves/{id}", route_id::v1_get},
    {"GET", "/v1/leaves/{id}/content", route_id::v1_content},
    {"GET", "/v1/leaves/{id}/history", route_id::v1_history},
    {"POST", "/v1/leaves/{id}/refetch", route_id::v1_refetch},
    {"PATCH", "/v1/leaves/{id}", route_id::v1_patch},
    {"PUT", "/v1/leaves/{id}/marks", route_id::v1_marks},
    {"DELETE", "/v1/leaves/{id}", route_id::v1_delete},
    {"POST", "/v1/leaves/{id}/tags", route_id::v1_tags_add},
    {"PUT", "/v1/leaves/{id}/tags", route_id::v1_tags_replace},
    {"DELETE", "/v1/leaves/{id}/tags", route_id::v1_tags_remove},
    {"GET", "/v1/tags", route_id::v1_tag_counts},
    {"POST", "/v1/bulk/leaves", route_id::v1_bulk},
    {"GET", "/v1/export", route_id::v1_export},
    {"GET", "/v1/feed", route_id::v1_feed},
    {"GET", "/v1/search", route_id::v1_search},
    {"GET", "/v1/stream", route_id::v1_stream},
    {"GET", "/v1/ws", route_id::v1_ws},
    {"GET", "/api/leaves", route_id::ref_list},
    {"POST", "/api/leaves", route_id::ref_create},
    {"GET", "/api/leaves/{id}", route_id::ref_get},
    {"PATCH", "/api/leaves/{id}", route_id::ref_patch},
    {"DELETE", "/api/leaves/{id}", route_id::ref_delete},
    {"GET", "/api/leaves/{id}/tags", route_id::ref_tags_get},
    {"POST", "/api/leaves/{id}/tags", route_id::ref_tags_add},
    {"DELETE", "/api/leaves/{id}/tags", route_id::ref_tags_clear},
    {"GET", "/v1/me", route_id::v1_me},
    {"GET", "/v1/users", route_id::v1_users_list},
    {"POST", "/v1/users", route_id::v1_users_create},
    {"GET", "/v1/users/{name}", route_id::v1_user_get},
    {"PATCH", "/v1/users/{name}", route_id::v1_user_patch},
    {"GET", "/v1/users/{name}/tokens", route_id::v1_tokens_list},
    {"POST", "/v1/users/{name}/tokens", route_id::v1_token_create},
    {"DELETE", "/v1/users/{name}/tokens/{token_id}", route_id::v1_token_revoke},
    {"GET", "/v1/users/{name}/webhooks", route_id::v1_webhooks_list},
    {"POST", "/v1/users/{name}/webhooks", route_id::v1_webhook_create},
    {"PATCH", "/v1/users/{name}/webhooks/{webhook_id}", route_id::v1_webhook_patch},
    {"DELETE", "/v1/users/{name}/webhooks/{webhook_id}", route_id::v1_webhook_delete},
    {"GET", "/v1/users/{name}/webhooks/{webhook_id}/deliveries", route_id::v1_webhook_deliveries},
    {"GET", "/v1/audit", route_id::v1_audit},
    {"GET", "/v1/ops/ingest", route_id::v1_ops_ingest},
    {"POST", "/v1/session", route_id::v1_session_create},
    {"DELETE", "/v1/session", route_id::v1_session_delete},
    {"PUT", "/v1/users/{name}/password", route_id::v1_password_set},
    {"GET", "/v1/teams", route_id::v1_teams_list},
    {"POST", "/v1/teams", route_id::v1_team_create},
    {"GET", "/v1/teams/{team_id}", route_id::v1_team_get},
    {"PATCH", "/v1/teams/{team_id}", route_id::v1_team_patch},
    {"DELETE", "/v1/teams/{team_id}", route_id::v1_team_delete},
    {"PUT", "/v1/teams/{team_id}/members/{name}", route_id::v1_team_member_set},
    {"DELETE", "/v1/teams/{team_id}/members/{name}", route_id::v1_team_member_delete},
    {"GET", "/v1/collections", route_id::v1_collections_list},
    {"POST", "/v1/collections", route_id::v1_collection_create},
    {"GET", "/v1/collections/{collection_id}", route_id::v1_collection_get},
    {"PATCH", "/v1/collections/{collection_id}", route_id::v1_collection_patch},
    {"DELETE", "/v1/collections/{collection_id}", route_id::v1_collection_delete},
    {"GET", "/v1/collections/{collection_id}/leaves", route_id::v1_collection_leaves},
    {"POST", "/v1/collections/{collection_id}/leaves", route_id::v1_collection_leaf_add},
    {"PUT", "/v1/collections/{collection_id}/leaves/{id}", route_id::v1_collection_leaf_move},
    {"DELETE", "/v1/collections/{collection_id}/leaves/{id}", route_id::v1_collection_leaf_remove},
    {"PUT", "/v1/collections/{collection_id}/shares/{team_id}", route_id::v1_collection_share},
    {"DELETE", "/v1/collections/{collection_id}/shares/{team_id}", route_id::v1_collection_unshare},
    {"GET", "/healthz", route_id::healthz},
    {"GET", "/readyz", route_id::readyz},
    {"GET", "/metrics", route_id::metrics},
    {"GET", "/openapi.json", route_id::openapi},
    // The Leaves Reader (api/ui.h): one page, routed in the browser by its path.
    {"POST", "/topics/{topic}", route_id::proxy_produce_v2},
    {"POST", "/v3/clusters/{cluster}/topics/{topic}/records", route_id::proxy_produce_v3},
    {"GET", "/", route_id::ui_page},
    {"GET", "/leaf/{leaf}", route_id::ui_page},
    {"GET", "/tags", route_id::ui_page},
    {"GET", "/save", route_id::ui_page},
    {"GET", "/import", route_id::ui_page},
    {"GET", "/ops", route_id::ui_page},
    {"GET", "/login", route_id::ui_page},
    {"GET", "/account", route_id::ui_page},
    {"GET", "/people", route_id::ui_page},
    {"GET", "/collections", route_id::ui_page},
    {"GET", "/collection/{collection}", route_id::ui_page},
    {"GET", "/ui/{path...}", route_id::ui_asset},
}};

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::span<const route> routes() { return kRoutes; }

bool percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int h = hex(in[i + 1]), l = hex(in[i + 2]);
      if (h < 0 || l < 0) return false;
      out.push_back(static_cast<char>(h * 16 + l));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

bool match_pattern(std::string_view pattern, std::string_view path, path_params& params) {
  params.clear();
  while (!pattern.empty()) {
    if (pattern.front() == '{') {
      const auto close = pattern.find('}');
      if (close == std::string_view::npos) return false;  // a malformed pattern matches nothing
      std::string_view name = pattern.substr(1, close - 1);
      pattern.remove_prefix(close + 1);
      std::string_view value;
      if (name.ends_with("...")) {
        if (!pattern.empty()) return false;  // the rest parameter comes last
        name.remove_suffix(3);
        value = path;
        path = {};
      } else {
        value = path.substr(0, path.find('/'));
        if (value.empty()) return false;
        path.remove_prefix(value.size());
      }
      std::string decoded;
      if (!percent_decode(value, decoded, false)) decoded.clear();
      params.emplace_back(std::string(name), std::move(decoded));
      continue;
    }
    if (path.empty() || pattern.front() != path.front()) return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
  }
  return path.empty();
}

const std::string* match::param(std::string_view name) const {
  for (const auto& [k, v] : params) {
    if (k == name) return &v;
  }
  return nullptr;
}

match find_route(std::string_view method, std::string_view path) {
  match m;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  path_params params;
  for (const auto& r : kRoutes) {
    if (!match_pattern(r.pattern, path, params)) continue;
    if (method == r.method) {
      m.r = &r;
      m.params = std::move(params);
      if (const auto* id = m.param("id")) m.id = *id;
      m.allow.clear();
      return m;
    }
    m.allow.emplace_back(r.method);
  }
  return m;
}

}  // namespace leaves::api
