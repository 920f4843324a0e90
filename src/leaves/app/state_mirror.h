// Kafka + Cassandra: the state mirror (store/mirrored_store.h), a local copy
// of the read models under DATA_DIR/kafka-state fed from every partition of
// the log by a consumer group of its own. The group is named when the
// directory is made, so a new, empty mirror reads the log from the start and
// a restarted one resumes where it stopped. It keeps writes going while
// Cassandra is unreachable, and confirmed writes decide on it
// (service/leaf_service.h). serve owns one when --kafka, --cassandra and
// --state-mirror are all set; it must outlive the store open() returns,
// whose fallback gate reads the mirror's progress.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "leaves/app/setup.h"
#include "leaves/log/event_log.h"
#include "leaves/projector/progress.h"
#include "leaves/projector/projector.h"
#include "leaves/store/mirrored_store.h"

namespace leaves::app {

class state_mirror {
 public:
  // Wraps `shared` (the Cassandra store) with the mirror; `store` receives
  // the mirrored store.
  static result<std::unique_ptr<state_mirror>> open(const serve_config& c, const std::filesystem::path& dir,
                                                    log::event_log& lg, std::unique_ptr<store::read_store> shared,
                                                    std::unique_ptr<store::read_store>& store);

  store::read_store& local() { return mirrored_.mirror(); }
  projector::progress& progress() { return *progress_; }
  projector::projector& feeder() { return *feeder_; }
  const std::string& group() const { return group_; }

  status start() { return feeder_->start(); }
  void stop() { feeder_->stop(); }
  bool caught_up() const { return feeder_->caught_up(); }

 private:
  state_mirror(store::mirrored_store& m) : mirrored_(m) {}
  store::mirrored_store& mirrored_;
  std::string group_;
  std::unique_ptr<projector::progress> progress_;
  std::shared_ptr<const std::vector<bool>> lost_;  // partitions whose early events were deleted before it read them
  std::unique_ptr<projector::projector> feeder_;
};

}  // namespace leaves::app
