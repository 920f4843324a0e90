// leaves import: reads an export file and loads it through a running server's
// bulk endpoint, in batches, with a progress bar on a terminal.
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "leaves/app/commands.h"
#include "leaves/app/http_client.h"
#include "leaves/base/separated.h"
#include "leaves/base/time.h"
#include "leaves/html/bookmarks.h"
#include "leaves/html/text.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace leaves::app {
namespace {

constexpr size_t kBatch = 200;
constexpr size_t kMaxBatchBytes = 768 * 1024;  // under the server's default 1 MiB body limit
constexpr size_t kMaxFileBytes = size_t(2) << 30;

// Netscape bookmarks as bulk entries: tags, dates and flags kept where the
// file has them.
json::array bookmark_entries(const std::vector<html::bookmark>& marks) {
  json::array out;
  out.reserve(marks.size());
  for (const auto& b : marks) {
    json::object o;
    o["url"] = b.url;
    if (!b.title.empty() && b.title != b.url) o["title"] = b.title;
    if (!b.tags.empty()) {
      json::array t;
      for (const auto& tag : b.tags) t.emplace_back(tag);
      o["tags"] = std::move(t);
    }
    if (b.added_s) o["created_at"] = format_iso8601(*b.added_s * 1000);
    if (b.modified_s && (!b.added_s || *b.modified_s >= *b.added_s)) o["updated_at"] = format_iso8601(*b.modified_s * 1000);
    if (b.is_private) o["is_public"] = !*b.is_private;
    if (b.starred) o["is_starred"] = *b.starred;
    if (b.archived) o["is_archived"] = *b.archived;
    if (!b.description.empty()) o["content_text"] = b.description;
    out.push_back(std::move(o));
  }
  return out;
}

const json::string* str_at(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v && v->is_string() ? &v->get_string() : nullptr;
}

bool truthy(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v && ((v->is_bool() && v->get_bool()) || (v->is_int64() && v->get_int64() != 0));
}

// Tags given as strings or as objects with a name ({"name": "go"}, Linkwarden's).
json::array tag_names(const json::value* v) {
  json::array out;
  if (!v || !v->is_array()) return out;
  for (const auto& t : v->get_array()) {
    if (t.is_string()) out.push_back(t);
    if (t.is_object()) {
      if (const auto* n = str_at(t.get_object(), "name")) out.emplace_back(*n);
    }
  }
  return out;
}

// Karakeep's export: {"bookmarks": [{createdAt (seconds), title, tags,
// content: {type: "link", url} | {type: "text", text} | {type: "asset", ...},
// note, archived, favourited}]}. Only links have a URL: the others become
// entries without one, which the server refuses by name (counted as rejected).
json::array karakeep_entries(const json::array& marks) {
  json::array out;
  for (const auto& m : marks) {
    if (!m.is_object()) continue;
    const auto& b = m.get_object();
    json::object o;
    if (const auto* c = b.if_contains("content"); c && c->is_object()) {
      if (const auto* u = str_at(c->get_object(), "url")) o["url"] = *u;
    }
    if (const auto* t = str_at(b, "title")) o["title"] = *t;
    if (auto tags = tag_names(b.if_contains("tags")); !tags.empty()) o["tags"] = std::move(tags);
    if (const auto* n = str_at(b, "note"); n && !n->empty()) o["content_text"] = *n;
    if (const auto* at = b.if_contains("createdAt"); at && at->is_int64() && at->get_int64() > 0) {
      o["created_at"] = format_iso8601(at->get_int64() * 1000);
    }
    o["is_archived"] = truthy(b, "archived");
    o["is_starred"] = truthy(b, "favourited");
    out.push_back(std::move(o));
  }
  return out;
}

// Linkwarden's backup: {"collections": [{name, links: [{name, url,
// description, tags: [{name}], createdAt}]}]}. Collections are not turned
// into tags (leaves' collections will take them).
json::array linkwarden_entries(const json::array& collections) {
  json::array out;
  for (const auto& c : collections) {
    if (!c.is_object()) continue;
    const auto* links = c.get_object().if_contains("links");
    if (!links || !links->is_array()) continue;
    for (const auto& l : links->get_array()) {
      if (!l.is_object()) continue;
      const auto& b = l.get_object();
      json::object o;
      if (const auto* u = str_at(b, "url")) o["url"] = *u;
      if (const auto* t = str_at(b, "name"); t && !t->empty()) o["title"] = *t;
      if (const auto* d = str_at(b, "description"); d && !d->empty()) o["content_text"] = *d;
      if (auto tags = tag_names(b.if_contains("tags")); !tags.empty()) o["tags"] = std::move(tags);
      if (const auto* at = str_at(b, "createdAt")) o["created_at"] = *at;
      out.push_back(std::move(o));
    }
  }
  return out;
}

// RFC 4180 records (quoted fields may hold commas, quotes and line breaks).
// False on an unterminated quote.
bool csv_records(std::string_view text, std::vector<std::vector<std::string>>& rows) {
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, was_quoted = false;
  auto end_field = [&] {
    // Written by leaves' CSV export against spreadsheet formulas: '= etc.,
    // and '' for a field that starts with an apostrophe of its own.
    if (was_quoted && field.size() >= 2 && field[0] == '\'' &&
        std::string_view("=+-@\t\r'").find(field[1]) != std::string_view::npos) {
      field.erase(0, 1);
    }
    row.push_back(std::move(field));
    field.clear();
    was_quoted = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty()) {
      quoted = was_quoted = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_field();
      if (!(row.size() == 1 && row[0].empty())) rows.push_back(std::move(row));
      row.clear();
    } else {
      field += c;
    }
  }
  if (quoted) return false;
  if (!field.empty() || !row.empty()) {
    end_field();
    rows.push_back(std::move(row));
  }
  return true;
}

// CSV with a header row naming its columns: leaves' own export (id, url,
// title, tags separated by |, created_at, updated_at, is_starred,
// is_archived, is_public) and Pocket's (title, url, time_added in seconds,
// tags separated by |, status unread or archive).
bool csv_entries(std::string_view text, json::array& out, std::string& err) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<std::vector<std::string>> rows;
  if (!csv_records(text, rows)) {
    err = "CSV with a quoted field that never ends";
    return false;
  }
  if (rows.empty()) {
    err = "the file is empty";
    return false;
  }
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < rows[0].size(); ++i) {
    std::string name = rows[0][i];
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    col.emplace(name, i);
  }
  if (!col.contains("url")) {
    err = "CSV without a url column in its header row (columns: url, title, tags, created_at, ...)";
    return false;
  }
  auto get = [&](const std::vector<std::string>& r, const char* name) -> const std::string* {
    auto it = col.find(name);
    return it == col.end() || it->second >= r.size() ? nullptr : &r[it->second];
  };
  auto truth = [](const std::string& v) { return v == "true" || v == "1" || v == "yes"; };
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto& r = rows[i];
    json::object o;
    if (const auto* v = get(r, "url")) o["url"] = *v;
    if (const auto* v = get(r, "id"); v && !v->empty()) o["id"] = *v;
    if (const auto* v = get(r, "title"); v && !v->empty()) o["title"] = *v;
    if (const auto* v = get(r, "tags"); v && !v->empty()) {
      json::array tags;
      for (auto& t : split_escaped(*v, has_unescaped(*v, '|') ? '|' : ',')) tags.emplace_back(t);
      o["tags"] = std::move(tags);
    }
    for (const char* f : {"created_at", "updated_at"}) {
      if (const auto* v = get(r, f); v && !v->empty()) o[f] = *v;
    }
    if (const auto* v = get(r, "time_added"); v && !v->empty() && !o.contains("created_at")) {
      char* end = nullptr;
      const long long secs = std::strtoll(v->c_str(), &end, 10);
      if (end && *end == '\0' && secs > 0) o["created_at"] = format_iso8601(secs * 1000);
    }
    for (const char* f : {"is_starred", "is_archived", "is_public"}) {
      if (const auto* v = get(r, f); v && !v->empty()) o[f] = truth(*v);
    }
    if (const auto* v = get(r, "status"); v && !v->empty() && !o.contains("is_archived")) {
      o["is_archived"] = *v == "archive" || *v == "archived";
    }
    out.push_back(std::move(o));
  }
  return true;
}

// The entries of an export file, read in order. JSON lines are streamed: one
// line in memory at a time, whatever the file's size. A Solr export
// ({"response":{"docs":[...]}}) or a JSON array is one JSON document and is
// parsed whole (about twice the file in memory).
class entry_source {
 public:
  // `format`: empty to detect it, else jsonl, json, html or csv.
  bool open(const std::string& path, const std::string& format, std::string& err) {
    in_.open(path, std::ios::binary);
    if (!in_) {
      err = "cannot open " + path;
      return false;
    }
    in_.seekg(0, std::ios::end);
    size_ = static_cast<uint64_t>(in_.tellg());
    in_.seekg(0);
    if (size_ > kMaxFileBytes) {
      err = path + " is larger than 2 GiB";
      return false;
    }
    po_.max_depth = 64;
    if (format == "html" || format == "csv" || (format.empty() && !looks_like_json())) {
      return open_text(path, format, err);
    }
    // JSON lines when the first non-empty line is a JSON value by itself and
    // is not a whole export (a one-line Solr export or array is read whole).
    std::string line;
    while (std::getline(in_, line) && line.find_first_not_of(" \t\r") == std::string::npos) {
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      err = "the file is empty";
      return false;
    }
    boost::system::error_code ec;
    auto first = json::parse(line, ec, {}, po_);
    const bool whole_export =
        ec || first.is_array() ||
        (first.is_object() && (first.as_object().contains("response") || first.as_object().contains("bookmarks") ||
                                first.as_object().contains("collections")));
    if (!whole_export) {
      lines_ = true;
      line_no_ = 1;
      pending_ = std::move(first);
      return true;
    }
    in_.clear();
    in_.seekg(0);
    std::ostringstream ss;
    ss << in_.rdbuf();
    auto whole = json::parse(ss.str(), ec, {}, po_);
    if (ec) {
      err = "not JSON (" + ec.message() + "), nor JSON lines";
      return false;
    }
    if (whole.is_array()) {
      whole_ = std::move(whole.as_array());
      return true;
    }
    if (whole.is_object()) {
      if (const auto* resp = whole.as_object().if_contains("response"); resp && resp->is_object()) {
        if (const auto* docs = resp->as_object().if_contains("docs"); docs && docs->is_array()) {
          whole_ = docs->as_array();
          return true;
        }
      }
      if (const auto* b = whole.as_object().if_contains("bookmarks"); b && b->is_array()) {
        whole_ = karakeep_entries(b->get_array());
        kind_ = "Karakeep";
        return true;
      }
      if (const auto* c = whole.as_object().if_contains("collections"); c && c->is_array()) {
        whole_ = linkwarden_entries(c->get_array());
        kind_ = "Linkwarden";
        return true;
      }
      whole_.push_back(std::move(whole));  // a single entry
      return true;
    }
    err = "top-level JSON must be an export object, an array or JSON lines";
    return false;
  }

  // Whether the file's first non-blank byte opens JSON.
  bool looks_like_json() {
    char ch = 0;
    while (in_.get(ch)) {
      if (!std::isspace(static_cast<unsigned char>(ch))) break;
    }
    in_.clear();
    in_.seekg(0);
    return ch == '{' || ch == '[';  // a '"' opens a quoted CSV header
  }

  // A bookmark file or CSV, read and parsed whole.
  bool open_text(const std::string& path, const std::string& format, std::string& err) {
    std::ostringstream ss;
    ss << in_.rdbuf();
    const std::string text = ss.str();
    if (format == "html" || (format.empty() && html::looks_like_bookmarks(std::string_view(text).substr(0, 1024)))) {
      auto marks = html::parse_bookmarks(text);
      if (!marks) {
        err = marks.err().message;
        return false;
      }
      if (marks->empty()) {
        err = "a bookmark file without a single <A HREF>";
        return false;
      }
      whole_ = bookmark_entries(*marks);
      kind_ = "Netscape bookmarks";
      return true;
    }
    if (format.empty() && text.find(',') == std::string::npos) {
      err = path + " is not JSON, JSON lines, a Netscape bookmark file or CSV (give --format to say which)";
      return false;
    }
    if (!csv_entries(text, whole_, err)) return false;
    kind_ = "CSV";
    return true;
  }
  const char* kind() const { return kind_; }

  // The next entry; false at the end or on a bad line (err set).
  bool next(json::value& out, std::string& err) {
    if (!lines_) {
      if (index_ >= whole_.size()) return false;
      out = std::move(whole_[index_++]);
      return true;
    }
    if (pending_) {
      out = std::move(*pending_);
      pending_.reset();
      return true;
    }
    std::string line;
    while (std::getline(in_, line)) {
      ++line_no_;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      boost::system::error_code ec;
      out = json::parse(line, ec, {}, po_);
      if (ec) {
        err = "line " + std::to_string(line_no_) + " is not JSON: " + ec.message();
        return false;
      }
      return true;
    }
    return false;
  }

  // Progress as a fraction of the file (entries of a whole export, bytes of JSON lines).
  double progress() {
    if (!lines_) return whole_.empty() ? 1.0 : double(index_) / double(whole_.size());
    const auto pos = in_.tellg();
    return pos < 0 || size_ == 0 ? 1.0 : double(pos) / double(size_);
  }
  bool streamed() const { return lines_; }

 private:
  std::ifstream in_;
  uint64_t size_ = 0;
  json::parse_options po_;
  bool lines_ = false;
  size_t line_no_ = 0;
  std::optional<json::value> pending_;
  json::array whole_;
  size_t index_ = 0;
  const char* kind_ = "JSON";
};

void usage() {
  std::fputs(
      "Usage: leaves import FILE [--server URL] [--format F]\n"
      "  FILE: a Solr export ({\"response\":{\"docs\":[...]}}), a JSON array of entries\n"
      "        (wallabag v2), JSON lines (leaves export's json and jsonl), Karakeep's or\n"
      "        Linkwarden's JSON export, a Netscape bookmark file (browsers, Pinboard,\n"
      "        linkding, Raindrop, Shaarli), Pocket's HTML, or CSV with a header row\n"
      "        (leaves export's, Pocket's). Entries keep their id (else md5 of url).\n"
      "  --format F: json, jsonl, html or csv instead of detecting it\n"
      "  --server URL: a running leaves server (default http://127.0.0.1:8080, env LEAVES_SERVER)\n"
      "  The API token of LEAVES_TOKEN goes with every request (docs/auth.md).\n"
      "Exit status: 0 all entries accepted, 1 some rejected, 2 bad file or server error.\n",
      stdout);
}

}  // namespace

int import_main(const std::vector<std::string>& args) {
  std::string file, format;
  std::string server = getenv("LEAVES_SERVER") ? getenv("LEAVES_SERVER") : "http://127.0.0.1:8080";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      usage();
      return 0;
    }
    if (args[i] == "--format" && i + 1 < args.size()) {
      format = args[++i];
      if (format == "jsonl") format = "json";
      if (format != "json" && format != "html" && format != "csv") {
        std::fprintf(stderr, "leaves import: --format must be json, jsonl, html or csv, got '%s'\n", format.c_str());
        return 2;
      }
    } else if (args[i] == "--server" && i + 1 < args.size()) {
      server = args[++i];
    } else if (args[i].rfind("--server=", 0) == 0) {
      server = args[i].substr(9);
    } else if (file.empty() && args[i].rfind("--", 0) != 0) {
      file = args[i];
    } else {
      std::fprintf(stderr, "leaves import: unexpected argument '%s'\n", args[i].c_str());
      return 2;
    }
  }
  if (file.empty()) {
    usage();
    return 2;
  }
  http_client c(server);
  if (!c.ok()) {
    std::fprintf(stderr, "leaves import: --server: %s\n", c.why().c_str());
    return 2;
  }
  entry_source src;
  std::string err;
  if (!src.open(file, format, err)) {
    std::fprintf(stderr, "leaves import: %s: %s\n", file.c_str(), err.c_str());
    return 2;
  }
  const bool tty = isatty(fileno(stderr));
  std::map<std::string, size_t> counts{{"created", 0}, {"updated", 0}, {"unchanged", 0}, {"rejected", 0}};
  std::vector<std::string> rejections;
  size_t read = 0;  // entries taken from the file
  auto summary = [&] {
    return "imported " + std::to_string(counts["created"] + counts["updated"]) + ", unchanged " +
           std::to_string(counts["unchanged"]) + ", rejected " + std::to_string(counts["rejected"]);
  };
  // Stops the import: what the server accepted so far, and where to resume.
  auto stopped = [&](size_t first, const std::string& why) {
    if (tty) std::fputc('\n', stderr);
    std::fprintf(stderr,
                 "leaves import: %s\n  before that: %s (entries 1-%zu were answered; from entry %zu on, nothing "
                 "was imported: import the file again, which skips what is already there)\n",
                 why.c_str(), summary().c_str(), first, first + 1);
    std::printf("%s\n", summary().c_str());
    return 2;
  };
  std::optional<json::value> carry;  // an entry that did not fit the last batch
  size_t carry_no = 0;
  bool more = true;
  while (more || carry) {
    // A batch: up to kBatch entries and kMaxBatchBytes of JSON.
    json::array items;
    std::vector<size_t> numbers;  // each item's 1-based entry number in the file
    size_t bytes = 0;
    const size_t first = read - (carry ? 1 : 0);
    while (items.size() < kBatch) {
      json::value v;
      size_t no = 0;
      if (carry) {
        v = std::move(*carry);
        no = carry_no;
        carry.reset();
      } else if (more && src.next(v, err)) {
        no = ++read;
      } else {
        more = false;
        if (!err.empty()) return stopped(first, file + ": " + err);  // this batch was never sent
        break;
      }
      const size_t sz = json::serialize(v).size();
      if (sz > kMaxBatchBytes) {  // alone over the server's body limit: rejected here
        counts["rejected"]++;
        rejections.push_back("entry " + std::to_string(no) + ": " + std::to_string(sz) +
                             " bytes of JSON, more than a request may carry (" + std::to_string(kMaxBatchBytes) +
                             ")");
        continue;
      }
      if (!items.empty() && bytes + sz > kMaxBatchBytes) {
        carry = std::move(v);
        carry_no = no;
        break;
      }
      bytes += sz;
      items.push_back(std::move(v));
      numbers.push_back(no);
    }
    if (items.empty()) continue;
    http_answer res;
    try {
      res = c.request("POST", c.prefix() + "/v1/bulk/leaves", json::serialize(json::object{{"items", std::move(items)}}),
                      "leaves-import");
    } catch (const std::exception& e) {
      return stopped(first, "cannot reach " + server + ": " + e.what());
    }
    if (res.status != 200) {
      const char* hint = res.status == 401   ? " (set LEAVES_TOKEN to a token with the write scope; docs/auth.md)"
                         : res.status == 403 ? " (the token of LEAVES_TOKEN cannot write; docs/auth.md)"
                                             : "";
      return stopped(first, "the server answered " + std::to_string(res.status) + ": " + res.body.substr(0, 500) + hint);
    }
    boost::system::error_code ec;
    auto body = json::parse(res.body, ec);
    if (ec || !body.is_object() || !body.as_object().contains("results")) {
      return stopped(first, "unexpected answer from the server");
    }
    for (const auto& r : body.as_object().at("results").as_array()) {
      const auto& o = r.as_object();
      const std::string status(o.at("status").as_string());
      counts[status]++;
      if (status == "rejected") {
        const auto idx = static_cast<size_t>(o.at("index").to_number<int64_t>());
        std::string why = o.contains("error") ? std::string(o.at("error").as_object().at("message").as_string()) : "";
        rejections.push_back("entry " + std::to_string(idx < numbers.size() ? numbers[idx] : first + idx + 1) +
                             ": " + why);
      }
    }
    if (tty) {
      const int width = 40;
      const int filled = static_cast<int>(width * std::min(1.0, src.progress()));
      std::fprintf(stderr, "\r[%s%s] %zu entries", std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), read);
    }
  }
  if (tty) std::fputc('\n', stderr);
  std::printf("%s\n", summary().c_str());
  for (const auto& r : rejections) std::printf("  rejected %s\n", r.c_str());
  return counts["rejected"] > 0 ? 1 : 0;
}

}  // namespace leaves::app
