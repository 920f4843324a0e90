#include "leaves/log/kafka/kafka_admin.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

namespace leaves::log {
namespace {

struct rk_deleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using rk_ptr = std::unique_ptr<rd_kafka_t, rk_deleter>;

result<rk_ptr> handle(const kafka_options& o, rd_kafka_type_t type, const std::string& group) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  auto set = [&](const std::string& k, const std::string& v) {
    return rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) == RD_KAFKA_CONF_OK;
  };
  bool ok = set("bootstrap.servers", o.brokers) && set("log_level", "3");
  if (!group.empty()) ok = ok && set("group.id", group) && set("enable.auto.commit", "false");
  for (const auto& [k, v] : o.config) {
    if (!set(k, v)) {
      rd_kafka_conf_destroy(conf);
      return make_error(errc::invalid_argument, "kafka property " + k + ": " + errstr);
    }
  }
  if (!ok) {
    rd_kafka_conf_destroy(conf);
    return make_error(errc::invalid_argument, std::string("kafka: ") + errstr);
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return make_error(errc::invalid_argument, std::string("kafka: ") + errstr);
  }
  return rk_ptr(rk);
}

error kerr(const std::string& what, rd_kafka_resp_err_t e) {
  return make_error(errc::unavailable, "kafka: " + what + ": " + rd_kafka_err2str(e), "log_unavailable");
}

}  // namespace

result<std::vector<std::pair<std::string, int32_t>>> list_topics(const kafka_options& o) {
  auto rk = handle(o, RD_KAFKA_PRODUCER, "");
  if (!rk) return rk.err();
  const rd_kafka_metadata_t* md = nullptr;
  if (auto e = rd_kafka_metadata(rk->get(), 1, nullptr, &md, o.request_timeout_ms)) return kerr("metadata", e);
  std::vector<std::pair<std::string, int32_t>> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    std::string name = md->topics[i].topic;
    if (name.starts_with("__")) continue;
    out.emplace_back(name, md->topics[i].partition_cnt);
  }
  rd_kafka_metadata_destroy(md);
  std::sort(out.begin(), out.end());
  return out;
}

result<topic_info> describe_topic(const kafka_options& o, const std::vector<std::string>& groups) {
  auto rk = handle(o, RD_KAFKA_PRODUCER, "");
  if (!rk) return rk.err();
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk->get(), o.topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  auto e = rd_kafka_metadata(rk->get(), 0, rkt, &md, o.request_timeout_ms);
  rd_kafka_topic_destroy(rkt);
  if (e) return kerr("metadata", e);
  topic_info t;
  t.name = o.topic;
  if (md->topic_cnt != 1 || md->topics[0].err) {
    const auto err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    rd_kafka_metadata_destroy(md);
    return make_error(errc::not_found, "kafka: topic " + o.topic + ": " + rd_kafka_err2str(err));
  }
  for (int i = 0; i < md->topics[0].partition_cnt; ++i) {
    const auto& mp = md->topics[0].partitions[i];
    partition_info p;
    p.id = mp.id;
    p.leader = mp.leader;
    p.replicas.assign(mp.replicas, mp.replicas + mp.replica_cnt);
    p.isrs.assign(mp.isrs, mp.isrs + mp.isr_cnt);
    t.partitions.push_back(std::move(p));
  }
  rd_kafka_metadata_destroy(md);
  std::sort(t.partitions.begin(), t.partitions.end(), [](auto& a, auto& b) { return a.id < b.id; });
  for (auto& p : t.partitions) {
    // Right after a topic is created, leadership may still be settling: retry briefly.
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 0; attempt < 20; ++attempt) {
      err = rd_kafka_query_watermark_offsets(rk->get(), o.topic.c_str(), p.id, &p.low, &p.high,
                                             o.request_timeout_ms);
      if (err != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION && err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    if (err) return kerr("offsets", err);
  }
  std::vector<std::string> names = groups;
  if (names.empty()) {
    const rd_kafka_group_list* gl = nullptr;
    if (auto err = rd_kafka_list_groups(rk->get(), nullptr, &gl, o.request_timeout_ms)) return kerr("groups", err);
    for (int i = 0; i < gl->group_cnt; ++i) names.emplace_back(gl->groups[i].group);
    rd_kafka_group_list_destroy(gl);
    std::sort(names.begin(), names.end());
  }
  for (const auto& g : names) {
    auto c = handle(o, RD_KAFKA_CONSUMER, g);
    if (!c) return c.err();
    auto* list = rd_kafka_topic_partition_list_new(static_cast<int>(t.partitions.size()));
    for (const auto& p : t.partitions) rd_kafka_topic_partition_list_add(list, o.topic.c_str(), p.id);
    const auto err = rd_kafka_committed(c->get(), list, o.request_timeout_ms);
    group_lag gl;
    gl.group = g;
    bool any = false;
    for (size_t i = 0; i < t.partitions.size(); ++i) {
      const int64_t off = err ? -1 : list->elems[i].offset;
      gl.committed.push_back(off >= 0 ? off : -1);
      gl.lag.push_back(t.partitions[i].high - (off >= 0 ? off : t.partitions[i].low));
      any = any || off >= 0;
    }
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_consumer_close(c->get());
    if (any || !groups.empty()) t.groups.push_back(std::move(gl));
  }
  return t;
}

}  // namespace leaves::log
