#include "leaves/base/result.h"

namespace leaves {

const char* to_string(errc c) {
  switch (c) {
    case errc::invalid_argument: return "invalid_argument";
    case errc::not_found: return "not_found";
    case errc::conflict: return "conflict";
    case errc::precondition_failed: return "precondition_failed";
    case errc::unavailable: return "unavailable";
    case errc::deadline_exceeded: return "deadline_exceeded";
    case errc::resource_exhausted: return "resource_exhausted";
    case errc::unauthenticated: return "unauthenticated";
    case errc::permission_denied: return "permission_denied";
    case errc::internal: return "internal";
  }
  return "internal";
}

}  // namespace leaves
