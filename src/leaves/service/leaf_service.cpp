#include "leaves/service/leaf_service.h"

#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>
#include <random>

#include "leaves/base/hash.h"

namespace asio = boost::asio;
namespace json = boost::json;

namespace leaves::service {
namespace {

std::string new_event_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(32, '0');
  uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) {
    s[i] = kHex[(a >> (4 * i)) & 15];
    s[16 + i] = kHex[(b >> (4 * i)) & 15];
  }
  // RFC 4122 version 4 layout, hex without dashes.
  s[12] = '4';
  s[16] = kHex[8 + (b & 3)];
  return s;
}

}  // namespace

asio::awaitable<void> leaf_service::lock(const std::string& id) {
  const auto ex = co_await asio::this_coro::executor;
  std::shared_ptr<async_signal> me;
  {
    std::lock_guard lk(mu_);
    auto [it, fresh] = locks_.try_emplace(id);
    if (fresh) co_return;  // uncontended: the empty queue marks "held"
    me = std::make_shared<async_signal>(ex);
    it->second.push_back(me);
  }
  // The holder's unlock() hands the lock over by notifying us.
  while (!co_await me->wait(std::chrono::hours(1))) {
  }
}

void leaf_service::unlock(const std::string& id) {
  std::shared_ptr<async_signal> next;
  {
    std::lock_guard lk(mu_);
    auto it = locks_.find(id);
    if (it == locks_.end()) return;
    if (it->second.empty()) {
      locks_.erase(it);
      return;
    }
    next = std::move(it->second.front());
    it->second.pop_front();
  }
  next->notify();
}

asio::awaitable<result<std::optional<domain::leaf>>> leaf_service::state(std::string id) {
  {
    std::lock_guard lk(mu_);
    if (auto it = pending_.find(id); it != pending_.end()) co_return std::optional<domain::leaf>(it->second);
  }
  co_return co_await store_.async_get(std::move(id));
}

asio::awaitable<result<write_result>> leaf_service::execute(domain::command cmd, std::string actor) {
  if (!writable_) {
    co_return make_error(errc::unavailable, "the read models are catching up with the log; retry shortly",
                         "catching_up");
  }
  if (admission_) {
    if (auto st = admission_(); !st) co_return st.err();
  }
  co_await lock(cmd.leaf_id);
  struct unlocker {
    leaf_service* s;
    std::string id;
    ~unlocker() { s->unlock(id); }
  } guard{this, cmd.leaf_id};

  bool uncertain;
  {
    std::lock_guard lk(mu_);
    uncertain = uncertain_.contains(cmd.leaf_id);
  }
  if (uncertain) {
    if (auto st = co_await settle(cmd.leaf_id); !st) co_return st.err();
  }
  auto current = co_await state(cmd.leaf_id);
  if (!current) co_return current.err();
  domain::context ctx{clock_.now_ms(), std::move(actor)};
  auto events = domain::decide(*current, cmd, ctx);
  if (!events) co_return events.err();
  write_result out;
  out.leaf = *current;
  if (events->empty()) co_return out;

  std::optional<domain::leaf> next = *current;
  std::vector<log::record> records;
  for (auto& ev : *events) {
    ev.event_id = new_event_id();
    if (auto st = domain::apply(next, ev); !st) co_return st.err();
    records.push_back({ev.aggregate_id, json::serialize(domain::event_to_json(ev)), -1});
  }
  {
    std::lock_guard lk(mu_);
    const size_t cap = max_pending_.load();
    if (cap != 0 && pending_.size() >= cap && !pending_.contains(cmd.leaf_id)) {
      co_return make_error(errc::unavailable,
                           std::to_string(pending_.size()) +
                               " leaves have writes the read models have not applied yet (the read store is slow or "
                               "unreachable); retry shortly",
                           "projection_backlog");
    }
    pending_[cmd.leaf_id] = *next;
  }
  auto appended = co_await log_.append(std::move(records));
  if (!appended) {
    std::lock_guard lk(mu_);
    pending_.erase(cmd.leaf_id);
    uncertain_.insert(cmd.leaf_id);
    co_return appended.err();
  }
  out.created = events->front().type == domain::event_type::created;
  out.changed = true;
  out.leaf = std::move(next);
  out.position = appended->back();
  co_return out;
}

asio::awaitable<status> leaf_service::settle(const std::string& id) {
  const int32_t partition = kafka_partition(id, log_.partitions());
  auto end = co_await log_.async_end_offset(partition);
  if (!end) co_return end.err();
  if (*end > 0) {
    std::vector<log::position> want(1, log::position{partition, *end - 1});
    if (!co_await progress_.wait_for(std::move(want), std::chrono::seconds(10))) {
      co_return make_error(errc::unavailable,
                           "leaf " + id + ": a previous write failed and the read models have not caught up yet; retry",
                           "catching_up");
    }
  }
  std::lock_guard lk(mu_);
  uncertain_.erase(id);
  co_return ok_status();
}

void leaf_service::applied(const std::vector<projection::applied_event>& batch) {
  std::lock_guard lk(mu_);
  if (pending_.empty()) return;
  for (const auto& ae : batch) {
    auto it = pending_.find(ae.ev.aggregate_id);
    if (it != pending_.end() && it->second.version <= ae.ev.aggregate_version) pending_.erase(it);
  }
}

size_t leaf_service::cached() const {
  std::lock_guard lk(mu_);
  return pending_.size();
}

}  // namespace leaves::service
