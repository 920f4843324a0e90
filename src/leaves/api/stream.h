// Realtime stream sources for SSE and WebSocket sessions: catch up from the
// log from a cursor, then follow the hub, with no gap and no duplicate at the
// hand-over (positions below the cursor are skipped).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "leaves/base/result.h"
#include "leaves/http/message.h"
#include "leaves/log/event_log.h"
#include "leaves/realtime/hub.h"

namespace leaves::api {

// Cursor text: "p:o,p:o,..." = next offset per partition (missing partitions: 0).
result<std::vector<int64_t>> parse_cursor(std::string_view text, int32_t partitions);
std::string format_cursor(const std::vector<int64_t>& next);

// Parses ?tag= ?user= ?from= (and Last-Event-ID) and subscribes.
result<std::shared_ptr<http::stream_source>> open_stream(
    const http::request& req, const std::vector<std::pair<std::string, std::string>>& params,
    boost::asio::any_io_executor strand, log::event_log& log, realtime::hub& hub);

}  // namespace leaves::api
