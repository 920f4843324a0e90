#include "leaves/projector/projector.h"

#include <boost/json.hpp>
#include <chrono>
#include <map>

#include "leaves/base/log.h"
#include "leaves/domain/collection.h"
#include "leaves/domain/event_avro.h"

namespace json = boost::json;

namespace leaves::projector {

namespace {
constexpr size_t kPollMax = 2000;
constexpr auto kPollTimeout = std::chrono::milliseconds(200);
constexpr auto kBehindFlushInterval = std::chrono::milliseconds(5000);
constexpr size_t kBehindFlushEvents = 10000;
}  // namespace

projector::projector(log::event_log& log, projection::projection& target, progress& prog,
                     realtime::hub* hub, std::string group, membership m, std::string name)
    : log_(log),
      target_(target),
      progress_(prog),
      hub_(hub),
      group_(std::move(group)),
      membership_(m),
      name_(std::move(name)) {}

result<std::unique_ptr<log::consumer>> projector::open_consumer() {
  return membership_ == membership::exclusive ? log_.exclusive(group_) : log_.subscribe(group_);
}

projector::~projector() { stop(); }

status projector::start() {
  auto c = open_consumer();
  if (!c) return c.err();
  consumer_ = std::move(*c);
  auto committed = log_.committed(group_);
  if (!committed) return committed.err();
  next_ = *committed;
  start_end_ = log_.end_offsets();
  if (auto st = check_own_position(); !st) return st;
  progress_.set_applied(next_);
  caught_up_ = covers(next_, start_end_);
  stop_ = false;
  last_flush_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { run(); });
  return ok_status();
}

status projector::check_own_position() {
  const size_t parts = start_end_.size();
  if (rebuild_at_start_) {
    log_warn("projector", name_ + ": rebuilding it from the log (--salvage)");
    if (auto st = target_.clear(); !st) return st;
    consumer_->seek_all(0);
    next_.assign(parts, 0);
    return ok_status();
  }
  if (const auto why = target_.rebuild_reason(); !why.empty()) {
    log_warn("projector", name_ + ": rebuilding it from the log: " + why);
    if (auto st = target_.clear(); !st) return st;
    consumer_->seek_all(0);
    next_.assign(parts, 0);
    return ok_status();
  }
  auto held = target_.stored_position();
  if (!held) return ok_status();
  held->resize(parts, 0);
  next_.resize(parts, 0);
  std::string ahead, behind;
  for (size_t p = 0; p < parts; ++p) {
    const auto at = std::to_string(p) + ": it applied up to offset " + std::to_string((*held)[p]);
    if ((*held)[p] > start_end_[p] && ahead.empty()) {
      ahead = "partition " + at + " but the log ends at " + std::to_string(start_end_[p]);
    } else if ((*held)[p] < next_[p] && behind.empty()) {
      behind = "partition " + at + " but its group " + group_ + " committed " + std::to_string(next_[p]);
    }
  }
  if (!ahead.empty()) {
    if (when_ahead_ == when_ahead::refuse) {
      return make_error(errc::precondition_failed,
                        name_ + ": " + ahead +
                            ": the log is not the one these read models were built from (a missing, replaced or "
                            "salvaged log); refusing to start. Restore the log, or start with --salvage to rebuild "
                            "the read models from this log",
                        "log_mismatch");
    }
    log_warn("projector", name_ + ": " + ahead + "; rebuilding it from this log");
  } else if (!behind.empty()) {
    log_warn("projector", name_ + " lost data (" + behind +
                              ": a missing or restored directory); rebuilding it from the log before it is ready");
  } else {
    return ok_status();
  }
  if (auto st = target_.clear(); !st) return st;
  consumer_->seek_all(0);
  next_.assign(parts, 0);
  return ok_status();
}

// Idempotent. The consumer is released here, while the log it belongs to
// still exists: serve closes the log after stop() and before this object's
// destructor stops it again.
void projector::stop() {
  stop_ = true;
  if (consumer_) consumer_->wake();
  if (thread_.joinable()) thread_.join();
  consumer_.reset();
}

bool projector::process(std::vector<log::stored_record>& recs) {
  std::vector<projection::applied_event> batch;
  batch.reserve(recs.size());
  // Collections' events, for the streams and webhooks of collections (the
  // directory folds them): published among the leaves' in log order.
  std::vector<std::pair<size_t, std::shared_ptr<const realtime::message>>> group_msgs;  // (batch index, message)
  for (auto& r : recs) {
    // Users, teams and collections share the log with leaves; the user
    // directory folds them.
    if (!domain::is_leaf_key(r.key)) {
      if (hub_ && r.key.starts_with("collection:")) {
        auto j = domain::decode_event_value_waiting(r.value, stop_, "projector");
        if (!j && j.err().code == errc::unavailable) return false;
        auto ge = j ? domain::group_event_from_json(*j) : result<domain::group_event>(j.err());
        if (ge) {
          group_msgs.emplace_back(batch.size(), std::make_shared<realtime::message>(
                                                    realtime::make_collection_message(r.partition, r.offset, *ge)));
        }
      }
      continue;
    }
    auto j = domain::decode_event_value_waiting(r.value, stop_, "projector");
    if (!j && j.err().code == errc::unavailable) return false;  // stopping while the registry was away
    result<domain::event> ev = j ? domain::event_from_json(*j) : result<domain::event>(j.err());
    if (!ev) {
      ++stats_.records_undecodable;
      log_warn("projector", "skipping undecodable record at " + std::to_string(r.partition) + ":" +
                                std::to_string(r.offset) + ": " + ev.err().message);
      continue;
    }
    batch.push_back({r.partition, r.offset, std::move(*ev)});
  }
  auto backoff = std::chrono::milliseconds(50);
  for (;;) {
    auto st = target_.apply(batch);
    store_ok_ = st.ok();
    if (st) {
      stats_.events_applied += st->applied;
      stats_.events_skipped += st->skipped;
      break;
    }
    ++stats_.store_failures;
    note_failure(st.err());
    log_error("projector", name_ + ": write failed, retrying in " + std::to_string(backoff.count()) +
                               " ms: " + st.err().message);
    if (stop_) return false;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
  for (const auto& r : recs) {
    next_[r.partition] = std::max(next_[r.partition], r.offset + 1);
    unflushed_[r.partition] = next_[r.partition];
  }
  if (on_applied_) on_applied_(batch);
  // A target that flushes on a timer (the search index), behind (a poll at
  // least half full) and announcing nothing: flushes further apart, so that a
  // catch-up (an import, a rebuild) writes each block of it fewer times
  // (300,000 leaves imported out of creation order: searchable after 175 s
  // instead of 225 s).
  // (Or every kBehindFlushEvents: what the target keeps until it flushes.)
  auto interval = target_.flush_interval();
  applied_since_flush_ += batch.size();
  if (!hub_ && interval.count() > 0 && recs.size() >= kPollMax / 2 && applied_since_flush_ < kBehindFlushEvents)
    interval = std::max(interval, kBehindFlushInterval);
  if (std::chrono::steady_clock::now() - last_flush_ >= interval && !flush()) return false;
  // After the flush: a subscriber that reads what a message announces finds it.
  if (hub_) {
    std::vector<std::shared_ptr<const realtime::message>> msgs;
    msgs.reserve(batch.size() + group_msgs.size());
    auto g = group_msgs.begin();
    for (size_t i = 0; i < batch.size(); ++i) {
      for (; g != group_msgs.end() && g->first == i; ++g) msgs.push_back(std::move(g->second));
      const auto& ae = batch[i];
      msgs.push_back(std::make_shared<realtime::message>(realtime::make_message(ae.partition, ae.offset, ae.ev)));
    }
    for (; g != group_msgs.end(); ++g) msgs.push_back(std::move(g->second));
    hub_->publish(msgs);
  }
  ++stats_.batches;
  return true;
}

void projector::note_failure(const error& e) {
  std::lock_guard lk(failure_mu_);
  last_failure_ = e;
}

bool projector::flush() {
  if (unflushed_.empty()) return true;
  auto backoff = std::chrono::milliseconds(50);
  for (;;) {
    auto st = target_.flush(next_);
    store_ok_ = st.ok();
    if (st) break;
    ++stats_.store_failures;
    note_failure(st.err());
    log_error("projector", name_ + ": flush failed, retrying in " + std::to_string(backoff.count()) +
                               " ms: " + st.err().message);
    if (stop_) return false;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
  last_flush_ = std::chrono::steady_clock::now();
  applied_since_flush_ = 0;
  // Commit only the partitions applied since the last flush: in a Kafka group
  // the others may belong to another member.
  std::vector<log::position> commit;
  for (const auto& [p, off] : unflushed_) commit.push_back({p, off});
  unflushed_.clear();
  if (auto st = consumer_->commit(commit); !st) {
    log_warn("projector", "commit failed (events will be re-applied idempotently): " + st.err().message);
  }
  progress_.set_applied(next_);
  return true;
}

// What this process applied covers the log's end at start, partition by
// partition. In a shared group another member owns some partitions and this
// process never applies them: the group's commits (re-read at most once a
// second) cover those, so readiness never waits for a member that is alive and
// projecting. A partition held by a dead member is covered once the group
// moves it here, after the member's session times out.
bool projector::reached_start_end() {
  if (covers(next_, start_end_)) return true;
  if (membership_ != membership::shared) return false;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_group_read_ < std::chrono::seconds(1)) return false;
  last_group_read_ = now;
  auto group = log_.committed(group_);
  if (!group) return false;
  return covers(next_, start_end_, &*group);
}

void projector::run() {
  while (!stop_) {
    auto recs = consumer_->poll(kPollMax, kPollTimeout);
    if (!recs) {
      log_error("projector", "poll failed: " + recs.err().message);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    if (!recs->empty() && !process(*recs)) break;
    // An idle log flushes at once: a projection that groups its commits by
    // time never holds the last events of a burst back.
    if (recs->empty() && !flush()) break;
    if (!caught_up_ && unflushed_.empty() && reached_start_end()) {
      caught_up_ = true;
      log_info("projector", name_ + " caught up with the log (group " + group_ + ")");
    }
  }
}

result<uint64_t> projector::replay_all(std::function<void(uint64_t, uint64_t)> progress_cb) {
  auto c = open_consumer();
  if (!c) return c.err();
  consumer_ = std::move(*c);
  consumer_->seek_all(0);
  next_.assign(log_.partitions(), 0);
  last_flush_ = std::chrono::steady_clock::now();
  const auto end = log_.end_offsets();
  uint64_t total = 0;
  for (auto e : end) total += static_cast<uint64_t>(e);
  uint64_t done = 0;
  auto idle_since = std::chrono::steady_clock::now();
  while (done < total) {
    auto recs = consumer_->poll(kPollMax, std::chrono::milliseconds(200));
    if (!recs) return recs.err();
    if (recs->empty()) {
      // A Kafka consumer needs a moment to join its group; give up only after a long silence.
      if (std::chrono::steady_clock::now() - idle_since > std::chrono::seconds(30)) break;
      continue;
    }
    idle_since = std::chrono::steady_clock::now();
    done += recs->size();
    if (!process(*recs)) return make_error(errc::unavailable, "replay interrupted");
    if (progress_cb) progress_cb(done, total);
  }
  if (!flush()) return make_error(errc::unavailable, "replay interrupted");
  return done;
}

}  // namespace leaves::projector
