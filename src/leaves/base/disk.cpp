#include "leaves/base/disk.h"

#include <sys/statvfs.h>

#include <limits>

namespace leaves {

uint64_t free_bytes(const std::filesystem::path& p) {
  struct statvfs st {};
  if (::statvfs(p.c_str(), &st) != 0) return std::numeric_limits<uint64_t>::max();
  return static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
}

}  // namespace leaves
