#include "leaves/realtime/hub.h"

#include <algorithm>
#include <boost/json.hpp>

#include "leaves/base/time.h"

namespace json = boost::json;

namespace leaves::realtime {

message make_message(int32_t partition, int64_t offset, const domain::event& ev) {
  message m;
  m.partition = partition;
  m.offset = offset;
  m.type = domain::to_string(ev.type);
  m.leaf_id = ev.aggregate_id;
  m.tags = ev.tags_after;
  m.user_id = ev.user_after;
  m.is_public = ev.public_after;
  json::object o;
  o["type"] = m.type;
  o["leaf_id"] = ev.aggregate_id;
  o["version"] = ev.aggregate_version;
  o["position"] = std::to_string(partition) + ":" + std::to_string(offset);
  o["time"] = format_iso8601(ev.time_ms);
  json::array changed;
  for (auto& f : domain::changed_fields(ev)) changed.emplace_back(f);
  o["changed"] = std::move(changed);
  if (m.tags) {
    json::array t;
    for (auto& s : *m.tags) t.emplace_back(s);
    o["tags"] = std::move(t);
  } else {
    o["tags"] = nullptr;
  }
  o["user_id"] = m.user_id ? json::value(*m.user_id) : json::value(nullptr);
  m.json_body = json::serialize(o);
  m.json_body.pop_back();  // the closing '}': sessions append their cursor
  return m;
}

message make_collection_message(int32_t partition, int64_t offset, const domain::group_event& ev) {
  message m;
  m.partition = partition;
  m.offset = offset;
  m.type = ev.type;
  constexpr std::string_view kPrefix = "collection:";
  m.collection_id = ev.aggregate_id.starts_with(kPrefix) ? ev.aggregate_id.substr(kPrefix.size()) : ev.aggregate_id;
  if (const auto* l = ev.data.if_contains("leaf"); l && l->is_string()) m.leaf_id = l->get_string();
  json::object o;
  o["type"] = m.type;
  o["collection_id"] = m.collection_id;
  if (!m.leaf_id.empty()) o["leaf_id"] = m.leaf_id;
  o["version"] = ev.aggregate_version;
  o["position"] = std::to_string(partition) + ":" + std::to_string(offset);
  o["time"] = format_iso8601(ev.time_ms);
  o["actor"] = ev.actor;
  o["data"] = ev.data;
  m.json_body = json::serialize(o);
  m.json_body.pop_back();  // the closing '}': sessions append their cursor
  return m;
}

bool filter::matches(const message& m) const {
  if (!m.collection_id.empty()) return allow && allow(m);
  if (tag && (!m.tags || std::find(m.tags->begin(), m.tags->end(), *tag) == m.tags->end())) {
    return false;
  }
  if (user_id && m.user_id != user_id) return false;
  if (allow) return allow(m);
  if (limited && !m.is_public.value_or(false) && !(visible_owner > 0 && m.user_id == visible_owner)) return false;
  return true;
}

std::vector<std::shared_ptr<const message>> subscriber::take(std::string& dropped_reason, size_t max) {
  std::lock_guard lk(mu_);
  const auto n = std::min(max, queue_.size());
  std::vector<std::shared_ptr<const message>> out(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
  // The reason comes after every message queued before it.
  dropped_reason = queue_.empty() ? dropped_ : std::string();
  return out;
}

bool subscriber::end_catch_up_round() {
  std::lock_guard lk(mu_);
  const bool o = overflowed_;
  overflowed_ = false;
  if (o) queue_.clear();
  return o;
}

void subscriber::set_catching_up(bool v) {
  std::lock_guard lk(mu_);
  catching_up_ = v;
}

void subscriber::offer(const std::shared_ptr<const message>& m) {
  {
    std::lock_guard lk(mu_);
    if (!dropped_.empty()) return;
    if (queue_.size() >= capacity_) {
      if (catching_up_) {
        overflowed_ = true;
        queue_.clear();
        return;
      }
      dropped_ = "slow subscriber: more than " + std::to_string(capacity_) + " events queued";
      queue_.clear();
    } else {
      queue_.push_back(m);
    }
  }
}

void subscriber::drop(std::string reason) {
  {
    std::lock_guard lk(mu_);
    if (dropped_.empty()) dropped_ = std::move(reason);
  }
  signal_->notify();
}

std::shared_ptr<subscriber> hub::subscribe(filter f, std::shared_ptr<async_signal> signal, bool client) {
  auto s = std::make_shared<subscriber>(std::move(f), std::move(signal), capacity_);
  std::lock_guard lk(mu_);
  subs_.push_back(s);
  if (!client) internal_.push_back(s);
  return s;
}

void hub::unsubscribe(const std::shared_ptr<subscriber>& s) {
  std::lock_guard lk(mu_);
  std::erase(subs_, s);
  std::erase(internal_, s);
}

void hub::publish(const std::vector<std::shared_ptr<const message>>& batch) {
  std::vector<std::shared_ptr<subscriber>> subs;
  {
    std::lock_guard lk(mu_);
    subs = subs_;
  }
  for (auto& s : subs) {
    bool was_dropped;
    {
      std::lock_guard lk(s->mu_);
      was_dropped = !s->dropped_.empty();
    }
    bool offered = false;
    for (const auto& m : batch) {
      if (s->filter_.matches(*m)) {
        s->offer(m);
        offered = true;
      }
    }
    if (offered) s->signal_->notify();  // one wake-up per batch, not per event
    bool now_dropped;
    {
      std::lock_guard lk(s->mu_);
      now_dropped = !s->dropped_.empty();
    }
    if (!was_dropped && now_dropped) {
      std::lock_guard lk(mu_);
      ++dropped_total_;
    }
  }
}

void hub::close_all(const std::string& reason) {
  std::vector<std::shared_ptr<subscriber>> subs;
  {
    std::lock_guard lk(mu_);
    subs = subs_;
  }
  for (auto& s : subs) s->drop(reason);
}

size_t hub::subscribers() const {
  std::lock_guard lk(mu_);
  return subs_.size() - internal_.size();
}

uint64_t hub::dropped_total() const {
  std::lock_guard lk(mu_);
  return dropped_total_;
}

}  // namespace leaves::realtime
