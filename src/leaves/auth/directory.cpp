#include "leaves/auth/directory.h"

#include <boost/json.hpp>

#include "leaves/auth/token.h"
#include "leaves/base/log.h"

namespace leaves::auth {

namespace json = boost::json;

namespace {
// Never committed: every start reads the user events from the beginning.
constexpr const char* kGroup = "leaves-users-directory";
constexpr size_t kBatch = 5000;
}  // namespace

directory::directory(log::event_log& log) : log_(log), progress_(log.partitions()), next_(log.partitions(), 0) {}

directory::~directory() { stop(); }

status directory::start() {
  auto c = log_.exclusive(kGroup);
  if (!c) return c.err();
  consumer_ = std::move(*c);
  consumer_->seek_all(0);
  // What Kafka's retention deleted is not there to wait for.
  for (int32_t p = 0; p < static_cast<int32_t>(next_.size()); ++p) {
    if (auto s = log_.start_offset(p); s) next_[p] = *s;
  }
  const auto end = log_.end_offsets();
  // Catch up before serving, so a token that exists is never refused at start.
  while (!projector::covers(next_, end)) {
    auto recs = consumer_->poll(kBatch, std::chrono::milliseconds(500));
    if (!recs) return make_error(recs.err().code, "reading user events: " + recs.err().message);
    apply_records(*recs);
  }
  thread_ = std::thread([this] { follow(); });
  return ok_status();
}

void directory::stop() {
  stop_ = true;
  if (consumer_) consumer_->wake();
  if (thread_.joinable()) thread_.join();
  consumer_.reset();
}

void directory::follow() {
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_) {
    auto recs = consumer_->poll(kBatch, std::chrono::milliseconds(200));
    if (!recs) {
      log_warn("users", "reading user events: " + recs.err().message);
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      continue;
    }
    backoff = std::chrono::milliseconds(100);
    apply_records(*recs);
  }
}

void directory::apply_records(const std::vector<log::stored_record>& recs) {
  if (recs.empty()) return;
  std::vector<int64_t> next;
  {
    std::unique_lock lk(mu_);
    for (const auto& r : recs) {
      if (r.partition >= 0 && static_cast<size_t>(r.partition) < next_.size()) {
        next_[r.partition] = std::max(next_[r.partition], r.offset + 1);
      }
      if (!domain::is_user_key(r.key)) continue;
      boost::system::error_code ec;
      auto j = json::parse(r.value, ec);
      auto ev = !ec && j.is_object() ? domain::user_event_from_json(j.get_object())
                                     : result<domain::user_event>(make_error(errc::invalid_argument, "not JSON"));
      if (!ev || ev->aggregate_id != r.key) {
        ++stats_.undecodable;
        log_warn("users", "skipping an undecodable user record at " + std::to_string(r.partition) + ":" +
                              std::to_string(r.offset));
        continue;
      }
      const std::string name = r.key.substr(5);
      std::optional<domain::user> state;
      if (auto it = users_.find(name); it != users_.end()) state = it->second;
      if (state && ev->aggregate_version <= state->version) {
        ++stats_.skipped;  // another server's event of the same version came first
        continue;
      }
      if (auto st = domain::apply_user(state, *ev); !st) {
        ++stats_.skipped;
        log_warn("users", "skipping user event at " + std::to_string(r.partition) + ":" + std::to_string(r.offset) +
                              ": " + st.err().message);
        continue;
      }
      ++stats_.applied;
      for (const auto& t : state->tokens) by_hash_[t.hash] = {name, t.id};
      users_[name] = std::move(*state);
      ++version_;
    }
    next = next_;
  }
  progress_.set_applied(next);
}

std::optional<domain::user> directory::find(std::string_view name) const {
  std::shared_lock lk(mu_);
  auto it = users_.find(name);
  if (it == users_.end()) return std::nullopt;
  return it->second;
}

std::vector<domain::user> directory::list() const {
  std::shared_lock lk(mu_);
  std::vector<domain::user> out;
  out.reserve(users_.size());
  for (const auto& [_, u] : users_) out.push_back(u);
  return out;
}

std::vector<webhook_target> directory::webhooks() const {
  std::shared_lock lk(mu_);
  std::vector<webhook_target> out;
  for (const auto& [name, u] : users_) {
    if (u.disabled) continue;
    for (const auto& w : u.webhooks) {
      out.push_back({name, u.user_id, u.r, w});
    }
  }
  return out;
}

size_t directory::size() const {
  std::shared_lock lk(mu_);
  return users_.size();
}

bool directory::knows_token(std::string_view token) const {
  const std::string hash = sha256_hex(token);
  std::shared_lock lk(mu_);
  return by_hash_.contains(hash);
}

result<principal> directory::authenticate(std::string_view token, int64_t now_ms) const {
  auto refuse = [](std::string why) { return make_error(errc::unauthenticated, std::move(why), "invalid_token"); };
  if (token.empty() || token.size() > 512) return refuse("the token is not valid");
  const std::string hash = sha256_hex(token);
  std::shared_lock lk(mu_);
  auto hit = by_hash_.find(hash);
  if (hit == by_hash_.end()) return refuse("the token is not valid");
  auto u = users_.find(hit->second.first);
  if (u == users_.end()) return refuse("the token is not valid");
  const auto* t = u->second.token(hit->second.second);
  if (!t || !constant_time_equal(t->hash, hash)) return refuse("the token is not valid");
  if (t->revoked) return refuse("the token " + t->id + " was revoked");
  if (t->expires_ms && *t->expires_ms <= now_ms) return refuse("the token " + t->id + " has expired");
  if (u->second.disabled) return refuse("the user " + u->second.name + " is disabled");
  principal p;
  p.anonymous = false;
  p.name = u->second.name;
  p.email = u->second.email;
  p.user_id = u->second.user_id;
  p.r = u->second.r;
  p.scopes = t->scopes & domain::role_scopes(u->second.r);
  if (p.scopes & domain::scope_read) p.scopes |= domain::scope_feed;  // tokens made before the feed scope too
  p.token_id = t->id;
  return p;
}

std::optional<std::string> directory::refused(const std::string& user, const std::string& token_id,
                                              domain::role opened_as, int64_t now_ms) const {
  std::shared_lock lk(mu_);
  auto u = users_.find(user);
  if (u == users_.end()) return "the user " + user + " no longer exists";
  if (u->second.disabled) return "the user " + user + " was disabled";
  const auto* t = u->second.token(token_id);
  if (!t || t->revoked) return "the token " + token_id + " was revoked";
  if (t->expires_ms && *t->expires_ms <= now_ms) return "the token " + token_id + " has expired";
  if (u->second.r != opened_as) {
    return "the role of " + user + " changed to " + std::string(domain::to_string(u->second.r)) + "; reconnect";
  }
  return std::nullopt;
}

}  // namespace leaves::auth
