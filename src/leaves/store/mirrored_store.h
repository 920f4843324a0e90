// A shared read store (Cassandra) with a local mirror of the same models
// (the embedded store under <data-dir>/state) that keeps the write side
// working while the shared store is unreachable.
//
// - apply() writes the mirror first, then the primary: the mirror is never
//   behind the primary, and a batch retried after a primary failure is
//   skipped by the mirror (apply is idempotent).
// - get() asks the primary; when the primary is unavailable and the mirror
//   is complete (it has seen every event of the log: see serve), the mirror
//   answers. Commands keep deciding on the right aggregate version, and
//   writes keep being acknowledged during an outage.
// - list(), the reference listing and tags() always ask the primary (they
//   fail while it is down).
//
// With Kafka the mirror is not written by apply(): the primary's projector
// group spreads the partitions over processes, so each process feeds its
// mirror from a consumer group of its own over every partition (see serve).
// The mirror can then be behind the log, and a fallback read first passes the
// gate, which waits (bounded) until the mirror holds the leaf's partition up
// to the log's end; a mirror that cannot get there fails the read as the
// primary did, so no command decides on a stale aggregate.
// Thread-safety: as the two stores.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "leaves/store/read_store.h"

namespace leaves::store {

class mirrored_store final : public read_store {
 public:
  // True when the mirror holds every event of the leaf's partition; may wait.
  using gate = std::function<boost::asio::awaitable<bool>(const std::string& id)>;

  // Without a gate, apply() writes the mirror and it is always current.
  mirrored_store(std::unique_ptr<read_store> primary, std::unique_ptr<read_store> mirror, bool mirror_complete,
                 gate mirror_current = nullptr)
      : primary_(std::move(primary)), mirror_(std::move(mirror)), complete_(mirror_complete),
        gate_(std::move(mirror_current)) {}

  result<std::optional<domain::leaf>> get(const std::string& id) override {
    auto r = primary_->get(id);
    // A gated mirror needs an (asynchronous) wait: only async_get falls back.
    if (r.ok() || r.err().code != errc::unavailable || !complete_ || gate_) return r;
    fallbacks_.fetch_add(1, std::memory_order_relaxed);
    return mirror_->get(id);
  }
  boost::asio::awaitable<result<std::optional<domain::leaf>>> async_get(std::string id) override {
    auto r = co_await primary_->async_get(id);
    if (r.ok() || r.err().code != errc::unavailable || !complete_) co_return r;
    if (gate_ && !co_await gate_(id)) {
      gate_refusals_.fetch_add(1, std::memory_order_relaxed);
      co_return r;
    }
    fallbacks_.fetch_add(1, std::memory_order_relaxed);
    co_return mirror_->get(id);
  }
  boost::asio::awaitable<result<list_page>> async_list(list_query q) override {
    co_return co_await primary_->async_list(std::move(q));
  }
  boost::asio::awaitable<result<list_page>> async_reference_page(std::string page_token, size_t limit) override {
    co_return co_await primary_->async_reference_page(std::move(page_token), limit);
  }
  result<list_page> list(const list_query& q) override { return primary_->list(q); }
  result<std::vector<tag_count>> tags(size_t limit) override { return primary_->tags(limit); }
  boost::asio::awaitable<result<std::vector<tag_count>>> async_tags(size_t limit) override {
    co_return co_await primary_->async_tags(limit);
  }
  result<apply_stats> apply(const std::vector<applied_event>& batch) override {
    if (!gate_) {
      if (auto m = mirror_->apply(batch); !m) return m.err();
    }
    return primary_->apply(batch);
  }
  status clear() override {
    if (!gate_) {  // a gated mirror follows the log on its own; clearing it would lose events
      if (auto s = mirror_->clear(); !s) return s;
    }
    return primary_->clear();
  }

  std::vector<metric_reading> metric_readings() const override {
    auto out = primary_->metric_readings();
    out.push_back({"leaves_store_mirror_fallbacks_total",
                   "Reads answered by the local mirror while the shared store was unavailable.", metric_kind::counter,
                   static_cast<double>(fallbacks())});
    if (gate_) {
      out.push_back({"leaves_store_mirror_behind_total",
                     "Reads the shared store could not answer and the mirror had not caught up for.",
                     metric_kind::counter, static_cast<double>(gate_refusals_.load(std::memory_order_relaxed))});
    }
    return out;
  }

  const read_store& primary() const { return *primary_; }
  read_store& primary() { return *primary_; }
  // The mirror, for the process's own mirror projector (gated mode).
  read_store& mirror() { return *mirror_; }
  bool mirror_complete() const { return complete_; }
  void set_mirror_complete(bool c) { complete_ = c; }
  uint64_t fallbacks() const { return fallbacks_.load(std::memory_order_relaxed); }

 private:
  std::unique_ptr<read_store> primary_, mirror_;
  std::atomic<bool> complete_;
  gate gate_;
  std::atomic<uint64_t> fallbacks_{0};
  std::atomic<uint64_t> gate_refusals_{0};
};

}  // namespace leaves::store
