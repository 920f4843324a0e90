// A small Prometheus registry: counters and histograms with labels, rendered
// in the text exposition format. Thread-safe; recording takes one mutex per
// family, which is negligible next to a request's cost.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace leaves::http {

class counter_family {
 public:
  counter_family(std::string name, std::string help) : name_(std::move(name)), help_(std::move(help)) {}
  void inc(const std::string& labels, uint64_t by = 1);
  void render(std::string& out) const;

 private:
  std::string name_, help_;
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> values_;
};

class histogram_family {
 public:
  static constexpr std::array<double, 14> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                      1.0,    5.0};
  histogram_family(std::string name, std::string help) : name_(std::move(name)), help_(std::move(help)) {}
  void observe(const std::string& labels, double seconds);
  void render(std::string& out) const;

 private:
  struct series {
    std::array<uint64_t, kBuckets.size()> buckets{};
    uint64_t count = 0;
    double sum = 0;
  };
  std::string name_, help_;
  mutable std::mutex mu_;
  std::map<std::string, series> values_;
};

// Everything /metrics shows: HTTP families here, plus gauges computed at
// scrape time by callbacks that other modules register.
class metrics {
 public:
  counter_family requests{"leaves_http_requests_total", "HTTP requests by route, method and status."};
  histogram_family latency{"leaves_http_request_duration_seconds", "HTTP request latency by route and status."};
  // Each callback appends complete exposition lines (with HELP/TYPE).
  void add_collector(std::function<void(std::string&)> fn);
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::function<void(std::string&)>> collectors_;
};

}  // namespace leaves::http
