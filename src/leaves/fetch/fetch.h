// One page fetched from a URL a user saved, for enrichment (docs/fetch.md):
// libcurl with TLS verification, gzip/brotli/zstd, at most `max_redirects`
// redirects (http and https only), connect and total timeouts, a cap on the
// decoded body, no proxy from the environment, and a User-Agent naming leaves.
//
// SSRF: every socket libcurl opens, for the first request and for each
// redirect, goes through a check of the address it is about to connect to
// (webhooks/address.h: loopback, private, link-local, CGNAT, multicast,
// reserved and unspecified refused, IPv4 inside IPv6 judged as IPv4) unless
// `allow_private`, or the address is in one of `allowed_networks` (an
// intranet's own range, allowed one by one). The check is on the
// connection's own address, so a name that resolves to something else the
// second time (DNS rebinding) is caught.
//
// Blocking: run it on a worker thread, never on an I/O thread.
#pragma once

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "leaves/base/result.h"

namespace leaves::fetch {

// An address range: "10.20.0.0/16", "fd00::/8", or one address ("10.1.2.3").
struct network {
  boost::asio::ip::address address;  // its first bits are the range's
  unsigned prefix = 0;               // bits that must match
  bool contains(const boost::asio::ip::address& a) const;
};
result<network> parse_network(std::string_view text);

struct fetch_options {
  bool allow_private = false;
  std::vector<network> allowed_networks;  // internal ranges fetched all the same
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{20000};
  size_t max_body_bytes = 5 * 1024 * 1024;
  long max_redirects = 5;
  std::string user_agent = "leaves/0.1 (knowledge base; +https://github.com/leaves)";
  // When set and true, a fetch in progress ends at once ("cancelled").
  const std::atomic<bool>* cancel = nullptr;
};

struct fetch_result {
  // What went wrong, empty when an answer came (whatever its status).
  std::string error;
  // The error is an internal target refused (not worth retrying).
  bool refused = false;
  // Worth trying again later: a timeout, a connection failure, a 5xx or 429.
  bool retryable = false;
  long http_status = 0;
  std::string final_url;     // after redirects
  int redirects = 0;
  std::string mimetype;      // of the answer, lower-cased, without parameters
  std::string charset;       // from Content-Type, lower-cased, may be empty
  std::optional<std::chrono::seconds> retry_after;  // from a 429 or 503
  std::string body;          // decoded (gzip, br, zstd), at most max_body_bytes
  bool ok() const { return error.empty() && http_status >= 200 && http_status < 300; }
};

fetch_result fetch_url(const std::string& url, const fetch_options& o);

// `body` in `charset` (a label such as "iso-8859-1" or "windows-1252"; empty
// or unknown: UTF-8) as valid UTF-8; bytes that do not decode become U+FFFD.
std::string to_utf8(const std::string& body, const std::string& charset);

// The charset an HTML document declares in its first 1024 bytes (<meta
// charset> or <meta http-equiv=Content-Type content="...; charset=...">),
// lower-cased, or empty.
std::string sniff_charset(const std::string& html);

}  // namespace leaves::fetch
