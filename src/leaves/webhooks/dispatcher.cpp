#include "leaves/webhooks/dispatcher.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "leaves/auth/token.h"
#include "leaves/base/log.h"
#include "leaves/base/time.h"

namespace leaves::webhooks {

namespace asio = boost::asio;

namespace {
constexpr size_t kLogSize = 100;
constexpr auto kMaxBackoff = std::chrono::minutes(5);
constexpr const char* kActor = "leaves (webhooks)";

// What the dispatcher takes from the hub: every message, collections' own
// events included (each webhook's filter decides).
realtime::filter everything() {
  realtime::filter f;
  f.allow = [](const realtime::message&) { return true; };
  return f;
}

// The webhook's user as a caller: its role's scopes, without the admin
// scope when the webhook was made without it (it then sees what any user
// sees).
auth::principal principal_of(const auth::webhook_target& t) {
  unsigned granted = ~0u;
  if (!(t.r == domain::role::admin && t.hook.all_leaves)) granted &= ~static_cast<unsigned>(domain::scope_admin);
  return auth::principal::of(t.user, t.user_id, t.r, granted);
}

bool sees_leaf(const auth::webhook_target& t, bool is_public, std::optional<int64_t> owner) {
  const bool limited = !(t.r == domain::role::admin && t.hook.all_leaves);
  return !limited || is_public || (t.user_id > 0 && owner == t.user_id);
}
}  // namespace

struct dispatcher::hook {
  auth::webhook_target t;  // t.hook.enabled false: kept for its log, sent nothing
  realtime::filter f;
  std::deque<std::shared_ptr<const realtime::message>> queue;
  bool sending = false;
  bool removed = false;
  int failures_in_a_row = 0;
  std::deque<delivery> log;  // newest first
};

dispatcher::dispatcher(asio::io_context& io, realtime::hub& hub, log::event_log& log, auth::directory& users,
                       auth::user_service& service, options o)
    : strand_(asio::make_strand(io)), hub_(hub), log_(log), users_(users), service_(service),
      o_(std::move(o)) {}

dispatcher::~dispatcher() { stop(); }

void dispatcher::start() {
  start_ends_ = log_.end_offsets();
  signal_ = std::make_shared<async_signal>(strand_);
  sub_ = hub_.subscribe(everything(), signal_, false);
  asio::co_spawn(strand_, run(), asio::detached);
}

void dispatcher::stop() {
  if (stop_.exchange(true)) return;
  std::shared_ptr<realtime::subscriber> sub;
  {
    std::lock_guard lk(mu_);
    sub = sub_;
  }
  if (sub) hub_.unsubscribe(sub);
  if (signal_) signal_->notify();
}

void dispatcher::refresh() {
  const uint64_t v = users_.version();
  if (v == seen_version_) return;
  seen_version_ = v;
  std::map<std::string, std::shared_ptr<hook>> next;
  std::lock_guard lk(mu_);
  for (auto& t : users_.webhooks()) {
    auto it = hooks_.find(t.hook.id);
    auto h = it != hooks_.end() ? it->second : std::make_shared<hook>();
    // What the user may see, as a stream of theirs would: an admin every
    // leaf, others the public ones and their own.
    h->f = realtime::filter{};
    h->f.tag = t.hook.tag;
    h->f.limited = !(t.r == domain::role::admin && t.hook.all_leaves);
    h->f.visible_owner = t.user_id;
    if (t.hook.collection) {
      // What the collection's stream would carry to the user (api.cpp's
      // ?collection=): its leaves that reach the user through it, and its
      // own events while the user may view it.
      h->f.allow = [users = &users_, id = *t.hook.collection, who = principal_of(t), target = t,
                    could = std::make_shared<std::atomic<bool>>(true)](const realtime::message& m) {
        if (!m.collection_id.empty()) return m.collection_id == id && users->shows_own_event(id, who, *could);
        return users->carries(id, who, m.leaf_id, m.user_id, sees_leaf(target, m.is_public.value_or(false), m.user_id));
      };
    }
    if (t.hook.enabled && !h->t.hook.enabled) h->failures_in_a_row = 0;  // turned on again
    if (!t.hook.enabled) h->queue.clear();
    // What waits was let in under the old filter: a user who may now see
    // less (demoted) gets none of what it may no longer see.
    std::erase_if(h->queue, [&](const auto& m) { return !h->f.matches(*m); });
    h->t = std::move(t);
    next.emplace(h->t.hook.id, h);
  }
  for (auto& [id, h] : hooks_) {
    if (!next.contains(id)) {
      h->removed = true;  // its sender ends; the queue goes with it
      h->queue.clear();
    }
  }
  hooks_ = std::move(next);
}

void dispatcher::route(const std::shared_ptr<const realtime::message>& m) {
  if (m->partition >= 0 && static_cast<size_t>(m->partition) < start_ends_.size() &&
      m->offset < start_ends_[m->partition]) {
    return;  // applied again after a restart or a rebuild: sent before, or never
  }
  std::vector<std::shared_ptr<hook>> start_sending;
  {
    std::lock_guard lk(mu_);
    for (auto& [id, h] : hooks_) {
      if (!h->t.hook.enabled || !h->f.matches(*m)) continue;
      if (h->queue.size() >= o_.queue_capacity) {
        ++stats_.dropped;
        delivery d;
        d.id = id + "-" + std::to_string(m->partition) + "-" + std::to_string(m->offset);
        d.event_type = m->type;
        d.leaf_id = m->leaf_id;
        d.position = std::to_string(m->partition) + ":" + std::to_string(m->offset);
        d.time_ms = system_clock().now_ms();
        d.error = "not sent: " + std::to_string(o_.queue_capacity) + " deliveries were waiting already";
        h->log.push_front(std::move(d));
        if (h->log.size() > kLogSize) h->log.pop_back();
        continue;
      }
      h->queue.push_back(m);
      if (!h->sending) {
        h->sending = true;
        start_sending.push_back(h);
      }
    }
  }
  for (auto& h : start_sending) asio::co_spawn(strand_, send_all(std::move(h)), asio::detached);
}

asio::awaitable<void> dispatcher::run() {
  try {
    co_await run_loop();
  } catch (const std::exception& e) {
    log_error("webhooks", "the dispatcher stopped, no webhook is sent: " + std::string(e.what()));
  }
}

asio::awaitable<void> dispatcher::run_loop() {
  while (!stop_) {
    co_await signal_->wait(std::chrono::seconds(1));
    if (stop_) break;
    refresh();
    std::string dropped;
    std::shared_ptr<realtime::subscriber> sub;
    {
      std::lock_guard lk(mu_);
      sub = sub_;
    }
    auto batch = sub->take(dropped);
    for (const auto& m : batch) route(m);
    if (!dropped.empty() && !stop_) {
      // Fell behind the hub (a burst larger than its queue): what was missed
      // is not sent. Said in the log; subscribe again.
      log_warn("webhooks", "fell behind the event stream (" + dropped + "); some events were not delivered");
      ++stats_.dropped;
      hub_.unsubscribe(sub);
      auto fresh = hub_.subscribe(everything(), signal_, false);
      std::lock_guard lk(mu_);
      sub_ = std::move(fresh);
    }
  }
}

void dispatcher::record(hook& h, delivery d) {
  std::lock_guard lk(mu_);
  h.log.push_front(std::move(d));
  if (h.log.size() > kLogSize) h.log.pop_back();
}

asio::awaitable<void> dispatcher::send_all(std::shared_ptr<hook> h) {
  bool failed = false;
  try {
    co_await send_queue(h);  // it clears `sending` itself whenever it ends
  } catch (const std::exception& e) {
    log_error("webhooks", "the sender of a webhook stopped: " + std::string(e.what()));
    failed = true;
  }
  if (failed) {
    // Never leave the webhook marked as sending with nobody sending.
    std::lock_guard lk(mu_);
    h->sending = false;
  }
}

asio::awaitable<void> dispatcher::send_queue(std::shared_ptr<hook> h) {
  asio::steady_timer timer(strand_);
  while (!stop_) {
    std::shared_ptr<const realtime::message> m;
    auth::webhook_target t;
    {
      std::lock_guard lk(mu_);
      if (h->removed || h->queue.empty()) {
        h->sending = false;
        co_return;
      }
      m = h->queue.front();
      t = h->t;
    }
    // A collection's own event that names a leaf: sent only when the leaf
    // reaches the user through the collection now (its id is not revealed
    // otherwise), as GET /v1/collections/{id}/leaves decides.
    if (!m->collection_id.empty() && !m->leaf_id.empty() && t.hook.collection) {
      bool show = false;
      if (o_.read_leaf) {
        // The directory decides: let it fold up to the event first (bounded).
        std::vector<log::position> at{{m->partition, m->offset}};
        co_await users_.progress().wait_for(std::move(at), std::chrono::seconds(1));
        auto l = co_await o_.read_leaf(m->leaf_id);
        if (l && *l && !(*l)->deleted) {
          show = users_.shows(*t.hook.collection, principal_of(t), m->leaf_id, (*l)->user_id,
                              sees_leaf(t, (*l)->is_public, (*l)->user_id));
        }
      }
      if (!show) {
        std::lock_guard lk(mu_);
        if (!h->queue.empty() && h->queue.front() == m) h->queue.pop_front();
        continue;
      }
    }
    delivery d;
    d.id = t.hook.id + "-" + std::to_string(m->partition) + "-" + std::to_string(m->offset);
    d.event_type = m->type;
    d.leaf_id = m->leaf_id;
    d.position = std::to_string(m->partition) + ":" + std::to_string(m->offset);
    const std::string body = "{\"delivery_id\":\"" + d.id + "\",\"webhook_id\":\"" + t.hook.id + "\",\"user\":\"" +
                             t.user + "\",\"event\":" + m->json_body + "}}";
    auto backoff = o_.retry_base;
    // Deleted or turned off meanwhile (by its user, or another server):
    // no more attempts with what it was.
    auto gone = [&] {
      std::lock_guard lk(mu_);
      return h->removed || !h->t.hook.enabled || h->t.hook.secret != t.hook.secret || h->t.hook.url != t.hook.url;
    };
    bool dropped = false;
    for (int attempt = 1; attempt <= o_.attempts && !stop_; ++attempt) {
      if (gone()) {
        dropped = true;
        break;
      }
      // Signed over the time and the body (as Stripe's and GitHub's are):
      // a receiver checks both, and refuses old times to stop replays.
      const std::string ts = std::to_string(system_clock().now_ms() / 1000);
      const std::string sig = "t=" + ts + ",v1=" + auth::hmac_sha256_hex(t.hook.secret, ts + "." + body);
      ++stats_.attempts;
      // Named locals, not braced temporaries in the co_await (GCC 12).
      std::vector<std::pair<std::string, std::string>> headers;
      headers.emplace_back("Leaves-Event", m->type);
      headers.emplace_back("Leaves-Delivery", d.id);
      headers.emplace_back("Leaves-Webhook", t.hook.id);
      headers.emplace_back("Leaves-Signature", sig);
      post_options po;
      po.allow_private = o_.allow_private;
      po.timeout = o_.timeout;
      auto r = co_await post_json(t.hook.url, headers, body, po);
      d.attempts = attempt;
      d.status = r.status;
      d.error = r.error;
      d.ok = r.status >= 200 && r.status < 300;
      if (d.ok || r.refused) break;
      if (d.error.empty()) d.error = "answered " + std::to_string(r.status);
      if (attempt == o_.attempts) break;
      timer.expires_after(backoff);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
    }
    if (stop_) co_return;
    if (dropped) {
      // Deleted or turned off: what waits goes (a webhook turned on again
      // starts a sender for what arrives then).
      std::lock_guard lk(mu_);
      h->queue.clear();
      h->sending = false;
      co_return;
    }
    d.time_ms = system_clock().now_ms();
    bool disable = false;
    {
      std::lock_guard lk(mu_);
      if (!h->queue.empty() && h->queue.front() == m) h->queue.pop_front();
      h->failures_in_a_row = d.ok ? 0 : h->failures_in_a_row + 1;
      disable = h->failures_in_a_row >= o_.disable_after && !h->removed;
    }
    (d.ok ? stats_.delivered : stats_.failed)++;
    const bool ok = d.ok;
    const std::string why = d.error;
    record(*h, std::move(d));
    if (ok || !disable) continue;
    // Disabled by an event, so every server stops, and its user sees why.
    log_warn("webhooks", "disabling webhook " + t.hook.id + " of " + t.user + " after " +
                             std::to_string(o_.disable_after) + " failed deliveries: " + why);
    domain::user_command cmd;
    cmd.kind = domain::user_command_kind::update_webhook;
    cmd.name = t.user;
    cmd.webhook.id = t.hook.id;
    cmd.webhook.enabled = false;
    cmd.webhook.disabled_reason =
        std::to_string(o_.disable_after) + " deliveries in a row failed; the last: " + why.substr(0, 300);
    auto w = co_await service_.execute(std::move(cmd), kActor);
    if (!w) log_warn("webhooks", "disabling webhook " + t.hook.id + ": " + w.err().message);
    ++stats_.disabled;
    std::lock_guard lk(mu_);
    h->t.hook.enabled = false;  // until its user turns it on again
    h->queue.clear();
    h->sending = false;
    co_return;
  }
  std::lock_guard lk(mu_);
  h->sending = false;
}

std::vector<delivery> dispatcher::deliveries(const std::string& webhook_id) const {
  std::lock_guard lk(mu_);
  auto it = hooks_.find(webhook_id);
  if (it == hooks_.end()) return {};
  return {it->second->log.begin(), it->second->log.end()};
}

}  // namespace leaves::webhooks
