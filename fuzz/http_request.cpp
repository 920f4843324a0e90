// The HTTP request edge: arbitrary bytes through the Beast parser with the
// server's limits, then what session() does with a head and a request.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "leaves/http/request_head.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace bhttp = boost::beast::http;
  leaves::http::request_parser parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(1024 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  // Hands the bytes over in pieces, as a socket would; the parser takes what
  // it can and needs the rest again with more (need_more).
  std::string pending;
  size_t fed = 0;
  bool head_checked = false;
  while (!parser.is_done()) {
    if (fed < size) {
      const size_t step = std::min<size_t>(size - fed, 1 + (data[fed] % 97));
      pending.append(reinterpret_cast<const char*>(data + fed), step);
      fed += step;
    }
    const size_t n = parser.put(boost::asio::buffer(pending), ec);
    pending.erase(0, n);
    if (ec == bhttp::error::need_more) {
      ec = {};
      if (fed == size) break;  // the input ends inside an element
      continue;
    }
    if (ec) break;
    if (!head_checked && parser.is_header_done()) {
      head_checked = true;
      if (auto refused = leaves::http::refuse_head(parser)) {
        if (refused->status < 400 || refused->body.empty()) std::abort();
        return 0;
      }
    }
    if (n == 0 && fed == size) break;
  }
  if (ec || !parser.is_done()) return 0;
  const auto req = leaves::http::to_request(parser.get());
  // The path is the target up to '?', and always a prefix of it.
  if (req.target.compare(0, req.path.size(), req.path) != 0) std::abort();
  (void)leaves::http::method_label(req.method);
  return 0;
}
