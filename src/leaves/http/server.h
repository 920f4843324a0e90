// HTTP/1.1 server on Boost.Beast with C++20 coroutines. One coroutine per
// connection, each on its own strand; keep-alive; bounded headers and bodies;
// read timeouts so slow or half-open clients cannot hold a connection; SSE and
// WebSocket streams for handlers that return a stream_source.
//
// stop() closes the listener, closes idle connections and lets requests in
// flight finish; wait_drained() waits for the last connection to end.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "leaves/base/result.h"
#include "leaves/http/message.h"
#include "leaves/http/metrics.h"

namespace leaves::http {

struct server_options {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  size_t body_limit = 1024 * 1024;
  size_t header_limit = 16 * 1024;
  std::chrono::milliseconds request_timeout{30000};  // to read one request
  std::chrono::milliseconds idle_timeout{60000};     // keep-alive between requests
  std::chrono::milliseconds heartbeat{15000};        // SSE comment / WebSocket ping
  size_t max_connections = 10000;                    // more are accepted and closed at once
  size_t max_buffered_body_bytes = 256 * 1024 * 1024;  // request bodies being read, all connections
};

class server {
 public:
  server(boost::asio::io_context& ioc, server_options opts, handler& h, metrics& m);
  ~server();
  // Binds and listens; returns the bound port (useful with port 0).
  result<uint16_t> listen();
  void start();
  void stop();
  // Blocks until every connection ended or the timeout passed; returns whether drained.
  bool wait_drained(std::chrono::milliseconds timeout);
  size_t connections() const { return connections_.load(); }

  struct connection;  // per-connection state shared with stop()

 private:
  boost::asio::awaitable<void> accept_loop();

  boost::asio::io_context& ioc_;
  server_options opts_;
  handler& handler_;
  metrics& metrics_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> connections_{0};
  std::atomic<size_t> buffered_{0};  // body bytes reserved by requests being read
  std::mutex mu_;
  std::set<std::shared_ptr<connection>> live_;
};

}  // namespace leaves::http
