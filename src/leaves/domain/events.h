// Commands, events and the two pure functions of the leaf aggregate:
//   decide(state, command, context) -> events   (may fail: validation, 404, 412)
//   apply(state, event) -> state                (never consults anything else)
// The wire form of events (the versioned envelope) is documented in docs/events.md.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "leaves/base/result.h"
#include "leaves/domain/leaf.h"

namespace leaves::domain {

enum class command_kind {
  save, update, add_tags, remove_tags, replace_tags, clear_tags, remove,
  // Enrichment (docs/fetch.md): a refetch asked for; a fetch's outcome.
  request_enrichment, enrich, enrich_failed
};

struct command {
  command_kind kind = command_kind::save;
  std::string actor;  // who issues it (the envelope's actor); empty: "anonymous"
  // The user who issues it (nullopt: an anonymous caller). A leaf it creates
  // is its own unless the save names a user_id. A `limited` user (one without
  // the admin scope) may change only its own leaves, and never saves in
  // another's name; another's leaf is refused (a private one as if it did
  // not exist).
  struct owner_info {
    int64_t user_id = 0;
    std::string name, email;
    bool limited = true;
  };
  std::optional<owner_info> owner;

  std::string leaf_id;
  leaf_patch patch;                       // save, update
  string_list tags;                       // add/remove/replace tags
  std::optional<int64_t> expected_version;  // If-Match
  // enrich, enrich_failed: which request they answer ("partition:offset" of
  // the event that asked), the page's fields (enrich: only those the leaf
  // has empty are taken), what else the fetch found (kept in the event), or
  // why it failed.
  std::string request;
  boost::json::object page;
  std::string reason;
};

struct context {
  int64_t now_ms = 0;
  std::string actor = "anonymous";
  size_t max_tags = limits{}.max_tags;  // a leaf never holds more tags than this
};

enum class event_type {
  created, updated, tags_added, tags_removed, tags_replaced, deleted,
  enrich_requested, enriched, enrich_failed
};
const char* to_string(event_type t);
std::optional<event_type> event_type_from_string(std::string_view s);

constexpr int kEventSchemaVersion = 1;

struct event {
  std::string event_id;
  event_type type = event_type::created;
  int schema_version = kEventSchemaVersion;
  std::string aggregate_id;
  int64_t aggregate_version = 0;
  int64_t time_ms = 0;
  std::string actor;
  boost::json::object data;
  // The leaf's tags and owner after this event, so consumers can filter a
  // stream without keeping state.
  std::optional<string_list> tags_after;
  std::optional<int64_t> user_after;
  // Whether the leaf is public after this event (for a delete: before it), so
  // a stream limited to public leaves can filter without state. Absent in
  // events written before it existed: such events count as private.
  std::optional<bool> public_after;
};

// Leaf ids given by clients (imports, external producers): 1-128 of [A-Za-z0-9._-].
bool valid_leaf_id(std::string_view id);

// The save command for a client's JSON object: url required; the id is the
// md5 of the url, or the object's "id" (string or integer) when `keep_id`.
result<command> save_command(const boost::json::object& o, const limits& lim, bool ignore_unknown, bool keep_id);

// `state` is the current aggregate (nullopt if never seen; deleted leaves carry
// deleted=true and their version). Returned events have aggregate_version set,
// event_id empty (the caller assigns ids). An empty vector means "no change".
result<std::vector<event>> decide(const std::optional<leaf>& state, const command& cmd,
                                  const context& ctx);

// Applies one event. Events whose aggregate_version is not state.version + 1
// are rejected with errc::conflict (callers skip already-applied ones first).
status apply(std::optional<leaf>& state, const event& ev);

boost::json::object event_to_json(const event& ev);
result<event> event_from_json(const boost::json::object& o);

// The fields of the leaf that an event changed (for realtime messages).
std::vector<std::string> changed_fields(const event& ev);

}  // namespace leaves::domain
