#include "leaves/http/server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <array>
#include <optional>
#include <thread>

#include "leaves/base/log.h"
#include "leaves/http/request_head.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;

namespace leaves::http {

response error_response(int status, std::string_view code, std::string_view message) {
  response r;
  r.status = status;
  r.body = "{\"error\":{\"code\":" + boost::json::serialize(boost::json::string(code)) +
           ",\"message\":" + boost::json::serialize(boost::json::string(message)) + "}}";
  return r;
}

struct server::connection {
  asio::any_io_executor strand;
  beast::tcp_stream* stream = nullptr;  // valid while the session runs
  bool in_request = false;              // touched on the strand only
  bool streaming = false;
};

namespace {

bhttp::response<bhttp::string_body> to_beast(response& r, unsigned version, bool keep_alive) {
  bhttp::response<bhttp::string_body> br{static_cast<bhttp::status>(r.status), version};
  br.set(bhttp::field::server, "leaves");
  if (!r.body.empty() || r.status != 204) br.set(bhttp::field::content_type, r.content_type);
  for (auto& [k, v] : r.headers) br.set(k, v);
  br.body() = std::move(r.body);
  br.keep_alive(keep_alive);
  br.prepare_payload();
  return br;
}

std::string sse_frame(const stream_event& e) {
  std::string out;
  out.reserve(e.data.size() + e.id.size() + e.event.size() + 24);
  if (!e.id.empty()) out += "id: " + e.id + "\n";
  if (!e.event.empty()) out += "event: " + e.event + "\n";
  out += "data: " + e.data + "\n\n";
  return out;
}

// Watches an SSE connection for the client's close: its subscription (and
// slot) is released at once, not at the next heartbeat write. Clients send
// nothing on an SSE stream; whatever they send is dropped.
asio::awaitable<void> sse_watch(beast::tcp_stream& stream, std::shared_ptr<stream_source> source,
                                std::shared_ptr<bool> gone) {
  char buf[512];
  beast::error_code ec;
  for (;;) {
    co_await stream.socket().async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    // serve_sse sets `gone` before it returns and the stream goes away (both
    // run on the connection's strand): never touch the stream after that.
    if (ec || *gone) break;
  }
  if (!*gone) {
    *gone = true;
    source->closed();
  }
}

// A long answer written piece by piece as chunks. A failure mid-way ends the
// connection without the last chunk, so a client sees a truncated body, never
// a complete-looking wrong one.
asio::awaitable<bool> serve_chunked(beast::tcp_stream& stream, response res, unsigned version, bool keep_alive,
                                    std::chrono::milliseconds write_timeout) {
  bhttp::response<bhttp::empty_body> head{static_cast<bhttp::status>(res.status), version};
  head.set(bhttp::field::server, "leaves");
  head.set(bhttp::field::content_type, res.content_type);
  for (auto& [k, v] : res.headers) head.set(k, v);
  // HTTP/1.0 has no chunked coding: the body ends when the connection does.
  const bool chunked = version >= 11;
  if (chunked) head.chunked(true);
  head.keep_alive(keep_alive && chunked);
  bhttp::response_serializer<bhttp::empty_body> sr{head};
  beast::error_code ec;
  stream.expires_after(write_timeout);
  co_await bhttp::async_write_header(stream, sr, asio::redirect_error(asio::use_awaitable, ec));
  bool complete = false;
  while (!ec) {
    std::string end;
    auto pieces = co_await res.source->next(std::chrono::milliseconds(0), end);
    for (const auto& p : pieces) {
      if (p.data.empty()) continue;
      stream.expires_after(write_timeout);  // a client that stops reading is cut off
      if (chunked) {
        co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(p.data)),
                                   asio::redirect_error(asio::use_awaitable, ec));
      } else {
        co_await asio::async_write(stream, asio::buffer(p.data), asio::redirect_error(asio::use_awaitable, ec));
      }
      if (ec) break;
    }
    if (ec || end.empty()) continue;
    if (end == "done") {
      stream.expires_after(write_timeout);
      if (chunked) {
        co_await asio::async_write(stream, bhttp::make_chunk_last(), asio::redirect_error(asio::use_awaitable, ec));
      }
      complete = !ec && chunked;  // HTTP/1.0: complete, but the connection must close
    }
    break;
  }
  res.source->closed();
  co_return complete;
}

// A WebSocket upgrade request leaves checks itself, so that a bad one gets a
// JSON error like every other request: version 13 and a key that is the
// base64 of 16 bytes (RFC 6455 4.2.1).
std::optional<response> refuse_ws_handshake(const bhttp::request<bhttp::string_body>& req) {
  if (req[bhttp::field::sec_websocket_version] != "13") {
    auto r = error_response(426, "websocket_version", "Sec-WebSocket-Version must be 13");
    r.headers.emplace_back("Sec-WebSocket-Version", "13");
    return r;
  }
  const auto key = req[bhttp::field::sec_websocket_key];
  bool ok = key.size() == 24 && key.substr(22) == "==";
  for (size_t i = 0; ok && i < 22; ++i) {
    const char c = key[i];
    ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
  }
  if (!ok) return error_response(400, "websocket_handshake", "Sec-WebSocket-Key must be the base64 of 16 bytes");
  // A browser names the page that opens a WebSocket in Origin, and sends the
  // site's cookies with it: a page of another site must not open a stream
  // with the reader's session (cross-site WebSocket hijacking). Clients that
  // are not browsers send no Origin.
  if (const auto origin = req[bhttp::field::origin]; !origin.empty()) {
    const auto scheme_end = origin.find("://");
    const auto origin_host = scheme_end == std::string_view::npos ? origin : origin.substr(scheme_end + 3);
    const auto host = req[bhttp::field::host];
    const auto forwarded = req["X-Forwarded-Host"];
    if (origin_host != host && (forwarded.empty() || origin_host != forwarded)) {
      return error_response(403, "websocket_origin",
                            "a WebSocket may be opened only by pages of this server (Origin " +
                                std::string(origin.substr(0, 200)) + " is not Host " + std::string(host.substr(0, 200)) +
                                ")");
    }
  }
  return std::nullopt;
}

asio::awaitable<void> serve_sse(beast::tcp_stream& stream, response res, unsigned version,
                                std::chrono::milliseconds heartbeat) {
  bhttp::response<bhttp::empty_body> head{bhttp::status::ok, version};
  head.set(bhttp::field::server, "leaves");
  head.set(bhttp::field::content_type, "text/event-stream");
  head.set(bhttp::field::cache_control, "no-cache");
  head.keep_alive(false);  // the body ends when the connection does
  bhttp::response_serializer<bhttp::empty_body> sr{head};
  beast::error_code ec;
  stream.expires_never();
  co_await bhttp::async_write_header(stream, sr, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  std::string out = ": stream open\n\n";
  auto gone = std::make_shared<bool>(false);
  asio::co_spawn(co_await asio::this_coro::executor, sse_watch(stream, res.source, gone), asio::detached);
  while (!*gone) {
    stream.expires_after(heartbeat * 2);  // a client that stops reading is cut off
    co_await asio::async_write(stream, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    std::string end;
    auto events = co_await res.source->next(heartbeat, end);
    if (*gone) break;
    out.clear();
    for (const auto& e : events) out += sse_frame(e);
    if (events.empty() && end.empty()) out = ": keepalive\n\n";
    if (!end.empty()) {
      out += "event: dropped\ndata: " +
             boost::json::serialize(boost::json::object{{"type", "dropped"}, {"reason", end}}) + "\n\n";
      stream.expires_after(std::chrono::seconds(5));
      co_await asio::async_write(stream, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
      break;
    }
  }
  if (!*gone) {
    *gone = true;
    res.source->closed();
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

asio::awaitable<void> ws_reader(std::shared_ptr<websocket::stream<beast::tcp_stream>> ws,
                                std::shared_ptr<stream_source> source, std::shared_ptr<bool> gone) {
  beast::flat_buffer buf;
  beast::error_code ec;
  for (;;) {
    buf.clear();
    co_await ws->async_read(buf, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;  // clients' messages are ignored; close or error ends the stream
  }
  *gone = true;
  source->closed();
}

asio::awaitable<void> serve_ws(beast::tcp_stream& stream, bhttp::request<bhttp::string_body> breq,
                               response res, std::chrono::milliseconds heartbeat) {
  auto ws = std::make_shared<websocket::stream<beast::tcp_stream>>(std::move(stream));
  auto opt = websocket::stream_base::timeout::suggested(beast::role_type::server);
  opt.keep_alive_pings = true;
  ws->set_option(opt);
  ws->read_message_max(64 * 1024);
  beast::error_code ec;
  co_await ws->async_accept(breq, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  ws->text(true);
  auto gone = std::make_shared<bool>(false);
  asio::co_spawn(co_await asio::this_coro::executor, ws_reader(ws, res.source, gone), asio::detached);
  while (!*gone) {
    std::string end;
    auto events = co_await res.source->next(heartbeat, end);
    if (*gone) break;
    for (const auto& e : events) {
      co_await ws->async_write(asio::buffer(e.data), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
    if (ec) break;
    if (!end.empty()) {
      auto msg = boost::json::serialize(boost::json::object{{"type", "dropped"}, {"reason", end}});
      co_await ws->async_write(asio::buffer(msg), asio::redirect_error(asio::use_awaitable, ec));
      co_await ws->async_close(websocket::close_reason(websocket::close_code::going_away, "dropped"),
                               asio::redirect_error(asio::use_awaitable, ec));
      break;
    }
  }
  res.source->closed();
}

struct session_args {
  handler* h;
  metrics* m;
  const server_options* opts;
  const std::atomic<bool>* stopping;
  std::atomic<size_t>* buffered;  // body bytes reserved by requests being read, all connections
};

// A reservation of body bytes against server_options::max_buffered_body_bytes.
struct body_reservation {
  std::atomic<size_t>* total = nullptr;
  size_t bytes = 0;
  bool take(std::atomic<size_t>* t, size_t n, size_t cap) {
    if (n == 0) return true;
    if (t->fetch_add(n) + n > cap) {
      t->fetch_sub(n);
      return false;
    }
    total = t;
    bytes = n;
    return true;
  }
  void release() {
    if (total) total->fetch_sub(bytes);
    total = nullptr;
  }
  ~body_reservation() { release(); }
};

// Reads with a deadline that cancels the read instead of closing the socket
// (beast's own stream timeout closes it), so a 408 can still be written.
template <class Op>
asio::awaitable<bool> read_with_deadline(beast::tcp_stream& stream, std::chrono::milliseconds limit, Op op,
                                         beast::error_code& ec) {
  struct state {
    bool fired = false, done = false;
  };
  auto st = std::make_shared<state>();
  asio::steady_timer timer(stream.get_executor());
  timer.expires_after(limit);
  // Both run on the connection's strand; a handler that was already queued
  // when the read finished sees `done` and leaves the stream alone.
  timer.async_wait([st, &stream](const boost::system::error_code& e) {
    if (!e && !st->done) {
      st->fired = true;
      stream.socket().cancel();
    }
  });
  stream.expires_never();
  co_await op(asio::redirect_error(asio::use_awaitable, ec));
  st->done = true;
  timer.cancel();
  co_return st->fired;
}

// A lingering close: reads and drops what the client still sends, until it
// closes its side, for at most kLingerTime and kLingerBytes.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 64 * 1024 * 1024;

asio::awaitable<void> drain_before_close(beast::tcp_stream& stream) {
  std::array<char, 16 * 1024> scratch;
  stream.expires_after(kLingerTime);
  size_t total = 0;
  beast::error_code ec;
  while (total < kLingerBytes) {
    const size_t n =
        co_await stream.async_read_some(asio::buffer(scratch), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;  // EOF (the client is done), the deadline, or an error
    total += n;
  }
}

asio::awaitable<void> session(tcp::socket sock, session_args a, std::shared_ptr<server::connection> conn) {
  std::string peer;
  {
    beast::error_code pec;
    auto ep = sock.remote_endpoint(pec);
    if (!pec) {
      auto addr = ep.address();
      if (addr.is_v6() && addr.to_v6().is_v4_mapped()) addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
      peer = addr.to_string();
    }
  }
  beast::tcp_stream stream(std::move(sock));
  conn->stream = &stream;
  beast::flat_buffer buffer;  // bounded by the parser's header and body limits
  beast::error_code ec;
  bool first = true;
  for (;;) {
    if (a.stopping->load()) break;
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(a.opts->header_limit));
    parser.body_limit(a.opts->body_limit);
    // Idle keep-alive wait for the first byte, then the request timeout for the rest.
    const auto head_limit = first ? a.opts->request_timeout : a.opts->idle_timeout;
    first = false;
    conn->in_request = false;
    bool timed_out = co_await read_with_deadline(
        stream, head_limit,
        [&](auto token) { return bhttp::async_read_header(stream, buffer, parser, std::move(token)); }, ec);
    conn->in_request = true;
    // A timeout with part of a request read answers 408; an idle one closes
    // quietly (an unsolicited 408 could be read as the answer to a request a
    // client sends on the connection at the same moment).
    const bool partial = buffer.size() > 0 || parser.got_some();
    std::optional<response> refused;
    body_reservation reserved;
    if (!ec) refused = refuse_head(parser);
    if (!ec && !refused && !parser.is_done()) {
      const auto len = parser.content_length();
      // At most the whole budget: a body limit above it must not refuse every upload.
      const size_t want = std::min(len ? static_cast<size_t>(*len) : a.opts->body_limit,
                                   a.opts->max_buffered_body_bytes);
      if (!reserved.take(a.buffered, want, a.opts->max_buffered_body_bytes)) {
        refused = error_response(503, "unavailable",
                                 "the server is reading too many request bodies at once; retry shortly");
      }
    }
    if (!ec && !refused && !parser.is_done()) {
      if (lower(parser.get()[bhttp::field::expect]) == "100-continue") {
        static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        stream.expires_after(std::chrono::seconds(5));
        co_await asio::async_write(stream, asio::buffer(kContinue), asio::redirect_error(asio::use_awaitable, ec));
      }
      if (!ec) {
        timed_out = co_await read_with_deadline(
            stream, a.opts->request_timeout,
            [&](auto token) { return bhttp::async_read(stream, buffer, parser, std::move(token)); }, ec);
      }
    }
    if (ec || refused) {
      response err;
      if (refused) {
        err = std::move(*refused);
      } else if (timed_out && (partial || parser.got_some()) && !a.stopping->load()) {
        err = error_response(408, "request_timeout", "the request was not received within " +
                                                         std::to_string(a.opts->request_timeout.count()) + " ms");
      } else if (ec == bhttp::error::header_limit) {
        err = error_response(431, "headers_too_large", "request headers exceed " +
                                                           std::to_string(a.opts->header_limit) + " bytes");
      } else if (ec == bhttp::error::body_limit) {
        err = error_response(413, "body_too_large",
                             "request body exceeds " + std::to_string(a.opts->body_limit) + " bytes");
      } else if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || timed_out ||
                 ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
                 ec == asio::error::eof) {
        break;  // client went away, idled out, or we are stopping
      } else {
        err = error_response(400, "bad_request", "malformed HTTP request: " + ec.message());
      }
      a.m->requests.inc("route=\"invalid\",method=\"\",status=\"" + std::to_string(err.status) + "\"");
      auto br = to_beast(err, 11, false);
      stream.expires_after(std::chrono::seconds(5));
      co_await bhttp::async_write(stream, br, asio::redirect_error(asio::use_awaitable, ec));
      // The client may still be sending the body we refused: closing with
      // unread bytes makes the kernel answer with a reset, which can destroy
      // the error response before the client reads it.
      if (!ec) {
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
        co_await drain_before_close(stream);
        conn->stream = nullptr;
        co_return;
      }
      break;
    }
    auto breq = parser.release();
    request req = to_request(breq);
    req.peer = peer;
    response res = co_await a.h->handle(req);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - req.received).count();
    reserved.release();  // the body is the handler's now, and done with
    a.m->requests.inc("route=\"" + res.route + "\",method=\"" + std::string(method_label(req.method)) +
                      "\",status=\"" +
                      std::to_string(res.stream != stream_kind::none ? 200 : res.status) + "\"");
    a.m->latency.observe("route=\"" + res.route + "\",status=\"" + std::to_string(res.status) + "\"", secs);
    if (res.stream == stream_kind::sse) {
      conn->streaming = true;
      co_await serve_sse(stream, std::move(res), breq.version(), a.opts->heartbeat);
      conn->stream = nullptr;
      co_return;
    }
    if (res.stream == stream_kind::chunked) {
      const bool keep_alive = breq.keep_alive() && !a.stopping->load();
      const bool complete =
          co_await serve_chunked(stream, std::move(res), breq.version(), keep_alive, a.opts->request_timeout);
      if (complete && keep_alive) continue;
      break;
    }
    if (res.stream == stream_kind::websocket) {
      std::optional<response> refused;
      if (!websocket::is_upgrade(breq)) {
        refused = error_response(400, "websocket_required", "this endpoint needs a WebSocket upgrade request");
      } else {
        refused = refuse_ws_handshake(breq);
      }
      if (refused) {
        res.source->closed();  // its subscription was made for a stream that will not be
        res = std::move(*refused);
      } else {
        conn->streaming = true;
        conn->stream = nullptr;  // moved into the WebSocket
        co_await serve_ws(stream, std::move(breq), std::move(res), a.opts->heartbeat);
        co_return;
      }
    }
    const bool keep_alive = breq.keep_alive() && !a.stopping->load();
    auto out = to_beast(res, breq.version(), keep_alive);
    stream.expires_after(a.opts->request_timeout);
    co_await bhttp::async_write(stream, out, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !keep_alive) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  conn->stream = nullptr;
}

}  // namespace

server::server(asio::io_context& ioc, server_options opts, handler& h, metrics& m)
    : ioc_(ioc), opts_(std::move(opts)), handler_(h), metrics_(m), acceptor_(ioc) {}

server::~server() = default;

result<uint16_t> server::listen() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(opts_.host, ec);
  if (ec) return make_error(errc::invalid_argument, "bad listen address '" + opts_.host + "'");
  tcp::endpoint ep{addr, opts_.port};
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(errc::unavailable, "cannot listen on " + opts_.host + ":" +
                                             std::to_string(opts_.port) + ": " + ec.message());
  }
  return acceptor_.local_endpoint().port();
}

void server::start() { asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached); }

asio::awaitable<void> server::accept_loop() {
  for (;;) {
    auto strand = asio::make_strand(ioc_);
    tcp::socket sock(strand);
    boost::system::error_code ec;
    co_await acceptor_.async_accept(sock, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) co_return;
      log_warn("http", "accept failed: " + ec.message());
      continue;
    }
    if (connections_.load() >= opts_.max_connections) {
      sock.close(ec);  // over the limit: refuse rather than degrade everyone
      continue;
    }
    sock.set_option(tcp::no_delay(true), ec);
    auto conn = std::make_shared<connection>();
    conn->strand = strand;
    {
      std::lock_guard lk(mu_);
      live_.insert(conn);
    }
    ++connections_;
    asio::co_spawn(strand,
                   session(std::move(sock), {&handler_, &metrics_, &opts_, &stopping_, &buffered_}, conn),
                   [this, conn](std::exception_ptr e) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         log_error("http", std::string("connection failed: ") + ex.what());
                       }
                     }
                     {
                       std::lock_guard lk(mu_);
                       live_.erase(conn);
                     }
                     --connections_;
                   });
  }
}

void server::stop() {
  if (stopping_.exchange(true)) return;
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
  });
  std::lock_guard lk(mu_);
  for (const auto& c : live_) {
    asio::post(c->strand, [c] {
      // Idle keep-alive connections end now; requests in flight finish first.
      if (c->stream && !c->in_request) c->stream->cancel();
    });
  }
}

bool server::wait_drained(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (connections_.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace leaves::http
