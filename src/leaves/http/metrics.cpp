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

void metrics::add_readings(std::function<std::vector<metric_reading>()> read) {
  std::lock_guard lk(mu_);
  readings_.push_back(std::move(read));
}

std::string label(std::string_view name, std::string_view value) {
  std::string out(name);
  out += "=\"";
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

void metrics::add_family(std::string name, std::string help, metric_kind kind,
                         std::function<std::vector<sample>()> read) {
  std::lock_guard lk(mu_);
  families_.push_back({std::move(name), std::move(help), kind, std::move(read)});
}

void metrics::add_value(std::string name, std::string help, metric_kind kind, std::function<double()> read) {
  add_family(std::move(name), std::move(help), kind, [read = std::move(read)] {
    return std::vector<sample>{{std::string(), read()}};
  });
}

namespace {

// Integers as integers (counts, bytes, offsets); anything else in full precision.
std::string format_value(double v) {
  char buf[32];
  if (v == static_cast<double>(static_cast<int64_t>(v)) && v > -9.0e15 && v < 9.0e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", v);
  }
  return buf;
}

void render_family(std::string& out, const std::string& name, const std::string& help, metric_kind kind) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + (kind == metric_kind::counter ? " counter\n" : " gauge\n");
}

void render_series(std::string& out, const std::string& name, const std::string& labels, double value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += " " + format_value(value) + "\n";
}

}  // namespace

std::string metrics::render() const {
  std::string out;
  requests.render(out);
  latency.render(out);
  std::lock_guard lk(mu_);
  for (const auto& f : families_) {
    render_family(out, f.name, f.help, f.kind);
    for (const auto& s : f.read()) render_series(out, f.name, s.labels, s.value);
  }
  for (const auto& read : readings_) {
    const auto all = read();
    for (size_t i = 0; i < all.size(); ++i) {
      // Readings of one name come together: the family header before the first.
      if (i == 0 || all[i - 1].name != all[i].name) render_family(out, all[i].name, all[i].help, all[i].kind);
      render_series(out, all[i].name, all[i].labels, all[i].value);
    }
  }
  return out;
}

}  // namespace leaves::http
