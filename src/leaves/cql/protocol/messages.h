// Native protocol v4 frames: the 9-byte header, every request the client
// sends and every response it reads. Pure encode/decode over byte strings;
// decoding never trusts a length it has not bounds-checked.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "leaves/cql/error.h"
#include "leaves/cql/protocol/types.h"
#include "leaves/cql/protocol/wire.h"

namespace cql {

enum class consistency : uint16_t {
  any = 0x0000,
  one = 0x0001,
  two = 0x0002,
  three = 0x0003,
  quorum = 0x0004,
  all = 0x0005,
  local_quorum = 0x0006,
  each_quorum = 0x0007,
  serial = 0x0008,
  local_serial = 0x0009,
  local_one = 0x000A,
};
const char* to_string(consistency c);
std::optional<consistency> parse_consistency(std::string_view s);  // "local_quorum", "ONE", ...

enum class batch_type : uint8_t { logged = 0, unlogged = 1, counter = 2 };

}  // namespace cql

namespace cql::protocol {

constexpr uint8_t version = 4;
constexpr size_t header_size = 9;
constexpr uint32_t max_body_size = 256u << 20;  // the protocol's own limit

enum class opcode : uint8_t {
  error = 0x00,
  startup = 0x01,
  ready = 0x02,
  authenticate = 0x03,
  options = 0x05,
  supported = 0x06,
  query = 0x07,
  result = 0x08,
  prepare = 0x09,
  execute = 0x0A,
  register_ = 0x0B,
  event = 0x0C,
  batch = 0x0D,
  auth_challenge = 0x0E,
  auth_response = 0x0F,
  auth_success = 0x10,
};

namespace flags {
constexpr uint8_t compression = 0x01, tracing = 0x02, custom_payload = 0x04, warning = 0x08, beta = 0x10;
}

struct frame_header {
  uint8_t version = protocol::version;  // high bit set on responses
  uint8_t flags = 0;
  int16_t stream = 0;
  opcode op = opcode::error;
  uint32_t length = 0;
  bool operator==(const frame_header&) const = default;
};

void encode_header(bytes& out, const frame_header& h);
// nullopt with *why set: a header this client cannot accept (wrong version,
// not a response, body over max_body_size).
std::optional<frame_header> decode_header(std::string_view nine_bytes, std::string* why);

// ---- requests: each appends one whole frame to out ----

struct query_params {
  consistency cl = consistency::local_one;
  std::vector<value> values;
  bool skip_metadata = false;
  int32_t page_size = 0;  // <= 0: no paging
  std::string paging_state;
  std::optional<consistency> serial_cl;
  std::optional<int64_t> timestamp_us;  // default write timestamp
};

struct batch_entry {
  bool prepared = false;
  std::string query_or_id;  // CQL text, or a prepared id
  std::vector<value> values;
};

void encode_startup(bytes& out, int16_t stream, const std::map<std::string, std::string>& options);
void encode_options(bytes& out, int16_t stream);
void encode_auth_response(bytes& out, int16_t stream, std::string_view token);
void encode_query(bytes& out, int16_t stream, std::string_view cql, const query_params& p);
void encode_prepare(bytes& out, int16_t stream, std::string_view cql);
void encode_execute(bytes& out, int16_t stream, std::string_view id, const query_params& p);
void encode_batch(bytes& out, int16_t stream, batch_type type, const std::vector<batch_entry>& entries,
                  consistency cl, std::optional<consistency> serial_cl = {}, std::optional<int64_t> timestamp_us = {});
void encode_register(bytes& out, int16_t stream, const std::vector<std::string>& event_types);

// ---- responses ----

struct column_spec {
  std::string keyspace, table, name;
  data_type type;
};

struct rows_metadata {
  std::vector<column_spec> columns;
  std::string paging_state;  // non-empty: more pages
  bool no_metadata = false;
  size_t no_metadata_count = 0;  // with no_metadata: the column count (columns stays empty)
  std::vector<uint16_t> pk_indexes;  // prepared bind metadata only
};

// A page of rows. Cells are views into body, kept alive with it.
struct rows {
  rows_metadata meta;
  size_t column_count = 0;
  size_t row_count = 0;
  std::string body;
  struct cell_ref {
    int32_t offset = 0;
    int32_t length = -1;  // -1: null
  };
  std::vector<cell_ref> cells;  // row-major

  // nullopt: the cell is null.
  std::optional<std::string_view> cell(size_t row, size_t col) const {
    const auto& c = cells[row * column_count + col];
    if (c.length < 0) return std::nullopt;
    return std::string_view(body).substr(static_cast<size_t>(c.offset), static_cast<size_t>(c.length));
  }
  // Index of a column by name; -1 when absent.
  int column(std::string_view name) const;
};

struct prepared_result {
  std::string id;
  rows_metadata bind;    // the variables, with pk_indexes
  rows_metadata result;  // the result columns (may be no_metadata)
};

struct schema_change {
  std::string change_type;  // CREATED, UPDATED, DROPPED
  std::string target;       // KEYSPACE, TABLE, TYPE, FUNCTION, AGGREGATE
  std::string keyspace, name;
  std::vector<std::string> arg_types;
};

struct void_result {};
struct set_keyspace_result {
  std::string keyspace;
};

using result_body = std::variant<void_result, rows, set_keyspace_result, prepared_result, schema_change>;

struct ready {};
struct authenticate {
  std::string authenticator;
};
struct supported {
  std::map<std::string, std::vector<std::string>> options;
};
struct auth_challenge {
  std::string token;
};
struct auth_success {
  std::string token;
};
struct event {
  std::string type;    // TOPOLOGY_CHANGE, STATUS_CHANGE, SCHEMA_CHANGE
  std::string change;  // NEW_NODE, REMOVED_NODE, UP, DOWN (not for schema)
  std::string address;
  int32_t port = 0;
  schema_change schema;
};

using response_body = std::variant<cql::error, ready, authenticate, supported, result_body, event, auth_challenge, auth_success>;

struct response {
  frame_header header;
  std::vector<std::string> warnings;
  response_body body;
};

// Decodes a response body (the bytes after the header).
cql::result<response> decode_response(const frame_header& h, std::string body);

// Encodes responses: for the scripted fake server in tests and for golden frames.
void encode_error(bytes& out, int16_t stream, const cql::error& e);
void encode_ready(bytes& out, int16_t stream);
void encode_authenticate(bytes& out, int16_t stream, std::string_view authenticator);
void encode_auth_success(bytes& out, int16_t stream);
void encode_void_result(bytes& out, int16_t stream);
void encode_rows_result(bytes& out, int16_t stream, const std::vector<column_spec>& columns,
                        const std::vector<std::vector<value>>& rows, std::string_view paging_state = {});

}  // namespace cql::protocol
