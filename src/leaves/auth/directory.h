// The user directory: every user and token of the deployment, folded from
// the user events of the event log (records keyed "user:<name>"), in memory.
// Every server keeps its own and follows the log on a thread of its own, so a
// token revoked on one server fails on every other one as soon as it has read
// the revocation (milliseconds; the server that revoked waits for it before
// answering). The directory reads the log from the start when it opens:
// leaf records are skipped by their key without being parsed.
// Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "leaves/domain/user.h"
#include "leaves/log/event_log.h"
#include "leaves/projector/progress.h"

namespace leaves::auth {

// Who a request is from. Anonymous requests have the scopes --anonymous gives.
struct principal {
  bool anonymous = true;
  std::string name = "anonymous";
  std::string email;
  int64_t user_id = 0;
  domain::role r = domain::role::reader;
  unsigned scopes = 0;  // effective: the token's scopes cut down to the role
  std::string token_id;
  // Signed in through the UI's session cookie: writes must then carry the
  // session's CSRF token (api/auth.cpp).
  bool via_cookie = false;
  std::string csrf;
  bool can(unsigned scope) const { return (scopes & scope) == scope; }
};

// A webhook with what its delivery needs to know of its user.
struct webhook_target {
  std::string user;
  int64_t user_id = 0;
  domain::role r = domain::role::reader;
  domain::webhook_info hook;
};

class directory {
 public:
  explicit directory(log::event_log& log);
  ~directory();
  directory(const directory&) = delete;
  directory& operator=(const directory&) = delete;

  // Reads the log up to its end as it is now, then follows it on a thread.
  status start();
  // Stops following the log (idempotent; what it holds stays readable).
  void stop();

  // What the directory has applied, per partition (user_service waits on it).
  projector::progress& progress() { return progress_; }

  std::optional<domain::user> find(std::string_view name) const;
  std::vector<domain::user> list() const;  // by name
  size_t size() const;

  // The bearer of `token`, or unauthenticated: unknown, revoked or expired
  // token, or a disabled user. The message says which, without the token.
  result<principal> authenticate(std::string_view token, int64_t now_ms) const;
  // Why the token `token_id` of `user` no longer authenticates (revoked,
  // expired, its user disabled or gone) or no longer as the role `opened_as`
  // (what it may see changed), or nullopt while it does. For what lasts
  // longer than a request: open streams ask before each batch.
  std::optional<std::string> refused(const std::string& user, const std::string& token_id, domain::role opened_as,
                                     int64_t now_ms) const;
  // The webhooks of enabled users (disabled webhooks too), and a number that changes with
  // every user event applied (a webhook dispatcher refreshes when it moved).
  std::vector<webhook_target> webhooks() const;
  uint64_t version() const { return version_.load(); }
  // Whether a token with this secret was ever created (revoked, expired or not).
  bool knows_token(std::string_view token) const;

  // Applies user events (the follower's job; tests call it directly).
  void apply_records(const std::vector<log::stored_record>& recs);

  struct counters {
    std::atomic<uint64_t> applied{0}, skipped{0}, undecodable{0};
  };
  const counters& stats() const { return stats_; }

 private:
  void follow();

  log::event_log& log_;
  projector::progress progress_;
  std::unique_ptr<log::consumer> consumer_;
  std::vector<int64_t> next_;
  std::thread thread_;
  std::atomic<bool> stop_{false};

  mutable std::shared_mutex mu_;
  std::map<std::string, domain::user, std::less<>> users_;
  // token hash -> (user name, token id)
  std::unordered_map<std::string, std::pair<std::string, std::string>> by_hash_;
  counters stats_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace leaves::auth
