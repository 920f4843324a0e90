// A scripted fake CQL server (Boost.Asio, 127.0.0.1, ephemeral port) for the
// error paths a real node cannot produce on demand: authentication failures,
// UNPREPARED, lost and late responses, dropped connections, retries after
// OVERLOADED, out-of-order responses and malformed frames.
//
// Everything (server and client) runs on one io_context in the test thread;
// each test runs it with a time limit and fails if its body did not finish.

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "leaves/cql/client/connection.h"
#include "leaves/cql/client/session.h"
#include "leaves/cql/protocol/messages.h"
#include "leaves/cql/protocol/wire.h"

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;
using cql::clock;
using cql::protocol::bytes;
using cql::protocol::opcode;

inline auto use_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

// ---------------------------------------------------------------------------
// Frames the fake server sends that the library has no encoder for, written
// from the v4 spec with the primitive writer.
// ---------------------------------------------------------------------------

std::string frame(opcode op, int16_t stream, const std::string& body, uint8_t version = 0x84, uint8_t flags = 0) {
  bytes out;
  cql::protocol::writer w(out);
  w.u8(version);
  w.u8(flags);
  w.i16(stream);
  w.u8(static_cast<uint8_t>(op));
  w.i32(static_cast<int32_t>(body.size()));
  w.raw(body);
  return out;
}

// SUPPORTED: [string multimap]
std::string supported_frame(int16_t stream) {
  bytes body;
  cql::protocol::writer w(body);
  w.u16(2);
  w.string("COMPRESSION");
  w.string_list({});
  w.string("CQL_VERSION");
  w.string_list({"3.0.0"});
  return frame(opcode::supported, stream, body);
}

// RESULT Prepared for "... WHERE k = ?": one bind marker k int (partition key
// index 0), one result column v text.
std::string prepared_frame(int16_t stream, const std::string& id) {
  bytes body;
  cql::protocol::writer w(body);
  w.i32(0x0004);
  w.short_bytes(id);
  w.i32(0x0001);  // Global_tables_spec
  w.i32(1);       // columns
  w.i32(1);       // pk_count
  w.u16(0);       // pk index
  w.string("ks");
  w.string("t");
  w.string("k");
  w.u16(0x0009);
  w.i32(0x0001);
  w.i32(1);
  w.string("ks");
  w.string("t");
  w.string("v");
  w.u16(0x000d);
  return frame(opcode::result, stream, body);
}

std::string auth_challenge_frame(int16_t stream) {
  bytes body;
  cql::protocol::writer(body).bytes_("more?");
  return frame(opcode::auth_challenge, stream, body);
}

std::string status_event_frame() {
  bytes body;
  cql::protocol::writer w(body);
  w.string("STATUS_CHANGE");
  w.string("DOWN");
  w.u8(4);
  w.raw(std::string("\x7f\x00\x00\x02", 4));
  w.i32(9042);
  return frame(opcode::event, -1, body);
}

// One text column (`column`) with a row per entry of `texts`.
std::string rows_frame(int16_t stream, const std::vector<std::string>& texts, const std::string& column = "v") {
  cql::protocol::column_spec v{"ks", "t", column, {}};
  v.type.id = cql::type_id::varchar;
  std::vector<std::vector<cql::value>> rows;
  for (const auto& t : texts) rows.push_back({cql::value::text(t)});
  bytes out;
  cql::protocol::encode_rows_result(out, stream, {v}, rows);
  return out;
}

std::string error_frame(int16_t stream, cql::server_code code, const std::string& msg, const std::string& unprepared_id = {}) {
  cql::error e;
  e.kind = cql::error_kind::server;
  e.code = code;
  e.message = msg;
  e.unprepared_id = unprepared_id;
  bytes out;
  cql::protocol::encode_error(out, stream, e);
  return out;
}

// ---------------------------------------------------------------------------
// The fake server
// ---------------------------------------------------------------------------

struct request {
  int conn = 0;  // index of the server-side connection it came in on
  uint8_t version = 0, flags = 0;
  int16_t stream = 0;
  opcode op = opcode::error;
  std::string body;
  std::string text;  // QUERY/PREPARE: the CQL; EXECUTE: the id; AUTH_RESPONSE: the token;
                     // BATCH: its entries, "P:<id>" or "Q:<cql>", comma-separated
  int32_t page_size = 0;     // QUERY/EXECUTE
  std::optional<std::string> paging_state;
};

// <consistency><flags>[values][page size][paging state]... (spec 4.1.4)
void parse_query_params(cql::protocol::reader& r, request& rq) {
  (void)r.u16();
  uint8_t f = r.u8();
  if (f & 0x01) {
    uint16_t n = r.u16();
    for (uint16_t i = 0; i < n && r.ok(); ++i) (void)r.bytes_();
  }
  if (f & 0x04) rq.page_size = r.i32();
  if (f & 0x08) rq.paging_state = std::string(r.bytes_());
}

class fake_server;

class server_conn : public std::enable_shared_from_this<server_conn> {
 public:
  server_conn(tcp::socket s, fake_server& srv, int index) : index(index), sock_(std::move(s)), srv_(srv) {}

  void send(const std::string& f) {
    if (closed) return;
    wq_ += f;
    if (!writing_) {
      writing_ = true;
      asio::co_spawn(sock_.get_executor(), write_loop(shared_from_this()), asio::detached);
    }
  }
  void close() {
    closed = true;
    error_code ignored;
    sock_.shutdown(tcp::socket::shutdown_both, ignored);
    sock_.close(ignored);
  }
  static asio::awaitable<void> read_loop(std::shared_ptr<server_conn> self);

  const int index;
  bool closed = false;

 private:
  static asio::awaitable<void> write_loop(std::shared_ptr<server_conn> self) {
    while (!self->wq_.empty() && !self->closed) {
      std::string buf;
      buf.swap(self->wq_);
      error_code ec;
      co_await asio::async_write(self->sock_, asio::buffer(buf), use_ec(ec));
      if (ec) break;
    }
    self->writing_ = false;
  }

  tcp::socket sock_;
  fake_server& srv_;
  std::string wq_;
  bool writing_ = false;
};

class fake_server {
 public:
  // A script step: return true when it answered (or deliberately ignored)
  // the request; false falls through to the default behaviour.
  using script_fn = std::function<bool(server_conn&, const request&)>;

  explicit fake_server(asio::io_context& ioc) : acceptor_(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port = acceptor_.local_endpoint().port();
    asio::co_spawn(ioc, accept_loop(), asio::detached);
  }

  std::string contact_point() const { return "127.0.0.1:" + std::to_string(port); }

  size_t count(opcode op, const std::string& text = {}) const {
    size_t n = 0;
    for (const auto& r : log)
      if (r.op == op && (text.empty() || r.text == text)) ++n;
    return n;
  }

  void handle(server_conn& c, request rq) {
    rq.conn = c.index;
    cql::protocol::reader r(rq.body);
    switch (rq.op) {
      case opcode::query:
        rq.text = r.long_string();
        parse_query_params(r, rq);
        break;
      case opcode::prepare: rq.text = r.long_string(); break;
      case opcode::execute:
        rq.text = r.short_bytes();
        parse_query_params(r, rq);
        break;
      case opcode::auth_response: rq.text = std::string(r.bytes_()); break;
      case opcode::batch: {
        (void)r.u8();
        uint16_t n = r.u16();
        for (uint16_t i = 0; i < n && r.ok(); ++i) {
          bool prepared = r.u8() == 1;
          rq.text += (i ? "," : "") + std::string(prepared ? "P:" + r.short_bytes() : "Q:" + r.long_string());
          uint16_t nv = r.u16();
          for (uint16_t j = 0; j < nv && r.ok(); ++j) (void)r.bytes_();
        }
        break;
      }
      default: break;
    }
    if (!r.ok()) ADD_FAILURE() << "fake server: could not parse a request with opcode " << int(rq.op);
    log.push_back(rq);
    if (script && script(c, rq)) return;
    bytes out;
    switch (rq.op) {
      case opcode::options: c.send(supported_frame(rq.stream)); return;
      case opcode::startup:
        if (expected_token) {
          cql::protocol::encode_authenticate(out, rq.stream, "org.apache.cassandra.auth.PasswordAuthenticator");
        } else {
          cql::protocol::encode_ready(out, rq.stream);
        }
        break;
      case opcode::auth_response:
        if (expected_token && rq.text == *expected_token)
          cql::protocol::encode_auth_success(out, rq.stream);
        else
          out = error_frame(rq.stream, cql::server_code::bad_credentials,
                            "Provided username and/or password are incorrect");
        break;
      case opcode::register_: cql::protocol::encode_ready(out, rq.stream); break;
      case opcode::query: out = rows_frame(rq.stream, {rq.text}); break;  // echoes the query
      case opcode::prepare: out = prepared_frame(rq.stream, "id-1"); break;
      case opcode::execute: out = rows_frame(rq.stream, {"executed " + rq.text}); break;
      case opcode::batch: cql::protocol::encode_void_result(out, rq.stream); break;
      default: out = error_frame(rq.stream, cql::server_code::protocol_error, "unexpected opcode"); break;
    }
    c.send(out);
  }

  uint16_t port = 0;
  std::optional<std::string> expected_token;  // set: require PasswordAuthenticator
  script_fn script;
  std::vector<request> log;
  std::vector<std::shared_ptr<server_conn>> conns;

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      error_code ec;
      tcp::socket s = co_await acceptor_.async_accept(use_ec(ec));
      if (ec) co_return;
      auto c = std::make_shared<server_conn>(std::move(s), *this, static_cast<int>(conns.size()));
      conns.push_back(c);
      asio::co_spawn(acceptor_.get_executor(), server_conn::read_loop(c), asio::detached);
    }
  }

  tcp::acceptor acceptor_;
};

asio::awaitable<void> server_conn::read_loop(std::shared_ptr<server_conn> self) {
  for (;;) {
    std::string hdr(9, '\0');
    error_code ec;
    co_await asio::async_read(self->sock_, asio::buffer(hdr), use_ec(ec));
    if (ec || self->closed) co_return;
    cql::protocol::reader r(hdr);
    request rq;
    rq.version = r.u8();
    rq.flags = r.u8();
    rq.stream = r.i16();
    rq.op = static_cast<opcode>(r.u8());
    auto len = static_cast<uint32_t>(r.i32());
    if (rq.version != 0x04 || len > (1u << 20)) {  // the client must only send v4 requests
      ADD_FAILURE() << "fake server: bad request header, version byte " << int(rq.version) << ", length " << len;
      self->close();
      co_return;
    }
    rq.body.resize(len);
    if (len) co_await asio::async_read(self->sock_, asio::buffer(rq.body), use_ec(ec));
    if (ec || self->closed) co_return;
    self->srv_.handle(*self, std::move(rq));
  }
}

// ---------------------------------------------------------------------------
// Test plumbing
// ---------------------------------------------------------------------------

// Runs body on ioc until it finishes or limit passes; fails the test on timeout.
template <class Body>
// co_spawn keeps the callable alive until its coroutine ends, so the tests'
// capturing lambdas outlive their frames (the lambda-coroutine pitfall does not apply).
void run(asio::io_context& ioc, Body body, std::chrono::milliseconds limit = 5000ms) {
  bool finished = false;
  std::exception_ptr ex;
  asio::co_spawn(ioc, std::move(body), [&](std::exception_ptr e) {
    finished = true;
    ex = e;
    ioc.stop();
  });
  ioc.run_for(limit);
  ASSERT_TRUE(finished) << "the test body did not finish within " << limit.count() << " ms";
  if (ex) std::rethrow_exception(ex);
}

cql::connection_options conn_opts(const fake_server& s) {
  cql::connection_options o;
  o.host = "127.0.0.1";
  o.port = s.port;
  o.connect_timeout = 2000ms;
  return o;
}

cql::session_options sess_opts(const fake_server& s) {
  cql::session_options o;
  o.contact_points = {s.contact_point()};
  o.discover_peers = false;
  o.connections_per_host = 1;
  o.request_timeout = 2000ms;
  o.connect_timeout = 2000ms;
  o.reconnect_base = 50ms;
  o.default_consistency = cql::consistency::one;
  return o;
}

template <class T>
std::string why(const cql::result<T>& r) {
  return r ? std::string("ok") : r.err().describe();
}

// The single text cell of a one-row, one-column response; "<...>" otherwise.
std::string only_cell(const cql::protocol::rows& rs) {
  if (rs.row_count != 1 || rs.column_count != 1) return "<" + std::to_string(rs.row_count) + " rows>";
  auto c = rs.cell(0, 0);
  return c ? std::string(*c) : "<null>";
}

std::string only_cell(const cql::result<cql::protocol::response>& r) {
  if (!r) return "<" + r.err().describe() + ">";
  if (auto* e = std::get_if<cql::error>(&r->body)) return "<server error " + e->describe() + ">";
  auto* rb = std::get_if<cql::protocol::result_body>(&r->body);
  auto* rs = rb ? std::get_if<cql::protocol::rows>(rb) : nullptr;
  if (!rs) return "<not rows>";
  return only_cell(*rs);
}

asio::awaitable<cql::result<cql::protocol::response>> query(std::shared_ptr<cql::connection> c, std::string cql_text,
                                                            clock::duration timeout) {
  cql::protocol::query_params p;
  p.cl = cql::consistency::one;
  co_return co_await c->request(
      [&](bytes& out, int16_t s) { cql::protocol::encode_query(out, s, cql_text, p); }, clock::now() + timeout);
}

cql::statement simple(std::string text, bool idempotent = false) {
  cql::statement st;
  st.cql = std::move(text);
  st.idempotent = idempotent;
  return st;
}

#define CO_REQUIRE(cond, what)                                  \
  if (!(cond)) {                                                \
    ADD_FAILURE() << "required: " #cond << "\n  got: " << what; \
    co_return;                                                  \
  }

// ---------------------------------------------------------------------------
// (a) authentication
// ---------------------------------------------------------------------------

TEST(FakeServerAuth, PasswordAuthenticatorSucceeds) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.expected_token = std::string("\0user\0pass", 10);
  std::optional<cql::result<cql::protocol::rows>> res;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto o = sess_opts(srv);
    o.auth = cql::credentials{"user", "pass"};
    auto s = co_await cql::session::connect(ioc.get_executor(), o);
    CO_REQUIRE(s, why(s));
    res = co_await (*s)->execute(simple("SELECT 1"));
    (*s)->close();
  });
  ASSERT_TRUE(res);
  ASSERT_TRUE(*res) << why(*res);
  EXPECT_EQ(only_cell(**res), "SELECT 1");
  // Control and pool connection: each did OPTIONS, STARTUP, AUTH_RESPONSE.
  EXPECT_EQ(srv.count(opcode::auth_response), 2u);
  for (const auto& r : srv.log) {
    if (r.op == opcode::auth_response) {
      EXPECT_EQ(r.text, std::string("\0user\0pass", 10));
    }
  }
}

TEST(FakeServerAuth, WrongCredentialsFailWithBadCredentials) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.expected_token = std::string("\0user\0pass", 10);
  std::optional<cql::result<std::shared_ptr<cql::session>>> res;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto o = sess_opts(srv);
    o.auth = cql::credentials{"user", "wrong"};
    res = co_await cql::session::connect(ioc.get_executor(), o);
  });
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res) << "connect succeeded with a wrong password";
  const auto& e = res->err();
  EXPECT_EQ(e.kind, cql::error_kind::server) << e.describe();
  EXPECT_EQ(e.code, cql::server_code::bad_credentials) << e.describe();
  EXPECT_NE(e.message.find("incorrect"), std::string::npos) << e.describe();
  EXPECT_EQ(srv.count(opcode::auth_response), 1u) << "bad credentials must not be retried on another connection";
  EXPECT_EQ(srv.count(opcode::auth_response, std::string("\0user\0wrong", 11)), 1u);
}

TEST(FakeServerAuth, MissingCredentialsGiveAClearMessage) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.expected_token = std::string("\0user\0pass", 10);
  std::optional<cql::result<std::shared_ptr<cql::session>>> res;
  run(ioc, [&]() -> asio::awaitable<void> { res = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv)); });
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res) << "connect succeeded without credentials";
  const auto& e = res->err();
  EXPECT_NE(e.message.find("requires authentication"), std::string::npos) << e.describe();
  EXPECT_NE(e.message.find("PasswordAuthenticator"), std::string::npos) << e.describe();
  EXPECT_NE(e.message.find("username"), std::string::npos) << e.describe();
  EXPECT_EQ(srv.count(opcode::auth_response), 0u);
}

TEST(FakeServerCompression, CompressionTheNodeDoesNotOfferIsRefused) {
  asio::io_context ioc;
  fake_server srv(ioc);  // its SUPPORTED lists no compression
  std::optional<cql::result<std::shared_ptr<cql::session>>> res;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto o = sess_opts(srv);
    o.compression = cql::protocol::compression::lz4;
    res = co_await cql::session::connect(ioc.get_executor(), o);
  });
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res) << "connect succeeded although the node offers no lz4";
  EXPECT_NE(res->err().message.find("does not offer lz4 compression (it offers: none)"), std::string::npos)
      << res->err().describe();
  EXPECT_EQ(srv.count(opcode::startup), 0u) << "STARTUP was sent with a compression the node does not offer";
}

TEST(FakeServerAuth, ConnectionLevelBadCredentials) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.expected_token = std::string("\0user\0pass", 10);
  std::optional<cql::result<std::shared_ptr<cql::connection>>> res;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto o = conn_opts(srv);
    o.auth = cql::credentials{"nobody", "pass"};
    res = co_await cql::connection::open(ioc.get_executor(), o);
  });
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->err().kind, cql::error_kind::server) << res->err().describe();
  EXPECT_EQ(res->err().code, cql::server_code::bad_credentials) << res->err().describe();
  // Handshake order on the wire.
  ASSERT_EQ(srv.log.size(), 3u);
  EXPECT_EQ(srv.log[0].op, opcode::options);
  EXPECT_EQ(srv.log[1].op, opcode::startup);
  EXPECT_EQ(srv.log[2].op, opcode::auth_response);
}

TEST(FakeServerAuth, ExtraChallengeRoundIsAProtocolError) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.expected_token = std::string("\0user\0pass", 10);
  srv.script = [](server_conn& c, const request& r) {
    if (r.op != opcode::auth_response) return false;
    c.send(auth_challenge_frame(r.stream));
    return true;
  };
  std::optional<cql::result<std::shared_ptr<cql::connection>>> res;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto o = conn_opts(srv);
    o.auth = cql::credentials{"user", "pass"};
    res = co_await cql::connection::open(ioc.get_executor(), o);
  });
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->err().kind, cql::error_kind::protocol) << res->err().describe();
}

// ---------------------------------------------------------------------------
// (b) UNPREPARED -> one re-PREPARE and a retried EXECUTE
// ---------------------------------------------------------------------------

const char* kSelectByKey = "SELECT v FROM ks.t WHERE k = ?";

TEST(FakeServerPrepared, UnpreparedCausesOneReprepare) {
  asio::io_context ioc;
  fake_server srv(ioc);
  int prepares = 0;
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op == opcode::prepare) {
      // The node "restarts" between the two PREPAREs: a new id the second time.
      c.send(prepared_frame(r.stream, ++prepares == 1 ? "id-1" : "id-2"));
      return true;
    }
    if (r.op == opcode::execute) {
      if (r.text == "id-2")
        c.send(rows_frame(r.stream, {"hello"}));
      else
        c.send(error_frame(r.stream, cql::server_code::unprepared, "Prepared query with ID 1 not found", r.text));
      return true;
    }
    return false;
  };
  std::optional<cql::result<cql::protocol::rows>> res;
  cql::session_stats stats;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    auto p = co_await (*s)->prepare(kSelectByKey);
    CO_REQUIRE(p, why(p));
    EXPECT_EQ((*p)->id, "id-1");
    EXPECT_EQ((*p)->bind.pk_indexes, (std::vector<uint16_t>{0}));
    cql::statement st;
    st.prepared = *p;
    st.values = {cql::value::int32(1)};
    res = co_await (*s)->execute(st);
    stats = (*s)->stats();
    (*s)->close();
  });
  ASSERT_TRUE(res);
  ASSERT_TRUE(*res) << why(*res);
  EXPECT_EQ(only_cell(**res), "hello");
  EXPECT_EQ(stats.reprepares, 1u);
  EXPECT_EQ(srv.count(opcode::prepare, kSelectByKey), 2u);
  EXPECT_EQ(srv.count(opcode::execute), 2u);
  EXPECT_EQ(srv.count(opcode::execute, "id-1"), 1u);
  EXPECT_EQ(srv.count(opcode::execute, "id-2"), 1u);
  EXPECT_EQ(stats.errors, 0u);
}

TEST(FakeServerPrepared, PersistentUnpreparedGivesUpAfterOneReprepare) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op != opcode::execute) return false;
    c.send(error_frame(r.stream, cql::server_code::unprepared, "unknown", r.text));
    return true;
  };
  std::optional<cql::result<cql::protocol::rows>> res;
  cql::session_stats stats;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    auto p = co_await (*s)->prepare(kSelectByKey);
    CO_REQUIRE(p, why(p));
    cql::statement st;
    st.prepared = *p;
    st.values = {cql::value::int32(1)};
    st.idempotent = true;
    res = co_await (*s)->execute(st);
    stats = (*s)->stats();
    (*s)->close();
  });
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->err().code, cql::server_code::unprepared) << res->err().describe();
  EXPECT_EQ(stats.reprepares, 1u);
  EXPECT_EQ(srv.count(opcode::prepare), 2u);
  EXPECT_EQ(srv.count(opcode::execute), 2u);
}

TEST(FakeServerPrepared, WrongNumberOfValuesIsInvalidWithoutARequest) {
  asio::io_context ioc;
  fake_server srv(ioc);
  std::optional<cql::result<cql::protocol::rows>> res;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    auto p = co_await (*s)->prepare(kSelectByKey);
    CO_REQUIRE(p, why(p));
    cql::statement st;
    st.prepared = *p;  // takes one value; none given
    res = co_await (*s)->execute(st);
    (*s)->close();
  });
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->err().kind, cql::error_kind::invalid) << res->err().describe();
  EXPECT_EQ(srv.count(opcode::execute), 0u);
}

TEST(FakeServerPrepared, BatchUnpreparedRepreparesTheStatement) {
  asio::io_context ioc;
  fake_server srv(ioc);
  int prepares = 0;
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op == opcode::prepare) {
      c.send(prepared_frame(r.stream, ++prepares == 1 ? "id-1" : "id-2"));
      return true;
    }
    if (r.op == opcode::batch && r.text.find("P:id-1") != std::string::npos) {
      c.send(error_frame(r.stream, cql::server_code::unprepared, "unknown", "id-1"));
      return true;
    }
    return false;  // default: Void
  };
  std::optional<cql::status> res;
  cql::session_stats stats;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    auto p = co_await (*s)->prepare(kSelectByKey);
    CO_REQUIRE(p, why(p));
    cql::batch_statement b;
    cql::statement prepared;
    prepared.prepared = *p;
    prepared.values = {cql::value::int32(1)};
    b.statements.push_back(prepared);
    b.statements.push_back(simple("DELETE FROM ks.t WHERE k = 2"));
    res = co_await (*s)->batch(b);
    stats = (*s)->stats();
    (*s)->close();
  });
  ASSERT_TRUE(res);
  ASSERT_TRUE(*res) << why(*res);
  EXPECT_EQ(stats.reprepares, 1u);
  ASSERT_EQ(srv.count(opcode::batch), 2u);
  EXPECT_EQ(srv.count(opcode::batch, "P:id-1,Q:DELETE FROM ks.t WHERE k = 2"), 1u);
  EXPECT_EQ(srv.count(opcode::batch, "P:id-2,Q:DELETE FROM ks.t WHERE k = 2"), 1u);
}

TEST(FakeServerPrepared, PrepareIsCachedByText) {
  asio::io_context ioc;
  fake_server srv(ioc);
  std::optional<cql::result<cql::prepared_ptr>> a, b;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    a = co_await (*s)->prepare(kSelectByKey);
    b = co_await (*s)->prepare(kSelectByKey);
    (*s)->close();
  });
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(*a) << why(*a);
  ASSERT_TRUE(*b) << why(*b);
  EXPECT_EQ(a->value().get(), b->value().get());
  EXPECT_EQ(srv.count(opcode::prepare), 1u);
}

// ---------------------------------------------------------------------------
// Paging and events through the session
// ---------------------------------------------------------------------------

TEST(FakeServerTimeout, AConnectionWhoseAnswersStopComingIsClosed) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [&](server_conn&, const request& r) { return r.op == opcode::query && r.text == "lost"; };
  std::vector<bool> open_after;
  std::optional<cql::result<cql::protocol::response>> last;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto o = conn_opts(srv);
    o.max_in_flight = 8;
    auto c = co_await cql::connection::open(ioc.get_executor(), o);
    CO_REQUIRE(c, why(c));
    for (int i = 0; i < 4; ++i) {
      (void)co_await query(*c, "lost", 20ms);
      open_after.push_back((*c)->is_open());
    }
    last = co_await query(*c, "after", 500ms);
    (*c)->close();
  });
  ASSERT_EQ(open_after.size(), 4u);
  EXPECT_TRUE(open_after[0] && open_after[1] && open_after[2]) << "a few lost answers leave the connection open";
  EXPECT_FALSE(open_after[3]) << "with half of its 8 stream ids held by lost answers the connection is closed";
  ASSERT_TRUE(last);
  ASSERT_FALSE(*last) << "a closed connection takes no requests";
  EXPECT_EQ(last->err().kind, cql::error_kind::io) << last->err().describe();
}

TEST(FakeServerSession, ExecuteAllPagesFollowsThePagingState) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op != opcode::query || r.text != "SELECT v FROM ks.t") return false;
    cql::protocol::column_spec v{"ks", "t", "v", {}};
    v.type.id = cql::type_id::varchar;
    bytes out;
    if (!r.paging_state)
      cql::protocol::encode_rows_result(out, r.stream, {v}, {{cql::value::text("r1")}}, "page-2");
    else if (*r.paging_state == "page-2")
      cql::protocol::encode_rows_result(out, r.stream, {v}, {{cql::value::text("r2")}}, "page-3");
    else
      cql::protocol::encode_rows_result(out, r.stream, {v}, {{cql::value::text("r3")}});
    c.send(out);
    return true;
  };
  std::optional<cql::result<std::vector<cql::protocol::rows>>> res;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    auto st = simple("SELECT v FROM ks.t");
    st.page_size = 1;
    res = co_await (*s)->execute_all_pages(st);
    (*s)->close();
  });
  ASSERT_TRUE(res);
  ASSERT_TRUE(*res) << why(*res);
  ASSERT_EQ((*res)->size(), 3u);
  EXPECT_EQ(only_cell((**res)[0]), "r1");
  EXPECT_EQ(only_cell((**res)[1]), "r2");
  EXPECT_EQ(only_cell((**res)[2]), "r3");
  std::vector<std::string> states;
  for (const auto& r : srv.log) {
    if (r.op == opcode::query && r.text == "SELECT v FROM ks.t") {
      EXPECT_EQ(r.page_size, 1);
      states.push_back(r.paging_state.value_or("<none>"));
    }
  }
  EXPECT_EQ(states, (std::vector<std::string>{"<none>", "page-2", "page-3"}));
}

TEST(FakeServerSession, EventsOnTheControlConnectionReachTheSessionHandler) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op != opcode::query || r.text != "trigger") return false;
    if (!srv.conns.empty()) srv.conns[0]->send(status_event_frame());  // the control connection
    c.send(rows_frame(r.stream, {"ok"}));
    return true;
  };
  std::vector<cql::protocol::event> events;
  std::optional<cql::result<cql::protocol::rows>> res;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    (*s)->set_event_handler([&](const cql::protocol::event& e) { events.push_back(e); });
    res = co_await (*s)->execute(simple("trigger"));
    asio::steady_timer t(ioc);
    for (int i = 0; i < 100 && events.empty(); ++i) {
      t.expires_after(10ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    (*s)->close();
  });
  ASSERT_TRUE(res);
  ASSERT_TRUE(*res) << why(*res);
  EXPECT_EQ(srv.count(opcode::register_), 1u) << "REGISTER once, on the control connection";
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "STATUS_CHANGE");
  EXPECT_EQ(events[0].address, "127.0.0.2");
  EXPECT_EQ(events[0].port, 9042);
}

// Schema agreement: system.local and system.peers answer schema versions
// (text here; uuid on a real node) and the session polls until they match.
std::string versions_frame(int16_t stream, const std::vector<std::string>& versions) {
  return rows_frame(stream, versions, "schema_version");
}

TEST(FakeServerSession, SchemaAgreementWaitsUntilThePeersCatchUp) {
  asio::io_context ioc;
  fake_server srv(ioc);
  int peer_polls = 0;
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op != opcode::query) return false;
    if (r.text == "SELECT schema_version FROM system.local") {
      c.send(versions_frame(r.stream, {"v2"}));
      return true;
    }
    if (r.text == "SELECT schema_version FROM system.peers") {
      ++peer_polls;  // one peer lags for two polls
      c.send(versions_frame(r.stream, {"v2", peer_polls <= 2 ? "v1" : "v2"}));
      return true;
    }
    return false;
  };
  std::optional<cql::result<bool>> agreed;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    agreed = co_await (*s)->wait_for_schema_agreement(5000ms);
    (*s)->close();
  });
  ASSERT_TRUE(agreed && *agreed) << (agreed ? why(*agreed) : "no answer");
  EXPECT_TRUE(**agreed) << "the versions agreed on the third poll";
  EXPECT_EQ(peer_polls, 3) << "polls until the lagging peer reports the new version";
}

TEST(FakeServerSession, SchemaAgreementGivesUpAfterItsWait) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op != opcode::query || r.text.find("schema_version") == std::string::npos) return false;
    c.send(versions_frame(r.stream, {r.text.find("local") != std::string::npos ? "v2" : "v1"}));
    return true;
  };
  std::optional<cql::result<bool>> agreed;
  auto t0 = std::chrono::steady_clock::now();
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    agreed = co_await (*s)->wait_for_schema_agreement(700ms);
    (*s)->close();
  });
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(agreed && *agreed) << (agreed ? why(*agreed) : "no answer");
  EXPECT_FALSE(**agreed) << "a peer that never catches up is reported, not waited for forever";
  EXPECT_LT(took, 3s) << "the wait is bounded by its limit";
}

TEST(FakeServerSession, ClosedSessionRefusesWork) {
  asio::io_context ioc;
  fake_server srv(ioc);
  std::optional<cql::result<cql::protocol::rows>> res;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    (*s)->close();
    res = co_await (*s)->execute(simple("SELECT 1"));
  });
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->err().kind, cql::error_kind::closed) << res->err().describe();
  EXPECT_EQ(srv.count(opcode::query, "SELECT 1"), 0u);
}

// ---------------------------------------------------------------------------
// (c) a response that never comes
// ---------------------------------------------------------------------------

TEST(FakeServerTimeout, LostResponseTimesOutAndConnectionStaysUsable) {
  asio::io_context ioc;
  fake_server srv(ioc);
  std::optional<request> held;
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op != opcode::query) return false;
    if (r.text == "slow") {
      held = r;  // not answered (yet)
      return true;
    }
    if (held) {  // answer the abandoned request late, just before this one
      c.send(rows_frame(held->stream, {"late"}));
      held.reset();
    }
    return false;  // default: echo
  };
  std::optional<cql::result<cql::protocol::response>> slow, fast;
  clock::duration slow_took{};
  bool still_open = false;
  size_t in_flight_after = 99;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto c = co_await cql::connection::open(ioc.get_executor(), conn_opts(srv));
    CO_REQUIRE(c, why(c));
    auto t0 = clock::now();
    slow = co_await query(*c, "slow", 300ms);
    slow_took = clock::now() - t0;
    still_open = (*c)->is_open();
    fast = co_await query(*c, "fast", 2000ms);
    in_flight_after = (*c)->in_flight();
    (*c)->close();
  });
  ASSERT_TRUE(slow && fast);
  ASSERT_FALSE(*slow) << "got an answer to a request the server never answered: " << only_cell(*slow);
  EXPECT_EQ(slow->err().kind, cql::error_kind::timeout) << slow->err().describe();
  EXPECT_GE(slow_took, 280ms);
  EXPECT_LT(slow_took, 1500ms);
  EXPECT_TRUE(still_open) << "a timeout must not close the connection";
  EXPECT_EQ(only_cell(*fast), "fast") << "the late answer to the timed-out request must not be taken for this one";
  EXPECT_EQ(in_flight_after, 0u) << "the late answer releases the abandoned stream id";
}

TEST(FakeServerTimeout, SessionStatementTimeout) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [](server_conn&, const request& r) { return r.op == opcode::query && r.text == "never"; };
  std::optional<cql::result<cql::protocol::rows>> lost, next;
  cql::session_stats stats;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    auto st = simple("never");
    st.timeout = 300ms;
    lost = co_await (*s)->execute(st);
    next = co_await (*s)->execute(simple("after"));
    stats = (*s)->stats();
    (*s)->close();
  });
  ASSERT_TRUE(lost && next);
  ASSERT_FALSE(*lost);
  EXPECT_EQ(lost->err().kind, cql::error_kind::timeout) << lost->err().describe();
  ASSERT_TRUE(*next) << why(*next);
  EXPECT_EQ(only_cell(**next), "after");
  EXPECT_EQ(stats.timeouts, 1u);
  EXPECT_EQ(srv.count(opcode::query, "never"), 1u) << "a non-idempotent statement is never retried";
}

TEST(FakeServerTimeout, SilentServerFailsOpenWithinConnectTimeout) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [](server_conn&, const request&) { return true; };  // answers nothing
  std::optional<cql::result<std::shared_ptr<cql::connection>>> res;
  clock::duration took{};
  run(ioc, [&]() -> asio::awaitable<void> {
    auto o = conn_opts(srv);
    o.connect_timeout = 300ms;
    auto t0 = clock::now();
    res = co_await cql::connection::open(ioc.get_executor(), o);
    took = clock::now() - t0;
  });
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->err().kind, cql::error_kind::timeout) << res->err().describe();
  EXPECT_LT(took, 1500ms);
}

// ---------------------------------------------------------------------------
// (d) the server closes the socket mid-request
// ---------------------------------------------------------------------------

TEST(FakeServerDisconnect, ClosedSocketGivesIoError) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [](server_conn& c, const request& r) {
    if (r.op != opcode::query || r.text != "die") return false;
    c.close();
    return true;
  };
  std::optional<cql::result<cql::protocol::response>> first, after;
  bool open_after = true;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto c = co_await cql::connection::open(ioc.get_executor(), conn_opts(srv));
    CO_REQUIRE(c, why(c));
    first = co_await query(*c, "die", 2000ms);
    open_after = (*c)->is_open();
    after = co_await query(*c, "again", 2000ms);
  });
  ASSERT_TRUE(first && after);
  ASSERT_FALSE(*first);
  EXPECT_EQ(first->err().kind, cql::error_kind::io) << first->err().describe();
  EXPECT_FALSE(open_after);
  ASSERT_FALSE(*after);
  EXPECT_EQ(after->err().kind, cql::error_kind::io) << after->err().describe();
}

TEST(FakeServerDisconnect, SessionGetsIoErrorThenReconnects) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [](server_conn& c, const request& r) {
    if (r.op != opcode::query || r.text != "die") return false;
    c.close();
    return true;
  };
  std::optional<cql::result<cql::protocol::rows>> died, later;
  cql::session_stats stats;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    died = co_await (*s)->execute(simple("die"));
    // The pool reconnects in the background (about once a second).
    asio::steady_timer t(ioc);
    for (int i = 0; i < 30; ++i) {
      later = co_await (*s)->execute(simple("back"));
      if (*later) break;
      t.expires_after(100ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    stats = (*s)->stats();
    (*s)->close();
  });
  ASSERT_TRUE(died && later);
  ASSERT_FALSE(*died);
  EXPECT_EQ(died->err().kind, cql::error_kind::io) << died->err().describe();
  EXPECT_EQ(srv.count(opcode::query, "die"), 1u);
  ASSERT_TRUE(*later) << "no reconnect within 3 s: " << why(*later);
  EXPECT_EQ(only_cell(**later), "back");
  EXPECT_EQ(stats.reconnects, 1u);
}

// ---------------------------------------------------------------------------
// (e) retries after OVERLOADED: idempotent only
// ---------------------------------------------------------------------------

TEST(FakeServerRetry, IdempotentStatementIsRetriedAfterOverloaded) {
  asio::io_context ioc;
  fake_server srv(ioc);
  int seen = 0;
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op != opcode::query || r.text != "UPDATE idem") return false;
    if (++seen == 1) {
      c.send(error_frame(r.stream, cql::server_code::overloaded, "overloaded"));
      return true;
    }
    return false;
  };
  std::optional<cql::result<cql::protocol::rows>> res;
  cql::session_stats stats;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    res = co_await (*s)->execute(simple("UPDATE idem", true));
    stats = (*s)->stats();
    (*s)->close();
  });
  ASSERT_TRUE(res);
  ASSERT_TRUE(*res) << why(*res);
  EXPECT_EQ(only_cell(**res), "UPDATE idem");
  EXPECT_EQ(srv.count(opcode::query, "UPDATE idem"), 2u);
  EXPECT_EQ(stats.retries, 1u);
  EXPECT_EQ(stats.errors, 0u);
}

TEST(FakeServerRetry, NonIdempotentStatementIsNotRetried) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op != opcode::query || r.text != "UPDATE once") return false;
    c.send(error_frame(r.stream, cql::server_code::overloaded, "overloaded"));
    return true;
  };
  std::optional<cql::result<cql::protocol::rows>> res;
  cql::session_stats stats;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    res = co_await (*s)->execute(simple("UPDATE once", false));
    stats = (*s)->stats();
    (*s)->close();
  });
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->err().kind, cql::error_kind::server) << res->err().describe();
  EXPECT_EQ(res->err().code, cql::server_code::overloaded) << res->err().describe();
  EXPECT_EQ(srv.count(opcode::query, "UPDATE once"), 1u);
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_EQ(stats.errors, 1u);
}

TEST(FakeServerRetry, IdempotentStatementGivesUpAfterMaxRetries) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op != opcode::query || r.text != "UPDATE busy") return false;
    c.send(error_frame(r.stream, cql::server_code::overloaded, "overloaded"));
    return true;
  };
  std::optional<cql::result<cql::protocol::rows>> res;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto o = sess_opts(srv);
    o.max_retries = 2;
    auto s = co_await cql::session::connect(ioc.get_executor(), o);
    CO_REQUIRE(s, why(s));
    res = co_await (*s)->execute(simple("UPDATE busy", true));
    (*s)->close();
  });
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->err().code, cql::server_code::overloaded) << res->err().describe();
  EXPECT_EQ(srv.count(opcode::query, "UPDATE busy"), 3u) << "1 attempt + max_retries (2)";
}

TEST(FakeServerRetry, NonRetryableErrorIsNotRetriedEvenIfIdempotent) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op != opcode::query || r.text != "SELEC") return false;
    c.send(error_frame(r.stream, cql::server_code::syntax_error, "line 1:0 no viable alternative"));
    return true;
  };
  std::optional<cql::result<cql::protocol::rows>> res;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto s = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv));
    CO_REQUIRE(s, why(s));
    res = co_await (*s)->execute(simple("SELEC", true));
    (*s)->close();
  });
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->err().code, cql::server_code::syntax_error) << res->err().describe();
  EXPECT_EQ(srv.count(opcode::query, "SELEC"), 1u);
}

// ---------------------------------------------------------------------------
// (f) out-of-order responses on different stream ids
// ---------------------------------------------------------------------------

TEST(FakeServerStreams, OutOfOrderResponsesAreMatchedByStreamId) {
  asio::io_context ioc;
  fake_server srv(ioc);
  std::vector<request> held;
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op != opcode::query) return false;
    held.push_back(r);
    if (held.size() < 3) return true;
    // Answer in the order 3, 1, 2, all in one write.
    std::string out = rows_frame(held[2].stream, {held[2].text}) + rows_frame(held[0].stream, {held[0].text}) +
                      rows_frame(held[1].stream, {held[1].text});
    c.send(out);
    return true;
  };
  std::optional<cql::result<cql::protocol::response>> got[3];
  run(ioc, [&]() -> asio::awaitable<void> {
    auto c = co_await cql::connection::open(ioc.get_executor(), conn_opts(srv));
    CO_REQUIRE(c, why(c));
    auto conn = *c;
    int done = 0;
    for (int i = 0; i < 3; ++i) {
      asio::co_spawn(
          ioc,
          [&, i, conn]() -> asio::awaitable<void> {
            got[i] = co_await query(conn, "q" + std::to_string(i + 1), 2000ms);
            ++done;
          },
          asio::detached);
    }
    asio::steady_timer t(ioc);
    for (int i = 0; i < 300 && done < 3; ++i) {
      t.expires_after(10ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    conn->close();
  });
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(got[i]) << "request q" << i + 1 << " never completed";
    EXPECT_EQ(only_cell(*got[i]), "q" + std::to_string(i + 1));
  }
  ASSERT_EQ(held.size(), 3u);
  EXPECT_NE(held[0].stream, held[1].stream);
  EXPECT_NE(held[1].stream, held[2].stream);
  EXPECT_NE(held[0].stream, held[2].stream);
}

TEST(FakeServerStreams, ServerEventBetweenResponsesReachesTheHandler) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op != opcode::query) return false;
    c.send(status_event_frame() + rows_frame(r.stream, {r.text}));
    return true;
  };
  std::vector<cql::protocol::event> events;
  std::optional<cql::result<cql::protocol::response>> res;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto c = co_await cql::connection::open(ioc.get_executor(), conn_opts(srv));
    CO_REQUIRE(c, why(c));
    (*c)->set_event_handler([&](const cql::protocol::event& e) { events.push_back(e); });
    res = co_await query(*c, "with event", 2000ms);
    (*c)->close();
  });
  ASSERT_TRUE(res);
  EXPECT_EQ(only_cell(*res), "with event");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "STATUS_CHANGE");
  EXPECT_EQ(events[0].change, "DOWN");
  EXPECT_EQ(events[0].address, "127.0.0.2");
}

TEST(FakeServerStreams, ResponseLargerThanTheReadBuffer) {
  asio::io_context ioc;
  fake_server srv(ioc);
  const std::string big(300 * 1024, 'b');
  srv.script = [&](server_conn& c, const request& r) {
    if (r.op != opcode::query || r.text != "big") return false;
    c.send(rows_frame(r.stream, {big}));
    return true;
  };
  std::optional<cql::result<cql::protocol::response>> a, b;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto c = co_await cql::connection::open(ioc.get_executor(), conn_opts(srv));
    CO_REQUIRE(c, why(c));
    a = co_await query(*c, "big", 3000ms);
    b = co_await query(*c, "small", 3000ms);
    (*c)->close();
  });
  ASSERT_TRUE(a && b);
  auto cell = only_cell(*a);
  EXPECT_EQ(cell.size(), big.size());
  EXPECT_TRUE(cell == big) << "the 300 KiB cell came back altered";
  EXPECT_EQ(only_cell(*b), "small");
}

// ---------------------------------------------------------------------------
// (g) malformed frames
// ---------------------------------------------------------------------------

TEST(FakeServerMalformed, BadVersionByteFailsTheConnection) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [](server_conn& c, const request& r) {
    if (r.op != opcode::query || r.text != "bad") return false;
    c.send(frame(opcode::result, r.stream, std::string("\0\0\0\1", 4), /*version=*/0x83));
    return true;
  };
  std::optional<cql::result<cql::protocol::response>> res, after;
  bool open_after = true;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto c = co_await cql::connection::open(ioc.get_executor(), conn_opts(srv));
    CO_REQUIRE(c, why(c));
    res = co_await query(*c, "bad", 2000ms);
    open_after = (*c)->is_open();
    after = co_await query(*c, "next", 2000ms);
  });
  ASSERT_TRUE(res && after);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->err().kind, cql::error_kind::protocol) << res->err().describe();
  EXPECT_NE(res->err().message.find("version"), std::string::npos) << res->err().describe();
  EXPECT_FALSE(open_after) << "a connection that got a malformed frame must be closed";
  ASSERT_FALSE(*after);
}

TEST(FakeServerMalformed, BadVersionDuringHandshakeFailsConnect) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [](server_conn& c, const request& r) {
    if (r.op != opcode::options) return false;
    c.send(frame(opcode::supported, r.stream, std::string("\0\0", 2), /*version=*/0x85));
    return true;
  };
  std::optional<cql::result<std::shared_ptr<cql::session>>> res;
  run(ioc, [&]() -> asio::awaitable<void> { res = co_await cql::session::connect(ioc.get_executor(), sess_opts(srv)); });
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->err().kind, cql::error_kind::protocol) << res->err().describe();
  EXPECT_EQ(srv.count(opcode::options), 1u) << "a protocol mismatch is not retried";
}

TEST(FakeServerMalformed, RequestDirectionFrameFailsTheConnection) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [](server_conn& c, const request& r) {
    if (r.op != opcode::query) return false;
    c.send(frame(opcode::result, r.stream, std::string("\0\0\0\1", 4), /*version=*/0x04));
    return true;
  };
  std::optional<cql::result<cql::protocol::response>> res;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto c = co_await cql::connection::open(ioc.get_executor(), conn_opts(srv));
    CO_REQUIRE(c, why(c));
    res = co_await query(*c, "x", 2000ms);
  });
  ASSERT_TRUE(res);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->err().kind, cql::error_kind::protocol) << res->err().describe();
}

TEST(FakeServerMalformed, TruncatedBodyIsAProtocolErrorForThatRequest) {
  asio::io_context ioc;
  fake_server srv(ioc);
  srv.script = [](server_conn& c, const request& r) {
    if (r.op != opcode::query || r.text != "short") return false;
    // A RESULT Rows whose declared row does not fit in the frame.
    c.send(frame(opcode::result, r.stream, std::string("\0\0\0\2\0\0\0\4\0\0\0\1\0\0\0\1", 16)));
    return true;
  };
  std::optional<cql::result<cql::protocol::response>> res, next;
  run(ioc, [&]() -> asio::awaitable<void> {
    auto c = co_await cql::connection::open(ioc.get_executor(), conn_opts(srv));
    CO_REQUIRE(c, why(c));
    res = co_await query(*c, "short", 2000ms);
    next = co_await query(*c, "fine", 2000ms);
    (*c)->close();
  });
  ASSERT_TRUE(res && next);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->err().kind, cql::error_kind::protocol) << res->err().describe();
  EXPECT_EQ(only_cell(*next), "fine") << "framing was intact, so the connection stays usable";
}

// ---------------------------------------------------------------------------
// Connecting to nothing
// ---------------------------------------------------------------------------

TEST(FakeServerConnect, NothingListeningGivesNoHost) {
  asio::io_context ioc;
  uint16_t port = 0;
  {
    tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed again: connections to it are refused
  std::optional<cql::result<std::shared_ptr<cql::session>>> res;
  std::optional<cql::result<std::shared_ptr<cql::connection>>> conn;
  run(ioc, [&]() -> asio::awaitable<void> {
    cql::session_options o;
    o.contact_points = {"127.0.0.1:" + std::to_string(port)};
    o.discover_peers = false;
    o.connect_timeout = 1000ms;
    res = co_await cql::session::connect(ioc.get_executor(), o);
    cql::connection_options co;
    co.host = "127.0.0.1";
    co.port = port;
    co.connect_timeout = 1000ms;
    conn = co_await cql::connection::open(ioc.get_executor(), co);
  });
  ASSERT_TRUE(res && conn);
  ASSERT_FALSE(*res);
  EXPECT_EQ(res->err().kind, cql::error_kind::no_host) << res->err().describe();
  ASSERT_FALSE(*conn);
  EXPECT_EQ(conn->err().kind, cql::error_kind::io) << conn->err().describe();
}

}  // namespace
