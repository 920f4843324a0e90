#include "leaves/projector/projector.h"

#include <boost/json.hpp>
#include <chrono>
#include <map>

#include "leaves/base/log.h"

namespace json = boost::json;

namespace leaves::projector {

namespace {
constexpr size_t kPollMax = 2000;
constexpr auto kPollTimeout = std::chrono::milliseconds(200);
}  // namespace

projector::projector(log::event_log& log, store::read_store& store, progress& prog,
                     realtime::hub* hub, std::string group, membership m)
    : log_(log), store_(store), progress_(prog), hub_(hub), group_(std::move(group)), membership_(m) {}

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
  progress_.set_applied(next_);
  start_end_ = log_.end_offsets();
  caught_up_ = next_ >= start_end_;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
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
  std::vector<store::applied_event> batch;
  batch.reserve(recs.size());
  for (auto& r : recs) {
    boost::system::error_code ec;
    auto j = json::parse(r.value, ec);
    result<domain::event> ev = ec || !j.is_object()
                                   ? result<domain::event>(make_error(errc::invalid_argument, "not a JSON object"))
                                   : domain::event_from_json(j.get_object());
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
    auto st = store_.apply(batch);
    store_ok_ = st.ok();
    if (st) {
      stats_.events_applied += st->applied;
      stats_.events_skipped += st->skipped;
      break;
    }
    ++stats_.store_failures;
    log_error("projector", "read store write failed, retrying in " +
                               std::to_string(backoff.count()) + " ms: " + st.err().message);
    if (stop_) return false;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
  // Commit only the partitions this batch touched: in a Kafka group the others
  // may belong to another member.
  std::map<int32_t, int64_t> touched;
  for (const auto& r : recs) {
    next_[r.partition] = std::max(next_[r.partition], r.offset + 1);
    touched[r.partition] = next_[r.partition];
  }
  std::vector<log::position> commit;
  for (const auto& [p, off] : touched) commit.push_back({p, off});
  if (auto st = consumer_->commit(commit); !st) {
    log_warn("projector", "commit failed (events will be re-applied idempotently): " + st.err().message);
  }
  if (on_applied_) on_applied_(batch);
  progress_.set_applied(next_);
  if (hub_) {
    std::vector<std::shared_ptr<const realtime::message>> msgs;
    msgs.reserve(batch.size());
    for (const auto& ae : batch) {
      msgs.push_back(std::make_shared<realtime::message>(realtime::make_message(ae.partition, ae.offset, ae.ev)));
    }
    hub_->publish(msgs);
  }
  ++stats_.batches;
  return true;
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
    if (!caught_up_ && next_ >= start_end_) {
      caught_up_ = true;
      log_info("projector", "read models caught up with the log (group " + group_ + ")");
    }
  }
}

result<uint64_t> projector::replay_all(std::function<void(uint64_t, uint64_t)> progress_cb) {
  auto c = open_consumer();
  if (!c) return c.err();
  consumer_ = std::move(*c);
  consumer_->seek_all(0);
  next_.assign(log_.partitions(), 0);
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
  return done;
}

}  // namespace leaves::projector
