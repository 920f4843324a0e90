// The projector's readiness rule: a log end is reached partition by partition.
#include <gtest/gtest.h>

#include "leaves/projector/progress.h"

using leaves::projector::covers;
using leaves::projector::lag;

TEST(Lag, PerPartitionNeverNegativeMissingPartitionsAtZero) {
  EXPECT_EQ(lag({5, 9}, {7, 9, 4}), (std::vector<int64_t>{2, 0, 4}));
  EXPECT_EQ(lag({12}, {10}), (std::vector<int64_t>{0})) << "ahead of the end (a commit racing a read) is no lag";
  EXPECT_TRUE(lag({1, 2}, {}).empty());
}

TEST(Covers, EveryPartitionMustReachItsEnd) {
  EXPECT_TRUE(covers({3, 4}, {3, 4}));
  EXPECT_TRUE(covers({9, 4}, {3, 4})) << "past the end counts as reached";
  EXPECT_FALSE(covers({3, 3}, {3, 4})) << "partition 1 is one record short";
}

TEST(Covers, IsNotALexicographicComparison) {
  // Partition 0 ran past its end (new writes) while partition 1 is still
  // replaying: a vector comparison says "greater", the log is not reached.
  EXPECT_FALSE(covers({5, 0}, {3, 4}));
  EXPECT_FALSE(covers({1, 0, 7}, {0, 2, 0}));
}

TEST(Covers, MissingPartitionsCountAsOffsetZero) {
  EXPECT_TRUE(covers({}, {0, 0}));
  EXPECT_FALSE(covers({2}, {2, 1}));
  EXPECT_TRUE(covers({}, {}));
}

TEST(Covers, ASecondViewCoversPartitionsOtherMembersOwn) {
  const std::vector<int64_t> group{0, 4, 0};
  EXPECT_TRUE(covers({3, 0, 2}, {3, 4, 2}, &group)) << "partition 1 is committed by its owner";
  EXPECT_FALSE(covers({3, 0, 1}, {3, 4, 2}, &group)) << "partition 2 is reached by nobody";
  const std::vector<int64_t> short_group{0};
  EXPECT_FALSE(covers({0, 0}, {0, 1}, &short_group));
}
