#include "leaves/cql/client/session.h"

#include <algorithm>
#include <set>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "leaves/cql/protocol/token.h"

namespace cql {

using namespace std::chrono_literals;

namespace {

std::pair<std::string, uint16_t> split_host_port(const std::string& s, uint16_t def) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || s.find(':') != colon) return {s, def};  // bare host (or IPv6 without port)
  int port = 0;
  try {
    port = std::stoi(s.substr(colon + 1));
  } catch (...) {
    return {s, def};
  }
  if (port <= 0 || port > 65535) return {s, def};
  return {s.substr(0, colon), static_cast<uint16_t>(port)};
}

std::string text_cell(const protocol::rows& r, size_t row, const char* col) {
  int i = r.column(col);
  if (i < 0) return {};
  auto c = r.cell(row, static_cast<size_t>(i));
  if (!c) return {};
  const auto& t = r.meta.columns[static_cast<size_t>(i)].type;
  if (t.id == type_id::inet) {  // 4 or 16 raw bytes
    if (c->size() == 4) {
      std::string s;
      for (size_t k = 0; k < 4; ++k) s += (k ? "." : "") + std::to_string(static_cast<uint8_t>((*c)[k]));
      return s;
    }
    return {};
  }
  if (t.id == type_id::uuid) {
    if (auto u = decode::uuid(*c)) return to_string(*u);
    return {};
  }
  if (t.id == type_id::int_) {
    if (auto v = decode::int32(*c)) return std::to_string(*v);
    return {};
  }
  return std::string(*c);
}

std::vector<int64_t> tokens_cell(const protocol::rows& r, size_t row) {
  std::vector<int64_t> out;
  int i = r.column("tokens");
  if (i < 0) return out;
  auto c = r.cell(row, static_cast<size_t>(i));
  if (!c) return out;
  auto items = decode::collection(*c);
  if (!items) return out;
  for (auto t : *items) {
    try {
      out.push_back(std::stoll(std::string(t)));
    } catch (...) {
    }
  }
  return out;
}

// One simple query on one connection (discovery on the control connection).
asio::awaitable<result<protocol::rows>> query_on(const std::shared_ptr<connection>& c, std::string_view cql,
                                                 clock::time_point deadline) {
  protocol::query_params p;
  p.cl = consistency::one;
  auto r = co_await c->request([&](protocol::bytes& out, int16_t s) { protocol::encode_query(out, s, cql, p); }, deadline);
  if (!r) co_return r.err();
  if (auto* e = std::get_if<error>(&r->body)) co_return *e;
  auto* rb = std::get_if<protocol::result_body>(&r->body);
  if (!rb || !std::holds_alternative<protocol::rows>(*rb)) co_return make_error(error_kind::protocol, "expected rows");
  co_return std::get<protocol::rows>(std::move(*rb));
}

}  // namespace

session::session(asio::any_io_executor strand, session_options opts) : strand_(strand), opts_(std::move(opts)) {}

session::~session() = default;

asio::awaitable<result<std::shared_ptr<session>>> session::connect(asio::any_io_executor ex, session_options opts) {
  if (opts.contact_points.empty()) co_return make_error(error_kind::invalid, "no contact points");
  auto s = std::make_shared<session>(ex, std::move(opts));
  auto st = co_await s->bootstrap();
  if (!st) {
    s->close();
    co_return st.err();
  }
  co_return s;
}

connection_options session::options_for(const host_info& h) const {
  connection_options o;
  o.host = h.address;
  o.port = h.port;
  o.auth = opts_.auth;
  o.tls = tls_ctx_;
  o.verify_hostname = opts_.tls.verify_hostname;
  o.tls_server_name = opts_.tls.server_name;
  o.connect_timeout = opts_.connect_timeout;
  o.max_in_flight = opts_.max_in_flight_per_connection;
  o.compression = opts_.compression;
  return o;
}

asio::awaitable<status> session::bootstrap() {
  if (opts_.tls.enabled) {
    tls_ctx_ = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    boost::system::error_code ec;
    if (opts_.tls.ca_file.empty())
      tls_ctx_->set_default_verify_paths(ec);
    else
      tls_ctx_->load_verify_file(opts_.tls.ca_file, ec);
    if (ec) co_return make_error(error_kind::invalid, "TLS CA file '" + opts_.tls.ca_file + "': " + ec.message());
    if (!opts_.tls.cert_file.empty()) {
      tls_ctx_->use_certificate_chain_file(opts_.tls.cert_file, ec);
      if (ec) co_return make_error(error_kind::invalid, "TLS certificate '" + opts_.tls.cert_file + "': " + ec.message());
      tls_ctx_->use_private_key_file(opts_.tls.key_file, asio::ssl::context::pem, ec);
      if (ec) co_return make_error(error_kind::invalid, "TLS key '" + opts_.tls.key_file + "': " + ec.message());
    }
    tls_ctx_->set_verify_mode(asio::ssl::verify_peer);
  }
  std::string failures;
  for (const auto& cp : opts_.contact_points) {
    auto [h, p] = split_host_port(cp, opts_.default_port);
    host_info hi;
    hi.address = h;
    hi.port = p;
    auto c = co_await connection::open(strand_, options_for(hi));
    if (!c) {
      // Bad credentials or a protocol mismatch will not get better on another host.
      if (c.err().kind == error_kind::server || c.err().kind == error_kind::protocol ||
          c.err().kind == error_kind::invalid)
        co_return c.err();
      failures += (failures.empty() ? "" : "; ") + c.err().message;
      continue;
    }
    control_ = *c;
    if (opts_.discover_peers) {
      auto st = co_await refresh_hosts(control_);
      if (!st) co_return st.err();
    }
    break;
  }
  if (!control_) co_return make_error(error_kind::no_host, "no contact point answered: " + failures);
  if (!opts_.discover_peers || hosts_.empty()) {
    for (const auto& cp : opts_.contact_points) {
      auto [h, p] = split_host_port(cp, opts_.default_port);
      auto key = h + ":" + std::to_string(p);
      hosts_[key].info.address = h;
      hosts_[key].info.port = p;
    }
  }
  if (auto reg = co_await register_events(control_); !reg) co_return reg.err();

  bool any = false;
  error last = make_error(error_kind::no_host, "no host");
  for (auto& [key, h] : hosts_) {
    auto st = co_await fill_pool(h);
    if (st) any = true;
    else last = st.err();
  }
  if (!any) co_return last;
  for (auto& [key, h] : hosts_) asio::co_spawn(strand_, maintain(shared_from_this(), key), asio::detached);
  co_return done{};
}

// Makes `c` the event connection: the session's handler gets its events, and
// it registers for topology, status and schema changes.
asio::awaitable<status> session::register_events(const std::shared_ptr<connection>& c) {
  std::weak_ptr<session> weak = weak_from_this();
  c->set_event_handler([weak](const protocol::event& ev) {
    auto self = weak.lock();
    if (self && self->on_event_) self->on_event_(ev);
  });
  auto reg = co_await c->request(
      [](protocol::bytes& out, int16_t s) { protocol::encode_register(out, s, {"TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"}); },
      clock::now() + opts_.connect_timeout);
  if (!reg) co_return reg.err();
  if (auto* e = std::get_if<error>(&reg->body)) co_return *e;
  co_return done{};
}

asio::awaitable<status> session::refresh_hosts(const std::shared_ptr<connection>& control) {
  auto deadline = clock::now() + opts_.connect_timeout;
  auto local = co_await query_on(control, "SELECT * FROM system.local", deadline);
  if (!local) co_return local.err();
  std::map<std::string, host_info> found;
  {
    auto [h, p] = split_host_port(control->endpoint(), opts_.default_port);
    host_info hi;
    hi.address = h;
    hi.port = p;
    if (local->row_count > 0) {
      hi.datacenter = text_cell(*local, 0, "data_center");
      hi.host_id = text_cell(*local, 0, "host_id");
      hi.release_version = text_cell(*local, 0, "release_version");
      hi.tokens = tokens_cell(*local, 0);
    }
    found[h + ":" + std::to_string(p)] = hi;
  }
  auto peers = co_await query_on(control, "SELECT * FROM system.peers_v2", deadline);
  bool v2 = peers.ok();
  if (!v2) peers = co_await query_on(control, "SELECT * FROM system.peers", deadline);
  if (peers) {
    for (size_t i = 0; i < peers->row_count; ++i) {
      host_info hi;
      hi.address = text_cell(*peers, i, v2 ? "native_address" : "rpc_address");
      if (hi.address.empty() || hi.address == "0.0.0.0") hi.address = text_cell(*peers, i, "peer");
      auto port = v2 ? text_cell(*peers, i, "native_port") : std::string();
      hi.port = port.empty() ? opts_.default_port : static_cast<uint16_t>(std::stoi(port));
      hi.datacenter = text_cell(*peers, i, "data_center");
      hi.host_id = text_cell(*peers, i, "host_id");
      hi.release_version = text_cell(*peers, i, "release_version");
      hi.tokens = tokens_cell(*peers, i);
      if (!hi.address.empty()) found[hi.address + ":" + std::to_string(hi.port)] = hi;
    }
  }
  ring_.clear();
  for (auto& [key, hi] : found) {
    auto& h = hosts_[key];
    auto conns = std::move(h.conns);
    h.info = hi;
    h.conns = std::move(conns);
    for (auto t : hi.tokens) ring_.emplace_back(t, key);
  }
  std::sort(ring_.begin(), ring_.end());
  co_return done{};
}

asio::awaitable<status> session::fill_pool(host& h) {
  std::erase_if(h.conns, [](const auto& c) { return !c->is_open(); });
  while (h.conns.size() < opts_.connections_per_host && !closed_) {
    auto c = co_await connection::open(strand_, options_for(h.info));
    if (!c) {
      h.info.up = !h.conns.empty();
      co_return c.err();
    }
    h.conns.push_back(*c);
  }
  h.info.up = !h.conns.empty();
  co_return done{};
}

asio::awaitable<void> session::maintain(std::shared_ptr<session> self, std::string key) {
  asio::steady_timer t(self->strand_);
  while (!self->closed_) {
    auto it = self->hosts_.find(key);
    if (it == self->hosts_.end()) co_return;
    auto& h = it->second;
    size_t open = std::count_if(h.conns.begin(), h.conns.end(), [](const auto& c) { return c->is_open(); });
    auto wait = 1000ms;
    if (open < self->opts_.connections_per_host) {
      bool was_down = open == 0;
      auto st = co_await self->fill_pool(h);
      if (self->closed_) co_return;
      if (st) {
        if (was_down) ++self->stats_.reconnects;
        h.failures = 0;
      } else {
        ++h.failures;
        auto backoff = self->opts_.reconnect_base * (1 << std::min(h.failures, 10));
        wait = std::min<std::chrono::milliseconds>(backoff, self->opts_.reconnect_max);
      }
    }
    if (self->control_ && !self->control_->is_open() && h.info.up) {  // re-open the event connection
      auto c = co_await connection::open(self->strand_, self->options_for(h.info));
      if (c && !self->closed_) {
        self->control_ = *c;
        (void)co_await self->register_events(self->control_);  // a failure shows as a closed connection next round
      }
    }
    t.expires_after(wait);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

std::optional<std::string> session::owner_of(std::string_view routing_key) const {
  if (ring_.empty()) return std::nullopt;
  int64_t t = murmur3_token(routing_key);
  auto it = std::lower_bound(ring_.begin(), ring_.end(), t, [](const auto& e, int64_t v) { return e.first < v; });
  if (it == ring_.end()) it = ring_.begin();
  return it->second;
}

std::vector<session::host*> session::plan(const std::optional<std::string>& routing_key) {
  std::vector<host*> out;
  host* owner = nullptr;
  if (routing_key) {
    if (auto k = owner_of(*routing_key)) {
      auto it = hosts_.find(*k);
      if (it != hosts_.end() && it->second.info.up) owner = &it->second;
    }
  }
  if (owner) out.push_back(owner);
  std::vector<host*> rest;
  for (auto& [key, h] : hosts_)
    if (&h != owner && h.info.up) rest.push_back(&h);
  if (!rest.empty()) {
    size_t start = rr_++ % rest.size();
    for (size_t i = 0; i < rest.size(); ++i) out.push_back(rest[(start + i) % rest.size()]);
  }
  if (out.empty())  // nothing known up: try everything (the attempt will say why)
    for (auto& [key, h] : hosts_) out.push_back(&h);
  return out;
}

std::shared_ptr<connection> session::pick(host& h) {
  std::shared_ptr<connection> best;
  for (const auto& c : h.conns)
    if (c->is_open() && (!best || c->in_flight() < best->in_flight())) best = c;
  if (!best) h.info.up = false;
  return best;
}

std::optional<std::string> session::routing_key_of(const statement& st) const {
  if (st.routing_key) return st.routing_key;
  if (!st.prepared || st.prepared->bind.pk_indexes.empty()) return std::nullopt;
  std::vector<std::string_view> parts;
  for (auto i : st.prepared->bind.pk_indexes) {
    if (i >= st.values.size() || st.values[i].k != value::kind::set) return std::nullopt;
    parts.push_back(st.values[i].data);
  }
  return composite_routing_key(parts);
}

asio::awaitable<result<prepared_ptr>> session::prepare_on(const std::shared_ptr<connection>& c, const std::string& cql,
                                                          clock::time_point deadline) {
  auto r = co_await c->request([&](protocol::bytes& out, int16_t s) { protocol::encode_prepare(out, s, cql); }, deadline);
  if (!r) co_return r.err();
  if (auto* e = std::get_if<error>(&r->body)) co_return *e;
  auto* rb = std::get_if<protocol::result_body>(&r->body);
  auto* p = rb ? std::get_if<protocol::prepared_result>(rb) : nullptr;
  if (!p) co_return make_error(error_kind::protocol, "PREPARE did not return a prepared result");
  auto ps = std::make_shared<prepared_statement>();
  ps->cql = cql;
  ps->id = std::move(p->id);
  ps->bind = std::move(p->bind);
  ps->result = std::move(p->result);
  prepared_cache_[cql] = ps;
  co_return prepared_ptr(ps);
}

asio::awaitable<result<prepared_ptr>> session::prepare(const std::string& cql) {
  if (auto it = prepared_cache_.find(cql); it != prepared_cache_.end()) co_return it->second;
  if (closed_) co_return make_error(error_kind::closed, "session closed");
  auto deadline = clock::now() + opts_.request_timeout;
  error last = make_error(error_kind::no_host, "no host is up");
  for (host* h : plan(std::nullopt)) {
    auto c = pick(*h);
    if (!c) continue;
    auto r = co_await prepare_on(c, cql, deadline);
    if (r) co_return r;
    last = r.err();
    if (!last.retryable()) break;
  }
  co_return last;
}

asio::awaitable<result<protocol::response>> session::send(const std::shared_ptr<connection>& c, const statement& st,
                                                          clock::time_point deadline) {
  protocol::query_params p;
  p.cl = st.cl.value_or(opts_.default_consistency);
  p.values = st.values;
  p.page_size = st.page_size;
  p.paging_state = st.paging_state;
  p.timestamp_us = st.timestamp_us;
  p.skip_metadata = st.skip_metadata && st.prepared && !st.prepared->result.columns.empty();
  if (st.prepared) {
    if (st.values.size() != st.prepared->bind.columns.size())
      co_return make_error(error_kind::invalid, "statement takes " + std::to_string(st.prepared->bind.columns.size()) +
                                                    " values, " + std::to_string(st.values.size()) + " given");
    co_return co_await c->request(
        [&](protocol::bytes& out, int16_t s) { protocol::encode_execute(out, s, st.prepared->id, p); }, deadline);
  }
  co_return co_await c->request([&](protocol::bytes& out, int16_t s) { protocol::encode_query(out, s, st.cql, p); },
                                deadline);
}

asio::awaitable<result<protocol::rows>> session::execute(statement st) {
  if (closed_) co_return make_error(error_kind::closed, "session closed");
  ++stats_.requests;
  auto deadline = clock::now() + st.timeout.value_or(opts_.request_timeout);
  auto hosts = plan(routing_key_of(st));
  error last = make_error(error_kind::no_host, "no host is up");
  int attempts = 0;
  bool reprepared = false;
  for (size_t i = 0; attempts <= opts_.max_retries && i < hosts.size() * static_cast<size_t>(opts_.max_retries + 1); ++i) {
    host& h = *hosts[i % hosts.size()];
    auto c = pick(h);
    if (!c) {
      last = make_error(error_kind::no_host, "no open connection to " + h.info.address + ":" + std::to_string(h.info.port));
      continue;
    }
    ++attempts;
    auto r = co_await send(c, st, deadline);
    if (r) {
      if (auto* e = std::get_if<error>(&r->body)) {
        if (e->code == server_code::unprepared && st.prepared && !reprepared) {
          reprepared = true;
          ++stats_.reprepares;
          auto p = co_await prepare_on(c, st.prepared->cql, deadline);
          if (!p) {
            last = p.err();
            break;
          }
          st.prepared = *p;
          --i;  // same host again
          --attempts;
          continue;
        }
        last = *e;
      } else if (auto* rb = std::get_if<protocol::result_body>(&r->body)) {
        if (auto* rows = std::get_if<protocol::rows>(rb)) co_return std::move(*rows);
        co_return protocol::rows{};
      } else {
        last = make_error(error_kind::protocol, "unexpected response to a statement");
      }
    } else {
      last = r.err();
    }
    if (last.kind == error_kind::timeout) ++stats_.timeouts;
    if (!st.idempotent || !last.retryable() || clock::now() >= deadline) break;
    ++stats_.retries;
  }
  ++stats_.errors;
  co_return last;
}

asio::awaitable<result<std::vector<protocol::rows>>> session::execute_all_pages(statement st, size_t max_rows) {
  std::vector<protocol::rows> pages;
  size_t total = 0;
  for (;;) {
    auto r = co_await execute(st);
    if (!r) co_return r.err();
    total += r->row_count;
    std::string next = r->meta.paging_state;
    pages.push_back(std::move(*r));
    if (next.empty() || (max_rows && total >= max_rows)) break;
    st.paging_state = std::move(next);
  }
  co_return pages;
}

asio::awaitable<status> session::batch(batch_statement b) {
  if (closed_) co_return make_error(error_kind::closed, "session closed");
  if (b.statements.empty()) co_return done{};
  ++stats_.requests;
  auto deadline = clock::now() + b.timeout.value_or(opts_.request_timeout);
  auto hosts = plan(routing_key_of(b.statements.front()));
  error last = make_error(error_kind::no_host, "no host is up");
  int attempts = 0;
  int reprepares = 0;
  for (size_t i = 0; attempts <= opts_.max_retries && i < hosts.size() * static_cast<size_t>(opts_.max_retries + 2); ++i) {
    host& h = *hosts[i % hosts.size()];
    auto c = pick(h);
    if (!c) continue;
    ++attempts;
    std::vector<protocol::batch_entry> entries;
    entries.reserve(b.statements.size());
    for (const auto& s : b.statements)
      entries.push_back({static_cast<bool>(s.prepared), s.prepared ? s.prepared->id : s.cql, s.values});
    auto cl = b.cl.value_or(opts_.default_consistency);
    auto r = co_await c->request(
        [&](protocol::bytes& out, int16_t s) { protocol::encode_batch(out, s, b.type, entries, cl); }, deadline);
    if (r) {
      auto* e = std::get_if<error>(&r->body);
      if (!e) co_return done{};
      if (e->code == server_code::unprepared && reprepares < 4) {
        ++reprepares;
        ++stats_.reprepares;
        for (auto& s : b.statements) {
          if (s.prepared && s.prepared->id == e->unprepared_id) {
            auto p = co_await prepare_on(c, s.prepared->cql, deadline);
            if (!p) co_return p.err();
            for (auto& s2 : b.statements)
              if (s2.prepared && s2.prepared->cql == (*p)->cql) s2.prepared = *p;
            break;
          }
        }
        --i;
        --attempts;
        continue;
      }
      last = *e;
    } else {
      last = r.err();
    }
    if (last.kind == error_kind::timeout) ++stats_.timeouts;
    if (!b.idempotent || !last.retryable() || clock::now() >= deadline) break;
    ++stats_.retries;
  }
  ++stats_.errors;
  co_return last;
}

void session::close() {
  if (closed_.exchange(true)) return;
  asio::post(strand_, [self = shared_from_this()] {
    for (auto& [k, h] : self->hosts_)
      for (auto& c : h.conns) c->close();
    if (self->control_) self->control_->close();
  });
}

std::vector<host_info> session::hosts() const {
  std::vector<host_info> out;
  for (const auto& [k, h] : hosts_) {
    auto hi = h.info;
    hi.open_connections = std::count_if(h.conns.begin(), h.conns.end(), [](const auto& c) { return c->is_open(); });
    out.push_back(std::move(hi));
  }
  return out;
}

asio::awaitable<result<bool>> session::wait_for_schema_agreement(std::chrono::milliseconds max_wait) {
  const auto until = clock::now() + max_wait;
  for (;;) {
    auto c = control_;
    if (closed_ || !c || !c->is_open()) co_return make_error(error_kind::no_host, "no control connection to ask for schema versions");
    const auto deadline = std::min(until, clock::now() + opts_.request_timeout);
    auto local = co_await query_on(c, "SELECT schema_version FROM system.local", deadline);
    if (!local) co_return local.err();
    auto peers = co_await query_on(c, "SELECT schema_version FROM system.peers", deadline);
    if (!peers) co_return peers.err();
    std::set<std::string> versions;
    auto collect = [&versions](const protocol::rows& r) {
      for (size_t i = 0; i < r.row_count; ++i)
        if (auto v = text_cell(r, i, "schema_version"); !v.empty()) versions.insert(v);  // null: a peer not yet known
    };
    collect(*local);
    collect(*peers);
    if (versions.size() <= 1) co_return true;
    if (clock::now() + 200ms >= until) co_return false;
    asio::steady_timer t(strand_, 200ms);
    co_await t.async_wait(asio::use_awaitable);
  }
}

session_stats session::stats() const {
  session_stats out;
  out.requests = stats_.requests.load(std::memory_order_relaxed);
  out.errors = stats_.errors.load(std::memory_order_relaxed);
  out.retries = stats_.retries.load(std::memory_order_relaxed);
  out.timeouts = stats_.timeouts.load(std::memory_order_relaxed);
  out.reprepares = stats_.reprepares.load(std::memory_order_relaxed);
  out.reconnects = stats_.reconnects.load(std::memory_order_relaxed);
  return out;
}

}  // namespace cql
