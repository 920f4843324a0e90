// The write side against the real embedded log, store and projector, with one
// fault injected: an append whose events are written but which reports
// failure (what a lost Kafka acknowledgement looks like).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "leaves/log/embedded/rocks_log.h"
#include "leaves/projector/projector.h"
#include "leaves/service/leaf_service.h"
#include "leaves/store/embedded/rocks_store.h"
#include "support/test_support.h"

namespace leaves::service {
namespace {

namespace asio = boost::asio;

// Forwards to a real log; when `lose_next_ack` is set, the next append is
// written but answered with an error.
class lossy_ack_log final : public log::event_log {
 public:
  explicit lossy_ack_log(log::event_log& inner) : inner_(inner) {}
  bool lose_next_ack = false;
  int32_t partitions() const override { return inner_.partitions(); }
  asio::awaitable<result<std::vector<log::position>>> append(std::vector<log::record> records) override {
    auto r = co_await inner_.append(std::move(records));
    if (lose_next_ack) {
      lose_next_ack = false;
      co_return make_error(errc::unavailable, "acknowledgement lost", "log_unavailable");
    }
    co_return r;
  }
  std::vector<int64_t> end_offsets() override { return inner_.end_offsets(); }
  result<int64_t> end_offset(int32_t p) override { return inner_.end_offset(p); }
  result<std::vector<log::stored_record>> read(int32_t p, int64_t from, size_t max) override {
    return inner_.read(p, from, max);
  }
  result<std::unique_ptr<log::consumer>> subscribe(const std::string& g) override { return inner_.subscribe(g); }
  result<std::vector<int64_t>> committed(const std::string& g) override { return inner_.committed(g); }

 private:
  log::event_log& inner_;
};

domain::command update_title(const std::string& id, const char* title) {
  domain::command c;
  c.kind = domain::command_kind::update;
  c.leaf_id = id;
  c.patch = *domain::parse_patch(boost::json::parse(std::string(R"({"title":")") + title + "\"}").as_object(),
                                 domain::limits{});
  return c;
}

TEST(LeafService, AfterAnAmbiguousFailureTheNextCommandSeesTheWrittenEvent) {
  testing::temp_dir dir;
  auto real = log::rocks_log::open({dir.path() / "log", 4});
  auto store = store::rocks_store::open(dir.path() / "store");
  ASSERT_TRUE(real.ok() && store.ok());
  lossy_ack_log log(**real);
  projector::progress prog(4);
  realtime::hub hub;
  projector::projector proj(log, **store, prog, &hub, "g");
  leaf_service svc(log, **store, prog, system_clock());
  proj.on_applied([&svc](const std::vector<store::applied_event>& b) { svc.applied(b); });
  ASSERT_TRUE(proj.start().ok());
  svc.set_writable(true);

  domain::command save;
  save.kind = domain::command_kind::save;
  save.patch = *domain::parse_patch(boost::json::parse(R"({"url":"https://a.example/"})").as_object(),
                                    domain::limits{});
  save.leaf_id = domain::leaf_id_for_url("https://a.example/");
  auto created = testing::run(svc.execute(save, "t"));
  ASSERT_TRUE(created.ok()) << created.err().message;

  log.lose_next_ack = true;
  auto lost = testing::run(svc.execute(update_title(save.leaf_id, "written anyway"), "t"));
  ASSERT_FALSE(lost.ok()) << "the injected failure should reach the caller";

  auto next = testing::run(svc.execute(update_title(save.leaf_id, "third"), "t"));
  ASSERT_TRUE(next.ok()) << next.err().message;
  EXPECT_EQ(next->leaf->version, 3) << "the command must build on the event that was written despite the error";

  // And the read models end with all three events applied.
  ASSERT_TRUE(testing::run(prog.wait_for({*next->position}, std::chrono::seconds(5))));
  auto stored = (*store)->get(save.leaf_id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->version, 3);
  EXPECT_EQ((*stored)->title, "third");
  proj.stop();
}

domain::command save_url(const std::string& url) {
  domain::command c;
  c.kind = domain::command_kind::save;
  c.patch = *domain::parse_patch(boost::json::parse(R"({"url":")" + url + "\"}").as_object(), domain::limits{});
  c.leaf_id = domain::leaf_id_for_url(url);
  return c;
}

// While the read models do not apply (here: the projector not yet started; in
// production a Cassandra outage) the write side keeps at most max_pending
// leaves in memory; a write to another leaf is refused until they catch up.
TEST(LeafService, TheCacheOfUnprojectedLeavesIsBounded) {
  testing::temp_dir dir;
  auto log = log::rocks_log::open({dir.path() / "log", 4});
  auto store = store::rocks_store::open(dir.path() / "store");
  ASSERT_TRUE(log.ok() && store.ok());
  projector::progress prog(4);
  realtime::hub hub;
  projector::projector proj(**log, **store, prog, &hub, "g");
  leaf_service svc(**log, **store, prog, system_clock());
  proj.on_applied([&svc](const std::vector<store::applied_event>& b) { svc.applied(b); });
  svc.set_writable(true);
  svc.set_max_pending(2);

  ASSERT_TRUE(testing::run(svc.execute(save_url("https://a.example/"), "t")).ok());
  ASSERT_TRUE(testing::run(svc.execute(save_url("https://b.example/"), "t")).ok());
  auto refused = testing::run(svc.execute(save_url("https://c.example/"), "t"));
  ASSERT_FALSE(refused.ok()) << "a third leaf should be refused while two wait for the read models";
  EXPECT_EQ(refused.err().code, errc::unavailable);
  EXPECT_EQ(refused.err().detail, "projection_backlog") << refused.err().message;
  auto again = testing::run(svc.execute(update_title(domain::leaf_id_for_url("https://a.example/"), "x"), "t"));
  ASSERT_TRUE(again.ok()) << "a leaf already in the cache takes more writes: " << again.err().message;
  EXPECT_EQ(again->leaf->version, 2);
  EXPECT_EQ(svc.cached(), 2u);

  ASSERT_TRUE(proj.start().ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (svc.cached() != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(svc.cached(), 0u) << "the projector should have applied both leaves within 10 s";
  auto later = testing::run(svc.execute(save_url("https://c.example/"), "t"));
  EXPECT_TRUE(later.ok()) << "once the read models caught up: " << later.err().message;
  proj.stop();
}

}  // namespace
}  // namespace leaves::service
