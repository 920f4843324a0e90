// A counter or gauge value as a module reports it, for the metrics registry
// (http/metrics) to render: modules that do not link the registry (store
// adapters) hand these over instead of writing exposition text.
#pragma once

#include <string>

namespace leaves {

enum class metric_kind { counter, gauge };

struct metric_reading {
  std::string name;
  std::string help;
  metric_kind kind = metric_kind::counter;
  double value = 0;
  std::string labels;  // empty, or name="value",...
};

}  // namespace leaves
