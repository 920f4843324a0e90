#include "leaves/cql/client/connection.h"

#include <openssl/ssl.h>

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace cql {

using namespace std::chrono_literals;
using boost::system::error_code;

namespace {
inline auto use_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }
}  // namespace

connection::connection(asio::any_io_executor ex, connection_options opts)
    : ex_(ex), opts_(std::move(opts)), socket_(ex), stream_wait_(ex) {
  endpoint_ = opts_.host + ":" + std::to_string(opts_.port);
  size_t n = std::clamp<size_t>(opts_.max_in_flight, 1, 32768);
  slots_.resize(n);
  free_.reserve(n);
  for (size_t i = n; i > 0; --i) free_.push_back(static_cast<int16_t>(i - 1));
}

connection::~connection() = default;

asio::awaitable<result<std::shared_ptr<connection>>> connection::open(asio::any_io_executor ex,
                                                                        connection_options opts) {
  auto c = std::make_shared<connection>(ex, std::move(opts));
  auto st = co_await c->connect_and_startup();
  if (!st) {
    c->close();
    co_return st.err();
  }
  co_return c;
}

asio::awaitable<status> connection::connect_and_startup() {
  error_code ec;
  asio::ip::tcp::resolver resolver(ex_);
  auto eps = co_await resolver.async_resolve(opts_.host, std::to_string(opts_.port), use_ec(ec));
  if (ec) co_return make_error(error_kind::io, "resolving " + endpoint_ + ": " + ec.message());

  // Connect with a deadline: a timer closes the socket if it fires first.
  asio::steady_timer guard(ex_);
  guard.expires_after(opts_.connect_timeout);
  bool timed_out = false;
  guard.async_wait([this, &timed_out](error_code e) {
    if (!e) {
      timed_out = true;
      error_code ignored;
      socket_.close(ignored);
    }
  });
  co_await asio::async_connect(socket_, eps, use_ec(ec));
  if (ec || timed_out) {
    guard.cancel();
    co_return make_error(error_kind::io, "connecting to " + endpoint_ + ": " + (timed_out ? "timed out" : ec.message()));
  }
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);

  if (opts_.tls) {
    tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *opts_.tls);
    std::string name = opts_.tls_server_name.empty() ? opts_.host : opts_.tls_server_name;
    SSL_set_tlsext_host_name(tls_->native_handle(), name.c_str());
    if (opts_.verify_hostname) tls_->set_verify_callback(asio::ssl::host_name_verification(name));
    co_await tls_->async_handshake(asio::ssl::stream_base::client, use_ec(ec));
    if (ec || timed_out) {
      guard.cancel();
      co_return make_error(error_kind::io, "TLS handshake with " + endpoint_ + ": " + (timed_out ? "timed out" : ec.message()));
    }
  }
  guard.cancel();
  open_ = true;
  asio::co_spawn(ex_, read_loop(shared_from_this()), asio::detached);

  auto deadline = clock::now() + opts_.connect_timeout;
  auto sup = co_await request([](protocol::bytes& out, int16_t s) { protocol::encode_options(out, s); }, deadline);
  if (!sup) co_return sup.err();
  if (auto* s = std::get_if<protocol::supported>(&sup->body)) supported_ = s->options;

  std::map<std::string, std::string> startup{{"CQL_VERSION", "3.0.0"}, {"DRIVER_NAME", "leaves-cql"}};
  if (opts_.compression != protocol::compression::none) {
    const std::string want = protocol::compression_name(opts_.compression);
    const auto it = supported_.find("COMPRESSION");
    const std::vector<std::string> offered = it == supported_.end() ? std::vector<std::string>{} : it->second;
    if (std::find(offered.begin(), offered.end(), want) == offered.end()) {
      std::string list;
      for (const auto& o : offered) list += (list.empty() ? "" : ", ") + o;
      co_return make_error(error_kind::invalid, endpoint_ + " does not offer " + want + " compression (it offers: " +
                                                    (list.empty() ? "none" : list) + ")");
    }
    startup["COMPRESSION"] = want;
  }
  // STARTUP itself is never compressed; every request after it is, and the
  // node may compress anything from its answer to STARTUP on.
  auto resp = co_await request(
      [this, &startup](protocol::bytes& out, int16_t s) {
        protocol::encode_startup(out, s, startup);
        compress_ = opts_.compression != protocol::compression::none;
      },
      deadline);
  if (!resp) co_return resp.err();
  if (auto* e = std::get_if<error>(&resp->body)) co_return *e;
  if (std::holds_alternative<protocol::ready>(resp->body)) co_return done{};
  auto* auth = std::get_if<protocol::authenticate>(&resp->body);
  if (!auth) co_return make_error(error_kind::protocol, "unexpected answer to STARTUP from " + endpoint_);
  if (!opts_.auth)
    co_return make_error(error_kind::invalid,
                         endpoint_ + " requires authentication (" + auth->authenticator + "); no username and password were given");
  // SASL PLAIN as PasswordAuthenticator expects it: \0user\0password.
  std::string token;
  token.push_back('\0');
  token += opts_.auth->username;
  token.push_back('\0');
  token += opts_.auth->password;
  auto ar = co_await request([&token](protocol::bytes& out, int16_t s) { protocol::encode_auth_response(out, s, token); }, deadline);
  if (!ar) co_return ar.err();
  if (auto* e = std::get_if<error>(&ar->body)) co_return *e;
  if (std::holds_alternative<protocol::auth_success>(ar->body)) co_return done{};
  co_return make_error(error_kind::protocol, "authentication with " + endpoint_ + " asked for another round, which PasswordAuthenticator never does");
}

asio::awaitable<result<protocol::response>> connection::request(const encoder& enc, clock::time_point deadline) {
  while (free_.empty()) {  // every stream id busy: wait (bounded by the deadline)
    if (!open_) co_return make_error(error_kind::io, "connection to " + endpoint_ + " is closed");
    if (clock::now() >= deadline) co_return make_error(error_kind::timeout, "no free stream id on " + endpoint_ + " before the deadline");
    asio::steady_timer t(ex_, 1ms);
    co_await t.async_wait(asio::use_awaitable);
  }
  if (!open_) co_return make_error(error_kind::io, "connection to " + endpoint_ + " is closed");
  int16_t id = free_.back();
  free_.pop_back();
  auto p = std::make_shared<pending>(ex_);
  slots_[static_cast<size_t>(id)] = p;
  const bool compress = compress_;
  const size_t frame_at = wqueue_.size();
  enc(wqueue_, id);
  if (compress) protocol::compress_frame(wqueue_, frame_at);
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(ex_, write_loop(shared_from_this()), asio::detached);
  }
  p->timer.expires_at(deadline);
  error_code ec;
  co_await p->timer.async_wait(use_ec(ec));
  if (p->resp) co_return std::move(*p->resp);
  p->abandoned = true;  // the slot is released when (if) the response arrives
  if (++abandoned_ * 2 >= slots_.size() && open_)
    fail_all(make_error(error_kind::io, std::to_string(abandoned_) + " requests on " + endpoint_ +
                                            " timed out without an answer; closing the connection"));
  co_return make_error(error_kind::timeout, "no response from " + endpoint_ + " before the deadline");
}

asio::awaitable<void> connection::write_loop(std::shared_ptr<connection> self) {
  while (!self->wqueue_.empty() && self->open_) {
    self->wbuf_.clear();
    std::swap(self->wbuf_, self->wqueue_);
    error_code ec;
    co_await self->write_all(asio::buffer(self->wbuf_), ec);
    if (ec) {
      self->fail_all(make_error(error_kind::io, "writing to " + self->endpoint_ + ": " + ec.message()));
      break;
    }
  }
  self->writing_ = false;
}

asio::awaitable<void> connection::read_loop(std::shared_ptr<connection> self) {
  std::string buf(64 * 1024, '\0');
  size_t begin = 0, end = 0;
  while (self->open_) {
    // Parse every complete frame in the buffer.
    while (end - begin >= protocol::header_size) {
      std::string why;
      auto h = protocol::decode_header(std::string_view(buf).substr(begin, protocol::header_size), &why);
      if (!h) {
        self->fail_all(make_error(error_kind::protocol, "from " + self->endpoint_ + ": " + why));
        co_return;
      }
      size_t need = protocol::header_size + h->length;
      if (end - begin < need) {
        if (buf.size() < need) {  // grow for a large frame, keeping what we have
          std::string bigger(need, '\0');
          bigger.replace(0, end - begin, buf, begin, end - begin);
          buf.swap(bigger);
          end -= begin;
          begin = 0;
        }
        break;
      }
      self->dispatch(*h, buf.substr(begin + protocol::header_size, h->length));
      begin += need;
    }
    if (begin == end) {
      begin = end = 0;
    } else if (buf.size() - end < 4096 || begin > buf.size() / 2) {
      buf.replace(0, end - begin, buf, begin, end - begin);
      end -= begin;
      begin = 0;
    }
    error_code ec;
    size_t n = co_await self->read_some(asio::buffer(buf.data() + end, buf.size() - end), ec);
    if (ec) {
      self->fail_all(make_error(error_kind::io, "reading from " + self->endpoint_ + ": " + ec.message()));
      co_return;
    }
    end += n;
  }
}

void connection::dispatch(protocol::frame_header h, std::string body) {
  if (h.flags & protocol::flags::compression) {
    std::string why;
    auto plain = compress_ ? protocol::decompress_body(body, &why) : std::nullopt;
    if (!plain) {
      fail_all(make_error(error_kind::protocol, "from " + endpoint_ + ": " +
                                                    (compress_ ? why : "a compressed frame, but no compression was agreed")));
      return;
    }
    body = std::move(*plain);
    ++decompressed_;
    h.flags &= static_cast<uint8_t>(~protocol::flags::compression);
    h.length = static_cast<uint32_t>(body.size());
  }
  if (h.stream < 0) {  // server-initiated EVENT
    if (h.op != protocol::opcode::event || !on_event_) return;
    auto r = protocol::decode_response(h, std::move(body));
    if (r) {
      if (auto* ev = std::get_if<protocol::event>(&r->body)) on_event_(*ev);
    }
    return;
  }
  auto idx = static_cast<size_t>(h.stream);
  if (idx >= slots_.size() || !slots_[idx]) return;  // not ours: ignore
  auto p = std::move(slots_[idx]);
  free_.push_back(h.stream);
  if (p->abandoned) {
    --abandoned_;
    return;
  }
  p->resp = protocol::decode_response(h, std::move(body));
  p->timer.cancel();
}

void connection::fail_all(const error& e) {
  if (!open_) return;
  open_ = false;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (auto p = std::move(slots_[i])) {
      free_.push_back(static_cast<int16_t>(i));
      if (!p->abandoned) {
        p->resp = e;
        p->timer.cancel();
      }
    }
  }
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

void connection::close() { fail_all(make_error(error_kind::closed, "connection to " + endpoint_ + " closed")); }

asio::awaitable<size_t> connection::read_some(asio::mutable_buffer b, error_code& ec) {
  if (tls_) co_return co_await tls_->async_read_some(b, use_ec(ec));
  co_return co_await socket_.async_read_some(b, use_ec(ec));
}

asio::awaitable<void> connection::write_all(asio::const_buffer b, error_code& ec) {
  if (tls_)
    co_await asio::async_write(*tls_, b, use_ec(ec));
  else
    co_await asio::async_write(socket_, b, use_ec(ec));
}

}  // namespace cql
