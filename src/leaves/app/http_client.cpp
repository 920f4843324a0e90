#include "leaves/app/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <algorithm>
#include <cctype>
#include <thread>
#include <cstdlib>

namespace leaves::app {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

http_client::http_client(const std::string& server) : stream_(ioc_) {
  auto url = boost::urls::parse_absolute_uri(server);
  if (!url || url->scheme() != "http" || url->host().empty()) {
    why_ = "the server must be an http:// URL, got '" + server + "'";
    return;
  }
  host_ = std::string(url->host());
  port_ = url->has_port() ? std::string(url->port()) : "80";
  prefix_ = std::string(url->encoded_path());
  while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
  if (const char* t = std::getenv("LEAVES_TOKEN"); t && *t) token_ = t;
}

http_answer http_client::request(const std::string& method, const std::string& target, const std::string& body,
                                 const std::string& user_agent) {
  // A token over its rate limit (429) waits what Retry-After says, a few
  // times, so an import paces itself instead of failing.
  for (int waited = 0;; ++waited) {
    http_answer a = send(method, target, body, user_agent);
    if (a.status != 429 || waited == 5) return a;
    int64_t secs = 1;
    for (const auto& [k, v] : a.headers) {
      if (k == "retry-after") secs = std::clamp<int64_t>(std::atoll(v.c_str()), 1, 60);
    }
    std::this_thread::sleep_for(std::chrono::seconds(secs));
  }
}

http_answer http_client::send(const std::string& method, const std::string& target, const std::string& body,
                              const std::string& user_agent) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (!connected_) {
        tcp::resolver r(ioc_);
        stream_.expires_after(std::chrono::seconds(10));
        stream_.connect(r.resolve(host_, port_));
        connected_ = true;
      }
      bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
      req.set(bhttp::field::host, host_);
      req.set(bhttp::field::user_agent, user_agent);
      req.set(bhttp::field::accept, "application/json");
      if (!token_.empty()) req.set(bhttp::field::authorization, "Bearer " + token_);
      if (!body.empty()) {
        req.set(bhttp::field::content_type, "application/json");
        req.body() = body;
      }
      req.prepare_payload();
      stream_.expires_after(std::chrono::seconds(120));
      bhttp::write(stream_, req);
      beast::flat_buffer buf;
      bhttp::response_parser<bhttp::string_body> res;
      res.body_limit(256 << 20);
      bhttp::read(stream_, buf, res);
      if (!res.get().keep_alive()) close();
      http_answer a;
      a.status = res.get().result_int();
      a.body = std::move(res.get().body());
      for (const auto& f : res.get()) {
        std::string name(f.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        a.headers.emplace_back(std::move(name), std::string(f.value()));
      }
      return a;
    } catch (const std::exception&) {
      close();
      if (attempt == 1) throw;  // a stale keep-alive connection gets one retry
    }
  }
  return {};
}

http_answer http_client::stream_get(const std::string& target, const std::function<bool(std::string_view)>& sink,
                                    const std::string& user_agent) {
  for (int waited = 0;; ++waited) {
    close();  // a fresh connection: a stopped stream leaves the old one unusable
    tcp::resolver r(ioc_);
    stream_.expires_after(std::chrono::seconds(10));
    stream_.connect(r.resolve(host_, port_));
    connected_ = true;
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
    req.set(bhttp::field::host, host_);
    req.set(bhttp::field::user_agent, user_agent);
    if (!token_.empty()) req.set(bhttp::field::authorization, "Bearer " + token_);
    stream_.expires_after(std::chrono::seconds(120));
    bhttp::write(stream_, req);
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::buffer_body> res;
    res.body_limit(boost::none);
    bhttp::read_header(stream_, buf, res);
    http_answer a;
    a.status = res.get().result_int();
    for (const auto& f : res.get()) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      a.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    const bool ok = a.status >= 200 && a.status < 300;
    char piece[64 * 1024];
    while (!res.is_done()) {
      res.get().body().data = piece;
      res.get().body().size = sizeof(piece);
      stream_.expires_after(std::chrono::seconds(120));
      beast::error_code ec;
      bhttp::read(stream_, buf, res, ec);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) throw beast::system_error(ec);
      const size_t n = sizeof(piece) - res.get().body().size;
      if (ok) {
        if (n && !sink(std::string_view(piece, n))) break;
      } else if (a.body.size() < 64 * 1024) {
        a.body.append(piece, std::min(n, 64 * 1024 - a.body.size()));
      }
    }
    close();
    if (a.status != 429 || waited == 5) return a;
    int64_t secs = 1;
    for (const auto& [k, v] : a.headers) {
      if (k == "retry-after") secs = std::clamp<int64_t>(std::atoll(v.c_str()), 1, 60);
    }
    std::this_thread::sleep_for(std::chrono::seconds(secs));
  }
}

void http_client::close() {
  beast::error_code ec;
  stream_.socket().close(ec);
  connected_ = false;
}

}  // namespace leaves::app
