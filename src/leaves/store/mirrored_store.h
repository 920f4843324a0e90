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
// - list() and tags() always ask the primary (they fail while it is down).
// Thread-safety: as the two stores.
#pragma once

#include <atomic>
#include <memory>

#include "leaves/store/read_store.h"

namespace leaves::store {

class mirrored_store final : public read_store {
 public:
  mirrored_store(std::unique_ptr<read_store> primary, std::unique_ptr<read_store> mirror, bool mirror_complete)
      : primary_(std::move(primary)), mirror_(std::move(mirror)), complete_(mirror_complete) {}

  result<std::optional<domain::leaf>> get(const std::string& id) override {
    auto r = primary_->get(id);
    if (r.ok() || r.err().code != errc::unavailable || !complete_) return r;
    fallbacks_.fetch_add(1, std::memory_order_relaxed);
    return mirror_->get(id);
  }
  boost::asio::awaitable<result<std::optional<domain::leaf>>> async_get(std::string id) override {
    auto r = co_await primary_->async_get(id);
    if (r.ok() || r.err().code != errc::unavailable || !complete_) co_return r;
    fallbacks_.fetch_add(1, std::memory_order_relaxed);
    co_return mirror_->get(id);
  }
  boost::asio::awaitable<result<list_page>> async_list(list_query q) override {
    co_return co_await primary_->async_list(std::move(q));
  }
  result<list_page> list(const list_query& q) override { return primary_->list(q); }
  result<std::vector<tag_count>> tags(size_t limit) override { return primary_->tags(limit); }
  result<apply_stats> apply(const std::vector<applied_event>& batch) override {
    if (auto m = mirror_->apply(batch); !m) return m.err();
    return primary_->apply(batch);
  }
  status clear() override {
    if (auto s = mirror_->clear(); !s) return s;
    return primary_->clear();
  }

  void render_metrics(std::string& out) const override {
    primary_->render_metrics(out);
    out += "# HELP leaves_store_mirror_fallbacks_total Reads answered by the local mirror while the shared store was unavailable.\n"
           "# TYPE leaves_store_mirror_fallbacks_total counter\n";
    out += "leaves_store_mirror_fallbacks_total " + std::to_string(fallbacks()) + "\n";
  }

  const read_store& primary() const { return *primary_; }
  bool mirror_complete() const { return complete_; }
  void set_mirror_complete(bool c) { complete_ = c; }
  uint64_t fallbacks() const { return fallbacks_.load(std::memory_order_relaxed); }

 private:
  std::unique_ptr<read_store> primary_, mirror_;
  std::atomic<bool> complete_;
  std::atomic<uint64_t> fallbacks_{0};
};

}  // namespace leaves::store
