// Free space on the filesystem that holds a path. Every writer of the data
// dir (the embedded log, the store, the search index) keeps a reserve free
// (--min-free-mb): a write that would eat into it is refused as
// insufficient_storage before the database sees ENOSPC, whose error paths
// (RocksDB's are built with assertions on Debian) are kept as the last line.
#pragma once

#include <cstdint>
#include <filesystem>

namespace leaves {

// Bytes an unprivileged writer may still use; UINT64_MAX when unknown.
uint64_t free_bytes(const std::filesystem::path& p);

// True when writing `bytes` more leaves at least `reserve` free (reserve 0: always).
inline bool has_room(const std::filesystem::path& p, uint64_t reserve, uint64_t bytes = 0) {
  if (reserve == 0) return true;
  const uint64_t free = free_bytes(p);
  return free >= reserve && free - reserve >= bytes;
}

}  // namespace leaves
