// The one place where error codes become HTTP statuses and JSON bodies.
#pragma once

#include "leaves/base/result.h"
#include "leaves/http/message.h"

namespace leaves::api {

int http_status(const error& e);
http::response error_to_response(const error& e);

}  // namespace leaves::api
