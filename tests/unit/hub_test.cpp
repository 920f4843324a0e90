// The realtime hub's per-subscriber queue, as a stream session drains it.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "leaves/realtime/hub.h"

namespace leaves::realtime {
namespace {

std::vector<std::shared_ptr<const message>> batch(int from, int n) {
  std::vector<std::shared_ptr<const message>> out;
  for (int i = from; i < from + n; ++i) {
    auto m = std::make_shared<message>();
    m->offset = i;
    m->type = "leaf.created";
    out.push_back(std::move(m));
  }
  return out;
}

// A session takes a bounded number of messages per write: the rest stay
// queued (shared, not formatted), in order, and a drop's reason comes only
// after every message queued before it.
TEST(Hub, TakeHandsOutAtMostMaxInOrderAndTheDropReasonLast) {
  boost::asio::io_context io;
  hub h(100);
  auto s = h.subscribe({}, std::make_shared<async_signal>(io.get_executor()));
  h.publish(batch(0, 10));
  std::string reason;
  auto first = s->take(reason, 4);
  ASSERT_EQ(first.size(), 4u);
  EXPECT_EQ(first[0]->offset, 0);
  EXPECT_EQ(first[3]->offset, 3);
  EXPECT_EQ(reason, "");
  h.close_all("shutting down");
  auto second = s->take(reason, 4);
  ASSERT_EQ(second.size(), 4u);
  EXPECT_EQ(second[0]->offset, 4);
  EXPECT_EQ(reason, "") << "two messages queued before the close are still to come";
  auto last = s->take(reason, 4);
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[1]->offset, 9);
  EXPECT_EQ(reason, "shutting down");
}

// The queue's bound holds whatever the session takes: a subscriber that
// stops taking is dropped once `capacity` messages wait, and told so.
TEST(Hub, ASubscriberThatStopsTakingIsDroppedAtItsQueuesCapacity) {
  boost::asio::io_context io;
  hub h(8);
  auto s = h.subscribe({}, std::make_shared<async_signal>(io.get_executor()));
  h.publish(batch(0, 8));
  std::string reason;
  EXPECT_EQ(s->take(reason, 3).size(), 3u);
  h.publish(batch(8, 3));  // 5 + 3 = 8 queued: still within the bound
  EXPECT_EQ(reason, "");
  h.publish(batch(11, 1));
  auto rest = s->take(reason, 100);
  EXPECT_TRUE(rest.empty()) << "a dropped subscriber's queue is cleared";
  EXPECT_NE(reason.find("slow subscriber"), std::string::npos) << reason;
  EXPECT_EQ(h.dropped_total(), 1u);
}

}  // namespace
}  // namespace leaves::realtime
