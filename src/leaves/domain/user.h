// The user aggregate: who may do what, and the API tokens that say who a
// caller is. Users live in the same event log as leaves, keyed "user:<name>",
// so every server of a deployment folds the same events into the same
// directory (auth/directory.h). Pure: decide and apply, like the leaf.
//   decide_user(state, command, now, actor) -> events
//   apply_user(state, event) -> state
// A token is never stored: events carry the SHA-256 of the secret, and the
// token's public id (shown in lists, used to revoke it).
// The wire form of user events is in docs/events.md ("Users").
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <string>
#include <string_view>
#include <vector>

#include "leaves/base/result.h"

namespace leaves::domain {

enum class role { reader, curator, admin };
const char* to_string(role r);
std::optional<role> role_from_string(std::string_view s);

// Scopes a token carries; what a request may do is its scopes cut down to
// its user's role (a reader's token with the write scope still cannot write).
// feed: only GET /v1/feed, with the token in the URL (?token=) as feed
// readers send it; whoever may read may also read feeds.
enum scope : unsigned { scope_read = 1, scope_write = 2, scope_admin = 4, scope_feed = 8 };
constexpr unsigned kAllScopes = scope_read | scope_write | scope_admin | scope_feed;
// What a role allows: reader read; curator read, write; admin everything.
unsigned role_scopes(role r);
// "read,write" <-> bits. Parsing refuses unknown names and an empty list.
result<unsigned> parse_scopes(std::string_view csv);
std::vector<std::string> scope_names(unsigned scopes);

struct token_info {
  std::string id;     // public: 12 lower-case hex digits
  std::string name;   // what the owner called it ("laptop", "importer")
  std::string hash;   // SHA-256 of the whole token, lower-case hex
  unsigned scopes = scope_read;
  int64_t created_ms = 0;
  std::optional<int64_t> expires_ms;
  bool revoked = false;
  int64_t revoked_ms = 0;
};

// A webhook: leaf events its user may see (of one tag, when set) are POSTed
// to `url`, signed with HMAC-SHA256 under `secret` (webhooks/dispatcher.h).
// A collection's webhook sends what the collection's stream carries: the
// events of its leaves that reach the user through it, and its own events.
// The secret is in the event that created it, so every server can sign; it
// is shown to the user once, at creation.
struct webhook_info {
  std::string id;      // public: 12 lower-case hex digits
  std::string url;     // http or https
  std::string secret;  // 64 hex digits
  std::optional<std::string> tag;
  std::optional<std::string> collection;  // a collection id (domain/collection.h)
  // Every leaf (made by a token with the admin scope of an admin), or what
  // any user sees: public leaves and the user's own.
  bool all_leaves = false;
  int64_t created_ms = 0;
  bool enabled = true;
  std::string disabled_reason;  // why it was disabled (after failures, or by its user)
};

struct user {
  std::string name;
  int64_t user_id = 0;  // the leaves' user_id of what this user saves
  std::string email;
  role r = role::reader;
  bool disabled = false;
  int64_t created_ms = 0, updated_ms = 0;
  int64_t version = 0;
  std::string last_event_id;  // of the event that made `version`
  std::vector<token_info> tokens;
  // The Argon2id encoding of the password (auth/password.h); empty: none,
  // the user signs in with tokens only.
  std::string password_hash;
  std::vector<webhook_info> webhooks;  // live ones: a delete erases its webhook
  const token_info* token(std::string_view id) const;
  const webhook_info* webhook(std::string_view id) const;
};

// An absolute http(s) URL with a host and no user info, at most
// kMaxWebhookUrlBytes, no spaces or control characters.
bool valid_webhook_url(std::string_view url);
// 1-64 of [a-z0-9._-], starting with a letter or digit.
bool valid_user_name(std::string_view name);
// A stable positive 31-bit number for a name (the leaves table's user_id is a
// Cassandra int): from the md5 of the name, so every server derives the same.
int64_t user_id_for(std::string_view name);
// Log key and aggregate id of a user: "user:<name>". Leaf ids never contain ':'.
std::string user_key(std::string_view name);
bool is_user_key(std::string_view key);

constexpr size_t kMaxTokensPerUser = 100;
constexpr size_t kMaxTokenNameBytes = 100;
constexpr size_t kMaxEmailBytes = 254;
constexpr size_t kMaxWebhooksPerUser = 10;
constexpr size_t kMaxWebhookUrlBytes = 2048;

enum class user_command_kind {
  create,
  update,
  create_token,
  revoke_token,
  set_password,
  create_webhook,
  update_webhook,  // webhook.id, webhook.enabled, webhook.disabled_reason
  delete_webhook,  // webhook.id
  mark_leaf        // mark: the user's own starred/archived of another's leaf
};

// A user's marks of a leaf it does not own (starred and archived are per
// user: docs/auth.md "Starred and archived are each user's own"). The
// owner's marks are the leaf's own is_starred and is_archived.
enum mark_bits : uint8_t { mark_starred = 1, mark_archived = 2 };
// At most this many leaves marked by one user (an unmarked leaf is forgotten).
constexpr size_t kMaxMarksPerUser = 10000;

// A user's marks by leaf id, looked up by string_view without a copy.
struct mark_hash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using mark_map = std::unordered_map<std::string, uint8_t, mark_hash, std::equal_to<>>;

// Starred and archived as one user sees them: on a leaf another user owns,
// its own marks; on its own leaves and leaves without an owner, the leaf's
// flags. Lists and searches filter by it (store::list_query,
// search::search_request).
struct marks_view {
  int64_t user_id = 0;
  std::shared_ptr<const mark_map> marks;  // null: none
  // The user's own marks of a leaf `owner` owns, or nullopt when they are
  // the leaf's flags (its own leaf, or nobody's).
  std::optional<uint8_t> of(std::string_view leaf_id, std::optional<int64_t> owner) const {
    if (!owner || *owner == user_id) return std::nullopt;
    if (!marks) return uint8_t{0};
    auto it = marks->find(leaf_id);
    return it == marks->end() ? uint8_t{0} : it->second;
  }
  bool seen(bool flag, uint8_t bit, std::string_view leaf_id, std::optional<int64_t> owner) const {
    auto m = of(leaf_id, owner);
    return m ? (*m & bit) != 0 : flag;
  }
};

struct mark_command {
  std::string leaf_id;
  std::optional<bool> starred, archived;  // absent: as it is
  uint8_t before = 0;                     // the user's marks of the leaf now (mark_bits)
  size_t marked = 0;                      // how many leaves the user has marked now
};

struct user_command {
  user_command_kind kind = user_command_kind::create;
  std::string name;
  std::optional<std::string> email;
  std::optional<role> r;
  std::optional<bool> disabled;
  token_info token;       // create_token: id, name, hash, scopes, expires_ms
  std::string token_id;   // revoke_token
  std::string password_hash;  // set_password: an Argon2id encoding ("" clears it)
  webhook_info webhook;       // the webhook commands
  mark_command mark;          // mark_leaf
};

enum class user_event_type {
  created,
  updated,
  token_created,
  token_revoked,
  password_set,
  webhook_created,
  webhook_updated,
  webhook_deleted,
  leaf_marked  // data: leaf, starred, archived (both, as they are after it)
};
const char* to_string(user_event_type t);

constexpr int kUserEventSchemaVersion = 1;

struct user_event {
  std::string event_id;
  user_event_type type = user_event_type::created;
  std::string aggregate_id;  // user_key(name)
  int64_t aggregate_version = 0;
  int64_t time_ms = 0;
  std::string actor;
  boost::json::object data;
};

// Events for a command (aggregate_version set, event_id empty); an empty
// vector means no change. Errors: invalid_argument, not_found (no such user
// or token), conflict (the user exists already).
result<std::vector<user_event>> decide_user(const std::optional<user>& state, const user_command& cmd,
                                            int64_t now_ms, const std::string& actor);
// Applies one event; an event whose version is not state.version + 1 is
// refused with errc::conflict (the directory skips it: the first event of a
// version in log order wins, as for leaves).
status apply_user(std::optional<user>& state, const user_event& ev);

boost::json::object user_event_to_json(const user_event& ev);
result<user_event> user_event_from_json(const boost::json::object& o);

// A user as the API shows it: no token hashes.
boost::json::object user_to_json(const user& u);
boost::json::object token_to_json(const token_info& t);
// No secret.
boost::json::object webhook_to_json(const webhook_info& w);

}  // namespace leaves::domain
