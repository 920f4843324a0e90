// leaves_bench_sse: ack-to-SSE latency at a fixed write rate.
//
// Opens GET /v1/stream?from=now, then POSTs unique leaves at RATE/s over
// CONNS keep-alive connections for SECONDS. For every leaf it notes when the
// 201 arrived and when the leaf's event arrived on the stream, and prints the
// achieved rate, POST latency and ack-to-SSE latency percentiles.
//
//   leaves_bench_sse HOST PORT [RATE=5000] [SECONDS=10] [CONNS=8]
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
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

struct sample {
  clk::time_point acked{};
  clk::time_point streamed{};
  double post_ms = 0;
};

std::mutex g_mu;
std::unordered_map<std::string, sample> g_samples;
std::atomic<bool> g_stop_stream{false};
std::atomic<uint64_t> g_errors{0};

void stream_reader(const std::string& host, const std::string& port, std::atomic<bool>& ready) {
  asio::io_context ioc;
  tcp::socket s(ioc);
  asio::connect(s, tcp::resolver(ioc).resolve(host, port));
  const std::string req = "GET /v1/stream?from=now HTTP/1.1\r\nHost: " + host + "\r\nAccept: text/event-stream\r\n\r\n";
  asio::write(s, asio::buffer(req));
  asio::streambuf buf;
  asio::read_until(s, buf, "\r\n\r\n");
  // The headers stay in buf; the line loop below skips them (no "data: " prefix).
  ready = true;
  std::string pending;
  for (;;) {
    boost::system::error_code ec;
    const size_t n = asio::read_until(s, buf, '\n', ec);
    if (ec) return;
    std::string line(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + static_cast<long>(n));
    buf.consume(n);
    const auto now = clk::now();
    const auto pos = line.find("\"leaf_id\":\"");
    if (line.rfind("data: ", 0) != 0 || pos == std::string::npos) continue;
    const auto start = pos + 11;
    const std::string id = line.substr(start, line.find('"', start) - start);
    std::lock_guard lk(g_mu);
    auto it = g_samples.find(id);
    if (it == g_samples.end()) {
      g_samples[id].streamed = now;  // the event overtook the 201
    } else if (it->second.streamed == clk::time_point{}) {
      it->second.streamed = now;
    }
  }
}

void writer(const std::string& host, const std::string& port, int id, double rate, clk::time_point start,
            clk::time_point end) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(tcp::resolver(ioc).resolve(host, port));
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  beast::flat_buffer buf;
  for (uint64_t i = 0;; ++i) {
    const auto due = start + std::chrono::duration_cast<clk::duration>(interval * static_cast<double>(i));
    if (due >= end) break;
    std::this_thread::sleep_until(due);
    const std::string url = "https://bench.example/sse/" + std::to_string(id) + "/" + std::to_string(i) + "/" +
                            std::to_string(start.time_since_epoch().count());
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/v1/leaves", 11};
    req.set(bhttp::field::host, host);
    req.set(bhttp::field::content_type, "application/json");
    req.body() = "{\"url\":\"" + url + "\",\"title\":\"bench\",\"tags\":[\"bench\"]}";
    req.prepare_payload();
    const auto t0 = clk::now();
    bhttp::write(stream, req);
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream, buf, res);
    const auto t1 = clk::now();
    if (res.result_int() != 201) {
      ++g_errors;
      continue;
    }
    const std::string leaf = leaves::md5_hex(url);
    std::lock_guard lk(g_mu);
    auto& s = g_samples[leaf];
    s.acked = t1;
    s.post_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s HOST PORT [RATE=5000] [SECONDS=10] [CONNS=8]\n", argv[0]);
    return 2;
  }
  const std::string host = argv[1], port = argv[2];
  const double rate = argc > 3 ? std::stod(argv[3]) : 5000;
  const double seconds = argc > 4 ? std::stod(argv[4]) : 10;
  const int conns = argc > 5 ? std::stoi(argv[5]) : 8;
  std::atomic<bool> ready{false};
  std::thread reader([&] {
    try {
      stream_reader(host, port, ready);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "stream: %s\n", e.what());
    }
  });
  while (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto start = clk::now() + std::chrono::milliseconds(100);
  const auto end = start + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> writers;
  for (int i = 0; i < conns; ++i) {
    writers.emplace_back([&, i] {
      try {
        writer(host, port, i, rate / conns, start + std::chrono::microseconds(i * 37), end);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "writer %d: %s\n", i, e.what());
      }
    });
  }
  for (auto& t : writers) t.join();
  const double elapsed = std::chrono::duration<double>(clk::now() - start).count();
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let the last events arrive
  std::vector<double> lat, post;
  size_t acked = 0, missing = 0;
  {
    std::lock_guard lk(g_mu);
    for (auto& [id, s] : g_samples) {
      if (s.acked == clk::time_point{}) continue;
      ++acked;
      post.push_back(s.post_ms);
      if (s.streamed == clk::time_point{}) {
        ++missing;
        continue;
      }
      // Negative when the event arrived before the 201: count it as 0.
      lat.push_back(std::max(0.0, std::chrono::duration<double, std::milli>(s.streamed - s.acked).count()));
    }
  }
  std::printf("target %.0f/s for %.0f s over %d connections\n", rate, seconds, conns);
  std::printf("acknowledged %zu (%.0f/s), errors %llu, events never streamed %zu\n", acked,
              static_cast<double>(acked) / elapsed, (unsigned long long)g_errors.load(), missing);
  std::printf("POST latency ms: p50 %.2f p99 %.2f\n", percentile(post, 50), percentile(post, 99));
  std::printf("ack-to-SSE ms: p50 %.2f p90 %.2f p99 %.2f max %.2f\n", percentile(lat, 50), percentile(lat, 90), percentile(lat, 99),
              lat.empty() ? 0.0 : *std::max_element(lat.begin(), lat.end()));
  std::fflush(stdout);
  std::_Exit(missing == 0 && acked > 0 ? 0 : 1);  // the stream thread blocks in read; do not join it
}
