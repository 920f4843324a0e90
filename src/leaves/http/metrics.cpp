#include "leaves/http/metrics.h"

#include <cstdio>

namespace leaves::http {

void counter_family::inc(const std::string& labels, uint64_t by) {
  std::lock_guard lk(mu_);
  values_[labels] += by;
}

void counter_family::render(std::string& out) const {
  out += "# HELP " + name_ + " " + help_ + "\n# TYPE " + name_ + " counter\n";
  std::lock_guard lk(mu_);
  for (const auto& [labels, v] : values_) {
    out += name_ + "{" + labels + "} " + std::to_string(v) + "\n";
  }
}

void histogram_family::observe(const std::string& labels, double seconds) {
  std::lock_guard lk(mu_);
  auto& s = values_[labels];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++s.buckets[i];
  }
  ++s.count;
  s.sum += seconds;
}

void histogram_family::render(std::string& out) const {
  out += "# HELP " + name_ + " " + help_ + "\n# TYPE " + name_ + " histogram\n";
  std::lock_guard lk(mu_);
  char buf[64];
  for (const auto& [labels, s] : values_) {
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%g", kBuckets[i]);
      out += name_ + "_bucket{" + labels + ",le=\"" + buf + "\"} " + std::to_string(s.buckets[i]) + "\n";
    }
    out += name_ + "_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(s.count) + "\n";
    std::snprintf(buf, sizeof buf, "%.6f", s.sum);
    out += name_ + "_sum{" + labels + "} " + buf + "\n";
    out += name_ + "_count{" + labels + "} " + std::to_string(s.count) + "\n";
  }
}

void metrics::add_collector(std::function<void(std::string&)> fn) {
  std::lock_guard lk(mu_);
  collectors_.push_back(std::move(fn));
}

std::string metrics::render() const {
  std::string out;
  requests.render(out);
  latency.render(out);
  std::lock_guard lk(mu_);
  for (const auto& c : collectors_) c(out);
  return out;
}

}  // namespace leaves::http
