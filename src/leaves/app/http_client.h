// A blocking HTTP/1.1 client for the commands that talk to a running server
// (import, export-site, users): one keep-alive connection, a stale one
// retried once. Sends the API token of LEAVES_TOKEN, when set, with every
// request (an environment variable, not an argument: `ps` shows arguments).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace leaves::app {

struct http_answer {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
};

class http_client {
 public:
  // `server`: http://HOST[:PORT]; ok() is false (and why() says why) for anything else.
  explicit http_client(const std::string& server);
  bool ok() const { return !host_.empty(); }
  const std::string& why() const { return why_; }
  // The URL's path, without a trailing slash: prefix of every target.
  const std::string& prefix() const { return prefix_; }

  // Sends one request; throws on transport errors. `body` empty: no body.
  // A 429 (the token's rate limit) is sent again after its Retry-After (at
  // most 60 s), up to 5 times; then the 429 is the answer.
  http_answer request(const std::string& method, const std::string& target, const std::string& body = {},
                      const std::string& user_agent = "leaves");

  // A GET whose body goes to `sink` piece by piece as it arrives (constant
  // memory at any size); `sink` returns false to stop. The answer's status
  // and headers, and the body only when it is not 2xx (capped at 64 KiB).
  // Waits out a 429 like request(). Throws on transport errors.
  http_answer stream_get(const std::string& target, const std::function<bool(std::string_view)>& sink,
                         const std::string& user_agent = "leaves");

 private:
  http_answer send(const std::string& method, const std::string& target, const std::string& body,
                   const std::string& user_agent);
  void close();
  boost::asio::io_context ioc_;
  std::string host_, port_, prefix_, why_, token_;
  boost::beast::tcp_stream stream_;
  bool connected_ = false;
};

}  // namespace leaves::app
