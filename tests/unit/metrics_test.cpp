// The metrics registry writes every line of /metrics: families read at scrape
// time, readings from modules that do not link it, label escaping.
#include <gtest/gtest.h>

#include "leaves/http/metrics.h"

namespace leaves::http {
namespace {

TEST(Metrics, FamiliesAreReadAtScrapeTime) {
  metrics m;
  double applied = 3;
  m.add_value("leaves_x_total", "Things.", metric_kind::counter, [&] { return applied; });
  m.add_family("leaves_lag", "Lag per partition.", metric_kind::gauge, [] {
    return std::vector<sample>{{label("partition", "0"), 5}, {label("partition", "1"), 0.25}};
  });
  applied = 7;
  const auto text = m.render();
  EXPECT_NE(text.find("# HELP leaves_x_total Things.\n# TYPE leaves_x_total counter\nleaves_x_total 7\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE leaves_lag gauge\nleaves_lag{partition=\"0\"} 5\nleaves_lag{partition=\"1\"} 0.25\n"),
            std::string::npos)
      << text;
}

TEST(Metrics, ReadingsOfOneNameShareOneHeader) {
  metrics m;
  m.add_readings([] {
    return std::vector<metric_reading>{{"leaves_a_total", "A.", metric_kind::counter, 1, label("k", "x")},
                                       {"leaves_a_total", "A.", metric_kind::counter, 2, label("k", "y")},
                                       {"leaves_b", "B.", metric_kind::gauge, 1e18, ""}};
  });
  const auto text = m.render();
  EXPECT_NE(text.find("# TYPE leaves_a_total counter\nleaves_a_total{k=\"x\"} 1\nleaves_a_total{k=\"y\"} 2\n"
                      "# HELP leaves_b B.\n# TYPE leaves_b gauge\nleaves_b 1e+18\n"),
            std::string::npos)
      << text;
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(label("q", "a\"b\\c\nd"), "q=\"a\\\"b\\\\c\\nd\"");
}

}  // namespace
}  // namespace leaves::http
