// Rate limits per API token (--rate-limit, --rate-burst): a token bucket
// for each token id that makes requests, refilled at `per_second` up to
// `burst`. A request takes one token from its bucket or is refused with how
// long until one is there (the 429's Retry-After). Buckets live in shards,
// each under its own mutex, so I/O threads rarely meet; idle buckets (full
// again) are dropped when a shard grows past its share of max_keys, so the
// memory is bounded whatever the callers do.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace leaves::api {

class rate_limiter {
 public:
  using clock = std::chrono::steady_clock;
  // per_second <= 0 turns the limiter off (take always allows).
  rate_limiter(double per_second, double burst, size_t max_keys = 100000);

  struct decision {
    bool allowed = true;
    int64_t limit = 0;          // the bucket's size (RateLimit-Limit)
    int64_t remaining = 0;      // whole requests left now (RateLimit-Remaining)
    int64_t reset_seconds = 0;  // until the bucket is full again (RateLimit-Reset)
    int64_t retry_after = 0;    // seconds until the next request is allowed (refused only)
  };
  bool enabled() const { return rate_ > 0; }
  decision take(std::string_view key, clock::time_point now = clock::now());
  size_t tracked() const;

 private:
  struct bucket {
    double level;
    clock::time_point at;
  };
  // Looked up by string_view without building a std::string per request.
  struct key_hash {
    using is_transparent = void;
    size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
  };
  struct shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, bucket, key_hash, std::equal_to<>> buckets;
  };
  static constexpr size_t kShards = 16;
  void prune(shard& s, clock::time_point now);
  double rate_, burst_;
  size_t max_per_shard_;
  shard shards_[kShards];
};

}  // namespace leaves::api
