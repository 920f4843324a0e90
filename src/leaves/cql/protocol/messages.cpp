#include "leaves/cql/protocol/messages.h"

#include <algorithm>
#include <cctype>

namespace cql {

const char* to_string(consistency c) {
  switch (c) {
    case consistency::any: return "ANY";
    case consistency::one: return "ONE";
    case consistency::two: return "TWO";
    case consistency::three: return "THREE";
    case consistency::quorum: return "QUORUM";
    case consistency::all: return "ALL";
    case consistency::local_quorum: return "LOCAL_QUORUM";
    case consistency::each_quorum: return "EACH_QUORUM";
    case consistency::serial: return "SERIAL";
    case consistency::local_serial: return "LOCAL_SERIAL";
    case consistency::local_one: return "LOCAL_ONE";
  }
  return "?";
}

std::optional<consistency> parse_consistency(std::string_view s) {
  std::string up(s);
  std::transform(up.begin(), up.end(), up.begin(), [](unsigned char c) { return std::toupper(c); });
  for (uint16_t v = 0; v <= 0x0A; ++v) {
    auto c = static_cast<consistency>(v);
    if (up == to_string(c)) return c;
  }
  return std::nullopt;
}

}  // namespace cql

namespace cql::protocol {

namespace {

// Starts a frame; returns the offset of its length field.
size_t begin(bytes& out, int16_t stream, opcode op, uint8_t version_byte = version) {
  frame_header h;
  h.version = version_byte;
  h.stream = stream;
  h.op = op;
  encode_header(out, h);
  return out.size() - 4;
}

void finish(bytes& out, size_t length_at) {
  writer(out).patch_i32(length_at, static_cast<int32_t>(out.size() - length_at - 4));
}

void write_params(writer& w, const query_params& p) {
  w.u16(static_cast<uint16_t>(p.cl));
  uint8_t f = 0;
  if (!p.values.empty()) f |= 0x01;
  if (p.skip_metadata) f |= 0x02;
  if (p.page_size > 0) f |= 0x04;
  if (!p.paging_state.empty()) f |= 0x08;
  if (p.serial_cl) f |= 0x10;
  if (p.timestamp_us) f |= 0x20;
  w.u8(f);
  if (f & 0x01) {
    w.u16(static_cast<uint16_t>(p.values.size()));
    for (const auto& v : p.values) write_value(w, v);
  }
  if (f & 0x04) w.i32(p.page_size);
  if (f & 0x08) w.bytes_(p.paging_state);
  if (f & 0x10) w.u16(static_cast<uint16_t>(*p.serial_cl));
  if (f & 0x20) w.i64(*p.timestamp_us);
}

constexpr int32_t global_tables_spec = 0x0001, has_more_pages = 0x0002, no_metadata = 0x0004;

rows_metadata read_metadata(reader& r, bool prepared_bind) {
  rows_metadata m;
  int32_t f = r.i32();
  int32_t count = r.i32();
  // Each column spec takes at least 4 bytes; without specs (No_metadata) only
  // a fixed cap keeps a hostile count from allocating without bound.
  const bool specs = prepared_bind || !(f & no_metadata);
  if (count < 0 || (specs && static_cast<size_t>(count) > r.remaining() + 1) || count > 65535) {
    r.fail();
    return m;
  }
  if (prepared_bind) {
    int32_t pk = r.i32();
    if (pk < 0 || pk > count) {
      r.fail();
      return m;
    }
    for (int32_t i = 0; i < pk; ++i) m.pk_indexes.push_back(r.u16());
  }
  if (!prepared_bind && (f & has_more_pages)) {
    bool null = false;
    m.paging_state = std::string(r.bytes_(&null));
  }
  if (f & no_metadata) {
    m.no_metadata = true;
    m.no_metadata_count = static_cast<size_t>(count);
    return m;
  }
  std::string gks, gtable;
  if (f & global_tables_spec) {
    gks = r.string();
    gtable = r.string();
  }
  for (int32_t i = 0; i < count && r.ok(); ++i) {
    column_spec c;
    if (f & global_tables_spec) {
      c.keyspace = gks;
      c.table = gtable;
    } else {
      c.keyspace = r.string();
      c.table = r.string();
    }
    c.name = r.string();
    c.type = read_type(r);
    m.columns.push_back(std::move(c));
  }
  return m;
}

schema_change read_schema_change(reader& r) {
  schema_change s;
  s.change_type = r.string();
  s.target = r.string();
  s.keyspace = r.string();
  if (s.target == "TABLE" || s.target == "TYPE") {
    s.name = r.string();
  } else if (s.target == "FUNCTION" || s.target == "AGGREGATE") {
    s.name = r.string();
    s.arg_types = r.string_list();
  }
  return s;
}

std::string read_inet(reader& r, int32_t* port) {
  uint8_t n = r.u8();
  auto a = r.take(n);
  *port = r.i32();
  std::string s;
  if (!r.ok() || a.size() != n) return s;  // truncated: the caller sees !r.ok()
  if (n == 4) {
    for (size_t i = 0; i < 4; ++i) s += (i ? "." : "") + std::to_string(static_cast<uint8_t>(a[i]));
  } else {
    static const char* hex = "0123456789abcdef";
    for (size_t i = 0; i < a.size(); i += 2) {
      if (i) s += ':';
      for (size_t j = i; j < i + 2 && j < a.size(); ++j) {
        s += hex[static_cast<uint8_t>(a[j]) >> 4];
        s += hex[static_cast<uint8_t>(a[j]) & 15];
      }
    }
  }
  return s;
}

cql::error read_error(reader& r) {
  cql::error e;
  e.kind = error_kind::server;
  e.code = static_cast<server_code>(r.i32());
  e.message = r.string();
  switch (e.code) {
    case server_code::unavailable:
      e.consistency = r.u16();
      e.required = r.i32();
      e.received = r.i32();  // alive
      break;
    case server_code::write_timeout:
      e.consistency = r.u16();
      e.received = r.i32();
      e.required = r.i32();
      e.write_type = r.string();
      break;
    case server_code::read_timeout:
      e.consistency = r.u16();
      e.received = r.i32();
      e.required = r.i32();
      e.data_present = r.u8() != 0;
      break;
    case server_code::read_failure:
      e.consistency = r.u16();
      e.received = r.i32();
      e.required = r.i32();
      e.failures = r.i32();
      e.data_present = r.u8() != 0;
      break;
    case server_code::write_failure:
      e.consistency = r.u16();
      e.received = r.i32();
      e.required = r.i32();
      e.failures = r.i32();
      e.write_type = r.string();
      break;
    case server_code::cas_write_unknown:
      e.consistency = r.u16();
      e.received = r.i32();
      e.required = r.i32();
      break;
    case server_code::function_failure:
      e.keyspace = r.string();
      e.table = r.string();  // the function's name
      (void)r.string_list();
      break;
    case server_code::already_exists:
      e.keyspace = r.string();
      e.table = r.string();
      break;
    case server_code::unprepared: e.unprepared_id = r.short_bytes(); break;
    default: break;
  }
  return e;
}

cql::error malformed(const char* what) {
  return make_error(error_kind::protocol, std::string("malformed ") + what + " frame from the server");
}

}  // namespace

void encode_header(bytes& out, const frame_header& h) {
  writer w(out);
  w.u8(h.version);
  w.u8(h.flags);
  w.i16(h.stream);
  w.u8(static_cast<uint8_t>(h.op));
  w.i32(static_cast<int32_t>(h.length));
}

std::optional<frame_header> decode_header(std::string_view b, std::string* why) {
  reader r(b.substr(0, header_size));
  frame_header h;
  h.version = r.u8();
  h.flags = r.u8();
  h.stream = r.i16();
  h.op = static_cast<opcode>(r.u8());
  h.length = static_cast<uint32_t>(r.i32());
  if (!r.ok()) {
    if (why) *why = "short frame header";
    return std::nullopt;
  }
  if ((h.version & 0x7f) != version) {
    if (why) *why = "protocol version " + std::to_string(h.version & 0x7f) + " (this client speaks v4)";
    return std::nullopt;
  }
  if (!(h.version & 0x80)) {
    if (why) *why = "a request frame where a response was expected";
    return std::nullopt;
  }
  if (h.length > max_body_size) {
    if (why) *why = "frame body of " + std::to_string(h.length) + " bytes exceeds the 256 MiB limit";
    return std::nullopt;
  }
  return h;
}

void encode_startup(bytes& out, int16_t stream, const std::map<std::string, std::string>& options) {
  auto at = begin(out, stream, opcode::startup);
  writer(out).string_map(options);
  finish(out, at);
}

void encode_options(bytes& out, int16_t stream) { finish(out, begin(out, stream, opcode::options)); }

void encode_auth_response(bytes& out, int16_t stream, std::string_view token) {
  auto at = begin(out, stream, opcode::auth_response);
  writer(out).bytes_(token);
  finish(out, at);
}

void encode_query(bytes& out, int16_t stream, std::string_view cql, const query_params& p) {
  auto at = begin(out, stream, opcode::query);
  writer w(out);
  w.long_string(cql);
  write_params(w, p);
  finish(out, at);
}

void encode_prepare(bytes& out, int16_t stream, std::string_view cql) {
  auto at = begin(out, stream, opcode::prepare);
  writer(out).long_string(cql);
  finish(out, at);
}

void encode_execute(bytes& out, int16_t stream, std::string_view id, const query_params& p) {
  auto at = begin(out, stream, opcode::execute);
  writer w(out);
  w.short_bytes(id);
  write_params(w, p);
  finish(out, at);
}

void encode_batch(bytes& out, int16_t stream, batch_type type, const std::vector<batch_entry>& entries, consistency cl,
                  std::optional<consistency> serial_cl, std::optional<int64_t> timestamp_us) {
  auto at = begin(out, stream, opcode::batch);
  writer w(out);
  w.u8(static_cast<uint8_t>(type));
  w.u16(static_cast<uint16_t>(entries.size()));
  for (const auto& e : entries) {
    w.u8(e.prepared ? 1 : 0);
    if (e.prepared)
      w.short_bytes(e.query_or_id);
    else
      w.long_string(e.query_or_id);
    w.u16(static_cast<uint16_t>(e.values.size()));
    for (const auto& v : e.values) write_value(w, v);
  }
  w.u16(static_cast<uint16_t>(cl));
  uint8_t f = 0;
  if (serial_cl) f |= 0x10;
  if (timestamp_us) f |= 0x20;
  w.u8(f);
  if (serial_cl) w.u16(static_cast<uint16_t>(*serial_cl));
  if (timestamp_us) w.i64(*timestamp_us);
  finish(out, at);
}

void encode_register(bytes& out, int16_t stream, const std::vector<std::string>& event_types) {
  auto at = begin(out, stream, opcode::register_);
  writer(out).string_list(event_types);
  finish(out, at);
}

int rows::column(std::string_view name) const {
  for (size_t i = 0; i < meta.columns.size(); ++i)
    if (meta.columns[i].name == name) return static_cast<int>(i);
  return -1;
}

cql::result<response> decode_response(const frame_header& h, std::string body) {
  response resp;
  resp.header = h;
  if (h.flags & flags::compression) return make_error(error_kind::protocol, "compressed frame, but no compression was negotiated");
  reader r(body);
  if (h.flags & flags::tracing) (void)r.take(16);
  if (h.flags & flags::warning) resp.warnings = r.string_list();
  if (h.flags & flags::custom_payload) {
    uint16_t n = r.u16();
    for (uint16_t i = 0; i < n && r.ok(); ++i) {
      (void)r.string();
      (void)r.bytes_();
    }
  }
  if (!r.ok()) return malformed("response prefix of a");
  switch (h.op) {
    case opcode::error: {
      auto e = read_error(r);
      if (!r.ok()) return malformed("ERROR");
      resp.body = std::move(e);
      return resp;
    }
    case opcode::ready: resp.body = ready{}; return resp;
    case opcode::authenticate: {
      authenticate a{r.string()};
      if (!r.ok()) return malformed("AUTHENTICATE");
      resp.body = std::move(a);
      return resp;
    }
    case opcode::supported: {
      supported s{r.string_multimap()};
      if (!r.ok()) return malformed("SUPPORTED");
      resp.body = std::move(s);
      return resp;
    }
    case opcode::auth_challenge:
    case opcode::auth_success: {
      bool null = false;
      std::string token(r.bytes_(&null));
      if (!r.ok()) return malformed("AUTH");
      if (h.op == opcode::auth_challenge)
        resp.body = auth_challenge{std::move(token)};
      else
        resp.body = auth_success{std::move(token)};
      return resp;
    }
    case opcode::event: {
      event ev;
      ev.type = r.string();
      if (ev.type == "SCHEMA_CHANGE") {
        ev.schema = read_schema_change(r);
      } else {
        ev.change = r.string();
        ev.address = read_inet(r, &ev.port);
      }
      if (!r.ok()) return malformed("EVENT");
      resp.body = std::move(ev);
      return resp;
    }
    case opcode::result: break;
    default: return make_error(error_kind::protocol, "unexpected opcode " + std::to_string(static_cast<int>(h.op)) + " in a response");
  }
  int32_t kind = r.i32();
  switch (kind) {
    case 0x0001: resp.body = result_body{void_result{}}; break;
    case 0x0002: {
      rows rs;
      rs.meta = read_metadata(r, false);
      rs.column_count = rs.meta.no_metadata ? rs.meta.no_metadata_count : rs.meta.columns.size();
      int32_t n = r.i32();
      if (!r.ok() || n < 0 || (rs.column_count > 0 && static_cast<size_t>(n) > r.remaining() / (4 * rs.column_count)))
        return malformed("RESULT Rows");
      rs.row_count = static_cast<size_t>(n);
      rs.cells.reserve(rs.row_count * rs.column_count);
      for (size_t i = 0; i < rs.row_count * rs.column_count; ++i) {
        size_t before = body.size() - r.remaining();
        bool null = false;
        auto cell = r.bytes_(&null);
        if (!r.ok()) return malformed("RESULT Rows");
        rows::cell_ref c;
        c.length = null ? -1 : static_cast<int32_t>(cell.size());
        c.offset = static_cast<int32_t>(before + 4);
        rs.cells.push_back(c);
      }
      rs.body = std::move(body);
      resp.body = result_body{std::move(rs)};
      return resp;
    }
    case 0x0003: resp.body = result_body{set_keyspace_result{r.string()}}; break;
    case 0x0004: {
      prepared_result p;
      p.id = r.short_bytes();
      p.bind = read_metadata(r, true);
      p.result = read_metadata(r, false);
      resp.body = result_body{std::move(p)};
      break;
    }
    case 0x0005: resp.body = result_body{read_schema_change(r)}; break;
    default: return make_error(error_kind::protocol, "unknown RESULT kind " + std::to_string(kind));
  }
  if (!r.ok()) return malformed("RESULT");
  return resp;
}

namespace {
size_t begin_response(bytes& out, int16_t stream, opcode op) {
  return begin(out, stream, op, static_cast<uint8_t>(version | 0x80));
}
}  // namespace

void encode_error(bytes& out, int16_t stream, const cql::error& e) {
  auto at = begin_response(out, stream, opcode::error);
  writer w(out);
  w.i32(static_cast<int32_t>(e.code));
  w.string(e.message);
  switch (e.code) {
    case server_code::unavailable:
      w.u16(e.consistency);
      w.i32(e.required);
      w.i32(e.received);
      break;
    case server_code::write_timeout:
      w.u16(e.consistency);
      w.i32(e.received);
      w.i32(e.required);
      w.string(e.write_type);
      break;
    case server_code::read_timeout:
      w.u16(e.consistency);
      w.i32(e.received);
      w.i32(e.required);
      w.u8(e.data_present ? 1 : 0);
      break;
    case server_code::read_failure:
      w.u16(e.consistency);
      w.i32(e.received);
      w.i32(e.required);
      w.i32(e.failures);
      w.u8(e.data_present ? 1 : 0);
      break;
    case server_code::write_failure:
      w.u16(e.consistency);
      w.i32(e.received);
      w.i32(e.required);
      w.i32(e.failures);
      w.string(e.write_type);
      break;
    case server_code::cas_write_unknown:
      w.u16(e.consistency);
      w.i32(e.received);
      w.i32(e.required);
      break;
    case server_code::function_failure:
      w.string(e.keyspace);
      w.string(e.table);
      w.string_list({});
      break;
    case server_code::already_exists:
      w.string(e.keyspace);
      w.string(e.table);
      break;
    case server_code::unprepared: w.short_bytes(e.unprepared_id); break;
    default: break;
  }
  finish(out, at);
}

void encode_ready(bytes& out, int16_t stream) { finish(out, begin_response(out, stream, opcode::ready)); }

void encode_authenticate(bytes& out, int16_t stream, std::string_view authenticator) {
  auto at = begin_response(out, stream, opcode::authenticate);
  writer(out).string(authenticator);
  finish(out, at);
}

void encode_auth_success(bytes& out, int16_t stream) {
  auto at = begin_response(out, stream, opcode::auth_success);
  writer(out).null_bytes();
  finish(out, at);
}

void encode_void_result(bytes& out, int16_t stream) {
  auto at = begin_response(out, stream, opcode::result);
  writer(out).i32(1);
  finish(out, at);
}

void encode_rows_result(bytes& out, int16_t stream, const std::vector<column_spec>& columns,
                        const std::vector<std::vector<value>>& rows, std::string_view paging_state) {
  auto at = begin_response(out, stream, opcode::result);
  writer w(out);
  w.i32(2);
  int32_t f = global_tables_spec | (paging_state.empty() ? 0 : has_more_pages);
  w.i32(f);
  w.i32(static_cast<int32_t>(columns.size()));
  if (!paging_state.empty()) w.bytes_(paging_state);
  w.string(columns.empty() ? "" : columns[0].keyspace);
  w.string(columns.empty() ? "" : columns[0].table);
  for (const auto& c : columns) {
    w.string(c.name);
    write_type(w, c.type);
  }
  w.i32(static_cast<int32_t>(rows.size()));
  for (const auto& row : rows)
    for (const auto& v : row) write_value(w, v);
  finish(out, at);
}

}  // namespace cql::protocol
