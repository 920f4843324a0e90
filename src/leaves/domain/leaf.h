// A leaf: a saved link with the reference fields of the workshop's Leaves API.
// Pure data and pure functions; no I/O. Thread-compatible.
#pragma once

#include <boost/json/fwd.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "leaves/base/result.h"

namespace leaves::domain {

using string_list = std::vector<std::string>;

// Every field a client may set. The order is the canonical JSON order.
enum class field : uint8_t {
  url, title, content, content_text, tags, slugs, all, links, domain_name,
  is_archived, is_starred, is_public, created_at, updated_at, user_id, user_name,
  user_email, mimetype, language, reading_time, preview_picture, http_status,
  published_at, published_by,
  count_  // not a field
};
constexpr size_t kFieldCount = static_cast<size_t>(field::count_);
std::string_view field_name(field f);
std::optional<field> field_from_name(std::string_view name);

struct leaf {
  std::string id;
  std::string url;
  std::string title;
  std::optional<std::string> content;
  std::optional<std::string> content_text;
  std::optional<string_list> tags;   // null after the reference "delete tags"
  std::optional<string_list> slugs;  // follows tags
  string_list all;
  string_list links;
  std::string domain_name;
  bool is_archived = false;
  bool is_starred = false;
  bool is_public = false;
  int64_t created_at = 0;  // ms since epoch
  int64_t updated_at = 0;
  std::optional<int64_t> user_id;
  std::string user_name;
  std::string user_email;
  std::optional<std::string> mimetype;
  std::optional<std::string> language;
  int32_t reading_time = 0;
  std::optional<std::string> preview_picture;
  std::optional<std::string> http_status;
  std::optional<string_list> published_at;
  std::optional<string_list> published_by;

  int64_t version = 0;   // number of events applied
  bool deleted = false;  // tombstone: keeps the version across delete/re-create

  bool operator==(const leaf&) const = default;
};

// A set of fields with values: the fields present in `mask` are taken from `values`.
struct leaf_patch {
  leaf values;
  std::vector<bool> mask = std::vector<bool>(kFieldCount, false);
  bool has(field f) const { return mask[static_cast<size_t>(f)]; }
  void set(field f) { mask[static_cast<size_t>(f)] = true; }
  bool empty() const;
};

// Limits on input. Checked at the edge (parse_patch) and nowhere else.
struct limits {
  size_t max_url_bytes = 4096;
  size_t max_string_bytes = 64 * 1024;       // title, names, ...
  size_t max_content_bytes = 1024 * 1024;    // content, content_text
  size_t max_tags = 100;
  size_t max_tag_bytes = 128;
  size_t max_list_items = 1000;              // all, links, published_*
  // A client's "tags": null means no tags ([]), the documented default;
  // stored leaves keep null (the reference API's "delete tags" leaves it).
  bool null_tags_are_empty = true;
};

// The leaf id of a URL: md5 hex, as the reference API derives it.
std::string leaf_id_for_url(std::string_view url);
// "https://host[:port]" of an http(s) URL, or an error naming what is wrong.
result<std::string> domain_of(std::string_view url);
// Validates an http(s) absolute URL of at most `max_bytes`.
status validate_url(std::string_view url, size_t max_bytes);
// Trims, turns inner whitespace into dots (as the reference does), rejects empty
// and over-long tags and control characters.
result<std::string> normalize_tag(std::string_view raw, const limits& lim);
result<string_list> normalize_tags(const boost::json::value& v, const limits& lim);

// Parses client JSON into a patch. Lenient about representations the reference
// used (0/1 for flags, ISO 8601 or epoch-ms for times, numbers or strings for
// http_status); strict about types otherwise. Unknown fields are rejected unless
// `ignore_unknown`; "id" and "version" are always ignored (the server owns them).
result<leaf_patch> parse_patch(const boost::json::object& o, const limits& lim,
                               bool ignore_unknown = false);

// Canonical JSON of one field / of a whole leaf (the v1 and event form:
// booleans for flags, ISO 8601 strings for times).
boost::json::value field_to_json(const leaf& l, field f);
boost::json::object leaf_to_json(const leaf& l);
// Inverse of leaf_to_json (storage and events); strict.
result<leaf> leaf_from_json(const boost::json::object& o);

// A leaf's JSON as boost::json::serialize(leaf_to_json(l)) writes it (one
// flat object, "id" first, no spaces; a key's quotes cannot occur unescaped
// inside a string value), read and changed without parsing it: a stored
// leaf shown with its reader's own starred and archived (docs/auth.md).
struct leaf_json_peek {
  std::string_view id;
  std::optional<int64_t> user_id;
  bool is_starred = false, is_archived = false;
};
std::optional<leaf_json_peek> peek_leaf_json(std::string_view json);
// The id, the first value of leaf_to_json's output ({"id":"<id>",...);
// nullopt for another shape.
std::optional<std::string_view> leaf_json_id(std::string_view json);
// Sets is_starred and is_archived; false when `json` lacks them.
bool set_leaf_json_flags(std::string& json, bool starred, bool archived);

// Copies the patched fields into `l`; returns the fields that actually changed.
std::vector<field> apply_patch(leaf& l, const leaf_patch& p);

}  // namespace leaves::domain
