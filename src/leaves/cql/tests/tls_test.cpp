// TLS between the session and a scripted CQL server speaking TLS (Asio SSL)
// with a throw-away self-signed certificate made by the openssl command:
// the CA file is trusted, the host name is checked, and a wrong name or an
// untrusted certificate fails the connection.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "leaves/cql/client/runtime.h"
#include "leaves/cql/client/session.h"
#include "leaves/cql/protocol/messages.h"

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using cql::protocol::opcode;

struct cert_dir {
  std::filesystem::path dir;
  bool ok = false;
  cert_dir() {
    dir = std::filesystem::temp_directory_path() / ("leaves-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
                      "-addext subjectAltName=DNS:localhost -keyout '" + (dir / "key.pem").string() +
                      "' -out '" + (dir / "cert.pem").string() + "' >/dev/null 2>&1";
    ok = std::system(cmd.c_str()) == 0;
  }
  ~cert_dir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string cert() const { return (dir / "cert.pem").string(); }
  std::string key() const { return (dir / "key.pem").string(); }
};

std::string response(opcode op, int16_t stream, const std::string& body) {
  std::string out;
  cql::protocol::writer w(out);
  w.u8(0x84);
  w.u8(0);
  w.i16(stream);
  w.u8(static_cast<uint8_t>(op));
  w.i32(static_cast<int32_t>(body.size()));
  w.raw(body);
  return out;
}

// Answers OPTIONS, STARTUP, REGISTER and QUERY (with a Void result) on one
// TLS connection until the client goes away.
asio::awaitable<void> serve_one(std::shared_ptr<asio::ssl::stream<tcp::socket>> s) {
  boost::system::error_code ec;
  co_await s->async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  for (;;) {
    std::string head(9, '\0');
    co_await asio::async_read(*s, asio::buffer(head), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    cql::protocol::reader r(head);
    r.u8();
    r.u8();
    int16_t stream = r.i16();
    auto op = static_cast<opcode>(r.u8());
    auto len = static_cast<size_t>(r.i32());
    std::string body(len, '\0');
    if (len) co_await asio::async_read(*s, asio::buffer(body), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    std::string out;
    if (op == opcode::options) {
      std::string b;
      cql::protocol::writer w(b);
      w.u16(1);
      w.string("CQL_VERSION");
      w.string_list({"3.0.0"});
      out = response(opcode::supported, stream, b);
    } else if (op == opcode::query) {
      cql::protocol::encode_void_result(out, stream);
    } else {
      cql::protocol::encode_ready(out, stream);  // STARTUP, REGISTER
    }
    co_await asio::async_write(*s, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

asio::awaitable<void> accept_loop(tcp::acceptor* acc, asio::ssl::context* ctx) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket sock = co_await acc->async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    auto s = std::make_shared<asio::ssl::stream<tcp::socket>>(std::move(sock), *ctx);
    asio::co_spawn(acc->get_executor(), serve_one(s), asio::detached);
  }
}

class CqlTls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!certs_.ok) GTEST_SKIP() << "the openssl command could not make a test certificate";
    server_ctx_.use_certificate_chain_file(certs_.cert());
    server_ctx_.use_private_key_file(certs_.key(), asio::ssl::context::pem);
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(server_ioc_, accept_loop(&acceptor_, &server_ctx_), asio::detached);
    server_thread_ = std::thread([this] { server_ioc_.run(); });
  }
  void TearDown() override {
    rt_.stop();
    server_ioc_.stop();
    if (server_thread_.joinable()) server_thread_.join();
  }
  cql::result<std::shared_ptr<cql::session>> connect(cql::tls_options tls) {
    cql::session_options o;
    o.contact_points = {"localhost:" + std::to_string(port_)};
    o.discover_peers = false;
    o.connections_per_host = 1;
    o.connect_timeout = 3s;
    o.tls = std::move(tls);
    auto ex = rt_.make_strand();
    auto s = cql::runtime::run(ex, cql::session::connect(ex, o));
    if (s) {
      cql::statement st;
      st.cql = "INSERT INTO ks.t (k) VALUES (1)";
      auto r = cql::runtime::run(ex, (*s)->execute(st));
      EXPECT_TRUE(r.ok()) << "a statement over TLS: " << r.err().describe();
      (*s)->close();
    }
    return s;
  }

  cert_dir certs_;
  asio::io_context server_ioc_;
  asio::ssl::context server_ctx_{asio::ssl::context::tls_server};
  tcp::acceptor acceptor_{server_ioc_};
  uint16_t port_ = 0;
  std::thread server_thread_;
  cql::runtime rt_{1};
};

TEST_F(CqlTls, TrustedCertificateAndMatchingNameConnect) {
  cql::tls_options t;
  t.enabled = true;
  t.ca_file = certs_.cert();
  auto s = connect(t);
  ASSERT_TRUE(s.ok()) << s.err().describe();
}

TEST_F(CqlTls, AWrongHostNameIsRefused) {
  cql::tls_options t;
  t.enabled = true;
  t.ca_file = certs_.cert();
  t.server_name = "not-this-host.example";
  auto s = connect(t);
  ASSERT_FALSE(s.ok()) << "connected although the certificate names another host";
  EXPECT_NE(s.err().message.find("TLS handshake"), std::string::npos) << s.err().describe();
}

TEST_F(CqlTls, AnUntrustedCertificateIsRefused) {
  cql::tls_options t;
  t.enabled = true;  // system CAs only: the self-signed certificate is not among them
  auto s = connect(t);
  ASSERT_FALSE(s.ok()) << "connected to a server whose certificate nobody vouches for";
  EXPECT_NE(s.err().message.find("TLS handshake"), std::string::npos) << s.err().describe();
}

TEST_F(CqlTls, AMissingCaFileIsAClearError) {
  cql::tls_options t;
  t.enabled = true;
  t.ca_file = "/nonexistent/ca.pem";
  auto s = connect(t);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.err().kind, cql::error_kind::invalid) << s.err().describe();
  EXPECT_NE(s.err().message.find("/nonexistent/ca.pem"), std::string::npos) << s.err().describe();
}

TEST_F(CqlTls, WithoutHostNameCheckTheTrustedCertificateIsEnough) {
  cql::tls_options t;
  t.enabled = true;
  t.ca_file = certs_.cert();
  t.server_name = "not-this-host.example";
  t.verify_hostname = false;
  auto s = connect(t);
  ASSERT_TRUE(s.ok()) << s.err().describe();
}

}  // namespace
