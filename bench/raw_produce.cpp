// leaves_bench_produce: the raw acks=all produce rate of a broker with the
// producer settings leaves uses (idempotent, acks=all, linger.ms=1), as the
// limit for the API's durable POST rate on Kafka.
//
//   leaves_bench_produce BROKERS TOPIC [N=200000] [CLIENTS=64]
// Prints (1) pipelined: N records produced as fast as librdkafka takes them;
// (2) CLIENTS closed loops, each waiting for its record's delivery report
// before sending the next (what CLIENTS HTTP connections doing POSTs can reach).
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "leaves/log/kafka/kafka_log.h"

namespace {

using clk = std::chrono::steady_clock;

struct client_slot {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  if (m->err) std::fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
  if (auto* slot = static_cast<client_slot*>(m->_private)) {
    std::lock_guard lk(slot->mu);
    slot->done = true;
    slot->cv.notify_one();
  }
}

rd_kafka_t* make_producer(const std::string& brokers) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (auto [k, v] : {std::pair{"bootstrap.servers", brokers.c_str()}, {"enable.idempotence", "true"},
                      {"acks", "all"}, {"linger.ms", "1"}, {"socket.nagle.disable", "true"}}) {
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "%s: %s\n", k, err);
      std::exit(2);
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    std::fprintf(stderr, "%s\n", err);
    std::exit(2);
  }
  return rk;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s BROKERS TOPIC [N=200000] [CLIENTS=64]\n", argv[0]);
    return 2;
  }
  const std::string brokers = argv[1], topic = argv[2];
  const long n = argc > 3 ? std::stol(argv[3]) : 200000;
  const int clients = argc > 4 ? std::stoi(argv[4]) : 64;
  {
    leaves::log::kafka_options o;  // creates the topic as the server would
    o.brokers = brokers;
    o.topic = topic;
    auto l = leaves::log::kafka_log::open(o);
    if (!l) {
      std::fprintf(stderr, "%s\n", l.err().message.c_str());
      return 1;
    }
  }
  const std::string value(600, 'v');
  rd_kafka_t* rk = make_producer(brokers);
  std::atomic<bool> stop{false};
  std::thread poller([&] {
    while (!stop) rd_kafka_poll(rk, 10);
  });

  auto t0 = clk::now();
  for (long i = 0; i < n; ++i) {
    const std::string key = std::to_string(i);
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
                             RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  rd_kafka_flush(rk, 60000);
  double secs = std::chrono::duration<double>(clk::now() - t0).count();
  std::printf("pipelined: %ld records in %.2f s = %.0f records/s\n", n, secs, n / secs);

  const auto duration = std::chrono::seconds(10);
  std::atomic<long> acked{0};
  std::vector<std::thread> loops;
  t0 = clk::now();
  for (int c = 0; c < clients; ++c) {
    loops.emplace_back([&, c] {
      client_slot slot;
      for (long i = 0; clk::now() - t0 < duration; ++i) {
        const std::string key = std::to_string(c) + "-" + std::to_string(i);
        slot.done = false;
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
                          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&slot), RD_KAFKA_V_END);
        std::unique_lock lk(slot.mu);
        slot.cv.wait(lk, [&] { return slot.done; });
        ++acked;
      }
    });
  }
  for (auto& t : loops) t.join();
  secs = std::chrono::duration<double>(clk::now() - t0).count();
  std::printf("%d closed-loop clients: %ld acknowledged in %.2f s = %.0f records/s\n", clients, acked.load(), secs,
              acked.load() / secs);
  stop = true;
  poller.join();
  rd_kafka_destroy(rk);
  return 0;
}
