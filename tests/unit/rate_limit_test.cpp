// The per-token rate limiter (api/rate_limit.h): buckets, refill, the
// answer's numbers, and the bound on what it remembers.
#include "leaves/api/rate_limit.h"

#include <gtest/gtest.h>

namespace leaves::api {
namespace {

using namespace std::chrono_literals;

TEST(RateLimit, ABurstThenTheRate) {
  rate_limiter lim(10, 5);  // 10/s, bursts of 5
  const auto t0 = rate_limiter::clock::time_point{} + 1h;
  for (int i = 0; i < 5; ++i) {
    auto d = lim.take("tok_a", t0);
    EXPECT_TRUE(d.allowed) << "request " << i << " of the burst";
    EXPECT_EQ(d.limit, 5);
    EXPECT_EQ(d.remaining, 4 - i);
  }
  auto refused = lim.take("tok_a", t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_EQ(refused.retry_after, 1) << "a tenth of a second, rounded up to whole seconds";
  EXPECT_EQ(refused.reset_seconds, 1);
  EXPECT_TRUE(lim.take("tok_b", t0).allowed) << "another token has its own bucket";
  EXPECT_TRUE(lim.take("tok_a", t0 + 100ms).allowed) << "one request refilled after 100 ms at 10/s";
  EXPECT_FALSE(lim.take("tok_a", t0 + 150ms).allowed);
  auto full = lim.take("tok_a", t0 + 10s);
  EXPECT_TRUE(full.allowed);
  EXPECT_EQ(full.remaining, 4) << "refills to the burst, not beyond";
}

TEST(RateLimit, SlowRatesWaitLonger) {
  rate_limiter lim(0.5, 1);  // one request per 2 s
  const auto t0 = rate_limiter::clock::time_point{} + 1h;
  EXPECT_TRUE(lim.take("t", t0).allowed);
  auto d = lim.take("t", t0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, 2);
}

TEST(RateLimit, OffAllowsEverything) {
  rate_limiter lim(0, 0);
  EXPECT_FALSE(lim.enabled());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(lim.take("t").allowed);
  EXPECT_EQ(lim.tracked(), 0u);
}

TEST(RateLimit, RemembersABoundedNumberOfTokens) {
  rate_limiter lim(1, 10, 160);  // 16 shards of 10
  const auto t0 = rate_limiter::clock::time_point{} + 1h;
  for (int i = 0; i < 10000; ++i) lim.take("token_" + std::to_string(i), t0);
  EXPECT_LE(lim.tracked(), 160u) << "a flood of distinct tokens stays within max_keys";
  // A token that is being limited is kept while idle full buckets go first.
  rate_limiter kept(1, 2, 160);
  kept.take("busy", t0);
  kept.take("busy", t0);
  EXPECT_FALSE(kept.take("busy", t0).allowed);
  for (int i = 0; i < 5; ++i) kept.take("idle_" + std::to_string(i), t0 - 1h);
  EXPECT_FALSE(kept.take("busy", t0).allowed) << "still limited";
}

}  // namespace
}  // namespace leaves::api
