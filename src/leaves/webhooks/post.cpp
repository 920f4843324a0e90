#include "leaves/webhooks/post.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

#include "leaves/webhooks/address.h"

namespace leaves::webhooks {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxAnswerBytes = 64 * 1024;

template <class Stream>
asio::awaitable<post_result> exchange(Stream& s, http::request<http::string_body>& req) {
  post_result out;
  beast::error_code ec;
  co_await http::async_write(s, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out.error = "sending: " + ec.message();
    co_return out;
  }
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.body_limit(kMaxAnswerBytes);
  co_await http::async_read(s, buf, p, asio::redirect_error(asio::use_awaitable, ec));
  // An answer whose head arrived counts, even when its body is cut short.
  if (p.is_header_done()) {
    out.status = static_cast<int>(p.get().result_int());
    co_return out;
  }
  out.error = "reading the answer: " + ec.message();
  co_return out;
}

}  // namespace

asio::awaitable<post_result> post_json(std::string url, std::vector<std::pair<std::string, std::string>> headers,
                                       std::string body, post_options o) {
  post_result out;
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u || (u->scheme_id() != boost::urls::scheme::http && u->scheme_id() != boost::urls::scheme::https)) {
    out.error = "not an http or https URL";
    out.refused = true;
    co_return out;
  }
  const bool tls = u->scheme_id() == boost::urls::scheme::https;
  std::string host = u->host_address();
  std::string port = u->has_port() ? std::string(u->port()) : (tls ? "443" : "80");
  std::string target = std::string(u->encoded_path().empty() ? "/" : std::string(u->encoded_path()));
  if (u->has_query()) target += "?" + std::string(u->encoded_query());

  auto ex = co_await asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  tcp::resolver resolver(ex);
  beast::error_code ec;
  // The resolver has no deadline of its own: the system's resolver times out.
  auto found = co_await resolver.async_resolve(host, port, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out.error = "resolving " + host + ": " + ec.message();
    co_return out;
  }
  beast::tcp_stream stream(ex);
  std::string why_not;
  bool connected = false, tried = false;
  for (const auto& e : found) {
    const auto addr = e.endpoint().address();
    if (!o.allow_private) {
      if (auto why = internal_address(addr)) {
        if (!tried) why_not = host + " resolves to a " + *why + " address";
        continue;
      }
    }
    tried = true;
    stream.expires_at(deadline);
    co_await stream.async_connect(e.endpoint(), asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      connected = true;
      break;
    }
    why_not = "connecting to " + addr.to_string() + ": " + ec.message();
    stream.close();
  }
  if (!connected) {
    out.refused = !tried && !why_not.empty();  // every address was internal
    out.error = why_not.empty() ? "no address for " + host : why_not;
    if (out.refused) out.error += " (targets inside the network need --webhook-allow-private)";
    co_return out;
  }

  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, std::string(u->encoded_host_and_port()));
  req.set(http::field::user_agent, "leaves-webhooks/1");
  req.set(http::field::content_type, "application/json");
  req.set(http::field::connection, "close");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();

  if (!tls) {
    stream.expires_at(deadline);
    out = co_await exchange(stream, req);
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    co_return out;
  }
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_default_verify_paths();
  ctx.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> s(std::move(stream), ctx);
  if (!SSL_set_tlsext_host_name(s.native_handle(), host.c_str())) {
    out.error = "TLS: cannot set the server name";
    co_return out;
  }
  s.set_verify_callback(asio::ssl::host_name_verification(host));
  beast::get_lowest_layer(s).expires_at(deadline);
  co_await s.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out.error = "TLS handshake with " + host + ": " + ec.message();
    co_return out;
  }
  out = co_await exchange(s, req);
  // No wait for the peer's close_notify (a receiver that never sends one
  // would hold this webhook's sender until the deadline): just close.
  beast::get_lowest_layer(s).socket().close(ec);
  co_return out;
}

}  // namespace leaves::webhooks
