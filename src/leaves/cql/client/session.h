// A CQL session over a cluster: a connection pool per host, hosts discovered
// from system.local and system.peers_v2 (or system.peers), token-aware
// routing of prepared statements (Murmur3 of the bound partition key),
// a prepared-statement cache with re-prepare on UNPREPARED, paging,
// per-request timeouts, retries of idempotent statements only, reconnection
// with exponential backoff, TLS and PasswordAuthenticator credentials.
//
// Thread-safety: a session lives on a strand. Call its coroutines from that
// strand (co_spawn(session->executor(), ...)); close() may be called anywhere.
#pragma once

#include <atomic>
#include <boost/asio/strand.hpp>
#include <map>
#include <unordered_map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "leaves/cql/client/connection.h"
#include "leaves/cql/protocol/messages.h"

namespace cql {

struct tls_options {
  bool enabled = false;
  std::string ca_file;                 // trust these CAs (default: system store)
  std::string cert_file, key_file;     // optional client certificate
  bool verify_hostname = true;
  std::string server_name;             // name to verify and send as SNI
};

struct session_options {
  std::vector<std::string> contact_points;  // "host" or "host:port"
  uint16_t default_port = 9042;
  std::optional<credentials> auth;
  tls_options tls;
  size_t connections_per_host = 2;
  size_t max_in_flight_per_connection = 1024;
  consistency default_consistency = consistency::local_quorum;
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds connect_timeout{5000};
  int max_retries = 2;  // extra attempts, idempotent statements only
  std::chrono::milliseconds reconnect_base{100}, reconnect_max{10000};
  bool discover_peers = true;  // false: use the contact points only
  protocol::compression compression = protocol::compression::none;  // lz4: every connection compresses
};

struct prepared_statement {
  std::string cql;
  std::string id;
  protocol::rows_metadata bind, result;
};
using prepared_ptr = std::shared_ptr<const prepared_statement>;

struct statement {
  std::string cql;        // a simple statement, or
  prepared_ptr prepared;  // a prepared one
  std::vector<value> values;
  std::optional<consistency> cl;
  int32_t page_size = 0;
  std::string paging_state;
  bool idempotent = false;  // only idempotent statements are retried
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<int64_t> timestamp_us;
  std::optional<std::string> routing_key;  // overrides the one from pk_indexes
  // Prepared only: the server leaves the column specs out of each result
  // (less to encode, send and decode); the rows then carry only their column
  // count, and the names and types are the prepared statement's `result`.
  // For statements that list their columns: after an ALTER TABLE a
  // `SELECT *` would no longer match the prepared metadata (protocol v4).
  bool skip_metadata = false;
};

struct batch_statement {
  batch_type type = batch_type::unlogged;
  std::vector<statement> statements;  // prepared or simple; cl/timeout taken from the first
  std::optional<consistency> cl;
  bool idempotent = false;
  std::optional<std::chrono::milliseconds> timeout;
};

struct host_info {
  std::string address;
  uint16_t port = 0;
  std::string datacenter, host_id, release_version;
  std::vector<int64_t> tokens;
  bool up = false;
  size_t open_connections = 0;
};

struct session_stats {
  uint64_t requests = 0, errors = 0, retries = 0, timeouts = 0, reprepares = 0, reconnects = 0;
};

class session : public std::enable_shared_from_this<session> {
 public:
  static asio::awaitable<result<std::shared_ptr<session>>> connect(asio::any_io_executor ex, session_options opts);

  // Prepares (once per session and host; cached by CQL text).
  asio::awaitable<result<prepared_ptr>> prepare(const std::string& cql);
  // Runs one statement; a Void result gives an empty rows page.
  asio::awaitable<result<protocol::rows>> execute(statement st);
  asio::awaitable<status> batch(batch_statement b);
  // Runs a statement and follows its pages up to max_rows (0: no limit).
  asio::awaitable<result<std::vector<protocol::rows>>> execute_all_pages(statement st, size_t max_rows = 0);

  void set_event_handler(connection::event_handler h) { on_event_ = std::move(h); }
  void close();
  std::vector<host_info> hosts() const;
  session_stats stats() const;
  // After DDL: polls system.local and system.peers on the control connection
  // every 200 ms until every node reports the same schema version (true), or
  // max_wait passes (false: a node is down or slow; the caller decides).
  asio::awaitable<result<bool>> wait_for_schema_agreement(std::chrono::milliseconds max_wait);
  asio::any_io_executor executor() const { return strand_; }
  // The host a routing key maps to (primary replica by token), if known.
  std::optional<std::string> owner_of(std::string_view routing_key) const;

  session(asio::any_io_executor strand, session_options opts);
  ~session();

 private:
  struct host {
    host_info info;
    std::vector<std::shared_ptr<connection>> conns;
    bool connecting = false;
    int failures = 0;
    std::map<std::string, bool> prepared;  // prepared ids known to be on this host
  };

  asio::awaitable<status> bootstrap();
  asio::awaitable<status> refresh_hosts(const std::shared_ptr<connection>& control);
  static asio::awaitable<void> maintain(std::shared_ptr<session> self, std::string key);
  asio::awaitable<status> fill_pool(host& h);
  connection_options options_for(const host_info& h) const;
  // Candidate hosts for a request, best first.
  std::vector<host*> plan(const std::optional<std::string>& routing_key);
  std::shared_ptr<connection> pick(host& h);
  asio::awaitable<status> register_events(const std::shared_ptr<connection>& c);
  asio::awaitable<result<protocol::response>> send(const std::shared_ptr<connection>& c, const statement& st,
                                                   clock::time_point deadline);
  asio::awaitable<result<prepared_ptr>> prepare_on(const std::shared_ptr<connection>& c, const std::string& cql,
                                                   clock::time_point deadline);
  std::optional<std::string> routing_key_of(const statement& st) const;

  asio::any_io_executor strand_;
  session_options opts_;
  std::shared_ptr<asio::ssl::context> tls_ctx_;
  std::map<std::string, host> hosts_;  // by "address:port"
  std::vector<std::pair<int64_t, std::string>> ring_;  // token -> host key, sorted
  std::unordered_map<std::string, prepared_ptr> prepared_cache_;
  std::shared_ptr<connection> control_;
  connection::event_handler on_event_;
  size_t rr_ = 0;
  std::atomic<bool> closed_{false};
  // Counted on the session's executor, read from any thread by stats().
  struct counters {
    std::atomic<uint64_t> requests{0}, errors{0}, retries{0}, timeouts{0}, reprepares{0}, reconnects{0};
  } stats_;
};

}  // namespace cql
