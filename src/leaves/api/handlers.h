// The API's handlers, one file per surface: v1_leaves.cpp (the v1 leaves and
// tag counts), v1_search.cpp (search and tag suggestions), bulk.cpp,
// reference.cpp (the workshop's /api/leaves), operations.cpp (/readyz), and
// api.cpp (the routing: find_route, then one case per route_id). common.cpp
// holds what the surfaces share: body parsing, If-Match,
// Leaves-Min-Position waits and the write path. Internal to api/.
#pragma once

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "leaves/api/api.h"
#include "leaves/api/errors.h"
#include "leaves/api/params.h"
#include "leaves/api/router.h"
#include "leaves/base/async_signal.h"

namespace leaves::api {

namespace asio = boost::asio;
namespace json = boost::json;
using domain::leaf;
using http::request;
using http::response;

error bad_json(std::string msg);
bool is_json_content_type(std::string_view ct);
// A leaf's v1 JSON body.
std::string leaf_body(const leaf& l);
response json_response(int status, std::string body);
// The reference API answers some cases with a bare JSON string.
response string_response(int status, std::string_view text);

struct api::impl : std::enable_shared_from_this<api::impl> {
  api_deps d;
  api_options o;
  api* owner;
  impl(api_deps deps, api_options opts, api* a) : d(deps), o(std::move(opts)), owner(a) {}

  // common.cpp
  result<json::value> parse_json(const request& req);
  result<json::object> parse_object(const request& req);
  result<domain::string_list> parse_tags_body(const request& req);
  result<std::optional<int64_t>> if_match(const request& req);
  asio::awaitable<std::optional<response>> wait_min_position(const request& req, const params& p);
  asio::awaitable<std::optional<response>> wait_min_position_of(const request& req, const params& p,
                                                                projector::progress& prog, std::string what);
  int64_t lag_total(const projector::progress& prog) const;
  void add_write_headers(response& r, const service::write_result& w);
  asio::awaitable<result<service::write_result>> execute(domain::command cmd);
  // v1_search.cpp
  std::optional<response> search_unavailable();
  asio::awaitable<response> v1_search(const request& req, const params& p);
  asio::awaitable<response> v1_tag_prefix(const request& req, const params& p, const std::string& prefix,
                                          size_t limit);
  // v1_leaves.cpp
  asio::awaitable<response> v1_write(domain::command cmd, int created_status);
  asio::awaitable<response> v1_create(const request& req);
  asio::awaitable<response> v1_patch(const request& req, std::string id);
  asio::awaitable<response> v1_delete(const request& req, std::string id);
  asio::awaitable<response> v1_tags(const request& req, std::string id, domain::command_kind kind);
  asio::awaitable<response> v1_get(const request& req, const params& p, const std::string& id);
  result<store::list_query> list_query(const params& p);
  asio::awaitable<response> v1_list(const request& req, const params& p);
  asio::awaitable<response> v1_tag_counts(const request& req, const params& p);
  // bulk.cpp
  struct bulk_state {
    std::vector<json::object> results;
    size_t remaining = 0;
    std::shared_ptr<async_signal> done;
    std::map<int32_t, int64_t> last;  // highest offset written per partition
  };
  static asio::awaitable<void> bulk_item(std::shared_ptr<impl> self, std::shared_ptr<bulk_state> st, size_t i,
                                         domain::command cmd);
  asio::awaitable<response> v1_bulk(const request& req);
  // reference.cpp
  asio::awaitable<void> wait_own_write(const service::write_result& w);
  response not_found_ref();
  asio::awaitable<response> ref_write(domain::command cmd, int status);
  asio::awaitable<response> ref_create(const request& req);
  asio::awaitable<response> ref_patch(const request& req, std::string id);
  asio::awaitable<response> ref_delete(std::string id);
  asio::awaitable<response> ref_tags(const request& req, std::string id, domain::command_kind kind);
  asio::awaitable<response> ref_get(std::string id, bool tags_only);
  asio::awaitable<response> ref_list();
  // operations.cpp
  boost::asio::awaitable<response> readyz();
  // api.cpp
  asio::awaitable<response> dispatch(request& req);
  asio::awaitable<response> route(request& req, const match& m);
};

}  // namespace leaves::api
