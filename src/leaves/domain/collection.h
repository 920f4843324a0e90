// Teams and collections (docs/collections.md): aggregates in the event log
// beside leaves and users, keyed "team:<id>" and "collection:<id>", folded by
// every server into its directory (auth/directory.h). Pure: decide and
// apply, as for leaves and users.
//
// A team has members, each a member, editor or admin of it. A collection
// has an owner (a user), a name, a description, an optional parent
// collection, an ordered list of leaves (a leaf may be in many collections),
// shares with teams (viewer or editor) and a public flag (read-only to
// everyone, at its stable URL /v1/collections/{id}). Who may do what is
// decided in auth/directory.h (it knows every team); these functions keep
// each aggregate's own rules (limits, a team keeps an admin, no leaf twice).
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "leaves/base/result.h"

namespace leaves::domain {

enum class team_role { member, editor, admin };
enum class share_role { viewer, editor };
const char* to_string(team_role r);
const char* to_string(share_role r);
std::optional<team_role> team_role_from_string(std::string_view s);
std::optional<share_role> share_role_from_string(std::string_view s);

struct team {
  std::string id;  // 16 lower-case hex digits
  std::string name;
  std::map<std::string, team_role, std::less<>> members;  // user name -> role
  int64_t created_ms = 0, updated_ms = 0;
  int64_t version = 0;
  std::string last_event_id;
  bool deleted = false;
};

struct collection {
  std::string id;  // 16 lower-case hex digits
  std::string name;
  std::string description;
  std::string owner;  // user name
  std::optional<std::string> parent;
  std::vector<std::string> leaves;  // leaf ids, in the collection's order
  std::map<std::string, std::string, std::less<>> added_by;  // leaf id -> the user who added it (the event's actor)
  // A smart collection: its leaves are the matches of this search (the
  // query grammar of docs/search.md), newest first, not a list.
  std::optional<std::string> query;
  std::map<std::string, share_role, std::less<>> shares;  // team id -> role
  bool is_public = false;
  int64_t created_ms = 0, updated_ms = 0;
  int64_t version = 0;
  std::string last_event_id;
  bool deleted = false;
};

constexpr size_t kMaxGroupNameBytes = 200;
constexpr size_t kMaxDescriptionBytes = 4000;
constexpr size_t kMaxTeamMembers = 1000;
constexpr size_t kMaxCollectionLeaves = 10000;
constexpr size_t kMaxCollectionShares = 100;
constexpr size_t kMaxCollectionDepth = 16;
constexpr size_t kMaxQueryBytes = 1000;

// "team:<id>" / "collection:<id>"; ids are 16 lower-case hex digits.
std::string team_key(std::string_view id);
std::string collection_key(std::string_view id);
bool valid_group_id(std::string_view id);
// A record of the log that is not a leaf's: users, teams, collections (leaf
// ids never contain ':').
inline bool is_leaf_key(std::string_view key) { return key.find(':') == std::string_view::npos; }

enum class team_command_kind { create, rename, set_member, remove_member, remove };
struct team_command {
  team_command_kind kind = team_command_kind::create;
  std::string id;
  std::string name;  // create (its first admin is `user`), rename
  std::string user;  // create, set_member, remove_member
  team_role r = team_role::member;
};

enum class collection_command_kind { create, update, add_leaf, remove_leaf, move_leaf, share, unshare, remove };
struct collection_command {
  collection_command_kind kind = collection_command_kind::create;
  std::string id;
  std::string owner;  // create
  std::optional<std::string> name, description;
  std::optional<std::optional<std::string>> parent;  // update: a value or null (top level)
  std::optional<bool> is_public;
  std::optional<std::string> query;  // create (a smart collection), update (of a smart one)
  std::string leaf;                 // add_leaf, remove_leaf, move_leaf
  std::optional<size_t> position;   // add_leaf (default: the end), move_leaf
  std::string team;                 // share, unshare
  share_role r = share_role::viewer;
};

// One event of a team or a collection. Types: team.created, team.renamed,
// team.member_set, team.member_removed, team.deleted; collection.created,
// collection.updated, collection.leaf_added, collection.leaf_removed,
// collection.leaf_moved, collection.shared, collection.unshared,
// collection.deleted (docs/events.md "Teams and collections").
struct group_event {
  std::string event_id;
  std::string type;
  std::string aggregate_id;  // team_key or collection_key
  int64_t aggregate_version = 0;
  int64_t time_ms = 0;
  std::string actor;
  boost::json::object data;
};
constexpr int kGroupEventSchemaVersion = 1;

// Events for a command (an empty vector: no change). Errors:
// invalid_argument, not_found (no such team or collection, or a member or
// leaf that is not in it), conflict (a team's last admin).
result<std::vector<group_event>> decide_team(const std::optional<team>& state, const team_command& cmd, int64_t now_ms,
                                             const std::string& actor);
result<std::vector<group_event>> decide_collection(const std::optional<collection>& state,
                                                   const collection_command& cmd, int64_t now_ms,
                                                   const std::string& actor);
// Applies one event; one whose version is not state.version + 1 is refused
// with errc::conflict (the first event of a version in log order wins).
status apply_team(std::optional<team>& state, const group_event& ev);
status apply_collection(std::optional<collection>& state, const group_event& ev);

boost::json::object group_event_to_json(const group_event& ev);
result<group_event> group_event_from_json(const boost::json::object& o);

boost::json::object team_to_json(const team& t);
// Without its leaves (they are paged: GET /v1/collections/{id}/leaves).
boost::json::object collection_to_json(const collection& c);

}  // namespace leaves::domain
