#include "leaves/log/kafka/kafka_log.h"

#include <librdkafka/rdkafka.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <random>

#include "leaves/base/hash.h"
#include "leaves/base/log.h"

namespace asio = boost::asio;

namespace leaves::log {

using append_result = result<std::vector<position>>;

namespace {

struct rk_deleter {
  void operator()(rd_kafka_t* rk) const {
    if (rk) rd_kafka_destroy(rk);
  }
};
using rk_ptr = std::unique_ptr<rd_kafka_t, rk_deleter>;

struct tpl_deleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    if (l) rd_kafka_topic_partition_list_destroy(l);
  }
};
using tpl_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t, tpl_deleter>;

struct msg_deleter {
  void operator()(rd_kafka_message_t* m) const {
    if (m) rd_kafka_message_destroy(m);
  }
};
using msg_ptr = std::unique_ptr<rd_kafka_message_t, msg_deleter>;

constexpr int kMaxMessageBytes = 8 * 1024 * 1024;

stored_record to_stored(const rd_kafka_message_t& m) {
  stored_record r;
  r.partition = m.partition;
  r.offset = m.offset;
  rd_kafka_timestamp_type_t tstype;
  r.timestamp_ms = rd_kafka_message_timestamp(&m, &tstype);
  if (m.key) r.key.assign(static_cast<const char*>(m.key), m.key_len);
  if (m.payload) r.value.assign(static_cast<const char*>(m.payload), m.len);
  return r;
}

error kafka_error(const std::string& what, rd_kafka_resp_err_t err) {
  if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
    return make_error(errc::invalid_argument, "kafka: " + what + ": the event is larger than the topic accepts",
                      "body_too_large");
  }
  return make_error(errc::unavailable, "kafka: " + what + ": " + rd_kafka_err2str(err), "log_unavailable");
}

void log_cb(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  // librdkafka's syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug.
  const auto lvl = level <= 3 ? log_level::error : level == 4 ? log_level::warn : log_level::debug;
  log_line(lvl, "kafka", std::string(fac) + ": " + buf);
}

// A configuration with the defaults, then the user's pass-through properties.
result<rd_kafka_conf_t*> make_conf(const kafka_options& o,
                                   const std::vector<std::pair<std::string, std::string>>& defaults) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  auto set = [&](const std::string& k, const std::string& v) -> bool {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      return false;
    }
    return true;
  };
  for (const auto& [k, v] : defaults) {
    if (!set(k, v)) {
      rd_kafka_conf_destroy(conf);
      return make_error(errc::invalid_argument, "kafka property " + k + ": " + errstr);
    }
  }
  if (!set("bootstrap.servers", o.brokers)) {
    rd_kafka_conf_destroy(conf);
    return make_error(errc::invalid_argument, std::string("kafka brokers: ") + errstr);
  }
  for (const auto& [k, v] : o.config) {
    if (!set(k, v)) {
      rd_kafka_conf_destroy(conf);
      // The value may be a secret: name the property only.
      return make_error(errc::invalid_argument, "kafka property " + k + ": " + errstr);
    }
  }
  rd_kafka_conf_set_log_cb(conf, log_cb);
  return conf;
}

result<rk_ptr> make_handle(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return make_error(errc::invalid_argument, std::string("kafka: ") + errstr);
  }
  return rk_ptr(rk);
}

// One append: completes when every record's delivery report arrived.
struct append_op {
  std::vector<position> positions;
  std::atomic<size_t> remaining{0};
  std::mutex mu;
  std::optional<error> failure;
  std::function<void(append_result)> complete;

  void done_one() {
    if (remaining.fetch_sub(1) != 1) return;
    std::optional<error> f;
    {
      std::lock_guard lk(mu);
      f = failure;
    }
    if (f) {
      complete(*f);
    } else {
      complete(std::move(positions));
    }
  }
  void fail(error e) {
    std::lock_guard lk(mu);
    if (!failure) failure = std::move(e);
  }
};

struct msg_ctx {
  std::shared_ptr<append_op> op;
  size_t index;
};

void delivery_cb(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  std::unique_ptr<msg_ctx> ctx(static_cast<msg_ctx*>(m->_private));
  if (!ctx) return;
  if (m->err) {
    ctx->op->fail(kafka_error("write not acknowledged", m->err));
  } else {
    ctx->op->positions[ctx->index] = {m->partition, m->offset};
  }
  ctx->op->done_one();
}

void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque);

// Assigns partition p of `topic` at offsets[p], for each p
// (RD_KAFKA_OFFSET_STORED: the group's committed offset, else
// auto.offset.reset).
rd_kafka_resp_err_t assign_each(rd_kafka_t* rk, const std::string& topic, const std::vector<int64_t>& offsets) {
  tpl_ptr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (size_t p = 0; p < offsets.size(); ++p)
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), static_cast<int32_t>(p))->offset = offsets[p];
  return rd_kafka_assign(rk, list.get());
}

class kafka_consumer final : public consumer {
 public:
  kafka_consumer(rk_ptr rk, std::string topic) : rk_(std::move(rk)), topic_(std::move(topic)) {}
  ~kafka_consumer() override {
    if (!rk_) return;
    if (rd_kafka_fatal_error(rk_.get(), nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      drop_failed_handle();
      return;
    }
    close_bounded(kCloseLimit);
  }

  result<std::vector<stored_record>> poll(size_t max, std::chrono::milliseconds timeout) override {
    std::vector<stored_record> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    woken_ = false;
    while (out.size() < max && !woken_) {
      const auto now = std::chrono::steady_clock::now();
      // Once something arrived, only take what is already buffered.
      int wait_ms = 0;
      if (out.empty()) {
        if (now >= deadline) break;
        wait_ms = static_cast<int>(std::min<int64_t>(
            100, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1));
      }
      msg_ptr m(rd_kafka_consumer_poll(rk_.get(), wait_ms));
      if (!m) {
        if (!out.empty()) break;
        continue;
      }
      if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
        if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
          // E.g. a static member (group.instance.id given in --kafka-config)
          // fenced by another with the same id. The handle is unusable: start
          // a new one, which resumes from the committed positions
          // (re-applying is idempotent).
          m.reset();
          if (auto st = recreate(); !st) return st.err();
          if (!out.empty()) break;
          continue;
        }
        log_warn("kafka", std::string("consumer: ") + rd_kafka_message_errstr(m.get()));
        if (out.empty()) return kafka_error("consume", m->err);
        break;
      }
      out.push_back(to_stored(*m));
    }
    return out;
  }

  status commit(const std::vector<position>& next) override {
    if (next.empty()) return ok_status();
    tpl_ptr list(rd_kafka_topic_partition_list_new(static_cast<int>(next.size())));
    for (const auto& p : next) {
      rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), p.partition)->offset = p.offset;
    }
    // A synchronous rd_kafka_commit waits as long as librdkafka retries
    // (seen: for good, with the coordinator moving after a broker restart,
    // holding a projector's stop past the server's). The result comes on a
    // queue of its own instead, waited for at most kCommitLimit; a commit
    // given up on is an error the projector logs, and what it covered is
    // applied again (idempotently) after a restart.
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk_.get());
    if (const auto err = rd_kafka_commit_queue(rk_.get(), list.get(), q, nullptr, nullptr)) {
      rd_kafka_queue_destroy(q);
      return kafka_error("commit", err);
    }
    const auto deadline = std::chrono::steady_clock::now() + kCommitLimit;
    rd_kafka_resp_err_t result = RD_KAFKA_RESP_ERR__TIMED_OUT;
    while (std::chrono::steady_clock::now() < deadline) {
      rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 100);
      if (!ev) continue;
      const bool done = rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT;
      if (done) result = rd_kafka_event_error(ev);
      rd_kafka_event_destroy(ev);
      if (done) break;
    }
    rd_kafka_queue_destroy(q);  // a result still on its way is dropped with the queue
    if (result) return kafka_error("commit", result);
    return ok_status();
  }

  void seek_all(int64_t offset) override {
    seek_to_ = offset;
    seek_each_.clear();
    if (exclusive_partitions_ == 0) return;  // a group member: applied at the next assignment (on_assign)
    if (auto err = assign_each(rk_.get(), topic_, start_offsets(exclusive_partitions_))) {
      log_warn("kafka", std::string("seek: ") + rd_kafka_err2str(err));
    }
  }
  void seek_each(const std::vector<int64_t>& next) override {
    seek_each_ = next;
    if (exclusive_partitions_ == 0) return;  // a group member: applied at the next assignment (on_assign)
    if (auto err = assign_each(rk_.get(), topic_, start_offsets(exclusive_partitions_))) {
      log_warn("kafka", std::string("seek: ") + rd_kafka_err2str(err));
    }
  }
  // The start offset of partition p: where the last seek put it, else the group's commit.
  int64_t start_offset(int32_t p) const {
    if (p >= 0 && static_cast<size_t>(p) < seek_each_.size()) return seek_each_[p];
    return seek_to_ >= 0 ? seek_to_ : RD_KAFKA_OFFSET_STORED;
  }
  // Where an exclusive consumer's (new) handle is assigned.
  std::vector<int64_t> start_offsets(int32_t n) const {
    std::vector<int64_t> out;
    for (int32_t p = 0; p < n; ++p) out.push_back(start_offset(p));
    return out;
  }
  void set_exclusive(int32_t partitions) { exclusive_partitions_ = partitions; }
  void wake() override { woken_ = true; }

  // Called from rebalance_cb (inside poll(), on the consumer's thread).
  void on_assign(rd_kafka_topic_partition_list_t* parts) {
    for (int i = 0; i < parts->cnt; ++i) {
      const int64_t at = start_offset(parts->elems[i].partition);
      if (at >= 0) parts->elems[i].offset = at;
    }
    log_info("kafka", "assigned " + std::to_string(parts->cnt) + " partitions of " + topic_);
  }

  void set_handle(rk_ptr rk) { rk_ = std::move(rk); }
  bool inject_fatal() {
    return rd_kafka_test_fatal_error(rk_.get(), RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, "injected by a test") ==
           RD_KAFKA_RESP_ERR_NO_ERROR;
  }
  void set_factory(std::function<result<rk_ptr>(kafka_consumer*)> f) { factory_ = std::move(f); }

  status recreate() {
    char why[512] = {0};
    rd_kafka_fatal_error(rk_.get(), why, sizeof why);
    log_warn("kafka", std::string("consumer hit a fatal error (") + why + "); starting a new one");
    drop_failed_handle();
    auto rk = factory_(this);
    if (!rk) return rk.err();
    rk_ = std::move(*rk);
    return ok_status();
  }

 private:
  // How long a consumer's close (final commit, leaving the group) may take.
  static constexpr std::chrono::milliseconds kCloseLimit{4000};
  // How long a commit may wait for the coordinator's answer.
  static constexpr std::chrono::milliseconds kCommitLimit{3000};  // a server may close two group members (projector, ingest) within its 15 s stop

  // Closes in the background and serves the close's callbacks here (the
  // rebalance callback's revocation) until it finished or `limit` passed. A
  // group member closed while it rejoins after a broker restart can wait on
  // the coordinator for longer than any shutdown deadline (seen in CI: a
  // SIGTERM not obeyed within 15 s); past the limit it leaves without the
  // close, and the group drops it after its session timeout.
  void close_bounded(std::chrono::milliseconds limit) {
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk_.get());
    if (rd_kafka_error_t* e = rd_kafka_consumer_close_queue(rk_.get(), q)) {
      log_warn("kafka", std::string("consumer close: ") + rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      rd_kafka_queue_destroy(q);
      drop_failed_handle();
      return;
    }
    // The queue carries events, not callbacks (serving it with
    // rd_kafka_queue_poll_callback aborts on a fetch event): a rebalance
    // event is answered as the rebalance callback would, anything else dropped.
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!rd_kafka_consumer_closed(rk_.get()) && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 100);
      if (!ev) continue;
      if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) {
        const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk_.get()), "COOPERATIVE") == 0;
        auto* parts = rd_kafka_event_topic_partition_list(ev);
        if (rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
          if (cooperative) {
            if (auto* e = rd_kafka_incremental_assign(rk_.get(), parts)) rd_kafka_error_destroy(e);
          } else {
            rd_kafka_assign(rk_.get(), parts);
          }
        } else if (cooperative) {
          if (auto* e = rd_kafka_incremental_unassign(rk_.get(), parts)) rd_kafka_error_destroy(e);
        } else {
          rd_kafka_assign(rk_.get(), nullptr);
        }
      }
      rd_kafka_event_destroy(ev);
    }
    const bool closed = rd_kafka_consumer_closed(rk_.get());
    rd_kafka_queue_destroy(q);
    if (!closed) {
      log_warn("kafka", "consumer close of " + topic_ + " did not finish within " + std::to_string(limit.count()) +
                            " ms (a group rebalance in progress); leaving without it");
      drop_failed_handle();
    }
  }

  // librdkafka 2.0.2 hangs for good destroying a consumer after a fatal error
  // unless the close (leave group, final commit) is skipped; the group drops
  // the member after session.timeout.ms. AConsumerRecoversFromAFatalError.
  void drop_failed_handle() { rd_kafka_destroy_flags(rk_.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE); }

  rk_ptr rk_;
  std::function<result<rk_ptr>(kafka_consumer*)> factory_;
  std::string topic_;
  std::atomic<bool> woken_{false};
  int64_t seek_to_ = -1;
  std::vector<int64_t> seek_each_;  // per partition, from the last seek_each
  int32_t exclusive_partitions_ = 0;  // > 0: assigned every partition, not a group member
};

void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<kafka_consumer*>(opaque);
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (self) self->on_assign(parts);
    if (cooperative) {
      if (auto* e = rd_kafka_incremental_assign(rk, parts)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, parts);
    }
  } else {
    // Revocation happens between two polls: the projector has finished (and
    // committed) the batch it was working on, so nothing is in flight.
    log_info("kafka", "revoked " + std::to_string(parts->cnt) + " partitions");
    if (cooperative) {
      if (auto* e = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
  }
}

}  // namespace

struct kafka_log::handles {
  // The idempotent producer, replaced after a fatal error (see
  // serve_producer): appends and offset queries take a reference for the
  // duration of one call.
  std::mutex producer_mu;
  std::shared_ptr<rd_kafka_t> producer;
  std::function<result<rk_ptr>()> make_producer;
  rk_ptr reader;  // assign()-based, no group: for read()

  std::shared_ptr<rd_kafka_t> current() {
    std::lock_guard lk(producer_mu);
    return producer;
  }
  void install(rk_ptr p) {
    std::shared_ptr<rd_kafka_t> next(p.release(), rk_deleter{});
    std::lock_guard lk(producer_mu);
    producer = std::move(next);
  }
};

bool inject_fatal_error(consumer& c) {
  auto* k = dynamic_cast<kafka_consumer*>(&c);
  return k != nullptr && k->inject_fatal();
}

bool inject_fatal_error(kafka_log& log) {
  auto p = log.h_->current();
  return rd_kafka_test_fatal_error(p.get(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "injected by a test") ==
         RD_KAFKA_RESP_ERR_NO_ERROR;
}

// Serves the producer's delivery reports. An idempotent producer that hit a
// fatal error (e.g. a sequence gap the broker rejects) refuses every later
// produce; without this, writes would answer 503 until a restart. It is
// replaced by a fresh one (a new producer id); the failed handle's queued and
// in-flight records are purged, so their appends fail (503: their leaves are
// "uncertain" and settle before their next command, as after any failed
// append), and it is destroyed once drained.
void kafka_log::serve_producer() {
  while (!stop_) {
    auto p = h_->current();
    rd_kafka_poll(p.get(), 50);
    char why[512] = {0};
    if (rd_kafka_fatal_error(p.get(), why, sizeof why) == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    log_warn("kafka", std::string("producer hit a fatal error (") + why + "); starting a new one");
    auto fresh = h_->make_producer();
    if (!fresh) {
      log_error("kafka", "cannot create a new producer: " + fresh.err().message + "; retrying in 1 s");
      for (int i = 0; i < 20 && !stop_; ++i) rd_kafka_poll(p.get(), 50);
      continue;
    }
    h_->install(std::move(*fresh));
    producer_restarts_.fetch_add(1, std::memory_order_relaxed);
    rd_kafka_purge(p.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    // Drain the failed handle while serving the new one's delivery reports.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.request_timeout_ms);
    const auto next = h_->current();
    while (rd_kafka_outq_len(p.get()) > 0 && std::chrono::steady_clock::now() < deadline && !stop_) {
      rd_kafka_poll(p.get(), 0);
      rd_kafka_poll(next.get(), 20);
    }
    if (rd_kafka_outq_len(p.get()) > 0) {
      log_warn("kafka", "the failed producer still holds " + std::to_string(rd_kafka_outq_len(p.get())) +
                            " records after purging; destroying it");
    }
  }
}

bool parse_kafka_property(const std::string& text, std::pair<std::string, std::string>& out) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  out = {text.substr(0, eq), text.substr(eq + 1)};
  return true;
}

result<std::unique_ptr<kafka_log>> kafka_log::open(const kafka_options& opts) {
  if (opts.brokers.empty()) return make_error(errc::invalid_argument, "kafka: no brokers given");
  if (opts.partitions < 1 || opts.partitions > 10000) {
    return make_error(errc::invalid_argument, "kafka: partitions must be between 1 and 10000");
  }
  std::unique_ptr<kafka_log> log(new kafka_log());
  log->opts_ = opts;
  log->h_ = std::make_unique<handles>();
  log->h_->make_producer = [opts]() -> result<rk_ptr> {
    auto pconf = make_conf(opts, {{"enable.idempotence", "true"},
                                  {"acks", "all"},
                                  {"linger.ms", "1"},
                                  {"message.timeout.ms", "10000"},
                                  {"message.max.bytes", std::to_string(kMaxMessageBytes)},
                                  {"socket.nagle.disable", "true"}});
    if (!pconf) return pconf.err();
    rd_kafka_conf_set_dr_msg_cb(*pconf, delivery_cb);
    return make_handle(RD_KAFKA_PRODUCER, *pconf);
  };
  auto producer = log->h_->make_producer();
  if (!producer) return producer.err();
  log->h_->install(std::move(*producer));
  const auto first = log->h_->current();  // for the set-up below
  rd_kafka_t* rk = first.get();

  // Create the topic if absent.
  char errstr[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(opts.topic.c_str(), opts.partitions, opts.replication_factor,
                                                  errstr, sizeof errstr);
  if (!nt) return make_error(errc::invalid_argument, std::string("kafka topic: ") + errstr);
  rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", std::to_string(opts.min_insync_replicas).c_str());
  // Room for the largest event a maximal request body can produce (JSON
  // escaping can grow the content); the producer is configured to match.
  rd_kafka_NewTopic_set_config(nt, "max.message.bytes", std::to_string(kMaxMessageBytes).c_str());
  if (opts.keep_forever) {
    rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1");
    rd_kafka_NewTopic_set_config(nt, "retention.bytes", "-1");
  }
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(ao, opts.request_timeout_ms, errstr, sizeof errstr);
  rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, opts.request_timeout_ms + 2000);
  std::optional<error> create_err;
  if (!ev) {
    create_err = make_error(errc::unavailable, "kafka: no answer from " + opts.brokers + " creating topic " +
                                                   opts.topic, "log_unavailable");
  } else if (rd_kafka_event_error(ev)) {
    create_err = kafka_error("create topic " + opts.topic, rd_kafka_event_error(ev));
  } else {
    size_t n = 0;
    const auto** topics = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; ++i) {
      const auto err = rd_kafka_topic_result_error(topics[i]);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_info("kafka", "created topic " + opts.topic + " with " + std::to_string(opts.partitions) + " partitions");
      } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        create_err = kafka_error("create topic " + opts.topic, err);
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(ao);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_queue_destroy(q);
  if (create_err) return *create_err;

  // The topic's actual partition count (metadata may lag creation briefly).
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, opts.topic.c_str(), nullptr);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts.request_timeout_ms);
  int32_t count = 0;
  while (count == 0 && std::chrono::steady_clock::now() < deadline) {
    const rd_kafka_metadata_t* md = nullptr;
    const auto err = rd_kafka_metadata(rk, 0, rkt, &md, opts.request_timeout_ms);
    if (!err && md->topic_cnt == 1 && !md->topics[0].err) count = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    if (count == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  rd_kafka_topic_destroy(rkt);
  if (count == 0) {
    return make_error(errc::unavailable, "kafka: no metadata for topic " + opts.topic, "log_unavailable");
  }
  if (count < opts.partitions) {
    return make_error(errc::invalid_argument,
                      "kafka: topic " + opts.topic + " has " + std::to_string(count) + " partitions, fewer than the " +
                          std::to_string(opts.partitions) +
                          " configured; keys would land in other partitions than expected. Add partitions "
                          "to the topic or lower --partitions.");
  }
  log->partitions_ = count;
  log->last_end_.assign(count, 0);

  // librdkafka's consumer API wants a group id even for assign(); this one
  // never subscribes or commits, so it never joins or disturbs a group.
  auto rconf = make_conf(opts, {{"group.id", "leaves-reader-" + std::to_string(std::random_device{}())},
                                {"enable.auto.commit", "false"},
                                {"enable.partition.eof", "false"},
                                {"fetch.wait.max.ms", "10"}});
  if (!rconf) return rconf.err();
  auto reader = make_handle(RD_KAFKA_CONSUMER, *rconf);
  if (!reader) return reader.err();
  log->h_->reader = std::move(*reader);

  log->poller_ = std::thread([l = log.get()] { l->serve_producer(); });
  return log;
}

kafka_log::~kafka_log() {
  admin_.join();  // queries and reads in flight finish (bounded by the request timeout)
  reads_.join();
  if (h_ && h_->producer) rd_kafka_flush(h_->current().get(), opts_.request_timeout_ms);
  stop_ = true;
  if (poller_.joinable()) poller_.join();
  if (h_ && h_->reader) rd_kafka_consumer_close(h_->reader.get());
}

asio::awaitable<append_result> kafka_log::append(std::vector<record> records) {
  for (const auto& r : records) {
    if (r.partition >= partitions_) {
      co_return make_error(errc::invalid_argument, "partition " + std::to_string(r.partition) + " does not exist");
    }
  }
  if (records.empty()) co_return std::vector<position>{};
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(append_result)>(
      [this](auto handler, std::vector<record> recs) {
        auto ex = asio::get_associated_executor(handler);
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto op = std::make_shared<append_op>();
        op->positions.resize(recs.size());
        op->remaining = recs.size();
        op->complete = [h, ex](append_result r) {
          asio::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
        };
        const auto producer = h_->current();
        for (size_t i = 0; i < recs.size(); ++i) {
          const auto& r = recs[i];
          int32_t p = r.partition;
          if (p < 0) {
            p = r.key.empty() ? static_cast<int32_t>(round_robin_++ % static_cast<uint32_t>(partitions_))
                              : kafka_partition(r.key, partitions_);
          }
          auto* ctx = new msg_ctx{op, i};
          rd_kafka_headers_t* hdrs = nullptr;
          if (!r.headers.empty()) {
            hdrs = rd_kafka_headers_new(r.headers.size());
            for (const auto& [k, v] : r.headers) {
              rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                                  static_cast<ssize_t>(v.size()));
            }
          }
          // With RD_KAFKA_V_HEADERS librdkafka owns the headers once producev succeeds.
          const auto err = rd_kafka_producev(
              producer.get(), RD_KAFKA_V_TOPIC(opts_.topic.c_str()), RD_KAFKA_V_PARTITION(p),
              RD_KAFKA_V_KEY(r.key.data(), r.key.size()),
              RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
              RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(ctx),
              RD_KAFKA_V_END);
          if (err) {
            if (hdrs) rd_kafka_headers_destroy(hdrs);
            delete ctx;
            op->fail(kafka_error("produce", err));
            op->done_one();
          }
        }
      },
      asio::use_awaitable, std::move(records));
}

std::vector<int64_t> kafka_log::end_offsets() {
  std::vector<int64_t> out(partitions_, 0);
  const auto producer = h_->current();
  bool ok = true;
  for (int32_t p = 0; p < partitions_; ++p) {
    int64_t lo = 0, hi = 0;
    const auto err = rd_kafka_query_watermark_offsets(producer.get(), opts_.topic.c_str(), p, &lo, &hi,
                                                      opts_.request_timeout_ms);
    if (err) {
      ok = false;
      break;
    }
    out[p] = hi;
  }
  std::lock_guard lk(end_mu_);
  if (!ok) return last_end_;  // the broker is unreachable: the last known ends
  last_end_ = out;
  return out;
}

result<std::pair<int64_t, int64_t>> kafka_log::watermarks(int32_t partition, const char* what) {
  if (partition < 0 || partition >= partitions_) {
    return make_error(errc::invalid_argument, "partition " + std::to_string(partition) + " does not exist");
  }
  int64_t lo = 0, hi = 0;
  const auto producer = h_->current();
  if (auto err = rd_kafka_query_watermark_offsets(producer.get(), opts_.topic.c_str(), partition, &lo, &hi,
                                                  opts_.request_timeout_ms)) {
    return kafka_error(what, err);
  }
  return std::pair<int64_t, int64_t>(lo, hi);
}

result<int64_t> kafka_log::end_offset(int32_t partition) {
  auto w = watermarks(partition, "end offset");
  if (!w) return w.err();
  return w->second;
}

template <typename T, typename F>
asio::awaitable<T> kafka_log::on_thread(asio::thread_pool& pool, std::atomic<int>& queued, F f, T busy) {
  if (queued.fetch_add(1) >= kMaxAdminQueued) {
    queued.fetch_sub(1);
    co_return busy;
  }
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(T)>(
      [&pool, &queued](auto handler, F fn) {
        auto ex = asio::get_associated_executor(handler);
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        asio::post(pool, [&queued, h, ex, fn = std::move(fn)]() mutable {
          T r = fn();
          queued.fetch_sub(1);
          asio::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
        });
      },
      asio::use_awaitable, std::move(f));
}

namespace {
error admin_busy(const char* what) {
  return make_error(errc::unavailable,
                    std::to_string(kafka_log::kMaxAdminQueued) + " " + what + " are already waiting for the broker",
                    "log_unavailable");
}
}  // namespace

asio::awaitable<result<int64_t>> kafka_log::async_end_offset(int32_t partition) {
  co_return co_await on_thread<result<int64_t>>(admin_, admin_queued_, [this, partition] { return end_offset(partition); },
                                               admin_busy("end-offset queries"));
}

asio::awaitable<std::vector<int64_t>> kafka_log::async_end_offsets() {
  co_return co_await on_thread<std::vector<int64_t>>(admin_, admin_queued_, [this] { return end_offsets(); },
                                                    last_known_ends());
}

asio::awaitable<result<std::vector<stored_record>>> kafka_log::async_read(int32_t partition, int64_t from,
                                                                         size_t max) {
  co_return co_await on_thread<result<std::vector<stored_record>>>(
      reads_, reads_queued_, [this, partition, from, max] { return read(partition, from, max); },
      admin_busy("log reads"));
}

std::vector<int64_t> kafka_log::last_known_ends() {
  std::lock_guard lk(end_mu_);
  return last_end_.empty() ? std::vector<int64_t>(partitions_, 0) : last_end_;
}

asio::awaitable<result<int64_t>> kafka_log::recent_end_offset(int32_t partition) {
  if (partition < 0 || partition >= partitions_) {
    co_return make_error(errc::invalid_argument, "partition " + std::to_string(partition) + " does not exist");
  }
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  const bool recent = now - ends_read_at_ns_.load() <= std::chrono::nanoseconds(std::chrono::milliseconds(250)).count();
  const auto ends = known_end_offsets();  // and a background read when they are older than 250 ms
  if (recent) co_return ends[partition];
  co_return co_await async_end_offset(partition);
}

std::vector<int64_t> kafka_log::known_end_offsets() {
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  const int64_t age = now - ends_read_at_ns_.load();
  if (age > std::chrono::nanoseconds(std::chrono::milliseconds(250)).count() && !ends_refreshing_.exchange(true)) {
    asio::post(admin_, [this] {
      end_offsets();  // keeps last_end_ when the broker does not answer
      ends_read_at_ns_ = std::chrono::steady_clock::now().time_since_epoch().count();
      ends_refreshing_ = false;
    });
  }
  return last_known_ends();
}

result<int64_t> kafka_log::start_offset(int32_t partition) {
  auto w = watermarks(partition, "start offset");
  if (!w) return w.err();
  return w->first;
}

result<std::vector<stored_record>> kafka_log::read(int32_t partition, int64_t from, size_t max) {
  if (partition < 0 || partition >= partitions_) {
    return make_error(errc::invalid_argument, "partition " + std::to_string(partition) + " does not exist");
  }
  std::vector<stored_record> out;
  int64_t lo = 0, hi = 0;
  std::lock_guard lk(reader_mu_);
  rd_kafka_t* rk = h_->reader.get();
  auto err = rd_kafka_query_watermark_offsets(rk, opts_.topic.c_str(), partition, &lo, &hi, opts_.request_timeout_ms);
  if (err) return kafka_error("watermarks", err);
  from = std::max(from, lo);
  if (max == 0 || from >= hi) return out;
  tpl_ptr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), opts_.topic.c_str(), partition)->offset = from;
  err = rd_kafka_assign(rk, list.get());
  if (err) return kafka_error("assign", err);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.request_timeout_ms);
  while (out.size() < max && (out.empty() || out.back().offset + 1 < hi) &&
         std::chrono::steady_clock::now() < deadline) {
    msg_ptr m(rd_kafka_consumer_poll(rk, 100));
    if (!m || m->err) continue;
    if (m->partition != partition || m->offset < from) continue;
    out.push_back(to_stored(*m));
  }
  rd_kafka_assign(rk, nullptr);
  return out;
}

result<std::unique_ptr<consumer>> kafka_log::subscribe(const std::string& group) {
  if (group.empty()) return make_error(errc::invalid_argument, "bad consumer group name");
  std::vector<std::pair<std::string, std::string>> defaults = {
      {"group.id", group},
      {"enable.auto.commit", "false"},
      {"auto.offset.reset", "earliest"},
      {"partition.assignment.strategy", "roundrobin"},
      {"enable.partition.eof", "false"},
      {"session.timeout.ms", "10000"},
      {"fetch.wait.max.ms", "10"}};
  // Builds a subscribed handle whose callbacks reach `owner`; kept by the
  // consumer to start over after a fatal error.
  auto factory = [opts = opts_, defaults](kafka_consumer* owner) -> result<rk_ptr> {
    auto conf = make_conf(opts, defaults);
    if (!conf) return conf.err();
    rd_kafka_conf_set_rebalance_cb(*conf, rebalance_cb);
    rd_kafka_conf_set_opaque(*conf, owner);
    auto rk = make_handle(RD_KAFKA_CONSUMER, *conf);
    if (!rk) return rk.err();
    rd_kafka_poll_set_consumer(rk->get());
    tpl_ptr topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), opts.topic.c_str(), RD_KAFKA_PARTITION_UA);
    if (auto err = rd_kafka_subscribe(rk->get(), topics.get())) {
      rd_kafka_consumer_close(rk->get());
      return kafka_error("subscribe", err);
    }
    return std::move(*rk);
  };
  // The consumer object must exist before the handle so the rebalance callback can reach it.
  auto c = std::make_unique<kafka_consumer>(nullptr, opts_.topic);
  auto rk = factory(c.get());
  if (!rk) return rk.err();
  c->set_handle(std::move(*rk));
  c->set_factory(std::move(factory));
  return std::unique_ptr<consumer>(std::move(c));
}

result<std::unique_ptr<consumer>> kafka_log::exclusive(const std::string& group) {
  if (group.empty()) return make_error(errc::invalid_argument, "bad consumer group name");
  std::vector<std::pair<std::string, std::string>> defaults = {{"group.id", group},
                                                               {"enable.auto.commit", "false"},
                                                               {"auto.offset.reset", "earliest"},
                                                               {"enable.partition.eof", "false"},
                                                               {"fetch.wait.max.ms", "10"}};
  // group.id is only where offsets are read from and committed to: assign()
  // never joins the group, so there is no member, session or rebalance.
  auto factory = [opts = opts_, defaults, n = partitions_](kafka_consumer* owner) -> result<rk_ptr> {
    auto conf = make_conf(opts, defaults);
    if (!conf) return conf.err();
    auto rk = make_handle(RD_KAFKA_CONSUMER, *conf);
    if (!rk) return rk.err();
    rd_kafka_poll_set_consumer(rk->get());
    if (auto err = assign_each(rk->get(), opts.topic, owner->start_offsets(n))) {
      rd_kafka_consumer_close(rk->get());
      return kafka_error("assign", err);
    }
    return std::move(*rk);
  };
  auto c = std::make_unique<kafka_consumer>(nullptr, opts_.topic);
  c->set_exclusive(partitions_);
  auto rk = factory(c.get());
  if (!rk) return rk.err();
  c->set_handle(std::move(*rk));
  c->set_factory(std::move(factory));
  return std::unique_ptr<consumer>(std::move(c));
}

result<std::vector<int64_t>> kafka_log::committed(const std::string& group) {
  auto conf = make_conf(opts_, {{"group.id", group}, {"enable.auto.commit", "false"}});
  if (!conf) return conf.err();
  auto rk = make_handle(RD_KAFKA_CONSUMER, *conf);
  if (!rk) return rk.err();
  tpl_ptr list(rd_kafka_topic_partition_list_new(partitions_));
  for (int32_t p = 0; p < partitions_; ++p) rd_kafka_topic_partition_list_add(list.get(), opts_.topic.c_str(), p);
  // A broker that has just come back (a restart, a long pause) answers "not
  // coordinator" or "loading" for a few seconds while the group coordinator
  // moves or loads: asked again until the request timeout, not failed (a
  // server starting then would exit; seen in CI after a frozen broker).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.request_timeout_ms);
  rd_kafka_resp_err_t err;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    err = rd_kafka_committed(rk->get(), list.get(), static_cast<int>(std::max<int64_t>(left.count(), 1)));
    const bool moving = err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR || err == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
                        err == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE;
    if (!moving || std::chrono::steady_clock::now() + std::chrono::milliseconds(250) >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  rd_kafka_consumer_close(rk->get());
  if (err) return kafka_error("committed offsets", err);
  std::vector<int64_t> out(partitions_, 0);
  for (int i = 0; i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    if (e.offset >= 0 && e.partition >= 0 && e.partition < partitions_) out[e.partition] = e.offset;
  }
  return out;
}

}  // namespace leaves::log
