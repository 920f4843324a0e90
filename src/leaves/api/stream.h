// Realtime stream sources for SSE and WebSocket sessions: catch up from the
// log from a cursor, then follow the hub, with no gap and no duplicate at the
// hand-over (positions below the cursor are skipped).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "leaves/base/result.h"
#include "leaves/http/message.h"
#include "leaves/log/event_log.h"
#include "leaves/projector/progress.h"
#include "leaves/realtime/hub.h"
#include "leaves/search/query.h"
#include "leaves/store/read_store.h"

namespace leaves::api {

// Cursor text: "p:o,p:o,..." = next offset per partition (missing partitions: 0).
result<std::vector<int64_t>> parse_cursor(std::string_view text, int32_t partitions);
std::string format_cursor(const std::vector<int64_t>& next);

// Parses ?tag= ?user= ?from= (and Last-Event-ID) and subscribes.
// Live search (?q=QUERY&match=all|any): whether a leaf matches a query, by the
// search index's rules; null when search is off (q= then answers 503).
using leaf_matcher = std::function<result<bool>(const std::optional<search::node>&, const domain::leaf&)>;

// Whether the subscriber may still read: nullopt while it may, else why not
// (its token revoked or expired, its user disabled). Asked before every
// batch the stream sends; a refusal ends the stream (SSE `dropped`, WebSocket
// close) without sending the batch. Empty: the caller is anonymous.
using access_check = std::function<std::optional<std::string>()>;
// A collection's stream: whether a leaf (its state now) reaches the caller
// through the collection. A collection's own event that names a leaf is sent
// only then (the leaf's id is not revealed otherwise); needs `store`.
// `folded`: the progress of what decides (the user directory), waited on
// (at most a second) up to the event before deciding.
struct collection_leaf_check {
  std::function<bool(const domain::leaf&)> shows;
  projector::progress* folded = nullptr;
  explicit operator bool() const { return static_cast<bool>(shows); }
};

// Live search: the leaf as the subscriber sees it, applied before the query
// matches it (a signed-in caller's own starred and archived marks of
// another's leaf, read at each event). Empty: the leaf's own flags.
using leaf_view = std::function<void(domain::leaf&)>;

result<std::shared_ptr<http::stream_source>> open_stream(
    const http::request& req, const std::vector<std::pair<std::string, std::string>>& params,
    boost::asio::any_io_executor strand, log::event_log& log, realtime::hub& hub,
    store::leaf_queries* store = nullptr, const leaf_matcher* matcher = nullptr, access_check still_allowed = {},
    std::function<bool(const realtime::message&)> scope = {}, collection_leaf_check leaf_check = {},
    leaf_view as_seen = {});

}  // namespace leaves::api
