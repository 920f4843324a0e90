#include "leaves/api/handlers.h"
#include "leaves/domain/event_avro.h"
#include "leaves/html/sanitize.h"
#include "leaves/base/hash.h"
#include "leaves/base/time.h"
#include "leaves/base/utf8.h"

namespace leaves::api {

asio::awaitable<response> v1_leaves::v1_write(domain::command cmd, int created_status) {
  auto w = co_await c.execute(std::move(cmd));
  if (!w) co_return error_to_response(w.err());
  response r = json_response(w->created ? created_status : 200, leaf_body(*w->leaf));
  c.add_write_headers(r, *w);
  co_return r;
}

asio::awaitable<response> v1_leaves::v1_create(const request& req) {
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  auto cmd = domain::save_command(*body, o.limits, /*ignore_unknown=*/false, /*keep_id=*/false);
  if (!cmd) co_return error_to_response(cmd.err());
  c.stamp(*cmd, req);
  co_return co_await v1_write(std::move(*cmd), 201);
}

asio::awaitable<response> v1_leaves::v1_patch(const request& req, std::string id) {
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  auto patch = domain::parse_patch(*body, o.limits);
  if (!patch) co_return error_to_response(patch.err());
  auto expected = c.if_match(req);
  if (!expected) co_return error_to_response(expected.err());
  domain::command cmd;
  cmd.kind = domain::command_kind::update;
  c.stamp(cmd, req);
  cmd.leaf_id = std::move(id);
  cmd.patch = std::move(*patch);
  cmd.expected_version = *expected;
  // Starred and archived of another user's leaf are the caller's own marks:
  // split off, the rest (if any) changes the leaf as before.
  if (req.caller.user_id > 0 && d.users &&
      (cmd.patch.has(domain::field::is_starred) || cmd.patch.has(domain::field::is_archived))) {
    auto st = co_await d.service.state(cmd.leaf_id);
    if (!st) co_return error_to_response(st.err());
    const auto& l = *st;
    if (l && !l->deleted && l->user_id && *l->user_id != req.caller.user_id &&
        c.readable(req, l->id, l->is_public, l->user_id)) {
      std::optional<bool> starred, archived;
      if (cmd.patch.has(domain::field::is_starred)) starred = cmd.patch.values.is_starred;
      if (cmd.patch.has(domain::field::is_archived)) archived = cmd.patch.values.is_archived;
      cmd.patch.mask[static_cast<size_t>(domain::field::is_starred)] = false;
      cmd.patch.mask[static_cast<size_t>(domain::field::is_archived)] = false;
      leaf shown = *l;
      std::optional<service::write_result> changed;
      if (!cmd.patch.empty()) {
        auto w = co_await c.execute(std::move(cmd));
        if (!w) co_return error_to_response(w.err());
        if (w->leaf) shown = *w->leaf;
        changed = std::move(*w);
      }
      auto r = co_await mark(req, std::move(shown), starred, archived);
      if (changed && r.status == 200) {
        std::erase_if(r.headers, [](const auto& h) { return h.first == "ETag"; });
        c.add_write_headers(r, *changed);
      }
      co_return r;
    }
  }
  co_return co_await v1_write(std::move(cmd), 200);
}

// PUT /v1/leaves/{id}/marks: the caller's own starred and archived. The
// owner's are the leaf's flags (a leaf.updated); anyone else's, a
// user.leaf_marked of the caller (docs/auth.md).
asio::awaitable<response> v1_leaves::v1_marks(const request& req, std::string id) {
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  std::optional<bool> starred, archived;
  for (const auto& [k, v] : *body) {
    if (k != "is_starred" && k != "is_archived") {
      co_return error_to_response(make_error(errc::invalid_argument,
                                             "unknown field " + std::string(k).substr(0, 40) +
                                                 ": a mark is is_starred and is_archived",
                                             "invalid_field"));
    }
    if (!v.is_bool()) {
      co_return error_to_response(
          make_error(errc::invalid_argument, std::string(k) + ": true or false", "invalid_field"));
    }
    (k == "is_starred" ? starred : archived) = v.get_bool();
  }
  if (!starred && !archived) {
    co_return error_to_response(
        make_error(errc::invalid_argument, "name is_starred, is_archived or both", "invalid_field"));
  }
  auto st = co_await d.service.state(id);
  if (!st) co_return error_to_response(st.err());
  const auto& l = *st;
  if (!l || l->deleted || !c.readable(req, id, l->is_public, l->user_id)) {
    // A mark the caller still keeps of a leaf since deleted (or no longer
    // shared with it) may be cleared, so that it does not count forever.
    const bool clears = starred.value_or(false) == false && archived.value_or(false) == false;
    if (clears && d.users && d.users->mark(req.caller.actor, id) != 0) {
      auto w = co_await record_mark(req, id, starred, archived);
      if (!w) co_return error_to_response(w.err());
      json::object o{{"id", id}, {"is_starred", false}, {"is_archived", false}, {"gone", true}};
      co_return json_response(200, json::serialize(o));
    }
    co_return error_to_response(make_error(errc::not_found, "leaf " + id + " does not exist", "leaf_not_found"));
  }
  if (!l->user_id || *l->user_id == req.caller.user_id) {
    if (!req.caller.writes) {
      co_return http::error_response(403, "permission_denied",
                                     "this is the leaf's own is_starred and is_archived: changing them needs the "
                                     "write scope");
    }
    domain::command cmd;
    cmd.kind = domain::command_kind::update;
    c.stamp(cmd, req);
    cmd.leaf_id = std::move(id);
    if (starred) {
      cmd.patch.values.is_starred = *starred;
      cmd.patch.set(domain::field::is_starred);
    }
    if (archived) {
      cmd.patch.values.is_archived = *archived;
      cmd.patch.set(domain::field::is_archived);
    }
    co_return co_await v1_write(std::move(cmd), 200);
  }
  co_return co_await mark(req, *l, starred, archived);
}

asio::awaitable<status> v1_leaves::record_mark(const request& req, const std::string& id,
                                                       std::optional<bool> starred, std::optional<bool> archived) {
  if (!d.user_service) co_return make_error(errc::unavailable, "this server has no users", "users_disabled");
  domain::user_command cmd;
  cmd.kind = domain::user_command_kind::mark_leaf;
  cmd.name = req.caller.actor;
  cmd.mark.leaf_id = id;
  cmd.mark.starred = starred;
  cmd.mark.archived = archived;
  auto w = co_await d.user_service->execute(std::move(cmd), req.caller.actor);
  if (!w) co_return w.err();
  co_return ok_status();
}

asio::awaitable<response> v1_leaves::mark(const request& req, leaf l, std::optional<bool> starred,
                                          std::optional<bool> archived) {
  auto w = co_await record_mark(req, l.id, starred, archived);
  if (!w) co_return error_to_response(w.err());
  c.show_marks(req.caller, l);
  response r = json_response(200, leaf_body(l));
  r.headers.emplace_back("ETag", "\"" + std::to_string(l.version) + "\"");
  co_return r;
}

asio::awaitable<response> v1_leaves::v1_delete(const request& req, std::string id) {
  auto expected = c.if_match(req);
  if (!expected) co_return error_to_response(expected.err());
  domain::command cmd;
  cmd.kind = domain::command_kind::remove;
  c.stamp(cmd, req);
  cmd.leaf_id = id;
  cmd.expected_version = *expected;
  auto w = co_await c.execute(std::move(cmd));
  if (!w) co_return error_to_response(w.err());
  json::object out{{"id", id}, {"deleted", true}, {"version", w->leaf ? w->leaf->version : 0}};
  response r = json_response(200, json::serialize(out));
  c.add_write_headers(r, *w);
  co_return r;
}

// Asks the enrichment worker to fetch the leaf's page again (docs/fetch.md).
asio::awaitable<response> v1_leaves::v1_refetch(const request& req, std::string id) {
  if (!o.enrich) {
    co_return http::error_response(503, "enrichment_disabled",
                                   "this server does not fetch pages: it was started without --enrich");
  }
  domain::command cmd;
  cmd.kind = domain::command_kind::request_enrichment;
  c.stamp(cmd, req);
  cmd.leaf_id = id;
  auto w = co_await c.execute(std::move(cmd));
  if (!w) co_return error_to_response(w.err());
  json::object out{{"id", id}, {"status", "queued"}, {"version", w->leaf ? w->leaf->version : 0}};
  response r = json_response(202, json::serialize(out));
  c.add_write_headers(r, *w);
  co_return r;
}

asio::awaitable<response> v1_leaves::v1_tags(const request& req, std::string id, domain::command_kind kind) {
  auto tags = c.parse_tags_body(req);
  if (!tags) co_return error_to_response(tags.err());
  auto expected = c.if_match(req);
  if (!expected) co_return error_to_response(expected.err());
  domain::command cmd;
  cmd.kind = kind;
  c.stamp(cmd, req);
  cmd.leaf_id = std::move(id);
  cmd.tags = std::move(*tags);
  cmd.expected_version = *expected;
  co_return co_await v1_write(std::move(cmd), 200);
}

asio::awaitable<response> v1_leaves::v1_get(const request& req, const params& p, const std::string& id) {
  if (param(p, "at")) co_return co_await v1_get_at(req, p, id);
  if (auto w = co_await c.wait_min_position(req, p)) co_return std::move(*w);
  // The stored JSON is the answer's body as it is (a live leaf's has no "deleted").
  auto l = co_await d.store.async_get_json(id);
  if (!l) co_return error_to_response(l.err());
  if (!*l || (*l)->deleted || !c.readable(req, id, (*l)->is_public, (*l)->user_id)) {
    co_return error_to_response(make_error(errc::not_found, "leaf " + id + " does not exist", "leaf_not_found"));
  }
  c.show_marks(req.caller, (*l)->json);
  response r = json_response(200, std::move((*l)->json));
  r.headers.emplace_back("ETag", "\"" + std::to_string((*l)->version) + "\"");
  co_return r;
}

asio::awaitable<response> v1_leaves::v1_content(const request& req, const params& p, const std::string& id) {
  for (const auto& [k, v] : p) {
    if (k != "min_position") co_return error_to_response(bad_query("unknown query parameter: " + k));
  }
  if (auto w = co_await c.wait_min_position(req, p)) co_return std::move(*w);
  auto l = co_await d.store.async_get_json(id);
  if (!l) co_return error_to_response(l.err());
  if (!*l || (*l)->deleted || !c.readable(req, id, (*l)->is_public, (*l)->user_id)) {
    co_return error_to_response(make_error(errc::not_found, "leaf " + id + " does not exist", "leaf_not_found"));
  }
  std::string safe;
  if (auto doc = json::parse((*l)->json); doc.is_object()) {
    if (const auto* content = doc.as_object().if_contains("content"); content && content->is_string()) {
      safe = html::sanitize(std::string_view(content->as_string()));
    }
  }
  response r = json_response(200, json::serialize(json::object{
                                      {"id", id}, {"version", (*l)->version}, {"html", std::move(safe)}}));
  r.headers.emplace_back("ETag", "\"" + std::to_string((*l)->version) + "\"");
  co_return r;
}

namespace {

// A history entry: what one event did, with long values cut.
json::object history_entry(const domain::event& ev, const log::stored_record& r) {
  json::object e{{"position", std::to_string(r.partition) + ":" + std::to_string(r.offset)},
                 {"type", domain::to_string(ev.type)},
                 {"version", ev.aggregate_version},
                 {"time", format_iso8601(ev.time_ms)}};
  if (!ev.actor.empty()) e["actor"] = ev.actor;
  json::array changed;
  for (auto& f : domain::changed_fields(ev)) changed.emplace_back(f);
  e["changed"] = std::move(changed);
  if (const auto* tags = ev.data.if_contains("tags")) e["tags"] = *tags;
  if (const auto* reason = ev.data.if_contains("reason"); reason && reason->is_string()) e["reason"] = *reason;
  // An enrichment's page (excerpt, canonical URL, favicon, ...) and the
  // changed values, with long values cut.
  for (const char* key : {"changes", "page"}) {
    const auto* o = ev.data.if_contains(key);
    if (!o || !o->is_object()) continue;
    json::object cut;
    for (const auto& [k, v] : o->as_object()) {
      if (v.is_string() && v.as_string().size() > 300) {
        cut[k] = utf8_repaired(v.as_string().subview(), 300) + "…";
      } else {
        cut[k] = v;
      }
    }
    e[key] = std::move(cut);
  }
  return e;
}

}  // namespace

// A caller limited to some leaves (docs/auth.md) reads a leaf's past only
// when it may see the leaf now: 404 otherwise, as if it did not exist.
asio::awaitable<std::optional<response>> v1_leaves::hidden_from(const request& req, const std::string& id) {
  if (!req.caller.limited) co_return std::nullopt;
  auto l = co_await d.store.async_get_json(id);
  if (!l) co_return error_to_response(l.err());
  if (*l && c.readable(req, id, (*l)->is_public, (*l)->user_id)) co_return std::nullopt;
  co_return error_to_response(make_error(errc::not_found, "leaf " + id + " does not exist", "leaf_not_found"));
}

// Time travel: the leaf's events up to the position, folded by the rule every
// projection follows (projection::fold_leaf). The position is one of the
// leaf's partition (as a write's Leaves-Position names it): positions of
// different partitions have no order between them.
asio::awaitable<response> v1_leaves::v1_get_at(const request& req, const params& p, const std::string& id) {
  for (const auto& [k, v] : p) {
    if (k != "at" && k != "min_position") co_return error_to_response(bad_query("unknown query parameter: " + k));
  }
  auto pos = projector::parse_positions(*param(p, "at"), d.log.partitions());
  if (!pos) co_return error_to_response(bad_query("at: " + pos.err().message));
  const int32_t part = kafka_partition(id, d.log.partitions());
  std::optional<int64_t> at;
  for (const auto& x : *pos) {
    if (x.partition == part) at = std::max(at.value_or(-1), x.offset);
  }
  if (!at) {
    co_return error_to_response(bad_query("at: leaf " + id + " is in partition " + std::to_string(part) +
                                          "; name a position of it, such as the Leaves-Position of a write"));
  }
  auto end = co_await d.log.async_end_offset(part);
  if (!end) co_return error_to_response(end.err());
  if (*at >= *end) {
    co_return error_to_response(bad_query("at: partition " + std::to_string(part) + " ends at offset " +
                                          std::to_string(*end) + "; " + std::to_string(*at) + " is not written yet"));
  }
  auto not_found = [&] {
    return error_to_response(make_error(errc::not_found,
                                        "leaf " + id + " did not exist at " + std::to_string(part) + ":" +
                                            std::to_string(*at),
                                        "leaf_not_found"));
  };
  if (auto hidden = co_await hidden_from(req, id)) co_return std::move(*hidden);
  auto read = co_await leaf_events(id, *at + 1, SIZE_MAX);
  if (!read) co_return error_to_response(read.err());
  if (!read->complete) {
    co_return error_to_response(make_error(errc::invalid_argument,
                                           "the leaf's events before " + std::to_string(part) + ":" +
                                               std::to_string(*at) + " are further back than one read scans (" +
                                               std::to_string(read->scanned) + " records)",
                                           "history_too_long"));
  }
  std::optional<leaf> state;
  for (auto it = read->events.rbegin(); it != read->events.rend(); ++it) {
    auto step = projection::fold_leaf(state, it->first);
    if (!step.skip) state = std::move(step.next);
  }
  // As it was then, to whoever may read it now by that state's flags or
  // through a collection (as GET /v1/leaves/{id} decides).
  if (!state || state->deleted || !c.readable(req, id, state->is_public, state->user_id)) co_return not_found();
  c.show_marks(req.caller, *state);  // the caller's marks are not in the leaf's events: as they are now
  response r = json_response(200, leaf_body(*state));
  r.headers.emplace_back("ETag", "\"" + std::to_string(state->version) + "\"");
  r.headers.emplace_back("Leaves-At", std::to_string(part) + ":" + std::to_string(*at));
  co_return r;
}

// The leaf's events are in its key's partition: read it backwards from
// `before` (an offset of that partition), a chunk at a time, until its
// creation, the partition's start or the scan's bounds (kHistoryScan
// records, kHistoryBudget of time). Newest first.
asio::awaitable<result<v1_leaves::leaf_event_scan>> v1_leaves::leaf_events(const std::string& id, int64_t before,
                                                                          size_t want) {
  const int32_t part = kafka_partition(id, d.log.partitions());
  constexpr int64_t kChunk = 2000;
  constexpr int64_t kHistoryScan = 200000;
  constexpr auto kHistoryBudget = std::chrono::seconds(2);
  const auto deadline = std::chrono::steady_clock::now() + kHistoryBudget;
  leaf_event_scan out;
  int64_t hi = before;
  while (!out.complete && out.events.size() < want) {
    if (hi <= 0) {
      out.complete = true;
      break;
    }
    if (out.scanned >= kHistoryScan || std::chrono::steady_clock::now() >= deadline) break;
    const int64_t lo = std::max<int64_t>(0, hi - kChunk);
    auto recs = co_await d.log.async_read(part, lo, static_cast<size_t>(hi - lo));
    if (!recs) co_return recs.err();
    out.scanned += hi - lo;
    for (auto it = recs->rbegin(); it != recs->rend() && out.events.size() < want; ++it) {
      if (it->key != id || it->offset >= hi) continue;
      auto j = domain::decode_event_value(it->value);
      if (!j) continue;
      auto ev = domain::event_from_json(*j);
      if (!ev || ev->aggregate_id != id) continue;
      const bool created = ev->type == domain::event_type::created;
      out.events.emplace_back(std::move(*ev), *it);
      if (created) {
        out.complete = true;
        break;
      }
    }
    // Offset 0, or a chunk that starts above `lo` (Kafka's retention deleted
    // what is older): nothing older is left to read.
    if (lo == 0 || recs->empty() || recs->front().offset > lo) {
      if (out.events.size() < want) out.complete = true;
      break;
    }
    hi = lo;
  }
  co_return out;
}

asio::awaitable<response> v1_leaves::v1_history(const request& req, const params& p, const std::string& id) {
  for (const auto& [k, v] : p) {
    if (k != "limit" && k != "min_position") co_return error_to_response(bad_query("unknown query parameter: " + k));
  }
  auto limit = int_param(p, "limit", 1, 1000);
  if (!limit) co_return error_to_response(limit.err());
  const size_t want = static_cast<size_t>(limit->value_or(100));
  if (auto w = co_await c.wait_min_position(req, p)) co_return std::move(*w);
  if (auto hidden = co_await hidden_from(req, id)) co_return std::move(*hidden);
  // The exact end (on Kafka a broker query on the log's thread), so a write
  // just acknowledged is in the answer.
  const int32_t part = kafka_partition(id, d.log.partitions());
  auto end = co_await d.log.async_end_offset(part);
  if (!end) co_return error_to_response(end.err());
  auto read = co_await leaf_events(id, *end, want);
  if (!read) co_return error_to_response(read.err());
  std::vector<json::object> found;  // newest first
  for (const auto& [ev, rec] : read->events) found.push_back(history_entry(ev, rec));
  const bool complete = read->complete;
  const int64_t scanned = read->scanned;
  if (found.empty() && complete) {
    auto l = co_await d.store.async_get_json(id);
    if (!l) co_return error_to_response(l.err());
    if (!*l) co_return error_to_response(make_error(errc::not_found, "leaf " + id + " does not exist", "leaf_not_found"));
  }
  json::array items;
  for (auto it = found.rbegin(); it != found.rend(); ++it) items.emplace_back(std::move(*it));
  co_return json_response(200, json::serialize(json::object{
                                   {"id", id}, {"items", std::move(items)}, {"complete", complete}, {"scanned", scanned}}));
}

result<store::list_query> v1_leaves::list_query(const params& p) {
  store::list_query q;
  for (const auto& [k, v] : p) {
    static constexpr std::string_view known[] = {"tag", "user", "starred", "archived", "public", "since",
                                                 "until", "sort", "order", "limit", "page_token", "min_position"};
    if (std::find(std::begin(known), std::end(known), k) == std::end(known)) {
      return bad_query("unknown query parameter: " + k);
    }
  }
  if (const auto* t = param(p, "tag")) {
    auto n = domain::normalize_tag(*t, o.limits);
    if (!n) return bad_query("tag: " + n.err().message);
    q.tag = *n;
  }
  auto user = int_param(p, "user", 0, int64_t(1) << 53);
  auto limit = int_param(p, "limit", 1, 100);
  auto starred = bool_param(p, "starred");
  auto archived = bool_param(p, "archived");
  auto pub = bool_param(p, "public");
  auto since = time_param(p, "since");
  auto until = time_param(p, "until");
  for (const auto* e : {&user, &limit}) {
    if (!*e) return e->err();
  }
  for (const auto* e : {&starred, &archived, &pub}) {
    if (!*e) return e->err();
  }
  for (const auto* e : {&since, &until}) {
    if (!*e) return e->err();
  }
  q.user_id = *user;
  q.limit = limit->value_or(30);
  q.starred = *starred;
  q.archived = *archived;
  q.is_public = *pub;
  q.since_ms = *since;
  q.until_ms = *until;
  if (const auto* s = param(p, "sort")) {
    if (*s == "created") {
      q.sort = store::sort_key::created;
    } else if (*s == "updated") {
      q.sort = store::sort_key::updated;
    } else if (*s == "title") {
      q.sort = store::sort_key::title;
    } else {
      return bad_query("sort must be created, updated or title");
    }
  }
  if (const auto* s = param(p, "order")) {
    if (*s != "asc" && *s != "desc") return bad_query("order must be asc or desc");
    q.descending = *s == "desc";
  } else {
    q.descending = q.sort != store::sort_key::title;
  }
  if (const auto* t = param(p, "page_token")) {
    if (t->empty() || t->size() > 1024) return bad_query("page_token is malformed");
    q.page_token = *t;
  }
  return q;
}

asio::awaitable<response> v1_leaves::v1_list(const request& req, const params& p) {
  auto q = list_query(p);
  if (!q) co_return error_to_response(q.err());
  if (!req.caller.narrow(*q)) co_return json_response(200, "{\"items\":[],\"next_page_token\":null}");
  const auto marks = c.marks_view(req.caller);
  if (q->starred || q->archived) q->marks = marks;
  if (auto w = co_await c.wait_min_position(req, p)) co_return std::move(*w);
  auto page = co_await d.store.async_list_json(*q);
  if (!page) co_return error_to_response(page.err());
  for (auto& item : page->items) context::show_marks(marks, item);
  size_t bytes = 64 + page->next_page_token.size();
  for (const auto& item : page->items) bytes += item.size() + 1;
  std::string body;
  body.reserve(bytes);
  body += "{\"items\":[";
  for (size_t i = 0; i < page->items.size(); ++i) {
    if (i) body += ',';
    body += page->items[i];
  }
  body += "],\"next_page_token\":";
  body += page->next_page_token.empty() ? "null" : json::serialize(json::string(page->next_page_token));
  body += '}';
  co_return json_response(200, std::move(body));
}

asio::awaitable<response> v1_leaves::v1_tag_counts(const request& req, const params& p) {
  auto limit = int_param(p, "limit", 1, 1000);
  if (!limit) co_return error_to_response(limit.err());
  if (const auto* prefix = param(p, "prefix")) {
    co_return co_await searching.v1_tag_prefix(req, p, *prefix, static_cast<size_t>(limit->value_or(10)));
  }
  // The read models count every leaf: a caller limited to some leaves gets
  // the counts of those, from the search index.
  if (req.caller.limited) {
    if (auto u = searching.search_unavailable()) co_return std::move(*u);
    co_return co_await searching.visible_tag_counts(req, "", static_cast<size_t>(limit->value_or(100)));
  }
  if (auto w = co_await c.wait_min_position(req, p)) co_return std::move(*w);
  auto tags = co_await d.store.async_tags(static_cast<size_t>(limit->value_or(100)));
  if (!tags) co_return error_to_response(tags.err());
  json::array items;
  for (const auto& t : *tags) items.push_back(json::object{{"tag", t.tag}, {"count", t.count}});
  co_return json_response(200, json::serialize(json::object{{"items", std::move(items)}}));
}

}  // namespace leaves::api
