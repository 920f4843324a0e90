#include "leaves/domain/events.h"

#include <algorithm>
#include <cctype>
#include <boost/json.hpp>

#include "leaves/base/time.h"

namespace json = boost::json;

namespace leaves::domain {
namespace {

constexpr std::pair<event_type, const char*> kTypes[] = {
    {event_type::created, "leaf.created"},
    {event_type::updated, "leaf.updated"},
    {event_type::tags_added, "leaf.tags_added"},
    {event_type::tags_removed, "leaf.tags_removed"},
    {event_type::tags_replaced, "leaf.tags_replaced"},
    {event_type::deleted, "leaf.deleted"},
    {event_type::enrich_requested, "leaf.enrich_requested"},
    {event_type::enriched, "leaf.enriched"},
    {event_type::enrich_failed, "leaf.enrich_failed"},
};

// The fields enrichment fills, each only while the leaf has it empty: what
// a user set is never overwritten.
constexpr field kEnrichedFields[] = {field::title, field::content, field::content_text, field::mimetype,
                                     field::language, field::reading_time, field::preview_picture,
                                     field::http_status, field::published_at, field::published_by};

bool empty_field(const leaf& l, field f) {
  auto blank = [](const std::optional<std::string>& s) { return !s || s->empty(); };
  auto none = [](const std::optional<string_list>& v) { return !v || v->empty(); };
  switch (f) {
    case field::title: return l.title.empty();
    case field::content: return blank(l.content);
    case field::content_text: return blank(l.content_text);
    case field::mimetype: return blank(l.mimetype);
    case field::language: return blank(l.language);
    case field::reading_time: return l.reading_time == 0;
    case field::preview_picture: return blank(l.preview_picture);
    case field::http_status: return blank(l.http_status);
    case field::published_at: return none(l.published_at);
    case field::published_by: return none(l.published_by);
    default: return false;
  }
}

json::array to_array(const string_list& l) {
  json::array a;
  for (const auto& s : l) a.emplace_back(s);
  return a;
}

event make_event(event_type t, const std::string& id, int64_t version, const context& ctx) {
  event e;
  e.type = t;
  e.aggregate_id = id;
  e.aggregate_version = version;
  e.time_ms = ctx.now_ms;
  e.actor = ctx.actor;
  return e;
}

bool live(const std::optional<leaf>& s) { return s && !s->deleted; }

void set_context(event& e, const leaf& after) {
  e.tags_after = after.tags;
  e.user_after = after.user_id;
  e.public_after = after.is_public;
}

}  // namespace

const char* to_string(event_type t) {
  for (auto& [k, n] : kTypes) {
    if (k == t) return n;
  }
  return "?";
}

std::optional<event_type> event_type_from_string(std::string_view s) {
  for (auto& [k, n] : kTypes) {
    if (s == n) return k;
  }
  return std::nullopt;
}

bool valid_leaf_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  if (id == "." || id == "..") return false;  // path segments, not ids: /v1/leaves/.. is another path
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

result<command> save_command(const json::object& o, const limits& lim, bool ignore_unknown, bool keep_id) {
  auto patch = parse_patch(o, lim, ignore_unknown);
  if (!patch) return patch.err();
  if (!patch->has(field::url)) return make_error(errc::invalid_argument, "url: required", "invalid_field");
  command cmd;
  cmd.kind = command_kind::save;
  cmd.leaf_id = leaf_id_for_url(patch->values.url);
  if (const auto* given = keep_id ? o.if_contains("id") : nullptr) {
    std::string id = given->is_string() ? std::string(given->get_string())
                     : given->is_int64() ? std::to_string(given->get_int64())
                                         : std::string();
    if (!valid_leaf_id(id)) {
      return make_error(errc::invalid_argument, "id: must be 1-128 letters, digits, '-', '_' or '.' (and not . or ..)",
                        "invalid_field");
    }
    cmd.leaf_id = std::move(id);
  }
  cmd.patch = std::move(*patch);
  return cmd;
}

namespace {
// A caller limited to its own leaves (command::owner) on someone else's leaf.
std::optional<error> not_its_own(const std::optional<leaf>& state, const command& cmd) {
  if (!cmd.owner || !cmd.owner->limited || !live(state) || state->user_id == cmd.owner->user_id) return std::nullopt;
  if (!state->is_public) {
    // Its existence is not revealed to whoever cannot see it; a save of the
    // same URL (the same id) cannot be taken over either.
    if (cmd.kind == command_kind::save) {
      return make_error(errc::conflict, "this URL is saved as a private leaf of another user", "leaf_not_yours");
    }
    return make_error(errc::not_found, "leaf " + cmd.leaf_id + " does not exist", "leaf_not_found");
  }
  return make_error(errc::permission_denied, "leaf " + cmd.leaf_id + " belongs to another user", "leaf_not_yours");
}
}  // namespace

result<std::vector<event>> decide(const std::optional<leaf>& state, const command& cmd,
                                  const context& ctx) {
  const int64_t next = (state ? state->version : 0) + 1;
  if (auto e = not_its_own(state, cmd)) return *e;
  if (cmd.owner && cmd.owner->limited && cmd.patch.has(field::user_id) &&
      cmd.patch.values.user_id != cmd.owner->user_id) {
    return make_error(errc::permission_denied, "user_id: only an admin saves a leaf in another user's name",
                      "leaf_not_yours");
  }
  if (cmd.kind != command_kind::save) {
    if (!live(state)) {
      return make_error(errc::not_found, "leaf " + cmd.leaf_id + " does not exist", "leaf_not_found");
    }
    if (cmd.expected_version && *cmd.expected_version != state->version) {
      return make_error(errc::precondition_failed,
                        "leaf " + cmd.leaf_id + " is at version " + std::to_string(state->version) +
                            ", not " + std::to_string(*cmd.expected_version),
                        "version_mismatch");
    }
  }
  std::vector<event> out;
  switch (cmd.kind) {
    case command_kind::save:
    case command_kind::update: {
      if (cmd.kind == command_kind::save && !live(state)) {
        if (!cmd.patch.has(field::url)) {
          return make_error(errc::invalid_argument, "url: required", "invalid_field");
        }
        leaf l;
        l.id = cmd.leaf_id;
        l.created_at = l.updated_at = ctx.now_ms;
        l.tags = string_list{};
        apply_patch(l, cmd.patch);
        if (cmd.owner && (cmd.owner->limited || !cmd.patch.has(field::user_id))) {
          // A leaf belongs to the user who saved it.
          l.user_id = cmd.owner->user_id;
          if (!cmd.patch.has(field::user_name)) l.user_name = cmd.owner->name;
          if (!cmd.patch.has(field::user_email)) l.user_email = cmd.owner->email;
        }
        if (!cmd.patch.has(field::slugs)) l.slugs = l.tags;
        if (!cmd.patch.has(field::domain_name)) {
          auto d = domain_of(l.url);
          if (d) l.domain_name = *d;
        }
        if (!cmd.patch.has(field::links)) l.links = {"api/entries/" + l.id};
        if (!cmd.patch.has(field::updated_at) && l.updated_at < l.created_at) {
          l.updated_at = l.created_at;
        }
        l.version = next;
        event e = make_event(event_type::created, l.id, next, ctx);
        json::object lj = leaf_to_json(l);
        lj.erase("version");
        lj.erase("id");
        e.data["leaf"] = std::move(lj);
        set_context(e, l);
        out.push_back(std::move(e));
        break;
      }
      leaf l = *state;
      if (cmd.patch.has(field::url) && cmd.patch.values.url != l.url) {
        return make_error(errc::invalid_argument,
                          "url: cannot change; save the new URL as a new leaf", "url_immutable");
      }
      leaf_patch p = cmd.patch;
      if (p.has(field::tags) && !p.has(field::slugs)) {
        p.values.slugs = p.values.tags;
        p.set(field::slugs);
      }
      auto changed = apply_patch(l, p);
      if (changed.empty()) break;
      if (!p.has(field::updated_at)) {
        l.updated_at = std::max(ctx.now_ms, l.updated_at);
        changed.push_back(field::updated_at);
      }
      event e = make_event(event_type::updated, l.id, next, ctx);
      json::object changes;
      for (field f : changed) changes[field_name(f)] = field_to_json(l, f);
      e.data["changes"] = std::move(changes);
      set_context(e, l);
      out.push_back(std::move(e));
      break;
    }
    case command_kind::add_tags:
    case command_kind::remove_tags:
    case command_kind::replace_tags:
    case command_kind::clear_tags: {
      const string_list current = state->tags.value_or(string_list{});
      std::optional<string_list> after;
      string_list delta;
      event_type t = event_type::tags_replaced;
      if (cmd.kind == command_kind::add_tags) {
        t = event_type::tags_added;
        after = current;
        for (const auto& tag : cmd.tags) {
          if (std::find(after->begin(), after->end(), tag) == after->end()) {
            after->push_back(tag);
            delta.push_back(tag);
          }
        }
        if (delta.empty() && state->tags) break;
        if (after->size() > ctx.max_tags) {
          return make_error(errc::invalid_argument,
                            "tags: a leaf holds at most " + std::to_string(ctx.max_tags) + " tags",
                            "invalid_field");
        }
      } else if (cmd.kind == command_kind::remove_tags) {
        t = event_type::tags_removed;
        after = string_list{};
        for (const auto& tag : current) {
          if (std::find(cmd.tags.begin(), cmd.tags.end(), tag) == cmd.tags.end()) {
            after->push_back(tag);
          } else {
            delta.push_back(tag);
          }
        }
        if (delta.empty()) break;
      } else {
        if (cmd.kind == command_kind::replace_tags) after = cmd.tags;
        if (after == state->tags && state->slugs == after) break;
      }
      event e = make_event(t, state->id, next, ctx);
      if (t == event_type::tags_replaced) {
        e.data["tags"] = after ? json::value(to_array(*after)) : json::value(nullptr);
      } else {
        e.data["tags"] = to_array(delta);
      }
      e.tags_after = after;
      e.user_after = state->user_id;
      e.public_after = state->is_public;
      out.push_back(std::move(e));
      break;
    }
    case command_kind::request_enrichment: {
      event e = make_event(event_type::enrich_requested, state->id, next, ctx);
      e.data["url"] = state->url;  // for the worker, which groups its work by host
      set_context(e, *state);
      out.push_back(std::move(e));
      break;
    }
    case command_kind::enrich: {
      // Only the fields the leaf has empty now; the event is written even
      // when none is left, as the answer to its request.
      leaf l = *state;
      leaf_patch fill = cmd.patch;
      fill.mask.assign(kFieldCount, false);
      for (field f : kEnrichedFields) {
        if (cmd.patch.has(f) && empty_field(l, f)) fill.set(f);
      }
      auto changed = apply_patch(l, fill);
      event e = make_event(event_type::enriched, l.id, next, ctx);
      json::object changes;
      for (field f : changed) changes[field_name(f)] = field_to_json(l, f);
      e.data["request"] = cmd.request;
      e.data["changes"] = std::move(changes);
      e.data["page"] = cmd.page;
      set_context(e, l);
      out.push_back(std::move(e));
      break;
    }
    case command_kind::enrich_failed: {
      event e = make_event(event_type::enrich_failed, state->id, next, ctx);
      e.data["request"] = cmd.request;
      e.data["reason"] = cmd.reason;
      e.data["page"] = cmd.page;
      set_context(e, *state);
      out.push_back(std::move(e));
      break;
    }
    case command_kind::remove: {
      event e = make_event(event_type::deleted, state->id, next, ctx);
      e.tags_after = state->tags;
      e.user_after = state->user_id;
      e.public_after = state->is_public;
      out.push_back(std::move(e));
      break;
    }
  }
  return out;
}

status apply(std::optional<leaf>& state, const event& ev) {
  const int64_t current = state ? state->version : 0;
  if (ev.aggregate_version != current + 1) {
    return make_error(errc::conflict, "event version " + std::to_string(ev.aggregate_version) +
                                          " does not follow " + std::to_string(current));
  }
  auto bad_event = [&](const char* what) {
    return make_error(errc::invalid_argument,
                      std::string(to_string(ev.type)) + " event of " + ev.aggregate_id + ": " + what);
  };
  switch (ev.type) {
    case event_type::created: {
      const auto* lj = ev.data.if_contains("leaf");
      if (!lj || !lj->is_object()) return bad_event("missing leaf");
      json::object o = lj->get_object();
      o["id"] = ev.aggregate_id;
      o["version"] = ev.aggregate_version;
      auto l = leaf_from_json(o);
      if (!l) return bad_event(l.err().message.c_str());
      state = std::move(*l);
      return ok_status();
    }
    case event_type::updated:
    case event_type::enriched: {  // (enriched: the fields decide() found empty)
      if (!state || state->deleted) return bad_event("leaf does not exist");
      const auto* ch = ev.data.if_contains("changes");
      if (!ch || !ch->is_object()) return bad_event("missing changes");
      limits unlimited{SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX};
      auto p = parse_patch(ch->get_object(), unlimited);
      if (!p) return bad_event(p.err().message.c_str());
      apply_patch(*state, *p);
      break;
    }
    case event_type::tags_added:
    case event_type::tags_removed:
    case event_type::tags_replaced: {
      if (!state || state->deleted) return bad_event("leaf does not exist");
      const auto* tj = ev.data.if_contains("tags");
      if (!tj) return bad_event("missing tags");
      std::optional<string_list> tags;
      if (!tj->is_null()) {
        if (!tj->is_array()) return bad_event("tags is not an array");
        tags = string_list{};
        for (const auto& v : tj->get_array()) {
          if (!v.is_string()) return bad_event("tags is not an array of strings");
          tags->emplace_back(v.get_string());
        }
      }
      if (ev.type == event_type::tags_replaced) {
        state->tags = tags;
      } else if (!tags) {
        return bad_event("tags must be an array");
      } else {
        string_list cur = state->tags.value_or(string_list{});
        for (const auto& t : *tags) {
          auto it = std::find(cur.begin(), cur.end(), t);
          if (ev.type == event_type::tags_added && it == cur.end()) cur.push_back(t);
          if (ev.type == event_type::tags_removed && it != cur.end()) cur.erase(it);
        }
        state->tags = std::move(cur);
      }
      state->slugs = state->tags;
      state->updated_at = std::max(state->updated_at, ev.time_ms);
      break;
    }
    case event_type::enrich_requested:
    case event_type::enrich_failed:
      if (!state || state->deleted) return bad_event("leaf does not exist");
      break;  // no field changes: the event is the record
    case event_type::deleted: {
      if (!state || state->deleted) return bad_event("leaf does not exist");
      leaf tomb;
      tomb.id = state->id;
      tomb.deleted = true;
      tomb.updated_at = ev.time_ms;
      state = std::move(tomb);
      break;
    }
  }
  state->version = ev.aggregate_version;
  return ok_status();
}

json::object event_to_json(const event& ev) {
  json::object o;
  o["event_id"] = ev.event_id;
  o["type"] = to_string(ev.type);
  o["schema_version"] = ev.schema_version;
  o["aggregate_id"] = ev.aggregate_id;
  o["aggregate_version"] = ev.aggregate_version;
  o["time"] = format_iso8601(ev.time_ms);
  o["actor"] = ev.actor;
  o["data"] = ev.data;
  json::object c;
  c["tags"] = ev.tags_after ? json::value(to_array(*ev.tags_after)) : json::value(nullptr);
  c["user_id"] = ev.user_after ? json::value(*ev.user_after) : json::value(nullptr);
  if (ev.public_after) c["is_public"] = *ev.public_after;
  o["context"] = std::move(c);
  return o;
}

result<event> event_from_json(const json::object& o) {
  auto str = [&](const char* k) -> const json::string* {
    const auto* v = o.if_contains(k);
    return v && v->is_string() ? &v->get_string() : nullptr;
  };
  auto bad = [](std::string m) { return make_error(errc::invalid_argument, "event: " + m, "invalid_event"); };
  event e;
  const auto* type = str("type");
  if (!type) return bad("missing type");
  auto t = event_type_from_string(*type);
  if (!t) return bad("unknown type " + std::string(*type));
  e.type = *t;
  const auto* sv = o.if_contains("schema_version");
  if (!sv || !sv->is_int64()) return bad("missing schema_version");
  if (sv->get_int64() != kEventSchemaVersion) {
    return bad("unsupported schema_version " + std::to_string(sv->get_int64()));
  }
  const auto* id = str("aggregate_id");
  const auto* ver = o.if_contains("aggregate_version");
  const auto* time = str("time");
  if (!id || !ver || !ver->is_int64() || ver->get_int64() < 1 || !time) {
    return bad("missing aggregate_id, aggregate_version or time");
  }
  auto ms = parse_iso8601(*time);
  if (!ms) return bad("bad time");
  e.aggregate_id = std::string(*id);
  e.aggregate_version = ver->get_int64();
  e.time_ms = *ms;
  if (const auto* eid = str("event_id")) e.event_id = std::string(*eid);
  if (const auto* actor = str("actor")) e.actor = std::string(*actor);
  if (const auto* d = o.if_contains("data"); d && d->is_object()) e.data = d->get_object();
  if (const auto* c = o.if_contains("context"); c && c->is_object()) {
    const auto& co = c->get_object();
    if (const auto* tg = co.if_contains("tags"); tg && tg->is_array()) {
      e.tags_after = string_list{};
      for (const auto& v : tg->get_array()) {
        if (v.is_string()) e.tags_after->emplace_back(v.get_string());
      }
    }
    if (const auto* u = co.if_contains("user_id"); u && u->is_int64()) e.user_after = u->get_int64();
    if (const auto* pub = co.if_contains("is_public"); pub && pub->is_bool()) e.public_after = pub->get_bool();
  }
  return e;
}

std::vector<std::string> changed_fields(const event& ev) {
  std::vector<std::string> out;
  switch (ev.type) {
    case event_type::created:
      for (size_t i = 0; i < kFieldCount; ++i) out.emplace_back(field_name(static_cast<field>(i)));
      break;
    case event_type::updated:
    case event_type::enriched:
      if (const auto* ch = ev.data.if_contains("changes"); ch && ch->is_object()) {
        for (const auto& kv : ch->get_object()) out.emplace_back(kv.key());
      }
      break;
    case event_type::tags_added:
    case event_type::tags_removed:
    case event_type::tags_replaced: out = {"tags", "slugs", "updated_at"}; break;
    case event_type::deleted:
    case event_type::enrich_requested:
    case event_type::enrich_failed: break;
  }
  return out;
}

}  // namespace leaves::domain
