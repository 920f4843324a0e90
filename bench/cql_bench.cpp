// Raw CQL rates of a node through leaves' own client (the limit the
// Cassandra read store is measured against):
//   leaves_bench_cql HOST:PORT write|read KEYSPACE.TABLE N CONCURRENCY [IDS_FILE]
// write: N prepared INSERTs of a leaf-shaped row (the reference table's
//        columns, ~600 bytes) into KEYSPACE.TABLE (created if absent).
// read:  N prepared SELECT * ... WHERE id = ? over the ids in IDS_FILE (one a line).
// Prints "<op> <n> rows in <s> s = <rate> rows/s, errors <e>".
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "leaves/cql/client/runtime.h"
#include "leaves/cql/client/session.h"

namespace asio = boost::asio;
using cql::value;

namespace {

struct job {
  std::shared_ptr<cql::session> s;
  cql::prepared_ptr p;
  std::vector<std::string> ids;
  bool write = true;
  size_t n = 0;
  std::atomic<size_t> next{0};
  std::atomic<size_t> errors{0};
};

std::vector<value> leaf_values(const std::string& id) {
  return {value::text(id),
          value::text_list({"a", "b"}),
          value::text(std::string(400, 'c')),
          value::text("content text"),
          value::timestamp(1700000000000),
          value::text("example.com"),
          value::text("200"),
          value::int32(0),
          value::boolean(true),
          value::int32(1),
          value::text("en"),
          value::text_list({"https://example.com/1"}),
          value::text("text/html"),
          value::null(),
          value::int32(3),
          value::text_list({"bench"}),
          value::text_list({"bench"}),
          value::text("a title"),
          value::timestamp(1700000000000),
          value::text("https://example.com/" + id),
          value::text("a@example.com"),
          value::int32(1),
          value::text("a")};
}

asio::awaitable<void> worker(job* j) {
  for (;;) {
    size_t i = j->next++;
    if (i >= j->n) co_return;
    cql::statement st;
    st.prepared = j->p;
    st.idempotent = true;
    if (j->write)
      st.values = leaf_values("bench-" + std::to_string(i));
    else
      st.values.push_back(value::text(j->ids[i % j->ids.size()]));
    auto r = co_await j->s->execute(std::move(st));
    if (!r) ++j->errors;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s HOST:PORT write|read KEYSPACE.TABLE N CONCURRENCY [IDS_FILE]\n", argv[0]);
    return 2;
  }
  const std::string node = argv[1], op = argv[2], table = argv[3];
  const size_t n = std::stoul(argv[4]), conc = std::stoul(argv[5]);
  cql::runtime rt(1);
  auto ex = rt.make_strand();
  cql::session_options o;
  o.contact_points = {node};
  o.default_consistency = cql::consistency::one;
  auto s = cql::runtime::run(ex, cql::session::connect(ex, o));
  if (!s) {
    std::fprintf(stderr, "connect: %s\n", s.err().describe().c_str());
    return 1;
  }
  job j;
  j.s = *s;
  j.n = n;
  j.write = op == "write";
  const std::string cols =
      "id, all, content, content_text, created_at, domain_name, http_status, is_archived, is_public, is_starred, "
      "language, links, mimetype, preview_picture, reading_time, slugs, tags, title, updated_at, url, user_email, "
      "user_id, user_name";
  auto simple = [&](const std::string& q) {
    cql::statement st;
    st.cql = q;
    auto r = cql::runtime::run(ex, j.s->execute(st));
    if (!r) std::fprintf(stderr, "%s: %s\n", q.c_str(), r.err().describe().c_str());
  };
  if (j.write) {
    auto ks = table.substr(0, table.find('.'));
    simple("CREATE KEYSPACE IF NOT EXISTS " + ks + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
    simple("CREATE TABLE IF NOT EXISTS " + table +
           " (id text PRIMARY KEY, all list<text>, content text, content_text text, created_at timestamp, "
           "domain_name text, http_status text, is_archived int, is_public boolean, is_starred int, language text, "
           "links list<text>, mimetype text, preview_picture text, reading_time int, slugs list<text>, tags list<text>, "
           "title text, updated_at timestamp, url text, user_email text, user_id int, user_name text)");
  } else {
    if (argc < 7) {
      std::fprintf(stderr, "read needs IDS_FILE\n");
      return 2;
    }
    std::ifstream in(argv[6]);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) j.ids.push_back(line);
    if (j.ids.empty()) {
      std::fprintf(stderr, "no ids in %s\n", argv[6]);
      return 2;
    }
  }
  const std::string q = j.write ? "INSERT INTO " + table + " (" + cols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                                : "SELECT * FROM " + table + " WHERE id = ?";
  auto p = cql::runtime::run(ex, j.s->prepare(q));
  if (!p) {
    std::fprintf(stderr, "prepare: %s\n", p.err().describe().c_str());
    return 1;
  }
  j.p = *p;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::future<void>> fs;
  for (size_t i = 0; i < conc; ++i) fs.push_back(asio::co_spawn(ex, worker(&j), asio::use_future));
  for (auto& f : fs) f.get();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s %zu rows in %.2f s = %.0f rows/s, errors %zu\n", op.c_str(), n, secs, n / secs, j.errors.load());
  j.s->close();
  return 0;
}
