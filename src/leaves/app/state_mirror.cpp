#include "leaves/app/state_mirror.h"

#include <cstdio>
#include <fstream>
#include <random>

#include "leaves/base/hash.h"
#include "leaves/base/log.h"
#include "leaves/store/embedded/rocks_store.h"

namespace asio = boost::asio;

namespace leaves::app {
namespace {

// The mirror's consumer group, kept in its directory.
result<std::string> mirror_group(const std::filesystem::path& state_dir) {
  const auto file = state_dir / "GROUP";
  std::string g;
  if (std::ifstream in(file); in && std::getline(in, g) && g.rfind("leaves-state-", 0) == 0) return g;
  std::random_device rd;
  char id[24];
  std::snprintf(id, sizeof id, "%08x%08x", rd(), rd());
  g = std::string("leaves-state-") + id;
  std::ofstream out(file);
  out << g << "\n";
  if (!out.flush()) return make_error(errc::internal, "cannot write " + file.string());
  return g;
}

// Whether the mirror holds every event of the leaf's partition: waits up to
// 2 s for it to reach the end the log has now. Never for a partition whose
// early events were deleted before the mirror read them.
asio::awaitable<bool> mirror_holds(log::event_log* lg, projector::progress* mp,
                                   std::shared_ptr<const std::vector<bool>> lost, std::string id) {
  log::position last;
  last.partition = kafka_partition(id, lg->partitions());
  if (static_cast<size_t>(last.partition) < lost->size() && (*lost)[last.partition]) co_return false;
  auto end = co_await lg->async_end_offset(last.partition);
  if (!end) co_return false;
  if (*end == 0) co_return true;
  last.offset = *end - 1;
  std::vector<log::position> want(1, last);
  co_return co_await mp->wait_for(std::move(want), std::chrono::seconds(2));
}

}  // namespace

result<std::unique_ptr<state_mirror>> state_mirror::open(const serve_config& c, const std::filesystem::path& dir,
                                                         log::event_log& lg,
                                                         std::unique_ptr<store::read_store> shared,
                                                         std::unique_ptr<store::read_store>& store) {
  const auto state_dir = dir / "kafka-state";
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return make_error(errc::internal, "cannot create " + state_dir.string() + ": " + ec.message());
  auto group = mirror_group(state_dir);
  if (!group) return group.err();
  auto local = store::rocks_store::open(state_dir / "store", c.min_free_bytes());
  if (!local) return local.err();
  log_info("serve", "state mirror under " + state_dir.string() + ", fed by consumer group " + *group);
  auto progress = std::make_unique<projector::progress>(lg.partitions());
  auto lost = std::make_shared<const std::vector<bool>>(
      lost_to_retention(lg, *group, "state mirror (no fallback for those partitions' leaves)"));
  auto mirrored = std::make_unique<store::mirrored_store>(
      std::move(shared), std::move(*local), true,
      [lg = &lg, mp = progress.get(), lost](const std::string& id) { return mirror_holds(lg, mp, lost, id); });
  std::unique_ptr<state_mirror> sm(new state_mirror(*mirrored));
  sm->group_ = *group;
  sm->progress_ = std::move(progress);
  sm->lost_ = std::move(lost);
  sm->feeder_ = std::make_unique<projector::projector>(lg, mirrored->mirror(), *sm->progress_, nullptr, sm->group_,
                                                       projector::membership::exclusive, "state_mirror");
  if (c.salvage) sm->feeder_->rebuild_at_start();
  store = std::move(mirrored);
  return sm;
}

}  // namespace leaves::app
