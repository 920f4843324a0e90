#include "leaves/auth/user_service.h"

#include "leaves/base/hash.h"

#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>

namespace leaves::auth {

namespace asio = boost::asio;
namespace json = boost::json;


asio::awaitable<result<user_write>> user_service::execute(domain::user_command cmd, std::string actor) {
  co_await mu_.lock();
  async_mutex::guard guard{mu_};

  auto state = dir_.find(cmd.name);
  // Nobody locks the deployment out: the last enabled admin stays one.
  // Checked under the lock that serialises commands here, so two requests
  // demoting the last two admins at once cannot both pass.
  if (cmd.kind == domain::user_command_kind::update && state && state->r == domain::role::admin &&
      !state->disabled && ((cmd.r && *cmd.r != domain::role::admin) || cmd.disabled.value_or(false))) {
    size_t admins = 0;
    for (const auto& other : dir_.list()) admins += other.r == domain::role::admin && !other.disabled;
    if (admins <= 1) {
      co_return make_error(errc::conflict, cmd.name + " is the last enabled admin: make another admin first",
                           "last_admin");
    }
  }
  auto events = domain::decide_user(state, cmd, clock_.now_ms(), actor);
  if (!events) co_return events.err();
  user_write w;
  if (events->empty()) {
    w.user = std::move(*state);
    co_return w;
  }
  auto next = state;
  for (auto& ev : *events) {
    ev.event_id = new_event_id();
    if (auto st = domain::apply_user(next, ev); !st) co_return st.err();
  }
  auto pos = co_await append(*events, [&](const std::string& last_event) {
    auto now = dir_.find(cmd.name);
    return now && now->version == next->version && now->last_event_id == last_event;
  }, "user " + cmd.name, "user_write_contention");
  if (!pos) co_return pos.err();
  w.position = *pos;
  w.changed = true;
  w.user = std::move(*next);
  co_return w;
}

namespace {
json::object event_json(const domain::user_event& ev) { return domain::user_event_to_json(ev); }
json::object event_json(const domain::group_event& ev) { return domain::group_event_to_json(ev); }
}  // namespace

template <class Event, class Won>
asio::awaitable<result<log::position>> user_service::append(std::vector<Event>& events, Won won,
                                                            const std::string& what, const char* contention) {
  std::vector<log::record> records;
  for (auto& ev : events) records.push_back({ev.aggregate_id, json::serialize(event_json(ev)), -1});
  auto pos = co_await log_.append(std::move(records));
  if (!pos) co_return pos.err();
  // Answer once the directory here holds the event: the caller's next
  // request (with the new token, or against the revoked one) sees it.
  if (!co_await dir_.progress().wait_for(*pos, std::chrono::seconds(10))) {
    co_return make_error(errc::unavailable, "the directory did not apply the change within 10 s", "unconfirmed");
  }
  // The first event of a version in log order wins: ours, unless another
  // server's event of the same version came before it.
  if (!won(events.back().event_id)) {
    co_return make_error(errc::unavailable, what + " was changed by another server at the same time; read it and try again",
                         contention);
  }
  co_return pos->back();
}

asio::awaitable<result<team_write>> user_service::execute(domain::team_command cmd, std::string actor) {
  co_await mu_.lock();
  async_mutex::guard guard{mu_};
  auto state = dir_.find_team(cmd.id);
  auto events = domain::decide_team(state, cmd, clock_.now_ms(), actor);
  if (!events) co_return events.err();
  team_write w;
  if (events->empty()) {
    w.team = std::move(*state);
    co_return w;
  }
  auto next = state;
  for (auto& ev : *events) {
    ev.event_id = new_event_id();
    if (auto st = domain::apply_team(next, ev); !st) co_return st.err();
  }
  auto pos = co_await append(*events, [&](const std::string& last_event) {
    auto now = dir_.find_team(cmd.id);
    return next->deleted ? !now : (now && now->version == next->version && now->last_event_id == last_event);
  }, "team " + cmd.id, "write_contention");
  if (!pos) co_return pos.err();
  w.position = *pos;
  w.changed = true;
  w.team = std::move(*next);
  co_return w;
}

asio::awaitable<result<collection_write>> user_service::execute(domain::collection_command cmd, std::string actor) {
  co_await mu_.lock();
  async_mutex::guard guard{mu_};
  auto state = dir_.find_collection(cmd.id);
  // A parent that exists, and no cycle: walk up from the new parent.
  const std::optional<std::string> parent =
      cmd.parent ? *cmd.parent : std::optional<std::string>{};
  if (parent) {
    std::optional<std::string> up = parent;
    size_t depth = 1;
    while (up) {
      if (*up == cmd.id) co_return make_error(errc::invalid_argument, "parent: that would make a cycle", "invalid_parent");
      auto p = dir_.find_collection(*up);
      if (!p) co_return make_error(errc::invalid_argument, "parent: collection " + *up + " does not exist", "invalid_parent");
      if (++depth > domain::kMaxCollectionDepth) {
        co_return make_error(errc::invalid_argument,
                             "parent: collections nest at most " + std::to_string(domain::kMaxCollectionDepth) + " deep",
                             "invalid_parent");
      }
      up = p->parent;
    }
  }
  if (cmd.kind == domain::collection_command_kind::remove && state && dir_.has_children(cmd.id)) {
    co_return make_error(errc::conflict, "collection " + cmd.id + " has collections inside it: move or delete them first",
                         "has_children");
  }
  auto events = domain::decide_collection(state, cmd, clock_.now_ms(), actor);
  if (!events) co_return events.err();
  collection_write w;
  if (events->empty()) {
    w.collection = std::move(*state);
    co_return w;
  }
  auto next = state;
  for (auto& ev : *events) {
    ev.event_id = new_event_id();
    if (auto st = domain::apply_collection(next, ev); !st) co_return st.err();
  }
  auto pos = co_await append(*events, [&](const std::string& last_event) {
    auto now = dir_.find_collection(cmd.id);
    return next->deleted ? !now : (now && now->version == next->version && now->last_event_id == last_event);
  }, "collection " + cmd.id, "write_contention");
  if (!pos) co_return pos.err();
  w.position = *pos;
  w.changed = true;
  w.collection = std::move(*next);
  co_return w;
}

}  // namespace leaves::auth
