// The client against a real Cassandra node (scripts/cassandra starts it; the
// address comes from LEAVES_TEST_CASSANDRA). Nothing here is faked.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <set>

#include "leaves/cql/client/runtime.h"
#include "leaves/cql/client/session.h"
#include "leaves/cql/protocol/token.h"

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

std::string node() {
  const char* e = std::getenv("LEAVES_TEST_CASSANDRA");
  return e && *e ? e : "127.0.0.1:9042";
}

class CqlClient : public ::testing::Test {
 protected:
  void SetUp() override {
    ex_ = rt_.make_strand();
    cql::session_options o;
    o.contact_points = {node()};
    o.default_consistency = cql::consistency::one;
    o.request_timeout = 10s;
    auto s = run(cql::session::connect(ex_, o));
    ASSERT_TRUE(s.ok()) << "connecting to " << node() << ": " << s.err().describe();
    s_ = *s;
    must(q("CREATE KEYSPACE IF NOT EXISTS cql_test WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"));
  }
  void TearDown() override {
    if (s_) s_->close();
    rt_.stop();
  }

  template <class T>
  T run(asio::awaitable<T> a) {
    return cql::runtime::run(ex_, std::move(a));
  }
  cql::result<cql::protocol::rows> q(std::string cql, std::vector<cql::value> values = {}) {
    cql::statement st;
    st.cql = std::move(cql);
    st.values = std::move(values);
    return run(s_->execute(std::move(st)));
  }
  cql::prepared_ptr prep(const std::string& cql) {
    auto p = run(s_->prepare(cql));
    EXPECT_TRUE(p.ok()) << cql << ": " << p.err().describe();
    return p.ok() ? *p : nullptr;
  }
  cql::result<cql::protocol::rows> exec(const cql::prepared_ptr& p, std::vector<cql::value> values, int32_t page_size = 0,
                                        std::string paging_state = {}) {
    cql::statement st;
    st.prepared = p;
    st.values = std::move(values);
    st.page_size = page_size;
    st.paging_state = std::move(paging_state);
    st.idempotent = true;
    return run(s_->execute(std::move(st)));
  }
  static void must(const cql::result<cql::protocol::rows>& r) {
    ASSERT_TRUE(r.ok()) << r.err().describe();
  }

  cql::runtime rt_{1};
  asio::any_io_executor ex_;
  std::shared_ptr<cql::session> s_;
};

TEST_F(CqlClient, DiscoversTheNodeWithItsTokens) {
  auto hosts = run([](std::shared_ptr<cql::session> s) -> asio::awaitable<std::vector<cql::host_info>> {
    co_return s->hosts();
  }(s_));
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_TRUE(hosts[0].up);
  EXPECT_EQ(hosts[0].open_connections, 2u);
  EXPECT_FALSE(hosts[0].tokens.empty()) << "system.local gave no tokens";
  EXPECT_EQ(hosts[0].release_version.substr(0, 2), "5.");
  EXPECT_FALSE(hosts[0].host_id.empty());
}

TEST_F(CqlClient, RoundTripsEveryTypeLeavesUses) {
  must(q("CREATE TABLE IF NOT EXISTS cql_test.types (k text PRIMARY KEY, a ascii, i int, b bigint, f boolean, "
         "ts timestamp, u uuid, tu timeuuid, bl blob, l list<text>, s set<text>, m map<text, int>, d double)"));
  auto ins = prep("INSERT INTO cql_test.types (k, a, i, b, f, ts, u, tu, bl, l, s, m, d) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  ASSERT_TRUE(ins);
  auto u = *cql::parse_uuid("3f2504e0-4f89-41d3-9a0c-0305e82c3301");
  auto tu = *cql::parse_uuid("c3a56b16-c9b7-11ee-8000-000000000001");
  std::string blob("\x00\x01\xff\x80 bytes", 10);
  must(exec(ins, {cql::value::text("k1 ünïcode"), cql::value::text("plain"), cql::value::int32(-42),
                  cql::value::bigint(1LL << 40), cql::value::boolean(true), cql::value::timestamp(1700000000123),
                  cql::value::uuid(u), cql::value::uuid(tu), cql::value::blob(blob),
                  cql::value::text_list({"b", "a", "b"}), cql::value::text_list({"x", "y"}),
                  cql::value::map({{"one", cql::value::int32(1).data}, {"two", cql::value::int32(2).data}}),
                  cql::value::double_(2.5)}));
  auto sel = prep("SELECT k, a, i, b, f, ts, u, tu, bl, l, s, m, d FROM cql_test.types WHERE k = ?");
  auto r = exec(sel, {cql::value::text("k1 ünïcode")});
  ASSERT_TRUE(r.ok()) << r.err().describe();
  ASSERT_EQ(r->row_count, 1u);
  EXPECT_EQ(cql::to_string(r->meta.columns[9].type), "list<text>");
  EXPECT_EQ(cql::to_string(r->meta.columns[11].type), "map<text, int>");
  EXPECT_EQ(*r->cell(0, 0), "k1 ünïcode");
  EXPECT_EQ(*r->cell(0, 1), "plain");
  EXPECT_EQ(*cql::decode::int32(*r->cell(0, 2)), -42);
  EXPECT_EQ(*cql::decode::bigint(*r->cell(0, 3)), 1LL << 40);
  EXPECT_EQ(*cql::decode::boolean(*r->cell(0, 4)), true);
  EXPECT_EQ(*cql::decode::bigint(*r->cell(0, 5)), 1700000000123);
  EXPECT_EQ(cql::to_string(*cql::decode::uuid(*r->cell(0, 6))), "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
  EXPECT_EQ(cql::to_string(*cql::decode::uuid(*r->cell(0, 7))), "c3a56b16-c9b7-11ee-8000-000000000001");
  EXPECT_EQ(*r->cell(0, 8), blob);
  EXPECT_EQ(*cql::decode::text_list(*r->cell(0, 9)), (std::vector<std::string>{"b", "a", "b"}));
  EXPECT_EQ(*cql::decode::text_list(*r->cell(0, 10)), (std::vector<std::string>{"x", "y"}));
  auto m = *cql::decode::map(*r->cell(0, 11));
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].first, "one");
  EXPECT_EQ(*cql::decode::int32(m[0].second), 1);
  EXPECT_EQ(*cql::decode::double_(*r->cell(0, 12)), 2.5);

  // null clears a column; unset leaves it as it was.
  auto upd = prep("UPDATE cql_test.types SET a = ?, i = ? WHERE k = ?");
  must(exec(upd, {cql::value::null(), cql::value::unset(), cql::value::text("k1 ünïcode")}));
  r = exec(sel, {cql::value::text("k1 ünïcode")});
  ASSERT_TRUE(r.ok()) << r.err().describe();
  EXPECT_FALSE(r->cell(0, 1).has_value()) << "null did not clear the column";
  ASSERT_TRUE(r->cell(0, 2).has_value()) << "unset changed the column";
  EXPECT_EQ(*cql::decode::int32(*r->cell(0, 2)), -42);
}

TEST_F(CqlClient, Lz4CompressionWorksBothWays) {
  // One connection, to see what was negotiated and that the node's answers
  // arrived compressed.
  cql::connection_options co;
  auto colon = node().rfind(':');
  co.host = node().substr(0, colon);
  co.port = static_cast<uint16_t>(std::stoi(node().substr(colon + 1)));
  co.compression = cql::protocol::compression::lz4;
  auto c = run(cql::connection::open(ex_, co));
  ASSERT_TRUE(c.ok()) << c.err().describe();
  EXPECT_EQ((*c)->compression(), cql::protocol::compression::lz4);
  auto r = run((*c)->request(
      [](cql::protocol::bytes& out, int16_t s) {
        cql::protocol::query_params p;
        p.cl = cql::consistency::one;
        cql::protocol::encode_query(out, s, "SELECT release_version FROM system.local", p);
      },
      cql::clock::now() + 10s));
  ASSERT_TRUE(r.ok()) << r.err().describe();
  auto* res = std::get_if<cql::protocol::result_body>(&r->body);
  auto* rows = res ? std::get_if<cql::protocol::rows>(res) : nullptr;
  ASSERT_TRUE(rows) << "expected a Rows result";
  ASSERT_EQ(rows->row_count, 1u);
  EXPECT_EQ(rows->cell(0, 0)->substr(0, 2), "5.");
  EXPECT_GT((*c)->frames_decompressed(), 0u) << "the node sent no compressed frame";
  (*c)->close();

  // A session with compression: a large, compressible value both ways.
  cql::session_options o;
  o.contact_points = {node()};
  o.default_consistency = cql::consistency::one;
  o.compression = cql::protocol::compression::lz4;
  auto s = run(cql::session::connect(ex_, o));
  ASSERT_TRUE(s.ok()) << s.err().describe();
  auto ex = [&](std::string cql, std::vector<cql::value> v) {
    cql::statement st;
    st.cql = std::move(cql);
    st.values = std::move(v);
    return run((*s)->execute(std::move(st)));
  };
  ASSERT_TRUE(ex("CREATE TABLE IF NOT EXISTS cql_test.big (k text PRIMARY KEY, v text)", {}).ok());
  std::string big;
  for (int i = 0; i < 20000; ++i) big += "leaf " + std::to_string(i % 100) + "; ";
  auto w = ex("INSERT INTO cql_test.big (k, v) VALUES (?, ?)", {cql::value::text("lz4"), cql::value::text(big)});
  ASSERT_TRUE(w.ok()) << w.err().describe();
  auto back = ex("SELECT v FROM cql_test.big WHERE k = ?", {cql::value::text("lz4")});
  ASSERT_TRUE(back.ok()) << back.err().describe();
  ASSERT_EQ(back->row_count, 1u);
  EXPECT_EQ(back->cell(0, 0)->size(), big.size());
  EXPECT_TRUE(*back->cell(0, 0) == big) << "the value read back through lz4 differs from the one written";
  (*s)->close();
}

TEST_F(CqlClient, Murmur3TokensEqualTheServersTokenFunction) {
  must(q("CREATE TABLE IF NOT EXISTS cql_test.tokens (k blob PRIMARY KEY)"));
  auto ins = prep("INSERT INTO cql_test.tokens (k) VALUES (?)");
  auto tok = prep("SELECT token(k) FROM cql_test.tokens WHERE k = ?");
  std::mt19937 rng(7);
  for (size_t len = 0; len < 70; ++len) {
    std::string key(len, '\0');
    for (auto& c : key) c = static_cast<char>(rng());  // bytes >= 0x80 exercise the sign-extended tail
    if (len == 0) continue;                              // an empty blob is not a valid partition key
    must(exec(ins, {cql::value::blob(key)}));
    auto r = exec(tok, {cql::value::blob(key)});
    ASSERT_TRUE(r.ok()) << r.err().describe();
    ASSERT_EQ(r->row_count, 1u);
    EXPECT_EQ(cql::murmur3_token(key), *cql::decode::bigint(*r->cell(0, 0))) << "key length " << len;
  }
}

TEST_F(CqlClient, TokenAwareRoutingUsesThePartitionKeyIndexes) {
  must(q("CREATE TABLE IF NOT EXISTS cql_test.routed (a text, b int, c text, PRIMARY KEY ((a, b), c))"));
  auto p = prep("SELECT c FROM cql_test.routed WHERE b = ? AND a = ? AND c = ?");
  ASSERT_TRUE(p);
  // The bind markers are b, a, c; the partition key is (a, b): indexes 1, 0.
  EXPECT_EQ(p->bind.pk_indexes, (std::vector<uint16_t>{1, 0}));
  auto owner = s_->owner_of(cql::composite_routing_key({"x", std::string("\0\0\0\1", 4)}));
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(*owner, node());
}

TEST_F(CqlClient, PagesThroughAPartition) {
  must(q("CREATE TABLE IF NOT EXISTS cql_test.paged (p text, c int, PRIMARY KEY (p, c))"));
  auto ins = prep("INSERT INTO cql_test.paged (p, c) VALUES (?, ?)");
  cql::batch_statement b;
  b.type = cql::batch_type::unlogged;
  for (int i = 0; i < 250; ++i) {
    cql::statement st;
    st.prepared = ins;
    st.values = {cql::value::text("one"), cql::value::int32(i)};
    b.statements.push_back(std::move(st));
  }
  auto bs = run(s_->batch(std::move(b)));
  ASSERT_TRUE(bs.ok()) << bs.err().describe();
  auto sel = prep("SELECT c FROM cql_test.paged WHERE p = ?");
  std::string state;
  std::vector<int> seen;
  int pages = 0;
  do {
    auto r = exec(sel, {cql::value::text("one")}, 100, state);
    ASSERT_TRUE(r.ok()) << r.err().describe();
    ++pages;
    for (size_t i = 0; i < r->row_count; ++i) seen.push_back(*cql::decode::int32(*r->cell(i, 0)));
    state = r->meta.paging_state;
  } while (!state.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 250u);
  for (int i = 0; i < 250; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], i);

  cql::statement all;
  all.prepared = sel;
  all.values = {cql::value::text("one")};
  all.page_size = 64;
  auto pagesr = run(s_->execute_all_pages(std::move(all)));
  ASSERT_TRUE(pagesr.ok()) << pagesr.err().describe();
  EXPECT_EQ(pagesr->size(), 4u);
}

TEST_F(CqlClient, SkipMetadataLeavesTheColumnSpecsOut) {
  must(q("CREATE TABLE IF NOT EXISTS cql_test.skip (k text PRIMARY KEY, a int, b text)"));
  must(q("INSERT INTO cql_test.skip (k, a, b) VALUES ('one', 7, 'seven')"));
  auto sel = prep("SELECT a, b FROM cql_test.skip WHERE k = ?");
  ASSERT_EQ(sel->result.columns.size(), 2u) << "the prepared statement describes its result";
  for (bool skip : {false, true}) {
    cql::statement st;
    st.prepared = sel;
    st.values = {cql::value::text("one")};
    st.skip_metadata = skip;
    auto r = run(s_->execute(std::move(st)));
    ASSERT_TRUE(r.ok()) << r.err().describe();
    EXPECT_EQ(r->meta.no_metadata, skip) << "the server honours skip_metadata=" << skip;
    EXPECT_EQ(r->meta.columns.empty() || r->meta.columns[0].name.empty(), skip) << "column names only without skip";
    ASSERT_EQ(r->row_count, 1u);
    ASSERT_EQ(r->column_count, 2u);
    EXPECT_EQ(*cql::decode::int32(*r->cell(0, 0)), 7);
    EXPECT_EQ(std::string(*r->cell(0, 1)), "seven");
  }
}

TEST_F(CqlClient, SchemaAgreesAfterATableIsCreated) {
  must(q("DROP TABLE IF EXISTS cql_test.agree"));
  must(q("CREATE TABLE cql_test.agree (k text PRIMARY KEY)"));
  auto agreed = run(s_->wait_for_schema_agreement(10s));
  ASSERT_TRUE(agreed.ok()) << agreed.err().describe();
  EXPECT_TRUE(*agreed) << "a single node agrees with itself";
}

TEST_F(CqlClient, ServerErrorsAreTyped) {
  auto r = q("SELEKT * FROM nowhere");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().kind, cql::error_kind::server);
  EXPECT_EQ(r.err().code, cql::server_code::syntax_error) << r.err().describe();

  r = q("SELECT * FROM cql_test.no_such_table");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, cql::server_code::invalid) << r.err().describe();

  must(q("CREATE TABLE IF NOT EXISTS cql_test.exists (k int PRIMARY KEY)"));
  r = q("CREATE TABLE cql_test.exists (k int PRIMARY KEY)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, cql::server_code::already_exists) << r.err().describe();
  EXPECT_EQ(r.err().keyspace, "cql_test");
  EXPECT_EQ(r.err().table, "exists");

  // Wrong number of bound values is caught before anything is sent.
  auto p = prep("SELECT k FROM cql_test.exists WHERE k = ?");
  auto bad = exec(p, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().kind, cql::error_kind::invalid);
}

TEST_F(CqlClient, SchemaChangeEventsArrive) {
  std::atomic<int> events{0};
  std::string seen_table;
  std::mutex mu;
  run([](std::shared_ptr<cql::session> s, std::atomic<int>* n, std::string* t, std::mutex* m) -> asio::awaitable<int> {
    s->set_event_handler([n, t, m](const cql::protocol::event& ev) {
      if (ev.type != "SCHEMA_CHANGE") return;
      std::lock_guard lk(*m);
      *t = ev.schema.name;
      ++*n;
    });
    co_return 0;
  }(s_, &events, &seen_table, &mu));
  std::string name = "ev_" + std::to_string(std::random_device{}() % 1000000);
  must(q("CREATE TABLE cql_test." + name + " (k int PRIMARY KEY)"));
  for (int i = 0; i < 100 && events == 0; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_GT(events.load(), 0) << "no SCHEMA_CHANGE event within 5 s";
  std::lock_guard lk(mu);
  EXPECT_EQ(seen_table, name);
}

TEST_F(CqlClient, ManyRequestsInFlight) {
  must(q("CREATE TABLE IF NOT EXISTS cql_test.flight (k int PRIMARY KEY, v text)"));
  auto ins = prep("INSERT INTO cql_test.flight (k, v) VALUES (?, ?)");
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::future<void>> fs;
  for (int i = 0; i < 3000; ++i) {
    cql::statement st;
    st.prepared = ins;
    st.values = {cql::value::int32(i), cql::value::text("v" + std::to_string(i))};
    fs.push_back(asio::co_spawn(
        ex_,
        [](std::shared_ptr<cql::session> s, cql::statement st, std::atomic<int>* ok, std::atomic<int>* failed) -> asio::awaitable<void> {
          auto r = co_await s->execute(std::move(st));
          ++*(r.ok() ? ok : failed);
        }(s_, std::move(st), &ok, &failed),
        asio::use_future));
  }
  for (auto& f : fs) f.get();
  EXPECT_EQ(ok.load(), 3000);
  EXPECT_EQ(failed.load(), 0);
  auto r = q("SELECT count(*) FROM cql_test.flight");
  ASSERT_TRUE(r.ok()) << r.err().describe();
  EXPECT_EQ(*cql::decode::bigint(*r->cell(0, 0)), 3000);
}

TEST_F(CqlClient, ATimedOutRequestLeavesTheConnectionUsable) {
  // A 0 ms deadline and an answer that takes the node some work: the answer
  // usually comes after the deadline, but an idle node on a fast loopback can
  // win the race, so the request is tried until one times out (bounded).
  cql::statement slow;
  slow.cql = "SELECT * FROM system_schema.columns";
  slow.timeout = 0ms;
  int tries = 0;
  bool timed_out = false;
  while (!timed_out && tries < 50) {
    ++tries;
    auto r = run(s_->execute(slow));
    if (!r.ok()) {
      ASSERT_EQ(r.err().kind, cql::error_kind::timeout) << "a 0 ms deadline fails only as a timeout, got " << r.err().describe();
      timed_out = true;
    }
  }
  ASSERT_TRUE(timed_out) << "none of " << tries << " requests with a 0 ms deadline timed out";
  cql::statement st;
  st.cql = "SELECT release_version FROM system.local";
  st.timeout = 5s;
  for (int i = 0; i < 3; ++i) {  // the late answers are dropped, not taken for these
    auto r = run(s_->execute(st));
    ASSERT_TRUE(r.ok()) << r.err().describe();
    EXPECT_EQ(r->row_count, 1u);
  }
}

}  // namespace

// PasswordAuthenticator on a second real node (LEAVES_TEST_CASSANDRA_AUTH,
// started by the cassandra_auth fixture with CASSANDRA_AUTH=password).
namespace {

class CqlAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* e = std::getenv("LEAVES_TEST_CASSANDRA_AUTH");
    if (!e || !*e) GTEST_SKIP() << "LEAVES_TEST_CASSANDRA_AUTH not set (no node with PasswordAuthenticator)";
    node_ = e;
    ex_ = rt_.make_strand();
  }
  void TearDown() override { rt_.stop(); }
  cql::result<std::shared_ptr<cql::session>> connect(std::optional<cql::credentials> creds, cql::tls_options tls = {}) {
    cql::session_options o;
    o.contact_points = {node_};
    o.auth = std::move(creds);
    o.tls = std::move(tls);
    o.connect_timeout = 5s;
    o.default_consistency = cql::consistency::one;
    auto s = cql::runtime::run(ex_, cql::session::connect(ex_, o));
    if (s) sessions_.push_back(*s);
    return s;
  }
  cql::runtime rt_{1};
  asio::any_io_executor ex_;
  std::string node_;
  std::vector<std::shared_ptr<cql::session>> sessions_;
};

TEST_F(CqlAuth, RightCredentialsConnectAndQuery) {
  auto s = connect(cql::credentials{"cassandra", "cassandra"});
  ASSERT_TRUE(s.ok()) << s.err().describe();
  cql::statement st;
  st.cql = "SELECT role FROM system_auth.roles WHERE role = 'cassandra'";
  auto r = cql::runtime::run(ex_, (*s)->execute(st));
  ASSERT_TRUE(r.ok()) << r.err().describe();
  EXPECT_EQ(r->row_count, 1u);
  (*s)->close();
}

TEST_F(CqlAuth, AWrongPasswordIsBadCredentials) {
  auto s = connect(cql::credentials{"cassandra", "not-the-password"});
  ASSERT_FALSE(s.ok()) << "connected with a wrong password";
  EXPECT_EQ(s.err().kind, cql::error_kind::server) << s.err().describe();
  EXPECT_EQ(s.err().code, cql::server_code::bad_credentials) << s.err().describe();
  EXPECT_EQ(s.err().message.find("not-the-password"), std::string::npos) << "the password leaked into the error";
}

// The same node serves TLS on its native port (CASSANDRA_TLS=optional, its
// certificate signed by the CA in LEAVES_TEST_CASSANDRA_TLS_CA).
TEST_F(CqlAuth, TlsWithTheNodesCaVerifiesItAndAuthenticates) {
  const char* ca = std::getenv("LEAVES_TEST_CASSANDRA_TLS_CA");
  if (!ca || !*ca) GTEST_SKIP() << "LEAVES_TEST_CASSANDRA_TLS_CA not set (the node has no client encryption)";
  cql::tls_options tls;
  tls.enabled = true;
  tls.ca_file = ca;
  tls.verify_hostname = true;  // the node's certificate names 127.0.0.1
  auto s = connect(cql::credentials{"cassandra", "cassandra"}, tls);
  ASSERT_TRUE(s.ok()) << "TLS to " << node_ << " with CA " << ca << ": " << s.err().describe();
  cql::statement st;
  st.cql = "SELECT release_version FROM system.local";
  auto r = cql::runtime::run(ex_, (*s)->execute(st));
  ASSERT_TRUE(r.ok()) << r.err().describe();
  EXPECT_EQ(r->row_count, 1u);
  (*s)->close();
}

TEST_F(CqlAuth, TlsWithAnUnrelatedCaIsRefused) {
  const char* ca = std::getenv("LEAVES_TEST_CASSANDRA_TLS_CA");
  if (!ca || !*ca) GTEST_SKIP() << "LEAVES_TEST_CASSANDRA_TLS_CA not set (the node has no client encryption)";
  cql::tls_options tls;
  tls.enabled = true;
  tls.ca_file = "/etc/ssl/certs/ca-certificates.crt";  // public CAs: none signed the test node
  auto s = connect(cql::credentials{"cassandra", "cassandra"}, tls);
  ASSERT_FALSE(s.ok()) << "connected over TLS to a node whose certificate no trusted CA signed";
  EXPECT_NE(s.err().describe().find("certificate"), std::string::npos) << s.err().describe();
  EXPECT_EQ(s.err().describe().find("cassandra\0"), std::string::npos);
}

TEST_F(CqlAuth, NoCredentialsSaysAuthenticationIsRequired) {
  auto s = connect(std::nullopt);
  ASSERT_FALSE(s.ok()) << "connected without credentials to a node that requires them";
  EXPECT_EQ(s.err().kind, cql::error_kind::invalid) << s.err().describe();
  EXPECT_NE(s.err().message.find("PasswordAuthenticator"), std::string::npos) << s.err().describe();
}

}  // namespace
