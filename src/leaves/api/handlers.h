// The API's handlers: one struct per surface, each in its own file, over one
// shared context. context (common.cpp) holds the dependencies, the options and
// what the surfaces share: body parsing, If-Match, Leaves-Min-Position waits
// and the write path. The surfaces are v1_leaves (v1_leaves.cpp: the v1 leaves
// and tag counts), search_surface (v1_search.cpp: search and tag
// suggestions), bulk (bulk.cpp), reference (reference.cpp: the workshop's
// /api/leaves) and operations (operations.cpp: /readyz). api::impl (api.cpp)
// owns the context and one of each surface, and routes: find_route, then one
// case per route_id. Internal to api/.
#pragma once

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "leaves/api/api.h"
#include "leaves/api/errors.h"
#include "leaves/api/params.h"
#include "leaves/api/rate_limit.h"
#include "leaves/api/router.h"
#include "leaves/auth/password.h"
#include "leaves/base/async_signal.h"
#include <deque>
#include <mutex>
#include <unordered_map>

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

// What every surface shares. Lives in api::impl, before the surfaces that refer to it.
struct context {
  api_deps d;
  api_options o;
  api* owner;
  context(api_deps deps, api_options opts, api* a) : d(deps), o(std::move(opts)), owner(a) {}

  result<json::value> parse_json(const request& req);
  result<json::object> parse_object(const request& req);
  result<domain::string_list> parse_tags_body(const request& req);
  result<std::optional<int64_t>> if_match(const request& req);
  asio::awaitable<std::optional<response>> wait_min_position(const request& req, const params& p);
  asio::awaitable<std::optional<response>> wait_min_position_of(const request& req, const params& p,
                                                                projector::progress& prog, std::string what);
  int64_t lag_total(const projector::progress& prog) const;
  void add_write_headers(response& r, const service::write_result& w);
  // Who issues a command: the envelope's actor and, for a user, the owner
  // rules of domain::command::owner.
  void stamp(domain::command& cmd, const request& req) const;
  asio::awaitable<result<service::write_result>> execute(domain::command cmd);
  // Whether the caller may read leaf `id` (public, its own, an admin's view)
  // or reaches it through a collection (auth::directory::shared_with).
  bool readable(const request& req, const std::string& id, bool is_public, std::optional<int64_t> owner) const;
  // Starred and archived are each user's own on the leaves of others
  // (docs/auth.md): what a list or search filters by for the caller (unset:
  // no user, the leaves' own flags), and a leaf shown to the caller with
  // its own (as an object, or as stored JSON, rewritten only when they differ).
  std::optional<domain::marks_view> marks_view(const request::caller_info& who) const;
  void show_marks(const request::caller_info& who, leaf& l) const { show_marks(marks_view(who), l); }
  void show_marks(const request::caller_info& who, std::string& json) const { show_marks(marks_view(who), json); }
  // With one view for a page of leaves (one look at the directory).
  static void show_marks(const std::optional<domain::marks_view>& view, leaf& l);
  static void show_marks(const std::optional<domain::marks_view>& view, std::string& json);
  // Up to `want` leaves of a collection from position `from` that reach the
  // caller through it (auth::directory::shows), each with its position;
  // reads at most `max_scan` positions. `next`: where the next page starts,
  // or nullopt at the end.
  struct collection_slice {
    std::vector<std::pair<size_t, leaf>> items;
    std::optional<size_t> next;
  };
  asio::awaitable<result<collection_slice>> collection_leaves(const domain::collection& col, const request& req,
                                                              const auth::principal& who, size_t from, size_t want,
                                                              size_t max_scan);
};

// v1_search.cpp: GET /v1/search and the tag suggestions of /v1/tags?prefix=.
struct search_surface {
  context& c;
  api_deps& d;
  api_options& o;
  explicit search_surface(context& ctx) : c(ctx), d(ctx.d), o(ctx.o) {}

  std::optional<response> search_unavailable();
  asio::awaitable<response> v1_search(const request& req, const params& p);
  asio::awaitable<response> v1_tag_prefix(const request& req, const params& p, const std::string& prefix,
                                          size_t limit);
  asio::awaitable<response> visible_tag_counts(const request& req, const std::string& prefix, size_t limit);
};

// v1_leaves.cpp: the v1 leaves and /v1/tags.
struct v1_leaves {
  context& c;
  api_deps& d;
  api_options& o;
  search_surface& searching;  // /v1/tags?prefix= is answered by the search index
  v1_leaves(context& ctx, search_surface& s) : c(ctx), d(ctx.d), o(ctx.o), searching(s) {}
  // Search exports running (each runs a search per 500 matches): at most 2.
  std::shared_ptr<std::atomic<int>> search_exports = std::make_shared<std::atomic<int>>(0);

  asio::awaitable<response> v1_write(domain::command cmd, int created_status);
  asio::awaitable<response> v1_create(const request& req);
  asio::awaitable<response> v1_patch(const request& req, std::string id);
  // PUT /v1/leaves/{id}/marks: the caller's own starred and archived.
  asio::awaitable<response> v1_marks(const request& req, std::string id);
  // Sets the caller's marks of another user's leaf `l`; answers `l` as the caller sees it.
  asio::awaitable<response> mark(const request& req, leaf l, std::optional<bool> starred,
                                 std::optional<bool> archived);
  // The user.leaf_marked of the caller (none when nothing changes).
  asio::awaitable<status> record_mark(const request& req, const std::string& id, std::optional<bool> starred,
                                      std::optional<bool> archived);
  asio::awaitable<response> v1_delete(const request& req, std::string id);
  asio::awaitable<response> v1_refetch(const request& req, std::string id);
  asio::awaitable<response> v1_tags(const request& req, std::string id, domain::command_kind kind);
  asio::awaitable<response> v1_get(const request& req, const params& p, const std::string& id);
  // GET /v1/leaves/{id}/content: the stored HTML, sanitised (html/sanitize.h).
  asio::awaitable<response> v1_content(const request& req, const params& p, const std::string& id);
  // GET /v1/leaves/{id}/history: its events, read back from the log.
  asio::awaitable<response> v1_history(const request& req, const params& p, const std::string& id);
  // GET /v1/leaves/{id}?at=POSITION: the leaf as it was, folded from its events.
  asio::awaitable<response> v1_get_at(const request& req, const params& p, const std::string& id);
  struct leaf_event_scan {
    std::vector<std::pair<domain::event, log::stored_record>> events;  // newest first
    bool complete = false;  // reached the leaf's creation or the partition's start
    int64_t scanned = 0;
  };
  asio::awaitable<result<leaf_event_scan>> leaf_events(const std::string& id, int64_t before, size_t want);
  asio::awaitable<std::optional<response>> hidden_from(const request& req, const std::string& id);
  result<store::list_query> list_query(const params& p);
  asio::awaitable<response> v1_list(const request& req, const params& p);
  // v1_export.cpp: GET /v1/export, streamed.
  asio::awaitable<response> v1_export(const request& req, const params& p);
  // v1_feed.cpp: GET /v1/feed, an Atom feed of a tag or a search.
  asio::awaitable<response> v1_feed(const request& req, const params& p, const auth::principal& who);
  asio::awaitable<response> v1_tag_counts(const request& req, const params& p);
};

// bulk.cpp: POST /v1/bulk/leaves.
struct bulk {
  context& c;
  api_options& o;
  explicit bulk(context& ctx) : c(ctx), o(ctx.o) {}

  struct bulk_state {
    std::vector<json::object> results;
    size_t remaining = 0;
    std::shared_ptr<async_signal> done;
    std::map<int32_t, int64_t> last;  // highest offset written per partition
  };
  // Each item runs detached and may outlive the request, so it holds the
  // whole impl (the context and every surface) through `self`.
  static asio::awaitable<void> bulk_item(std::shared_ptr<api::impl> self, std::shared_ptr<bulk_state> st, size_t i,
                                         domain::command cmd);
  // `self` is the impl this surface lives in (the router passes
  // shared_from_this()), handed on to every item.
  asio::awaitable<response> v1_bulk(const request& req, std::shared_ptr<api::impl> self);
};

// reference.cpp: the workshop's /api/leaves.
struct reference {
  context& c;
  api_deps& d;
  api_options& o;
  explicit reference(context& ctx) : c(ctx), d(ctx.d), o(ctx.o) {}

  asio::awaitable<void> wait_own_write(const service::write_result& w);
  response not_found_ref();
  asio::awaitable<response> ref_write(domain::command cmd, int status);
  asio::awaitable<response> ref_create(const request& req);
  asio::awaitable<response> ref_patch(const request& req, std::string id);
  asio::awaitable<response> ref_delete(const request& req, std::string id);
  asio::awaitable<response> ref_tags(const request& req, std::string id, domain::command_kind kind);
  asio::awaitable<response> ref_get(const request& req, std::string id, bool tags_only);
  asio::awaitable<response> ref_list(const request& req);
};

// operations.cpp: /readyz (/healthz, /metrics and /openapi.json are answered in the router).
struct operations {
  context& c;
  api_deps& d;
  explicit operations(context& ctx) : c(ctx), d(ctx.d) {}

  boost::asio::awaitable<response> readyz();
  // v1_audit.cpp: GET /v1/audit.
  boost::asio::awaitable<response> audit(const request& req, const params& p);
  // GET /v1/ops/ingest: the ingest topic's consumer and its last dead letters.
  boost::asio::awaitable<response> ingest();
};

// rest_proxy.cpp: Kafka REST Proxy-compatible produce onto the ingest topic.
struct rest_proxy {
  context& c;
  api_deps& d;
  explicit rest_proxy(context& ctx);
  ~rest_proxy();

  // The avro embedded format: registry calls and encoding, on a thread of
  // their own (blocking libcurl; never an I/O thread). Null without a registry.
  struct avro_side;
  struct v3_part;
  std::unique_ptr<avro_side> avro;

  // POST /topics/{topic} (v2: json and binary embedded formats).
  boost::asio::awaitable<response> produce_v2(const request& req, const std::string& topic);
  // POST /v3/clusters/{cluster}/topics/{topic}/records (one record a request).
  boost::asio::awaitable<response> produce_v3(const request& req, const std::string& cluster, const std::string& topic);
  result<json::object> body_object(const request& req) const;
  struct ingest_encoded {
    std::optional<int32_t> key_id, value_id;
    std::vector<std::optional<std::string>> keys;  // when key_id: each record's key, if it has one
    std::vector<std::string> values;
  };
  // The avro embedded format's values in the wire format, or the answer refusing them.
  boost::asio::awaitable<std::variant<response, ingest_encoded>> encode_avro(const json::object& body,
                                                                             const std::string& topic,
                                                                             const json::array& records);
};

// The UI's session cookie (auth.cpp): its name, its token in a request, and
// the CSRF token that goes with it.
inline constexpr std::string_view kSessionCookie = "leaves_session";
// The name of a session's token; refused for API tokens, so it marks sessions.
inline constexpr std::string_view kSessionTokenName = "session (browser)";
std::string_view session_cookie(const request& req);
std::string csrf_for(std::string_view session_token);

// v1_users.cpp: /v1/me, /v1/users and their tokens. `who` is the caller
// (api::impl::authorize found it); the routes of one user are open to that
// user and to admins.
struct users_surface {
  context& c;
  api_deps& d;
  explicit users_surface(context& ctx)
      : c(ctx), d(ctx.d), max_failures_per_address_(ctx.o.sign_in_attempts_per_address) {}

  asio::awaitable<response> me(const auth::principal& who);
  asio::awaitable<response> list();
  asio::awaitable<response> create(const request& req, const auth::principal& who);
  asio::awaitable<response> get(const auth::principal& who, const std::string& name);
  asio::awaitable<response> patch(const request& req, const auth::principal& who, const std::string& name);
  asio::awaitable<response> tokens(const auth::principal& who, const std::string& name);
  asio::awaitable<response> create_token(const request& req, const auth::principal& who, const std::string& name);
  asio::awaitable<response> revoke_token(const auth::principal& who, const std::string& name,
                                         const std::string& token_id);
  // The UI's sign-in: a password for a session token in a cookie.
  asio::awaitable<response> sign_in(const request& req);
  asio::awaitable<response> sign_out(const request& req, const auth::principal& who);
  asio::awaitable<response> set_password(const request& req, const auth::principal& who, const std::string& name);
  asio::awaitable<response> webhooks(const auth::principal& who, const std::string& name);
  asio::awaitable<response> create_webhook(const request& req, const auth::principal& who, const std::string& name);
  // PATCH {"enabled": bool} with a request, DELETE without.
  asio::awaitable<response> change_webhook(const request* req, const auth::principal& who, const std::string& name,
                                           const std::string& id);
  asio::awaitable<response> webhook_deliveries(const auth::principal& who, const std::string& name,
                                               const std::string& id);

 private:
  // The user `name` when `who` may act on it (self or admin), else the
  // answer: 404 for a user that does not exist or that `who` may not see.
  result<domain::user> visible_user(const auth::principal& who, const std::string& name);
  asio::awaitable<response> write(domain::user_command cmd, const auth::principal& who, int status);

  // Failed sign-ins per user name: at most kMaxFailures in kFailureWindow,
  // then 429 until the window has passed; and per client address (keys
  // "@<address>"): at most max_failures_per_address_ whatever the names, so
  // one client cannot try a password on every user. Bounded: kMaxTracked keys.
  static constexpr size_t kMaxFailures = 5;
  static constexpr auto kFailureWindow = std::chrono::minutes(5);
  static constexpr size_t kMaxTracked = 10000;
  size_t max_failures_per_address_;
  struct lockout {
    std::chrono::seconds wait;
    bool by_address = false;
  };
  std::optional<std::chrono::seconds> locked_out(const std::string& name);
  // A sign-in: the lockout checks and the attempt's records under one lock
  // (the attempt counts as failed until forgive() takes it back). An empty
  // `peer` counts by name only.
  std::optional<lockout> begin_attempt(const std::string& name, const std::string& peer,
                                       std::chrono::steady_clock::time_point& stamp);
  void forgive(const std::string& name, const std::string& peer, std::chrono::steady_clock::time_point stamp);
  std::optional<std::chrono::seconds> locked_out_locked(const std::string& key, size_t max,
                                                        std::chrono::steady_clock::time_point now);
  void failed_locked(const std::string& key, size_t max, std::chrono::steady_clock::time_point now);
  std::mutex failures_mu_;
  std::unordered_map<std::string, std::deque<std::chrono::steady_clock::time_point>> failures_;
  auth::password_pool passwords_;
};

// v1_collections.cpp: /v1/teams and /v1/collections (docs/collections.md).
struct groups_surface {
  context& c;
  api_deps& d;
  explicit groups_surface(context& ctx) : c(ctx), d(ctx.d) {}

  asio::awaitable<response> teams(const auth::principal& who);
  asio::awaitable<response> create_team(const request& req, const auth::principal& who);
  asio::awaitable<response> get_team(const auth::principal& who, const std::string& id);
  // PATCH {"name"} with a request, DELETE without.
  asio::awaitable<response> change_team(const request* req, const auth::principal& who, const std::string& id);
  // PUT {"role"} with a request, DELETE without.
  asio::awaitable<response> set_member(const request* req, const auth::principal& who, const std::string& id,
                                       const std::string& user);
  asio::awaitable<response> collections(const params& p, const auth::principal& who);
  asio::awaitable<response> create_collection(const request& req, const auth::principal& who);
  asio::awaitable<response> get_collection(const auth::principal& who, const std::string& id);
  // PATCH with a request, DELETE without.
  asio::awaitable<response> change_collection(const request* req, const auth::principal& who, const std::string& id);
  asio::awaitable<response> collection_leaves(const request& req, const params& p, const auth::principal& who,
                                              const std::string& id);
  // POST (add: `leaf` null, the body names it), PUT {"position"} (move), DELETE (no request).
  asio::awaitable<response> change_leaf(const request* req, const auth::principal& who, const std::string& id,
                                        const std::string* leaf, bool add);
  // PUT {"role"} with a request, DELETE without.
  asio::awaitable<response> share(const request* req, const auth::principal& who, const std::string& id,
                                  const std::string& team);

 private:
  error unavailable() const;
  result<domain::team> visible_team(const auth::principal& who, const std::string& id) const;
  result<domain::team> managed_team(const auth::principal& who, const std::string& id) const;
  // The collection when `who` has at least `need` on it: else 404 (cannot
  // see it) or 403 (sees it, may not do this).
  result<std::pair<domain::collection, auth::collection_access>> reach(const auth::principal& who,
                                                                       const std::string& id,
                                                                       auth::collection_access need) const;
  json::object collection_body(const domain::collection& col, const auth::principal& who,
                               auth::collection_access a) const;
  status fill(const json::object& body, domain::collection_command& cmd, const auth::principal& who) const;
  asio::awaitable<response> smart_leaves(const request& req, const params& p, const domain::collection& col,
                                         size_t from, size_t limit);
};

// api.cpp: the context, one of each surface, and the routing. Shared (bulk
// items keep it alive while they run).
struct api::impl : std::enable_shared_from_this<api::impl> {
  // Declaration order is initialisation order: the context first, then the
  // search surface before v1_leaves, which refers to it.
  context c;
  search_surface searching;
  v1_leaves leaves;
  bulk batch;
  reference ref;
  operations ops;
  rest_proxy proxy;
  users_surface users;
  groups_surface groups;
  rate_limiter limiter;
  impl(api_deps deps, api_options opts, api* a)
      : c(deps, std::move(opts), a),
        searching(c),
        leaves(c, searching),
        batch(c),
        ref(c),
        ops(c),
        proxy(c),
        users(c),
        groups(c),
        limiter(c.o.rate_per_second, c.o.rate_burst) {}

  asio::awaitable<response> dispatch(request& req);
  // auth.cpp: who sent the request (its bearer token, else anonymous) and
  // whether they may use the route; fills req.caller. An answer (401, 403)
  // when not.
  result<auth::principal> authenticate(const request& req, route_id route) const;
  std::optional<response> authorize(request& req, const leaves::api::route& r, const auth::principal& who) const;
  // auth.cpp: the caller's token's rate limit on a route that is not open:
  // nullopt when there is none, else the decision (refused: answer 429).
  std::optional<rate_limiter::decision> rate_limit(const leaves::api::route& r, const auth::principal& who);
  asio::awaitable<response> route(request& req, const match& m);
  asio::awaitable<response> serve(request& req, const match& m, const auth::principal& who, const params& p);
};

}  // namespace leaves::api
