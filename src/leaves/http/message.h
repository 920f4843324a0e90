// Transport-neutral request/response types. Handlers (api/) see these and never
// Beast, so the routing and handler code compiles fast and tests without sockets.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace leaves::http {

struct request {
  std::string method;  // "GET", ...
  std::string target;  // as received: path and query
  std::string path;    // percent-decoding is the router's job
  std::string query;   // without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::chrono::steady_clock::time_point received;
  // The address of the client's end of the connection ("127.0.0.1",
  // "::1"; empty when unknown, as in tests without sockets). Behind a
  // reverse proxy it is the proxy's.
  std::string peer;
  // Who sent it, as the API's authentication found (api/auth.cpp) before
  // any handler runs: the actor of the events it causes, and which leaves it
  // may see and change.
  struct caller_info {
    std::string actor = "anonymous";
    std::string email;
    int64_t user_id = 0;  // 0: anonymous
    // Limited to public leaves and, for a user (user_id > 0), its own: an
    // anonymous reader under --anonymous read, a user without the admin scope.
    bool limited = false;
    bool writes = false;  // the caller's token (or the anonymous policy) has the write scope
    bool sees(bool is_public, std::optional<int64_t> owner) const {
      return !limited || is_public || (user_id > 0 && owner == user_id);
    }
    // Only public leaves (an anonymous reader).
    bool public_only() const { return limited && user_id == 0; }
    // Narrows a query (a search or a list: its is_public and visible_to) to
    // the leaves this caller may see. False: the caller sees only public
    // leaves and asked for the others, whose answer is empty.
    template <class Query>
    [[nodiscard]] bool narrow(Query& q) const {
      if (public_only()) {
        if (q.is_public == false) return false;
        q.is_public = true;
      } else if (limited) {
        q.visible_to = user_id;
      }
      return true;
    }
  } caller;

  std::string_view header(std::string_view lower_name) const {
    for (const auto& [k, v] : headers) {
      if (k == lower_name) return v;
    }
    return {};
  }
};

// One message on a realtime stream.
struct stream_event {
  std::string id;     // SSE id (the resume cursor)
  std::string event;  // SSE event name
  std::string data;   // JSON
};

// The source of a long-lived stream response. Awaited on the connection's strand.
class stream_source {
 public:
  virtual ~stream_source() = default;
  // Awaited once by the handler before it answers (e.g. to read where "now"
  // is in the log without blocking the I/O thread).
  virtual boost::asio::awaitable<void> begin() { co_return; }
  // Waits up to `heartbeat` for messages; an empty result means "send a
  // heartbeat". Sets `end_reason` when the stream is over (after sending the
  // returned messages, the server sends the reason and closes).
  virtual boost::asio::awaitable<std::vector<stream_event>> next(std::chrono::milliseconds heartbeat,
                                                                 std::string& end_reason) = 0;
  // The client went away.
  virtual void closed() = 0;
};

// none: `body` is the answer. sse, websocket: `source` feeds a stream.
// chunked: a long answer produced piece by piece (each event's data is the
// next piece of the body; a non-empty end reason ends it), sent with chunked
// transfer coding, so its memory cost is one piece, not the whole body.
enum class stream_kind { none, sse, websocket, chunked };

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  stream_kind stream = stream_kind::none;
  std::shared_ptr<stream_source> source;
  std::string route = "unmatched";  // metrics label: the route pattern
};

// JSON error body {"error":{"code":...,"message":...}} with the given status.
response error_response(int status, std::string_view code, std::string_view message);

class handler {
 public:
  virtual ~handler() = default;
  virtual boost::asio::awaitable<response> handle(request& req) = 0;
};

}  // namespace leaves::http
