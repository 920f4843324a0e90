// The p-th percentile (0-100) of samples, nearest rank; 0 for none.
#pragma once

#include <algorithm>
#include <vector>

namespace leaves::bench {

inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

}  // namespace leaves::bench
