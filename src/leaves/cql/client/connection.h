// One CQL connection: a TCP (optionally TLS) socket speaking protocol v4,
// many requests in flight at once, each on its own stream id.
//
// Thread-safety: none. Every member is called on the connection's executor
// (a strand); the session makes sure of that.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "leaves/cql/error.h"
#include "leaves/cql/protocol/compression.h"
#include "leaves/cql/protocol/messages.h"

namespace cql {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

struct credentials {
  std::string username, password;
};

struct connection_options {
  std::string host;  // numeric address or name
  uint16_t port = 9042;
  std::optional<credentials> auth;
  std::shared_ptr<asio::ssl::context> tls;  // null: plain TCP
  bool verify_hostname = true;
  std::string tls_server_name;  // SNI and the name checked; default: host
  std::chrono::milliseconds connect_timeout{5000};
  size_t max_in_flight = 1024;  // stream ids used, at most 32768
  // Frame body compression asked for in STARTUP; refused at connect when the
  // node does not list it in SUPPORTED.
  protocol::compression compression = protocol::compression::none;
};

class connection : public std::enable_shared_from_this<connection> {
 public:
  using encoder = std::function<void(protocol::bytes&, int16_t stream)>;
  using event_handler = std::function<void(const protocol::event&)>;

  // Connects, negotiates (OPTIONS/STARTUP, authentication) and starts reading.
  static asio::awaitable<result<std::shared_ptr<connection>>> open(asio::any_io_executor ex, connection_options opts);

  // Sends one request and waits for its response until the deadline. A
  // timed-out request keeps its stream id until the late response arrives
  // (see abandoned()).
  asio::awaitable<result<protocol::response>> request(const encoder& enc, clock::time_point deadline);

  void set_event_handler(event_handler h) { on_event_ = std::move(h); }
  void close();
  bool is_open() const { return open_; }
  size_t in_flight() const { return slots_.size() - free_.size(); }
  // Stream ids held by requests that timed out and whose answers never came.
  // When they reach half of the ids the node is not answering on this
  // connection: it is closed (the session's pool opens a new one).
  size_t abandoned() const { return abandoned_; }
  const std::string& endpoint() const { return endpoint_; }
  const std::map<std::string, std::vector<std::string>>& supported() const { return supported_; }
  // Compression in use: requests after STARTUP are sent compressed and
  // compressed answers are accepted.
  protocol::compression compression() const { return compress_ ? opts_.compression : protocol::compression::none; }
  size_t frames_decompressed() const { return decompressed_; }

  explicit connection(asio::any_io_executor ex, connection_options opts);
  ~connection();

 private:
  struct pending {
    explicit pending(asio::any_io_executor ex) : timer(ex) {}
    asio::steady_timer timer;
    std::optional<result<protocol::response>> resp;
    bool abandoned = false;
  };

  asio::awaitable<status> connect_and_startup();
  static asio::awaitable<void> read_loop(std::shared_ptr<connection> self);
  static asio::awaitable<void> write_loop(std::shared_ptr<connection> self);
  void fail_all(const error& e);
  void dispatch(protocol::frame_header h, std::string body);

  asio::awaitable<size_t> read_some(asio::mutable_buffer b, boost::system::error_code& ec);
  asio::awaitable<void> write_all(asio::const_buffer b, boost::system::error_code& ec);

  asio::any_io_executor ex_;
  connection_options opts_;
  std::string endpoint_;
  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  bool open_ = false;
  bool writing_ = false;
  bool compress_ = false;  // STARTUP with compression has been queued
  size_t decompressed_ = 0;
  size_t abandoned_ = 0;
  std::string wqueue_, wbuf_;
  std::vector<std::shared_ptr<pending>> slots_;
  std::vector<int16_t> free_;
  asio::steady_timer stream_wait_;
  event_handler on_event_;
  std::map<std::string, std::vector<std::string>> supported_;
};

}  // namespace cql
