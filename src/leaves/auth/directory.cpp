#include "leaves/auth/directory.h"

#include <algorithm>
#include <boost/json.hpp>
#include <limits>
#include <tuple>

#include "leaves/auth/token.h"
#include "leaves/base/log.h"
#include "leaves/domain/event_avro.h"
#include "leaves/domain/state_json.h"

namespace leaves::auth {

namespace json = boost::json;

namespace {
// Never committed: a start reads from its model's positions (or from the
// beginning, without a model).
constexpr const char* kGroup = "leaves-users-directory";
constexpr size_t kBatch = 5000;
// Positions alone (no aggregate changed) are saved at most this often.
constexpr auto kPositionsEvery = std::chrono::seconds(5);
}  // namespace

directory::directory(log::event_log& log, store::directory_store* model)
    : log_(log),
      model_(model),
      progress_(log.partitions()),
      next_(log.partitions(), 0),
      held_(log.partitions(), std::numeric_limits<int64_t>::max()) {}

directory::~directory() { stop(); }

status directory::start() {
  auto c = log_.exclusive(kGroup);
  if (!c) return c.err();
  consumer_ = std::move(*c);
  // What Kafka's retention deleted is not there to wait for.
  for (int32_t p = 0; p < static_cast<int32_t>(next_.size()); ++p) {
    if (auto s = log_.start_offset(p); s) next_[p] = *s;
  }
  const auto end = log_.end_offsets();
  const auto t0 = std::chrono::steady_clock::now();
  if (model_ && load_model(end)) {
    consumer_->seek_each(next_);
  } else {
    consumer_->seek_all(0);
  }
  saved_next_ = next_;
  saved_at_ = std::chrono::steady_clock::now();
  // Catch up before serving, so a token that exists is never refused at start.
  while (!projector::covers(next_, end)) {
    auto recs = consumer_->poll(kBatch, std::chrono::milliseconds(500));
    if (!recs) return make_error(recs.err().code, "reading user events: " + recs.err().message);
    stats_.records_read_at_start += recs->size();
    apply_records(*recs);
  }
  progress_.set_applied(next_);
  save_model(true);
  log_info("users", "directory: " + std::to_string(size()) + " users, " + std::to_string(stats_.model_rows_loaded.load()) +
                        " aggregates and marks from the model, " + std::to_string(stats_.records_read_at_start.load()) +
                        " log records read, in " +
                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - t0)
                                           .count()) +
                        " ms");
  if (model_ && saving_) saver_ = std::thread([this] { save_loop(); });
  thread_ = std::thread([this] { follow(); });
  return ok_status();
}

void directory::stop() {
  stop_ = true;
  if (consumer_) consumer_->wake();
  const bool was_running = thread_.joinable();
  if (was_running) thread_.join();
  if (saver_.joinable()) {
    {
      std::lock_guard g(save_mu_);
      saver_stop_ = true;
    }
    save_cv_.notify_one();
    saver_.join();
  }
  if (was_running) save_model(true);  // what the follower applied last
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
  // Decoded before the lock: an Avro value may wait for the registry.
  std::vector<result<json::object>> values;
  values.reserve(recs.size());
  for (const auto& r : recs) {
    if (domain::is_leaf_key(r.key)) values.push_back(json::object());
    else values.push_back(domain::decode_event_value_waiting(r.value, stop_, "users"));
  }
  std::vector<int64_t> next;
  {
    std::unique_lock lk(mu_);
    for (size_t i = 0; i < recs.size(); ++i) {
      const auto& r = recs[i];
      if (r.partition >= 0 && static_cast<size_t>(r.partition) < next_.size()) {
        next_[r.partition] = std::max(next_[r.partition], r.offset + 1);
      }
      // A value the registry could not decode because the directory is
      // stopping: not applied, so the model's positions stay before it
      // and the next start reads it again.
      if (!values[i] && values[i].err().code == errc::unavailable && r.partition >= 0 &&
          static_cast<size_t>(r.partition) < held_.size()) {
        held_[r.partition] = std::min(held_[r.partition], r.offset);
      }
      if (r.key.starts_with("team:") || r.key.starts_with("collection:")) {
        apply_group(r, values[i]);
        continue;
      }
      if (!domain::is_user_key(r.key)) continue;
      const auto& j = values[i];
      auto ev = j ? domain::user_event_from_json(*j) : result<domain::user_event>(j.err());
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
      if (ev->type == domain::user_event_type::leaf_marked) apply_mark(name, ev->data);
      if (model_) dirty_.users.insert(name);
      for (const auto& t : state->tokens) by_hash_[t.hash] = {name, t.id};
      users_[name] = std::move(*state);
      ++version_;
    }
    next = next_;
  }
  progress_.set_applied(next);
  request_save();
}

void directory::apply_mark(const std::string& user, const json::object& data) {
  const auto* leaf = data.if_contains("leaf");
  if (!leaf || !leaf->is_string()) return;
  auto flag = [&](const char* k) {
    const auto* v = data.if_contains(k);
    return v && v->is_bool() && v->get_bool();
  };
  const uint8_t bits = (flag("starred") ? domain::mark_starred : 0) | (flag("archived") ? domain::mark_archived : 0);
  auto& m = marks_[user];
  // A snapshot handed out (marks_of) stays as it was: change a copy.
  if (!m) m = std::make_shared<mark_map>();
  else if (m.use_count() > 1) m = std::make_shared<mark_map>(*m);
  if (bits) (*m)[std::string(leaf->get_string())] = bits;
  else m->erase(std::string(leaf->get_string()));
  if (model_) dirty_.marks.emplace(user, std::string(leaf->get_string()));
}

uint8_t directory::mark(const std::string& user, const std::string& leaf_id) const {
  std::shared_lock lock(mu_);
  auto it = marks_.find(user);
  if (it == marks_.end()) return 0;
  auto m = it->second->find(leaf_id);
  return m == it->second->end() ? 0 : m->second;
}

size_t directory::marked(const std::string& user) const {
  std::shared_lock lock(mu_);
  auto it = marks_.find(user);
  return it == marks_.end() ? 0 : it->second->size();
}

std::shared_ptr<const directory::mark_map> directory::marks_of(const std::string& user) const {
  std::shared_lock lock(mu_);
  auto it = marks_.find(user);
  if (it == marks_.end() || it->second->empty()) return nullptr;
  return it->second;
}

void directory::apply_group(const log::stored_record& r, const result<json::object>& j) {
  const std::string where = std::to_string(r.partition) + ":" + std::to_string(r.offset);
  auto ev = j ? domain::group_event_from_json(*j) : result<domain::group_event>(j.err());
  if (!ev || ev->aggregate_id != r.key) {
    ++stats_.undecodable;
    log_warn("users", "skipping an undecodable team or collection record at " + where);
    return;
  }
  // Applied in place: the state is moved out of its map and back (no copy
  // of a collection's leaves for each of its events).
  auto fold = [&](auto& map, const std::string& id, auto apply) -> status {
    using state_t = typename std::decay_t<decltype(map)>::mapped_type;
    std::optional<state_t> state;
    auto it = map.find(id);
    if (it != map.end()) {
      if (ev->aggregate_version <= it->second.version) return make_error(errc::conflict, "");  // an earlier winner
      state = std::move(it->second);
    }
    status st = apply(state, *ev);
    if (state) map[id] = std::move(*state);
    return st;
  };
  status st = ok_status();
  if (r.key.starts_with("team:")) {
    st = fold(teams_, r.key.substr(5), domain::apply_team);
  } else {
    const std::string id = r.key.substr(11);
    std::vector<std::string> gone;  // a deleted collection's leaves leave the index
    if (ev->type == "collection.deleted") {
      if (auto it = collections_.find(id); it != collections_.end()) gone = it->second.leaves;
    }
    st = fold(collections_, id, domain::apply_collection);
    if (st) {
      // The leaf -> collections index follows the event's own leaf.
      const auto* leaf = ev->data.if_contains("leaf");
      auto unindex = [&](const std::string& l) {
        auto in = leaf_collections_.find(l);
        if (in == leaf_collections_.end()) return;
        std::erase(in->second, id);
        if (in->second.empty()) leaf_collections_.erase(in);
      };
      if (leaf && leaf->is_string() && ev->type == "collection.leaf_added") {
        auto& in = leaf_collections_[std::string(leaf->get_string())];
        if (std::find(in.begin(), in.end(), id) == in.end()) in.push_back(id);
      } else if (leaf && leaf->is_string() && ev->type == "collection.leaf_removed") {
        unindex(std::string(leaf->get_string()));
      }
      for (const auto& l : gone) unindex(l);
    }
  }
  if (!st) {
    ++stats_.skipped;
    if (st.err().code != errc::conflict || !st.err().message.empty()) {
      log_warn("users", "skipping team or collection event at " + where + ": " + st.err().message);
    }
    return;
  }
  ++stats_.applied;
  ++version_;
  if (model_) {
    if (r.key.starts_with("team:")) dirty_.teams.insert(r.key.substr(5));
    else dirty_.collections.insert(r.key.substr(11));
  }
}

bool directory::load_model(const std::vector<int64_t>& end) {
  auto snap = model_->load();
  // Before the follower starts and anything is served; locked all the same.
  std::unique_lock lk(mu_);
  auto start_over = [&](const std::string& why) {
    log_warn("users", "the directory model in " + model_->where() + " " + why + ": reading the whole log");
    users_.clear();
    by_hash_.clear();
    teams_.clear();
    collections_.clear();
    marks_.clear();
    leaf_collections_.clear();
    stats_.model_rows_loaded = 0;
    if (model_->shared()) {
      // Other servers may be saving into it: clearing it under them could
      // leave positions without the rows they cover. Not saved by this
      // server until `leaves replay`, with every server stopped, rebuilds it.
      saving_ = false;
      log_warn("users", "the directory model in " + model_->where() +
                            " is not saved by this server; `leaves replay` (with every server stopped) rebuilds it");
    } else if (auto st = model_->clear(); !st) {
      saving_ = false;
      log_warn("users", "clearing the directory model: " + st.err().message + "; it is not saved until the next start");
    }
    return false;
  };
  if (!snap) {
    // Unreachable (Cassandra down): the log is the truth; the model is saved again once it is reachable.
    log_warn("users", "loading the directory model: " + snap.err().message + "; reading the whole log");
    return false;
  }
  if (!*snap) return false;  // a new model
  const auto& next = (*snap)->next;
  if (next.size() != end.size()) {
    return start_over("is of a log with " + std::to_string(next.size()) + " partitions, this one has " +
                      std::to_string(end.size()));
  }
  for (size_t p = 0; p < next.size(); ++p) {
    if (next[p] > end[p]) {
      return start_over("is ahead of the log (partition " + std::to_string(p) + ": " + std::to_string(next[p]) +
                        " > " + std::to_string(end[p]) + "; a log replaced or restored from a backup)");
    }
  }
  for (const auto& row : (*snap)->rows) {
    if (row.kind == store::directory_kind::mark) {
      auto& m = marks_[row.id];
      if (!m) m = std::make_shared<mark_map>();
      (*m)[row.leaf] = row.marks;
      ++stats_.model_rows_loaded;
      continue;
    }
    boost::system::error_code ec;
    auto v = json::parse(row.state, ec);
    if (ec || !v.is_object()) return start_over("holds a row of " + row.id + " that is not JSON");
    status st = ok_status();
    if (row.kind == store::directory_kind::user) {
      auto u = domain::user_state_from_json(v.get_object());
      if (u && u->name == row.id) {
        for (const auto& t : u->tokens) by_hash_[t.hash] = {u->name, t.id};
        users_[u->name] = std::move(*u);
      } else {
        st = u ? make_error(errc::invalid_argument, "the user's name is not its key") : u.err();
      }
    } else if (row.kind == store::directory_kind::team) {
      auto t = domain::team_state_from_json(v.get_object());
      if (t && t->id == row.id) teams_[t->id] = std::move(*t);
      else st = t ? make_error(errc::invalid_argument, "the team's id is not its key") : t.err();
    } else {
      auto c = domain::collection_state_from_json(v.get_object());
      if (c && c->id == row.id) {
        if (!c->deleted) {
          for (const auto& l : c->leaves) leaf_collections_[l].push_back(c->id);
        }
        collections_[c->id] = std::move(*c);
      } else {
        st = c ? make_error(errc::invalid_argument, "the collection's id is not its key") : c.err();
      }
    }
    if (!st) return start_over("holds a row of " + row.id + " this build cannot read (" + st.err().message + ")");
    ++stats_.model_rows_loaded;
  }
  for (size_t p = 0; p < next.size(); ++p) next_[p] = std::max(next_[p], next[p]);
  ++version_;
  return true;
}

void directory::save_model(bool force) {
  if (!model_ || !saving_) return;
  std::vector<store::directory_row> rows;
  std::vector<int64_t> next;
  dirty_set taken;
  {
    // One exclusive section: the rows are taken with the positions they are
    // valid through and the dirty set that named them, while the follower
    // (which adds to both) waits.
    std::unique_lock lk(mu_);
    next = next_;
    for (size_t p = 0; p < next.size() && p < held_.size(); ++p) next[p] = std::min(next[p], held_[p]);
    const auto now = std::chrono::steady_clock::now();
    const bool moved = next != saved_next_;
    if (dirty_.empty() && (!moved || (!force && now - saved_at_ < kPositionsEvery))) return;
    // After a failure, wait before trying again: each try may take the
    // store's request timeout.
    if (!force && now < retry_at_) return;
    auto take = [&](store::directory_kind kind, const auto& ids, const auto& states, auto to_json) {
      for (const auto& id : ids) {
        auto it = states.find(id);
        if (it != states.end()) rows.push_back({kind, id, {}, it->second.version, json::serialize(to_json(it->second))});
      }
    };
    take(store::directory_kind::user, dirty_.users, users_, domain::user_state_to_json);
    take(store::directory_kind::team, dirty_.teams, teams_, domain::team_state_to_json);
    take(store::directory_kind::collection, dirty_.collections, collections_, domain::collection_state_to_json);
    for (const auto& [user, leaf] : dirty_.marks) {
      auto u = users_.find(user);
      if (u == users_.end()) continue;
      uint8_t bits = 0;
      if (auto m = marks_.find(user); m != marks_.end()) {
        if (auto b = m->second->find(leaf); b != m->second->end()) bits = b->second;
      }
      rows.push_back({store::directory_kind::mark, user, leaf, u->second.version, {}, bits});
    }
    taken = std::move(dirty_);
    dirty_ = {};
  }
  auto st = model_->save(rows, next);
  if (!st) {
    ++stats_.model_failures;
    std::unique_lock lk(mu_);
    // Saved again at the next try, with what changed meanwhile.
    dirty_.users.merge(taken.users);
    dirty_.teams.merge(taken.teams);
    dirty_.collections.merge(taken.collections);
    dirty_.marks.merge(taken.marks);
    const auto now = std::chrono::steady_clock::now();
    retry_at_ = now + retry_backoff_;
    retry_backoff_ = std::min(retry_backoff_ * 2, std::chrono::milliseconds(60000));
    if (now - failure_logged_ > std::chrono::seconds(30)) {
      failure_logged_ = now;
      log_warn("users", "saving the directory model: " + st.err().message + " (retried after a backoff)");
    }
    return;
  }
  retry_backoff_ = std::chrono::milliseconds(1000);
  ++stats_.model_saves;
  stats_.model_rows_saved += rows.size();
  saved_next_ = std::move(next);
  saved_at_ = std::chrono::steady_clock::now();
}

void directory::request_save() {
  if (!model_) return;
  if (!saver_.joinable()) {
    save_model(false);  // at start, before anything is served: on this thread
    return;
  }
  {
    std::lock_guard g(save_mu_);
    save_wanted_ = true;
  }
  save_cv_.notify_one();
}

void directory::save_loop() {
  std::unique_lock g(save_mu_);
  while (!saver_stop_) {
    // Woken by a batch, or every few seconds for positions and retries.
    save_cv_.wait_for(g, kPositionsEvery, [&] { return save_wanted_ || saver_stop_; });
    if (saver_stop_) break;
    save_wanted_ = false;
    g.unlock();
    save_model(false);
    g.lock();
  }
}

std::optional<domain::team> directory::find_team(std::string_view id) const {
  std::shared_lock lk(mu_);
  auto it = teams_.find(id);
  if (it == teams_.end() || it->second.deleted) return std::nullopt;
  return it->second;
}

std::optional<domain::collection> directory::find_collection(std::string_view id) const {
  std::shared_lock lk(mu_);
  auto it = collections_.find(id);
  if (it == collections_.end() || it->second.deleted) return std::nullopt;
  return it->second;
}

std::vector<domain::team> directory::teams_of(std::string_view user, bool all) const {
  std::shared_lock lk(mu_);
  std::vector<domain::team> out;
  for (const auto& [_, t] : teams_) {
    if (!t.deleted && (all || t.members.contains(user))) out.push_back(t);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return std::tie(a.name, a.id) < std::tie(b.name, b.id); });
  return out;
}

collection_access directory::access_locked(const domain::collection& c, const principal& who) const {
  // Without the write scope (a reader's role, a read or feed token) a caller
  // only views, whatever its team roles say.
  const bool writes = !who.anonymous && who.can(domain::scope_write);
  if (!who.anonymous && (c.owner == who.name || who.can(domain::scope_admin))) {
    return writes ? collection_access::manage : collection_access::view;
  }
  collection_access best = c.is_public ? collection_access::view : collection_access::none;
  if (who.anonymous) return best;
  for (const auto& [team_id, share] : c.shares) {
    auto t = teams_.find(team_id);
    if (t == teams_.end() || t->second.deleted) continue;
    auto m = t->second.members.find(who.name);
    if (m == t->second.members.end()) continue;
    if (writes && share == domain::share_role::editor && m->second != domain::team_role::member) {
      return collection_access::edit;
    }
    best = collection_access::view;
  }
  return best;
}

bool directory::edits_locked(const domain::collection& c, std::string_view user) const {
  if (c.owner == user) return true;
  for (const auto& [team_id, share] : c.shares) {
    if (share != domain::share_role::editor) continue;
    auto t = teams_.find(team_id);
    if (t == teams_.end() || t->second.deleted) continue;
    auto m = t->second.members.find(user);
    if (m != t->second.members.end() && m->second != domain::team_role::member) return true;
  }
  return false;
}

collection_access directory::access(const domain::collection& c, const principal& who) const {
  std::shared_lock lk(mu_);
  return access_locked(c, who);
}

std::vector<domain::collection> directory::visible_collections(const principal& who) const {
  std::shared_lock lk(mu_);
  std::vector<domain::collection> out;
  for (const auto& [_, c] : collections_) {
    if (!c.deleted && access_locked(c, who) != collection_access::none) out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return std::tie(a.name, a.id) < std::tie(b.name, b.id); });
  return out;
}

std::vector<domain::collection> directory::breadcrumb(const domain::collection& c, const principal& who) const {
  std::shared_lock lk(mu_);
  std::vector<domain::collection> up;
  std::optional<std::string> next = c.parent;
  while (next && up.size() < domain::kMaxCollectionDepth) {
    auto it = collections_.find(*next);
    if (it == collections_.end() || it->second.deleted || it->second.id == c.id) break;
    if (std::any_of(up.begin(), up.end(), [&](const auto& seen) { return seen.id == it->second.id; })) break;
    if (access_locked(it->second, who) == collection_access::none) break;
    up.push_back(it->second);
    next = it->second.parent;
  }
  std::reverse(up.begin(), up.end());
  return up;
}

bool directory::has_children(std::string_view parent, const principal& who) const {
  std::shared_lock lk(mu_);
  return std::any_of(collections_.begin(), collections_.end(), [&](const auto& kv) {
    return !kv.second.deleted && kv.second.parent == parent && access_locked(kv.second, who) != collection_access::none;
  });
}

size_t directory::height(std::string_view id) const {
  std::shared_lock lk(mu_);
  // Level by level down from `id` (bounded: a cycle another server made ends at the bound).
  std::vector<std::string> level{std::string(id)};
  size_t h = 0;
  while (!level.empty() && h <= domain::kMaxCollectionDepth) {
    std::vector<std::string> next;
    for (const auto& [cid, c] : collections_) {
      if (!c.deleted && c.parent && std::find(level.begin(), level.end(), *c.parent) != level.end()) next.push_back(cid);
    }
    if (next.empty()) break;
    ++h;
    level = std::move(next);
  }
  return h;
}

bool directory::vouches_locked(const domain::collection& c, std::string_view leaf_id,
                               std::optional<int64_t> leaf_owner) const {
  // The leaf's owner put it there, and still owns or edits the collection:
  // nobody else can make a collection open someone's private leaf.
  if (!leaf_owner) return false;
  auto by = c.added_by.find(leaf_id);
  if (by == c.added_by.end() || domain::user_id_for(by->second) != *leaf_owner) return false;
  return edits_locked(c, by->second);
}

bool directory::carries(std::string_view id, const principal& who, std::string_view leaf_id,
                        std::optional<int64_t> leaf_owner, bool sees) const {
  std::shared_lock lk(mu_);
  auto c = collections_.find(id);
  if (c == collections_.end() || c->second.deleted) return false;
  auto in = leaf_collections_.find(std::string(leaf_id));
  if (in == leaf_collections_.end() || std::find(in->second.begin(), in->second.end(), id) == in->second.end()) {
    return false;
  }
  if (access_locked(c->second, who) == collection_access::none) return false;
  return shows_locked(c->second, who, leaf_id, leaf_owner, sees);
}

bool directory::shows_own_event(std::string_view id, const principal& who,
                                std::atomic<bool>& could) const {
  std::shared_lock lk(mu_);
  auto c = collections_.find(id);
  if (c == collections_.end()) return false;
  // The directory may be behind the projector that publishes (a deletion it
  // has not applied yet is shown by the rule of a live collection) or ahead
  // of it: once it has applied the deletion, the collection's last events
  // (the deletion too) reach whoever could view it at the last one decided.
  if (c->second.deleted) return could.load();
  const bool views = access_locked(c->second, who) != collection_access::none;
  could.store(views);
  return views;
}

bool directory::opens_locked(const domain::collection& c, std::string_view user, std::string_view leaf_id,
                             std::optional<int64_t> leaf_owner) const {
  // Public alone does not open a private leaf: the owner or a team must.
  return (c.owner == user || member_locked(c, user)) && vouches_locked(c, leaf_id, leaf_owner);
}

bool directory::shows_locked(const domain::collection& c, const principal& who, std::string_view leaf_id,
                             std::optional<int64_t> leaf_owner, bool sees) const {
  return sees || (!who.anonymous && opens_locked(c, who.name, leaf_id, leaf_owner));
}

bool directory::shows(std::string_view id, const principal& who, std::string_view leaf_id,
                      std::optional<int64_t> leaf_owner, bool sees) const {
  std::shared_lock lk(mu_);
  auto c = collections_.find(id);
  if (c == collections_.end() || c->second.deleted) return sees;
  return shows_locked(c->second, who, leaf_id, leaf_owner, sees);
}

bool directory::member_locked(const domain::collection& c, std::string_view user) const {
  for (const auto& [team_id, _] : c.shares) {
    auto t = teams_.find(team_id);
    if (t != teams_.end() && !t->second.deleted && t->second.members.contains(user)) return true;
  }
  return false;
}

bool directory::shared_with(std::string_view leaf_id, std::optional<int64_t> leaf_owner, std::string_view user) const {
  if (user.empty() || !leaf_owner) return false;
  std::shared_lock lk(mu_);
  auto in = leaf_collections_.find(std::string(leaf_id));
  if (in == leaf_collections_.end()) return false;
  for (const auto& id : in->second) {
    auto c = collections_.find(id);
    if (c == collections_.end() || c->second.deleted) continue;
    if (opens_locked(c->second, user, leaf_id, leaf_owner)) return true;
  }
  return false;
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
  auto p = principal::of(u->second.name, u->second.user_id, u->second.r, t->scopes);
  p.email = u->second.email;
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
