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

// Two servers over one log, each with its own read store and projection
// (what two `leaves serve --kafka` processes are). B's projection is paused
// while A writes, so B decides the version A already wrote, and resumed
// while B waits for its verdict.
struct two_servers {
  testing::temp_dir dir;
  std::unique_ptr<log::rocks_log> log;
  std::unique_ptr<store::rocks_store> store_a, store_b;
  std::unique_ptr<projector::progress> prog_a, prog_b;
  realtime::hub hub;
  std::unique_ptr<projector::projector> proj_a, proj_b;
  std::unique_ptr<leaf_service> a, b;

  two_servers() {
    auto l = log::rocks_log::open({dir.path() / "log", 4});
    auto sa = store::rocks_store::open(dir.path() / "a");
    auto sb = store::rocks_store::open(dir.path() / "b");
    if (!l.ok() || !sa.ok() || !sb.ok()) throw std::runtime_error("cannot open the log or a store");
    log = std::move(*l);
    store_a = std::move(*sa);
    store_b = std::move(*sb);
    prog_a = std::make_unique<projector::progress>(4);
    prog_b = std::make_unique<projector::progress>(4);
    proj_a = std::make_unique<projector::projector>(*log, *store_a, *prog_a, &hub, "a");
    proj_b = std::make_unique<projector::projector>(*log, *store_b, *prog_b, nullptr, "b");
    a = std::make_unique<leaf_service>(*log, *store_a, *prog_a, system_clock());
    b = std::make_unique<leaf_service>(*log, *store_b, *prog_b, system_clock());
    a->set_confirmation(*store_a, *prog_a);
    b->set_confirmation(*store_b, *prog_b);
    proj_a->on_applied([this](const std::vector<store::applied_event>& e) { a->observed(e); });
    proj_b->on_applied([this](const std::vector<store::applied_event>& e) { b->observed(e); });
    a->set_writable(true);
    b->set_writable(true);
  }
  // B's projection resumes after `after` (a new consumer of its group, as
  // after a restart), on a thread of its own.
  std::thread resume_b(std::chrono::milliseconds after) {
    proj_b->stop();
    return std::thread([this, after] {
      std::this_thread::sleep_for(after);
      proj_b = std::make_unique<projector::projector>(*log, *store_b, *prog_b, nullptr, "b");
      proj_b->on_applied([this](const std::vector<store::applied_event>& e) { b->observed(e); });
      if (!proj_b->start().ok()) std::abort();
    });
  }
  // Both projections run; A saves `save` and B sees it; then B's projection
  // pauses (resuming 300 ms later) and A updates the title to version 2, so
  // B's next command decides on version 1.
  ::testing::AssertionResult a_writes_while_b_is_behind(const domain::command& save) {
    if (!proj_a->start().ok() || !proj_b->start().ok()) return ::testing::AssertionFailure() << "a projector failed";
    auto v1 = testing::run(a->execute(save, "a"));
    if (!v1.ok()) return ::testing::AssertionFailure() << "A's save: " << v1.err().message;
    if (!testing::run(prog_b->wait_for({*v1->position}, std::chrono::seconds(5)))) {
      return ::testing::AssertionFailure() << "B's projection did not reach A's save in 5 s";
    }
    resumer = resume_b(std::chrono::milliseconds(300));
    auto by_a = testing::run(a->execute(update_title(save.leaf_id, "from a"), "a"));
    if (!by_a.ok()) return ::testing::AssertionFailure() << "A's update: " << by_a.err().message;
    if (by_a->leaf->version != 2) return ::testing::AssertionFailure() << "A's update is version " << by_a->leaf->version;
    return ::testing::AssertionSuccess();
  }
  std::thread resumer;
  ~two_servers() {
    if (resumer.joinable()) resumer.join();
    proj_a->stop();
    proj_b->stop();
  }
};

TEST(LeafService, AWriteThatLostItsVersionToAnotherServerIsDecidedAgain) {
  two_servers s;
  const auto save = save_url("https://race.example/");
  ASSERT_TRUE(s.a_writes_while_b_is_behind(save));
  auto by_b = testing::run(s.b->execute(update_title(save.leaf_id, "from b"), "b"));
  ASSERT_TRUE(by_b.ok()) << by_b.err().message;
  EXPECT_EQ(by_b->leaf->version, 3) << "B's first event (version 2) lost to A's and must be decided again on top";
  EXPECT_EQ(s.b->confirmations().lost.load(), 1u);
  EXPECT_EQ(s.b->confirmations().confirmed.load(), 1u);

  // Both read stores hold A's update and then B's: nothing acknowledged lost.
  ASSERT_TRUE(testing::run(s.prog_a->wait_for({*by_b->position}, std::chrono::seconds(5))));
  for (auto* st : {s.store_a.get(), s.store_b.get()}) {
    auto got = st->get(save.leaf_id);
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->version, 3);
    EXPECT_EQ((*got)->title, "from b");
  }
}

TEST(LeafService, AConditionalWriteThatLostItsVersionAnswersPreconditionFailed) {
  two_servers s;
  const auto save = save_url("https://race.example/");
  ASSERT_TRUE(s.a_writes_while_b_is_behind(save));

  auto cmd = update_title(save.leaf_id, "from b");
  cmd.expected_version = 1;  // If-Match: "1", true when B decided, false once it knows
  auto by_b = testing::run(s.b->execute(cmd, "b"));
  ASSERT_FALSE(by_b.ok()) << "B's write at version 2 lost to A's; its If-Match no longer holds";
  EXPECT_EQ(by_b.err().code, errc::precondition_failed) << by_b.err().message;
  EXPECT_EQ(s.b->confirmations().lost.load(), 1u);
}

TEST(LeafService, ShutdownEndsTheWaitForAConfirmation) {
  two_servers s;
  ASSERT_TRUE(s.proj_a->start().ok());  // B's projection is not running: B's write waits
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    s.b->stop_waiting();
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto r = testing::run(s.b->execute(save_url("https://race.example/"), "b"));
  stopper.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().detail, "unconfirmed") << r.err().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3))
      << "stop_waiting() should end the 10 s wait at once";
}

TEST(LeafService, AWriteTheSourceNeverSeesIsUnconfirmed) {
  two_servers s;
  s.b->set_confirmation(*s.store_b, *s.prog_b, std::chrono::milliseconds(300));
  ASSERT_TRUE(s.proj_a->start().ok());  // B's projection is not running
  auto r = testing::run(s.b->execute(save_url("https://race.example/"), "b"));
  ASSERT_FALSE(r.ok()) << "B cannot confirm without its projection";
  EXPECT_EQ(r.err().detail, "unconfirmed") << r.err().message;
  EXPECT_EQ(s.b->confirmations().timed_out.load(), 1u);
}

}  // namespace
}  // namespace leaves::service
