// store::mirrored_store: when the shared store is unavailable, reads fall back
// to the local mirror (a real embedded store) only when the mirror can be
// trusted: complete (fed by apply) or, with a gate (Kafka), once the gate says
// the mirror holds the leaf's partition.
#include <gtest/gtest.h>

#include <map>

#include <boost/json.hpp>

#include "leaves/store/embedded/rocks_store.h"
#include "leaves/store/mirrored_store.h"
#include "support/test_support.h"

namespace leaves::store {
namespace {

namespace asio = boost::asio;

// The shared store while its node is down: every call fails as unavailable.
class down_store final : public read_store {
 public:
  size_t applied = 0;
  result<std::optional<domain::leaf>> get(const std::string&) override { return down(); }
  result<list_page> list(const list_query&) override { return down(); }
  result<std::vector<tag_count>> tags(size_t) override { return down(); }
  result<apply_stats> apply(const std::vector<applied_event>& b) override {
    applied += b.size();
    return apply_stats{b.size(), 0};
  }
  status clear() override { return ok_status(); }

 private:
  static error down() { return make_error(errc::unavailable, "node down", "store_unavailable"); }
};

applied_event created(const std::string& url) {
  auto cmd = domain::save_command(boost::json::parse(R"({"url":")" + url + "\"}").as_object(), domain::limits{},
                                  false, false);
  EXPECT_TRUE(cmd.ok());
  auto evs = domain::decide(std::nullopt, *cmd, domain::context{1000, "t"});
  EXPECT_TRUE(evs.ok() && evs->size() == 1u);
  (*evs)[0].event_id = "e-" + url;
  return applied_event{0, 0, (*evs)[0]};
}

asio::awaitable<bool> gate_answer(const bool* open, std::vector<std::string>* asked, std::string id) {
  asked->push_back(std::move(id));
  co_return *open;
}

std::unique_ptr<read_store> embedded(const testing::temp_dir& dir) {
  auto s = rocks_store::open(dir.path() / "mirror");
  EXPECT_TRUE(s.ok());
  return std::move(*s);
}

TEST(MirroredStore, UngatedMirrorIsWrittenByApplyAndAnswersWhenComplete) {
  testing::temp_dir dir;
  auto primary = std::make_unique<down_store>();
  auto* down = primary.get();
  mirrored_store s(std::move(primary), embedded(dir), /*mirror_complete=*/true);
  const auto ev = created("https://example.com/a");
  ASSERT_TRUE(s.apply({ev}).ok());
  EXPECT_EQ(down->applied, 1u);
  auto got = testing::run(s.async_get(ev.ev.aggregate_id));
  ASSERT_TRUE(got.ok()) << "expected the mirror's answer, got: " << got.err().message;
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->url, "https://example.com/a");
  EXPECT_EQ(s.fallbacks(), 1u);

  s.set_mirror_complete(false);
  auto refused = testing::run(s.async_get(ev.ev.aggregate_id));
  ASSERT_FALSE(refused.ok()) << "an incomplete mirror must not answer";
  EXPECT_EQ(refused.err().code, errc::unavailable);
}

TEST(MirroredStore, GatedMirrorIsNotWrittenByApplyAndAnswersOnlyThroughTheGate) {
  testing::temp_dir dir;
  auto local = embedded(dir);
  auto* mirror = local.get();
  bool open = false;
  std::vector<std::string> asked;
  mirrored_store s(std::make_unique<down_store>(), std::move(local), true,
                   [&](const std::string& id) { return gate_answer(&open, &asked, id); });
  const auto ev = created("https://example.com/b");
  ASSERT_TRUE(s.apply({ev}).ok());
  auto in_mirror = mirror->get(ev.ev.aggregate_id);
  ASSERT_TRUE(in_mirror.ok());
  EXPECT_FALSE(in_mirror->has_value()) << "with a gate the mirror is fed by its own projector, not by apply()";

  ASSERT_TRUE(s.mirror().apply({ev}).ok());  // what the mirror's projector does
  auto behind = testing::run(s.async_get(ev.ev.aggregate_id));
  ASSERT_FALSE(behind.ok()) << "a closed gate must leave the shared store's error";
  EXPECT_EQ(behind.err().code, errc::unavailable);
  EXPECT_EQ(asked, std::vector<std::string>{ev.ev.aggregate_id});
  EXPECT_FALSE(s.get(ev.ev.aggregate_id).ok()) << "the synchronous get cannot wait for the gate";

  open = true;
  auto got = testing::run(s.async_get(ev.ev.aggregate_id));
  ASSERT_TRUE(got.ok()) << got.err().message;
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->id, ev.ev.aggregate_id);
  std::map<std::string, double> readings;
  for (const auto& r : s.metric_readings()) readings[r.name] = r.value;
  EXPECT_EQ(readings["leaves_store_mirror_fallbacks_total"], 1);
  EXPECT_EQ(readings["leaves_store_mirror_behind_total"], 1);
}

}  // namespace
}  // namespace leaves::store
