// What the read models have applied, per partition, and waits on it
// (read-your-writes: Leaves-Min-Position). Thread-safe.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "leaves/base/async_signal.h"
#include "leaves/base/result.h"
#include "leaves/log/event_log.h"

namespace leaves::projector {

// "p:o[,p:o...]" <-> positions. Parsing validates partition range and syntax.
result<std::vector<log::position>> parse_positions(std::string_view text, int32_t partitions);
std::string format_position(const log::position& p);

// True when every partition of `end` is reached: at[p] >= end[p], partition by
// partition (a partition missing from `at` counts as offset 0). `also`, when
// given, is a second view that may cover a partition (a consumer group's
// commits, made by the other members of a shared group).
bool covers(const std::vector<int64_t>& at, const std::vector<int64_t>& end,
            const std::vector<int64_t>* also = nullptr);

// Records of each partition of `end` not yet reached by `at` (never
// negative; a partition missing from `at` counts as offset 0).
std::vector<int64_t> lag(const std::vector<int64_t>& at, const std::vector<int64_t>& end);

class progress {
 public:
  explicit progress(int32_t partitions) : applied_(partitions, 0) {}

  // Next offset applied, per partition (applied record offsets are < this).
  std::vector<int64_t> applied() const;
  void set_applied(const std::vector<int64_t>& next);
  bool reached(const std::vector<log::position>& want) const;
  // Waits until every position is applied (offset < applied) or `timeout`.
  // Must be awaited on a strand. Returns false on timeout.
  boost::asio::awaitable<bool> wait_for(std::vector<log::position> want,
                                        std::chrono::milliseconds timeout);

 private:
  mutable std::mutex mu_;
  std::vector<int64_t> applied_;
  std::vector<std::weak_ptr<async_signal>> waiters_;
};

}  // namespace leaves::projector
