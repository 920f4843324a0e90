#include "leaves/api/rate_limit.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace leaves::api {

rate_limiter::rate_limiter(double per_second, double burst, size_t max_keys)
    : rate_(per_second), burst_(std::max(1.0, burst)), max_per_shard_(std::max<size_t>(1, max_keys / kShards)) {}

void rate_limiter::prune(shard& s, clock::time_point now) {
  // A bucket that has refilled to the brim says nothing a fresh one would
  // not; drop those. If every bucket is still draining (a flood of distinct
  // tokens), drop all: the limit forgets, the memory stays bounded.
  std::erase_if(s.buckets, [&](const auto& kv) {
    const double secs = std::chrono::duration<double>(now - kv.second.at).count();
    return kv.second.level + secs * rate_ >= burst_;
  });
  if (s.buckets.size() >= max_per_shard_) s.buckets.clear();
}

rate_limiter::decision rate_limiter::take(std::string_view key, clock::time_point now) {
  decision d;
  if (!enabled()) return d;
  d.limit = static_cast<int64_t>(burst_);
  shard& s = shards_[(key_hash{}(key) >> 7) % kShards];  // other bits than the map uses
  std::lock_guard lock(s.mu);
  auto it = s.buckets.find(key);
  if (it == s.buckets.end()) {
    if (s.buckets.size() >= max_per_shard_) prune(s, now);
    it = s.buckets.emplace(std::string(key), bucket{burst_, now}).first;
  }
  bucket& b = it->second;
  const double secs = std::max(0.0, std::chrono::duration<double>(now - b.at).count());
  b.level = std::min(burst_, b.level + secs * rate_);
  b.at = now;
  if (b.level >= 1.0) {
    b.level -= 1.0;
  } else {
    d.allowed = false;
    d.retry_after = std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - b.level) / rate_)));
  }
  d.remaining = static_cast<int64_t>(std::floor(b.level));
  d.reset_seconds = static_cast<int64_t>(std::ceil((burst_ - b.level) / rate_));
  return d;
}

size_t rate_limiter::tracked() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace leaves::api
