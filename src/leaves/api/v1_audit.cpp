// GET /v1/audit (admins): every event of the log (leaves, users, teams and collections), newest
// first, read back from the log itself (no index of its own).
#include "leaves/api/handlers.h"

#include <deque>

#include "leaves/base/time.h"
#include "leaves/domain/event_avro.h"

namespace leaves::api {

namespace {

constexpr int64_t kChunk = 500;
constexpr int64_t kAuditScan = 200000;
constexpr auto kAuditBudget = std::chrono::seconds(2);

// One audit entry: the envelope's fields and what the event changed, never
// a token's hash.
std::optional<json::object> audit_entry(const log::stored_record& r) {
  auto j = domain::decode_event_value(r.value);
  if (!j) return std::nullopt;
  const auto& o = *j;
  json::object e{{"position", std::to_string(r.partition) + ":" + std::to_string(r.offset)},
                 {"logged", format_iso8601(r.timestamp_ms)}};
  for (const char* k : {"type", "aggregate_id", "aggregate_version", "time", "actor"}) {
    if (const auto* v = o.if_contains(k)) e[k] = *v;
  }
  const auto* data = o.if_contains("data");
  if (data && data->is_object()) {
    const auto& d = data->get_object();
    if (const auto* ch = d.if_contains("changes"); ch && ch->is_object()) {
      json::array fields;
      for (const auto& kv : ch->get_object()) fields.emplace_back(kv.key());
      e["changed"] = std::move(fields);
    }
    if (const auto* t = d.if_contains("tags")) e["tags"] = *t;
    for (const char* k : {"token_id", "role", "name", "scopes", "user", "team", "leaf", "starred", "archived"}) {
      // (A leaf.created's "leaf" is the whole leaf, content and all: its id
      // is the aggregate's; a collection's names the leaf by id.)
      if (const auto* v = d.if_contains(k); v && !v->is_object()) e[k] = *v;
    }
  }
  return e;
}

bool passes(const json::object& e, const std::string* actor, const std::string* type, const std::string* aggregate) {
  auto str = [&](const char* k) -> std::string_view {
    const auto* v = e.if_contains(k);
    return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
  };
  if (actor && str("actor") != *actor) return false;
  // type=leaf. or type=user. selects a family; anything else is exact.
  if (type && !(type->ends_with('.') ? str("type").starts_with(*type) : str("type") == *type)) return false;
  if (aggregate && str("aggregate_id") != *aggregate) return false;
  return true;
}

}  // namespace

asio::awaitable<response> operations::audit(const request& req, const params& p) {
  (void)req;
  for (const auto& [k, v] : p) {
    if (k != "limit" && k != "before" && k != "actor" && k != "type" && k != "aggregate") {
      co_return error_to_response(bad_query("unknown query parameter: " + k));
    }
  }
  auto limit = int_param(p, "limit", 1, 1000);
  if (!limit) co_return error_to_response(limit.err());
  const size_t want = static_cast<size_t>(limit->value_or(50));
  const int32_t parts = d.log.partitions();
  // Each partition is read below its bound: the log's end, or the `before`
  // cursor of the previous page (per partition, the offset read down to).
  std::vector<int64_t> hi(parts, 0);
  if (const auto* before = param(p, "before")) {
    auto pos = projector::parse_positions(*before, parts);
    if (!pos || pos->size() != static_cast<size_t>(parts)) {
      co_return error_to_response(bad_query("before: the next_before of a previous page"));
    }
    for (const auto& x : *pos) hi[x.partition] = x.offset;
  } else {
    hi = co_await d.log.async_end_offsets();
    if (hi.size() != static_cast<size_t>(parts)) co_return error_to_response(make_error(errc::unavailable, "log end"));
  }
  std::vector<int64_t> cursor = hi;
  std::vector<std::deque<log::stored_record>> buf(parts);  // oldest first; the back is next
  const auto deadline = std::chrono::steady_clock::now() + kAuditBudget;
  int64_t scanned = 0;
  json::array items;
  bool exhausted = false;
  while (items.size() < want) {
    if (scanned >= kAuditScan || std::chrono::steady_clock::now() >= deadline) break;
    for (int32_t q = 0; q < parts; ++q) {
      if (!buf[q].empty() || hi[q] <= 0) continue;
      const int64_t lo = std::max<int64_t>(0, hi[q] - kChunk);
      auto recs = co_await d.log.async_read(q, lo, static_cast<size_t>(hi[q] - lo));
      if (!recs) co_return error_to_response(recs.err());
      scanned += hi[q] - lo;
      for (auto& r : *recs) {
        if (r.offset < hi[q]) buf[q].push_back(std::move(r));
      }
      // A chunk that starts above `lo` (Kafka's retention deleted what is
      // older) or nothing at all: the partition has nothing older.
      hi[q] = recs->empty() || recs->front().offset > lo ? 0 : lo;
    }
    // The newest record at the head of any partition (partitions have no
    // order between them: by the time the log stamped, then by partition).
    int32_t best = -1;
    for (int32_t q = 0; q < parts; ++q) {
      if (buf[q].empty()) continue;
      if (best < 0 || buf[q].back().timestamp_ms > buf[best].back().timestamp_ms) best = q;
    }
    if (best < 0) {
      exhausted = true;
      break;
    }
    auto r = std::move(buf[best].back());
    buf[best].pop_back();
    cursor[best] = r.offset;
    auto e = audit_entry(r);
    if (e && passes(*e, param(p, "actor"), param(p, "type"), param(p, "aggregate"))) items.emplace_back(std::move(*e));
  }
  json::object out{{"items", std::move(items)}, {"scanned", scanned}};
  if (exhausted) {
    out["next_before"] = nullptr;
  } else {
    std::string next;
    for (int32_t q = 0; q < parts; ++q) {
      next += (q ? "," : "") + std::to_string(q) + ":" + std::to_string(cursor[q]);
    }
    out["next_before"] = next;
  }
  co_return json_response(200, json::serialize(out));
}

}  // namespace leaves::api
