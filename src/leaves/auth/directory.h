// The user directory: every user and token of the deployment, folded from
// the user events of the event log (records keyed "user:<name>"), in memory.
// Every server keeps its own and follows the log on a thread of its own, so a
// token revoked on one server fails on every other one as soon as it has read
// the revocation (milliseconds; the server that revoked waits for it before
// answering). Without a model the directory reads the log from the start
// when it opens: leaf records are skipped by their key without being parsed.
// With a model (store/directory_store.h: <data-dir>/directory, or the
// Cassandra keyspace's tables) it saves what it applies there, with the log
// positions it is valid through, and at start loads the model and reads the
// log only after those positions. A model it cannot read, or one ahead of
// the log, is rebuilt from the whole log (a model shared by several servers,
// Cassandra's, is then left to `leaves replay`, not written); one it cannot
// write is retried after a backoff, on a thread of its own, while the
// directory keeps serving from memory.
// Thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "leaves/base/result.h"
#include "leaves/domain/collection.h"
#include "leaves/domain/user.h"
#include "leaves/log/event_log.h"
#include "leaves/projector/progress.h"
#include "leaves/store/directory_store.h"

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
  // A user acting with at most `granted` (a token's or a webhook's scopes),
  // cut down to what its role allows.
  static principal of(const std::string& name, int64_t user_id, domain::role r, unsigned granted) {
    principal p;
    p.anonymous = false;
    p.name = name;
    p.user_id = user_id;
    p.r = r;
    p.scopes = granted & domain::role_scopes(r);
    return p;
  }
};

// A webhook with what its delivery needs to know of its user.
struct webhook_target {
  std::string user;
  int64_t user_id = 0;
  domain::role r = domain::role::reader;
  domain::webhook_info hook;
};

// What a caller may do with a collection (docs/collections.md).
enum class collection_access {
  none,    // not even know it exists (404)
  view,    // read it and its leaves: public, or a member of a team it is shared with
  edit,    // change its name, description, parent and leaves: an editor or admin of a team it is shared with as editor
  manage,  // share it, make it public, delete it: its owner, or an admin
};

class directory {
 public:
  // `model`: where to save and load the directory's state (null: none; the
  // whole log is read at every start). Outlives the directory.
  explicit directory(log::event_log& log, store::directory_store* model = nullptr);
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

  // Teams and collections (docs/collections.md), folded from the same log.
  std::optional<domain::team> find_team(std::string_view id) const;
  std::optional<domain::collection> find_collection(std::string_view id) const;
  // Live teams `user` is a member of (an admin of the deployment: every
  // live team when `all`), by name.
  std::vector<domain::team> teams_of(std::string_view user, bool all = false) const;
  // Live collections `who` may view, by name then id.
  std::vector<domain::collection> visible_collections(const principal& who) const;
  collection_access access(const domain::collection& c, const principal& who) const;
  // The ancestors of a collection that `who` may view, the top first (at
  // most domain::kMaxCollectionDepth; a cycle another server made is cut).
  std::vector<domain::collection> breadcrumb(const domain::collection& c, const principal& who) const;
  // Whether a live collection that `who` may see names `parent` as its parent.
  bool has_children(std::string_view parent, const principal& who) const;
  // The levels of collections below `id` (0: none), at most kMaxCollectionDepth + 1.
  size_t height(std::string_view id) const;
  // Whether a leaf that `user` may not see by its own flags reaches `user`
  // through a collection (shared with a team `user` is in, or `user`'s own)
  // that vouches for it: the leaf's owner added it there and still owns the
  // collection or edits it through a team (an editor or admin of a team it
  // is shared with as editor).
  bool shared_with(std::string_view leaf_id, std::optional<int64_t> leaf_owner, std::string_view user) const;
  // Whether collection `id`'s stream carries an event of leaf `leaf_id`
  // (owned by `leaf_owner`) to `who`: the collection is live and `who` may
  // view it, the leaf is in it, and `who` sees the leaf anyway (`sees`) or
  // through the collection (its owner or a team member, and the collection
  // vouches for the leaf). Quick: no copies.
  bool carries(std::string_view id, const principal& who, std::string_view leaf_id,
               std::optional<int64_t> leaf_owner, bool sees) const;
  // Whether collection `id`'s own events reach `who` on the
  // collection's stream or webhook: while `who` may view the collection.
  // Once the collection is deleted, its last events (the deletion too) reach
  // whoever could view it at the last event decided before (`could`, kept up
  // to date here: one per stream or webhook). Quick.
  bool shows_own_event(std::string_view id, const principal& who, std::atomic<bool>& could) const;
  // Whether a leaf of collection `id` (owned by `leaf_owner`) is shown to
  // `who` through it: `who` sees it anyway (`sees`), or the collection
  // reaches `who` through its owner or a team and vouches for the leaf.
  bool shows(std::string_view id, const principal& who, std::string_view leaf_id,
             std::optional<int64_t> leaf_owner, bool sees) const;

  // Starred and archived are each user's own on leaves it does not own
  // (docs/auth.md): a user's marks (domain::mark_bits) by leaf id, folded
  // from its user.leaf_marked events. An unmarked leaf is not kept.
  using mark_map = domain::mark_map;
  uint8_t mark(const std::string& user, const std::string& leaf_id) const;
  size_t marked(const std::string& user) const;
  // A snapshot of `user`'s marks (null: none), for filters that read many.
  std::shared_ptr<const mark_map> marks_of(const std::string& user) const;

  // Applies user events (the follower's job; tests call it directly).
  void apply_records(const std::vector<log::stored_record>& recs);

  struct counters {
    std::atomic<uint64_t> applied{0}, skipped{0}, undecodable{0};
    // The start: aggregates and marks loaded from the model, log records read.
    std::atomic<uint64_t> model_rows_loaded{0}, records_read_at_start{0};
    // Saves to the model, and saves that failed (retried after a backoff).
    std::atomic<uint64_t> model_saves{0}, model_failures{0}, model_rows_saved{0};
  };
  const counters& stats() const { return stats_; }

 private:
  void follow();
  // Installs the model's state and positions (under no lock: before the
  // follower starts). False (and the directory empty) when there is none or
  // it cannot be used; the reason is logged.
  bool load_model(const std::vector<int64_t>& end);
  // Saves what changed since the last save, with the positions it is valid
  // through: when aggregates changed, else (positions alone) every few
  // seconds or when `force`. On the saver thread (at start and stop: the
  // caller's), so a slow or unreachable store never holds up the follower.
  void save_model(bool force);
  // Wakes the saver (at start, before it runs: saves on this thread).
  void request_save();
  void save_loop();

  log::event_log& log_;
  store::directory_store* model_;
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

  // Under mu_; `value` is the record's decoded value.
  void apply_group(const log::stored_record& r, const result<boost::json::object>& value);
  void apply_mark(const std::string& user, const boost::json::object& data);
  collection_access access_locked(const domain::collection& c, const principal& who) const;
  bool vouches_locked(const domain::collection& c, std::string_view leaf_id, std::optional<int64_t> leaf_owner) const;
  bool edits_locked(const domain::collection& c, std::string_view user) const;
  bool member_locked(const domain::collection& c, std::string_view user) const;
  // The collection reaches `user` (its owner, or a member of a team it is
  // shared with) and vouches for the leaf.
  bool opens_locked(const domain::collection& c, std::string_view user, std::string_view leaf_id,
                    std::optional<int64_t> leaf_owner) const;
  bool shows_locked(const domain::collection& c, const principal& who, std::string_view leaf_id,
                    std::optional<int64_t> leaf_owner, bool sees) const;
  std::map<std::string, domain::team, std::less<>> teams_;
  std::map<std::string, domain::collection, std::less<>> collections_;
  // user name -> its marks; copied on write only while a snapshot is out.
  std::unordered_map<std::string, std::shared_ptr<mark_map>> marks_;
  // leaf id -> the live collections holding it
  std::unordered_map<std::string, std::vector<std::string>> leaf_collections_;
  // Under mu_: what changed since the last save to the model.
  struct dirty_set {
    std::set<std::string, std::less<>> users, teams, collections;
    std::set<std::pair<std::string, std::string>> marks;  // (user, leaf)
    bool empty() const { return users.empty() && teams.empty() && collections.empty() && marks.empty(); }
  } dirty_;
  // Per partition, under mu_: the first record not applied because the
  // registry could not decode it while stopping (max: none). Saved
  // positions stay before it.
  std::vector<int64_t> held_;
  // The saver's (and start's and stop's, when it does not run):
  bool saving_ = true;  // false: a model this server must not write (see load_model)
  std::vector<int64_t> saved_next_;  // the positions last saved
  std::chrono::steady_clock::time_point saved_at_{};
  std::chrono::steady_clock::time_point failure_logged_{};
  std::chrono::steady_clock::time_point retry_at_{};  // no save before (after a failure)
  std::chrono::milliseconds retry_backoff_{1000};
  std::thread saver_;
  std::mutex save_mu_;
  std::condition_variable save_cv_;
  bool save_wanted_ = false, saver_stop_ = false;  // under save_mu_
};

}  // namespace leaves::auth
