// Topic inspection for `leaves topics`: partitions, leaders, offsets and the
// lag of consumer groups. Blocking calls with the options' request timeout.
#pragma once

#include <string>
#include <vector>

#include "leaves/log/kafka/kafka_log.h"

namespace leaves::log {

struct partition_info {
  int32_t id = 0;
  int32_t leader = -1;
  std::vector<int32_t> replicas;
  std::vector<int32_t> isrs;
  int64_t low = 0;   // earliest offset still kept
  int64_t high = 0;  // end offset
};

struct group_lag {
  std::string group;
  std::vector<int64_t> committed;  // per partition; -1: nothing committed
  std::vector<int64_t> lag;        // end - committed (end - low when nothing committed)
};

struct topic_info {
  std::string name;
  std::vector<partition_info> partitions;
  std::vector<group_lag> groups;  // groups with commits on this topic
};

// Names and partition counts of every topic (internal ones excluded).
result<std::vector<std::pair<std::string, int32_t>>> list_topics(const kafka_options& o);
// One topic; `groups` empty: every consumer group of the cluster with commits on it.
result<topic_info> describe_topic(const kafka_options& o, const std::vector<std::string>& groups);

}  // namespace leaves::log
