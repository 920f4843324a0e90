#include "leaves/api/errors.h"

namespace leaves::api {

int http_status(const error& e) {
  switch (e.code) {
    case errc::invalid_argument:
      // Syntax problems (body, query, headers) are 400; semantic ones 422.
      if (e.detail == "invalid_json" || e.detail == "invalid_query" || e.detail == "invalid_header") {
        return 400;
      }
      if (e.detail == "unsupported_media_type") return 415;
      if (e.detail == "body_too_large") return 413;
      return 422;
    case errc::not_found: return 404;
    case errc::conflict: return 409;
    case errc::precondition_failed: return 412;
    case errc::unavailable: return e.detail == "insufficient_storage" ? 507 : 503;
    case errc::deadline_exceeded: return 504;
    case errc::resource_exhausted: return 429;
    case errc::unauthenticated: return 401;
    case errc::permission_denied: return 403;
    case errc::internal: return 500;
  }
  return 500;
}

http::response error_to_response(const error& e) {
  return http::error_response(http_status(e), e.detail.empty() ? to_string(e.code) : e.detail, e.message);
}

}  // namespace leaves::api
