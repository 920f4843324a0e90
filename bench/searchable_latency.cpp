// leaves_bench_searchable: ack-to-searchable latency at a fixed write rate.
//
// POSTs unique leaves at RATE/s over CONNS keep-alive connections for
// SECONDS. Each leaf's title carries a word of its own; every SAMPLE-th leaf
// is probed: right after its 201, a prober asks GET /v1/search?q=WORD with
// Leaves-Min-Position set to the POST's Leaves-Position (the search waits for
// the index to reach it) and, when the leaf is not in that answer yet, asks
// again every 5 ms. The latency is from the 201 to the first answer holding
// the leaf. Prints the achieved write rate and the latency percentiles;
// exits 1 when a probed leaf was never found within 10 s.
//
//   leaves_bench_searchable HOST PORT [RATE=1000] [SECONDS=20] [CONNS=8] [SAMPLE=10]
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "leaves/base/hash.h"
#include "percentile.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using clk = std::chrono::steady_clock;
using leaves::bench::percentile;

namespace {

struct probe {
  std::string word, leaf_id, position;
  clk::time_point acked;
};

// Probes handed from writers to probers; closed when the writers are done.
class probe_queue {
 public:
  void push(probe p) {
    {
      std::lock_guard lk(mu_);
      q_.push_back(std::move(p));
    }
    cv_.notify_one();
  }
  bool pop(probe& out) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return false;
    out = std::move(q_.front());
    q_.pop_front();
    return true;
  }
  void close() {
    {
      std::lock_guard lk(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<probe> q_;
  bool closed_ = false;
};

probe_queue g_probes;
std::mutex g_mu;
std::vector<double> g_post_ms, g_searchable_ms;
std::atomic<uint64_t> g_acked{0}, g_errors{0}, g_never_found{0}, g_search_requests{0};

struct connection {
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buf;
  connection(const std::string& host, const std::string& port) {
    stream.connect(tcp::resolver(ioc).resolve(host, port));
  }
  bhttp::response<bhttp::string_body> send(bhttp::request<bhttp::string_body>& req) {
    bhttp::write(stream, req);
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream, buf, res);
    return res;
  }
};

// A word no other leaf holds: letters only, so the query parser takes it whole.
std::string word_for(uint64_t n) {
  std::string w = "zq";
  do {
    w += static_cast<char>('a' + n % 26);
    n /= 26;
  } while (n);
  return w;
}

void writer(const std::string& host, const std::string& port, int id, int conns, double rate, int sample,
            clk::time_point start, clk::time_point end, uint64_t run) {
  connection c(host, port);
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  for (uint64_t i = 0;; ++i) {
    const auto due = start + std::chrono::duration_cast<clk::duration>(interval * static_cast<double>(i));
    if (due >= end) break;
    std::this_thread::sleep_until(due);
    const uint64_t n = i * static_cast<uint64_t>(conns) + static_cast<uint64_t>(id);
    const std::string word = word_for(run * 100000000ULL + n);
    const std::string url = "https://bench.example/searchable/" + std::to_string(run) + "/" + std::to_string(n);
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/v1/leaves", 11};
    req.set(bhttp::field::host, host);
    req.set(bhttp::field::content_type, "application/json");
    req.body() = "{\"url\":\"" + url + "\",\"title\":\"searchable " + word +
                 "\",\"content_text\":\"a leaf written by the ack-to-searchable bench\",\"tags\":[\"bench\"]}";
    req.prepare_payload();
    const auto t0 = clk::now();
    auto res = c.send(req);
    const auto t1 = clk::now();
    if (res.result_int() != 201) {
      ++g_errors;
      continue;
    }
    ++g_acked;
    {
      std::lock_guard lk(g_mu);
      g_post_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    if (n % static_cast<uint64_t>(sample) == 0) {
      g_probes.push({word, leaves::md5_hex(url), std::string(res["Leaves-Position"]), t1});
    }
  }
}

void prober(const std::string& host, const std::string& port) {
  connection c(host, port);
  probe p;
  while (g_probes.pop(p)) {
    const auto give_up = p.acked + std::chrono::seconds(10);
    bool found = false;
    for (bool first = true; !found && clk::now() < give_up; first = false) {
      if (!first) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/v1/search?limit=1&q=" + p.word, 11};
      req.set(bhttp::field::host, host);
      if (!p.position.empty()) req.set("Leaves-Min-Position", p.position);
      ++g_search_requests;
      auto res = c.send(req);
      found = res.result_int() == 200 && res.body().find(p.leaf_id) != std::string::npos;
    }
    const auto t = clk::now();
    if (!found) {
      ++g_never_found;
      continue;
    }
    std::lock_guard lk(g_mu);
    g_searchable_ms.push_back(std::chrono::duration<double, std::milli>(t - p.acked).count());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s HOST PORT [RATE=1000] [SECONDS=20] [CONNS=8] [SAMPLE=10]\n", argv[0]);
    return 2;
  }
  const std::string host = argv[1], port = argv[2];
  const double rate = argc > 3 ? std::stod(argv[3]) : 1000;
  const double seconds = argc > 4 ? std::stod(argv[4]) : 20;
  const int conns = argc > 5 ? std::stoi(argv[5]) : 8;
  const int sample = argc > 6 ? std::max(1, std::stoi(argv[6])) : 10;
  const uint64_t run = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) % 1000;
  const auto start = clk::now() + std::chrono::milliseconds(100);
  const auto end = start + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> probers, writers;
  for (int i = 0; i < 4; ++i) probers.emplace_back([&] {
    try {
      prober(host, port);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "prober: %s\n", e.what());
    }
  });
  for (int i = 0; i < conns; ++i) {
    writers.emplace_back([&, i] {
      try {
        writer(host, port, i, conns, rate / conns, sample, start + std::chrono::microseconds(i * 37), end, run);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "writer %d: %s\n", i, e.what());
      }
    });
  }
  for (auto& t : writers) t.join();
  const double elapsed = std::chrono::duration<double>(clk::now() - start).count();
  g_probes.close();
  for (auto& t : probers) t.join();
  std::lock_guard lk(g_mu);
  std::printf("target %.0f writes/s for %.0f s over %d connections, every %d-th leaf probed\n", rate, seconds, conns,
              sample);
  std::printf("acknowledged %llu (%.0f/s), errors %llu; %zu probed, never found within 10 s %llu, %llu searches\n",
              (unsigned long long)g_acked.load(), static_cast<double>(g_acked.load()) / elapsed,
              (unsigned long long)g_errors.load(), g_searchable_ms.size() + g_never_found.load(),
              (unsigned long long)g_never_found.load(), (unsigned long long)g_search_requests.load());
  std::printf("POST latency ms: p50 %.2f p99 %.2f\n", percentile(g_post_ms, 50), percentile(g_post_ms, 99));
  std::printf("ack-to-searchable ms: p50 %.2f p90 %.2f p99 %.2f max %.2f\n", percentile(g_searchable_ms, 50),
              percentile(g_searchable_ms, 90), percentile(g_searchable_ms, 99),
              g_searchable_ms.empty() ? 0.0 : *std::max_element(g_searchable_ms.begin(), g_searchable_ms.end()));
  std::fflush(stdout);
  return g_never_found == 0 && !g_searchable_ms.empty() ? 0 : 1;
}
