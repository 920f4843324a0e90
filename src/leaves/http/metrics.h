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
#include <string_view>
#include <vector>

#include "leaves/base/metric.h"

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

using leaves::metric_kind;
using leaves::metric_reading;

// One series of a family read at scrape time: `labels` is empty or
// `name="value",...` (see label()).
struct sample {
  std::string labels;
  double value = 0;
};

// `name="value"` with the value escaped for the exposition format.
std::string label(std::string_view name, std::string_view value);

// Everything /metrics shows: the HTTP families here, plus families that other
// modules register and that are read at scrape time from what they count
// (their own atomics); the registry writes all of the exposition text.
class metrics {
 public:
  counter_family requests{"leaves_http_requests_total", "HTTP requests by route, method and status."};
  histogram_family latency{"leaves_http_request_duration_seconds", "HTTP request latency by route and status."};
  // A family whose series `read` returns at each scrape.
  void add_family(std::string name, std::string help, metric_kind kind, std::function<std::vector<sample>()> read);
  // A family of one unlabelled series.
  void add_value(std::string name, std::string help, metric_kind kind, std::function<double()> read);
  // Readings a module reports at each scrape (the store adapters): the
  // readings of one name form one family.
  void add_readings(std::function<std::vector<metric_reading>()> read);
  std::string render() const;

 private:
  struct family {
    std::string name, help;
    metric_kind kind;
    std::function<std::vector<sample>()> read;
  };
  mutable std::mutex mu_;
  std::vector<family> families_;
  std::vector<std::function<std::vector<metric_reading>()>> readings_;
};

}  // namespace leaves::http
