// leaves export-site: the public leaves as a static site for any CDN or
// static host: an index, a page per tag and per leaf, Atom feeds, and a small
// client-side search over a generated JSON index (site/search.js).
//
// Incremental: DIR/.leaves-export.json remembers each file's checksum and each
// leaf's version. A second run renders a leaf page again only when the leaf's
// version changed, writes a file only when its bytes changed, and removes the
// files of leaves that are no longer public. Every write is a rename of a
// complete file, so a host serving DIR never sees half a page.
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "leaves/app/commands.h"
#include "leaves/app/http_client.h"
#include "leaves/app/setup.h"
#include "leaves/base/hash.h"
#include "leaves/base/time.h"
#include "leaves/domain/leaf.h"
#include "leaves/html/sanitize.h"
#include "leaves/html/atom.h"
#include "leaves/html/text.h"
#include "leaves/log/event_log.h"
#include "leaves/store/read_store.h"

namespace json = boost::json;
namespace fs = std::filesystem;

namespace leaves::app {

std::string_view site_style();   // generated from site/style.css
std::string_view site_search();  // generated from site/search.js

namespace {

// Bumped when pages are rendered differently: every page is then rendered again.
constexpr int kRenderVersion = 1;
constexpr size_t kIndexLeaves = 100;
constexpr size_t kFeedEntries = 50;
constexpr size_t kSearchText = 300;
const char* const kManifest = ".leaves-export.json";

struct options {
  fs::path out;
  std::set<std::string> tags;  // empty: every public leaf
  std::string title = "Leaves";
  std::string base_url;        // for absolute links in feeds; empty: relative
  std::string server;
  std::string min_position;    // --server: read only once the read models applied it
  std::vector<std::string> rest;  // serve's options, for --data-dir
};

void usage() {
  std::fputs(
      "Usage: leaves export-site --out DIR [--tag T]... [--title TEXT] [--base-url URL]\n"
      "                          (--server URL | --data-dir DIR [serve options])\n"
      "  Renders the public leaves to static HTML under DIR: index.html, tag/*.html,\n"
      "  leaf/*.html, feed/*.xml (Atom), search.json with search.js, style.css.\n"
      "  --server URL: read them from a running server (http://HOST:PORT)\n"
      "  --data-dir DIR: read them from a data dir (the server stopped; with\n"
      "                  --cassandra/--kafka, the read models there)\n"
      "  --min-position P: with --server, wait until the read models applied the\n"
      "                  writes up to P (a Leaves-Position, p:o[,p:o...])\n"
      "  --tag T: only the leaves with one of these tags (repeatable)\n"
      "  --base-url URL: where the site will be served, for absolute links in feeds\n"
      "A second run writes only what changed (DIR/.leaves-export.json).\n"
      "Exit status: 0 done, 2 bad options or a source that cannot be read.\n",
      stderr);
}

// The first kSearchText bytes of a leaf's text (content_text, else the visible
// text of its content), spaces collapsed, cut at a character boundary.
std::string summary_of(const domain::leaf& l) {
  const std::string text = l.content_text && !l.content_text->empty() ? *l.content_text
                           : l.content                                 ? html::visible_text(*l.content)
                                                                       : std::string();
  return html::collapsed_prefix(text, kSearchText);
}

using html::escape;

// A file name for a tag: itself when it is plain lower-case ASCII, else a
// plain form with the first 8 hex digits of its md5 (so "Kafka" and "kafka"
// get different files).
std::string slug(const std::string& tag) {
  std::string s;
  for (unsigned char c : tag) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
      s += static_cast<char>(c);
    } else if (c >= 'A' && c <= 'Z') {
      s += static_cast<char>(c - 'A' + 'a');
    } else if (!s.empty() && s.back() != '-') {
      s += '-';
    }
    if (s.size() >= 60) break;
  }
  if (s != tag || s.empty()) s += (s.empty() ? "" : "-") + md5_hex(tag).substr(0, 8);
  return s;
}

// A leaf's page. Ids are the server's, but a file name never takes one that
// could leave the directory: any other id is named by its md5.
std::string leaf_file(const std::string& id) {
  bool plain = !id.empty() && id.size() <= 128 && id.front() != '.';
  for (unsigned char c : id) {
    plain = plain && (std::isalnum(c) || c == '-' || c == '_' || c == '.');
  }
  return "leaf/" + (plain ? id : md5_hex(id)) + ".html";
}

// Only http(s) URLs become links or pictures.
std::string link_or_text(const domain::leaf& l, const std::string& text) {
  if (html::safe_url(l.url, false)) {
    return "<a href=\"" + escape(l.url) + "\" rel=\"noopener noreferrer nofollow\">" + escape(text) + "</a>";
  }
  return escape(text);
}

std::string host_of(const domain::leaf& l) {
  auto d = domain::domain_of(l.url);
  return d ? *d : l.domain_name;
}

std::string page(const options& o, const std::string& root, const std::string& title, const std::string& body,
                 const std::string& feed = {}) {
  std::string h = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                  "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'self'; "
                  "style-src 'self'; img-src https: http: data:; connect-src 'self'; base-uri 'none'; "
                  "form-action 'none'\">\n"
                  "<meta name=\"referrer\" content=\"no-referrer\">\n<link rel=\"icon\" href=\"data:,\">\n<title>" +
                  escape(title) + "</title>\n<link rel=\"stylesheet\" href=\"" + root + "style.css\">\n";
  if (!feed.empty()) h += "<link rel=\"alternate\" type=\"application/atom+xml\" href=\"" + root + feed + "\">\n";
  h += "<script src=\"" + root + "search.js\" defer></script>\n</head>\n<body>\n<header><a class=\"home\" href=\"" +
       root + "index.html\">" + escape(o.title) + "</a>" + "<input type=\"search\" id=\"site-search\" data-root=\"" +
       root + "\" placeholder=\"Search this site\" aria-label=\"Search this site\"></header>\n<main>\n" +
       "<ul class=\"leaves\" id=\"site-results\" aria-live=\"polite\"></ul>\n" + body +
       "</main>\n<footer>Exported by leaves</footer>\n</body>\n</html>\n";
  return h;
}

std::string tag_list(const domain::leaf& l, const std::string& root) {
  if (!l.tags || l.tags->empty()) return {};
  std::string h = "<ul class=\"tags\">";
  for (const auto& t : *l.tags) {
    h += "<li><a href=\"" + root + "tag/" + slug(t) + ".html\">#" + escape(t) + "</a></li>";
  }
  return h + "</ul>";
}

std::string leaf_item(const domain::leaf& l, const std::string& root) {
  return "<li><a href=\"" + root + leaf_file(l.id) + "\">" + escape(l.title.empty() ? l.url : l.title) +
         "</a><div class=\"meta\">" + escape(host_of(l)) + " · " + format_iso8601(l.created_at).substr(0, 10) +
         "</div>" + tag_list(l, root) + "</li>\n";
}

std::string leaf_page(const options& o, const domain::leaf& l) {
  const std::string title = l.title.empty() ? l.url : l.title;
  std::string body = "<article>\n<h1>" + escape(title) + "</h1>\n<p class=\"meta\">" + link_or_text(l, host_of(l)) +
                     " · saved " + format_iso8601(l.created_at).substr(0, 10) +
                     (l.user_name.empty() ? "" : " by " + escape(l.user_name)) + "</p>\n" + tag_list(l, "../") +
                     "\n<div class=\"content\">" + (l.content ? html::sanitize(*l.content) : std::string()) +
                     "</div>\n</article>\n";
  return page(o, "../", title + " · " + o.title, body);
}

std::string iso(int64_t ms) { return format_iso8601(ms); }

std::string feed(const options& o, const std::string& title, const std::string& id, const std::string& html_path,
                 const std::string& self_path, const std::vector<const domain::leaf*>& items) {
  const std::string base = o.base_url.empty() ? "" : o.base_url + (o.base_url.ends_with("/") ? "" : "/");
  std::vector<html::atom_entry> entries;
  for (const auto* l : items) {
    if (entries.size() == kFeedEntries) break;
    html::atom_entry e{l->id, l->title, l->url, l->updated_at, l->created_at, base + leaf_file(l->id), l->user_name,
                       l->tags.value_or(domain::string_list{}), summary_of(*l)};
    entries.push_back(std::move(e));
  }
  int64_t updated = 0;
  for (const auto* l : items) updated = std::max(updated, l->updated_at);
  return html::atom_feed(title, id, base + html_path, base + self_path, updated, entries);
}

// ---- sources ----

struct source_result {
  std::vector<domain::leaf> leaves;
  std::string position;  // the log's end offsets when read from a data dir ("p:o,..."), else empty
  std::string error;
  bool help = false;  // --help was given: the usage is printed
};

bool wanted(const options& o, const domain::leaf& l) {
  if (!l.is_public || l.deleted) return false;
  if (o.tags.empty()) return true;
  if (!l.tags) return false;
  for (const auto& t : *l.tags) {
    if (o.tags.contains(t)) return true;
  }
  return false;
}

source_result from_server(const options& o) {
  source_result r;
  http_client c(o.server);
  if (!c.ok()) {
    r.error = "--server: " + c.why();
    return r;
  }
  std::string token;
  for (;;) {
    std::string target = c.prefix() + "/v1/leaves?public=true&limit=100";
    if (!token.empty()) target += "&page_token=" + boost::urls::encode(token, boost::urls::unreserved_chars);
    if (!o.min_position.empty()) {
      target += "&min_position=" + boost::urls::encode(o.min_position, boost::urls::unreserved_chars);
    }
    http_answer a;
    try {
      a = c.request("GET", target, {}, "leaves-export-site");
    } catch (const std::exception& e) {
      r.error = "cannot reach " + o.server + ": " + e.what();
      return r;
    }
    if (a.status != 200) {
      r.error = "the server answered " + std::to_string(a.status) + ": " + a.body.substr(0, 500);
      return r;
    }
    boost::system::error_code ec;
    auto body = json::parse(a.body, ec);
    const json::value* items = ec || !body.is_object() ? nullptr : body.as_object().if_contains("items");
    if (!items || !items->is_array()) {
      r.error = "unexpected answer from the server to GET " + target;
      return r;
    }
    for (const auto& item : items->as_array()) {
      if (!item.is_object()) continue;
      auto l = domain::leaf_from_json(item.as_object());
      if (l && wanted(o, *l)) r.leaves.push_back(std::move(*l));
    }
    const auto* next = body.as_object().if_contains("next_page_token");
    if (!next || !next->is_string() || next->as_string().empty()) break;
    token = std::string(next->as_string());
  }
  return r;
}

source_result from_data_dir(const options& o) {
  source_result r;
  serve_config c;
  if (auto code = parse_command("export-site", o.rest, c)) {
    if (*code == 0) r.help = true;
    else r.error = "bad options (above)";
    return r;
  }
  const fs::path dir(c.data_dir);
  if (!fs::is_directory(dir)) {
    r.error = "no data dir at " + c.data_dir;
    return r;
  }
  auto log = open_log(c, dir);
  if (!log) {
    r.error = "cannot open the log: " + log.err().message + (c.kafka.empty() ? " (is a server running on it?)" : "");
    return r;
  }
  const auto end = (*log)->end_offsets();
  for (size_t p = 0; p < end.size(); ++p) {
    r.position += (p ? "," : "") + std::to_string(p) + ":" + std::to_string(end[p]);
  }
  auto st = open_store(c, dir);
  if (!st) {
    r.error = "cannot open the read models: " + st.err().message;
    return r;
  }
  store::list_query q;
  q.is_public = true;
  q.limit = 1000;
  for (;;) {
    auto page = (*st)->list(q);
    if (!page) {
      r.error = "cannot list the leaves: " + page.err().message;
      return r;
    }
    for (auto& l : page->items) {
      if (wanted(o, l)) r.leaves.push_back(std::move(l));
    }
    if (page->next_page_token.empty()) break;
    q.page_token = page->next_page_token;
  }
  return r;
}

// ---- writing ----

struct writer {
  fs::path out;
  json::object old_files;              // path -> md5 of the last export
  std::map<std::string, std::string> files;  // path -> md5 of this export
  size_t written = 0, unchanged = 0, removed = 0;

  void put(const std::string& path, const std::string& bytes) {
    const std::string sum = md5_hex(bytes);
    files[path] = sum;
    const auto* was = old_files.if_contains(path);
    if (was && was->is_string() && was->as_string() == sum && fs::exists(out / path)) {
      ++unchanged;
      return;
    }
    write_file(out / path, bytes);
    ++written;
  }

  // A file whose page was not rendered again (its leaf did not change).
  bool keep(const std::string& path) {
    const auto* was = old_files.if_contains(path);
    if (!was || !was->is_string() || !fs::exists(out / path)) return false;
    files[path] = std::string(was->as_string());
    ++unchanged;
    return true;
  }

  static void write_file(const fs::path& p, const std::string& bytes) {
    fs::create_directories(p.parent_path());
    const fs::path tmp = p.string() + ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!f) throw std::runtime_error("cannot write " + tmp.string());
    }
    fs::rename(tmp, p);
  }

  void remove_stale() {
    for (const auto& [path, sum] : old_files) {
      if (files.contains(std::string(path))) continue;
      std::error_code ec;
      if (fs::remove(out / std::string(path), ec)) ++removed;
    }
  }
};

}  // namespace

int export_site_main(const std::vector<std::string>& args) {
  options o;
  std::string data_dir;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      if (a == name && i + 1 < args.size()) return args[++i];
      if (a.rfind(std::string(name) + "=", 0) == 0) return a.substr(std::string(name).size() + 1);
      return std::nullopt;
    };
    if (a == "--help" || a == "-h") {
      usage();
      return 0;
    }
    if (auto v = value("--out")) {
      o.out = *v;
    } else if (auto v = value("--tag")) {
      o.tags.insert(*v);
    } else if (auto v = value("--title")) {
      o.title = *v;
    } else if (auto v = value("--base-url")) {
      o.base_url = *v;
    } else if (auto v = value("--min-position")) {
      o.min_position = *v;
    } else if (auto v = value("--server")) {
      o.server = *v;
    } else {
      if (a == "--data-dir" || a.rfind("--data-dir=", 0) == 0) data_dir = "given";
      o.rest.push_back(a);
    }
  }
  if (o.out.empty() || (o.server.empty() == data_dir.empty())) {
    std::fputs("leaves export-site: give --out DIR and one of --server URL or --data-dir DIR\n", stderr);
    usage();
    return 2;
  }
  if (!o.min_position.empty() && o.server.empty()) {
    std::fputs("leaves export-site: --min-position goes with --server\n", stderr);
    return 2;
  }
  if (!o.server.empty() && !o.rest.empty()) {
    std::fprintf(stderr, "leaves export-site: unknown option '%s' (serve's options go with --data-dir)\n",
                 o.rest.front().c_str());
    return 2;
  }
  if (!o.base_url.empty() && !html::safe_url(o.base_url, false)) {
    std::fprintf(stderr, "leaves export-site: --base-url must be an http(s) URL, got '%s'\n", o.base_url.c_str());
    return 2;
  }
  source_result src = o.server.empty() ? from_data_dir(o) : from_server(o);
  if (!src.error.empty()) {
    std::fprintf(stderr, "leaves export-site: %s\n", src.error.c_str());
    return 2;
  }
  if (src.help) return 0;

  writer w;
  w.out = o.out;
  fs::create_directories(o.out);
  json::object old_versions;
  {
    std::ifstream f(o.out / kManifest, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    boost::system::error_code ec;
    auto m = json::parse(ss.str(), ec);
    if (!ec && m.is_object() && m.as_object().if_contains("render") &&
        m.as_object().at("render") == json::value(kRenderVersion)) {
      if (const auto* f2 = m.as_object().if_contains("files"); f2 && f2->is_object()) w.old_files = f2->as_object();
      if (const auto* v = m.as_object().if_contains("leaves"); v && v->is_object()) old_versions = v->as_object();
    }
  }

  // Newest first everywhere.
  auto& leaves = src.leaves;
  std::sort(leaves.begin(), leaves.end(), [](const domain::leaf& a, const domain::leaf& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at : a.id < b.id;
  });
  std::map<std::string, std::vector<const domain::leaf*>> by_tag;
  json::object versions;
  json::array search;
  size_t rendered = 0;
  for (const auto& l : leaves) {
    versions[l.id] = l.version;
    if (l.tags) {
      // Every tag of an exported leaf gets its page (the leaf pages link to them),
      // listing the exported leaves with that tag.
      for (const auto& t : *l.tags) by_tag[t].push_back(&l);
    }
    const auto* was = old_versions.if_contains(l.id);
    if (!(was && *was == json::value(l.version) && w.keep(leaf_file(l.id)))) {
      w.put(leaf_file(l.id), leaf_page(o, l));
      ++rendered;
    }
    std::string text = summary_of(l);
    json::array tags;
    if (l.tags) {
      for (const auto& t : *l.tags) tags.emplace_back(t);
    }
    search.emplace_back(json::array{json::string(leaf_file(l.id)), json::string(l.title), json::string(l.url),
                                    std::move(tags), json::string(iso(l.created_at)), json::string(text)});
  }

  // Tag pages and feeds.
  for (const auto& [tag, items] : by_tag) {
    const std::string s = slug(tag);
    std::string body = "<h1>#" + escape(tag) + "</h1>\n<p class=\"meta\">" + std::to_string(items.size()) +
                       (items.size() == 1 ? " leaf" : " leaves") + " · <a href=\"../feed/" + s +
                       ".xml\">Atom feed</a></p>\n<ul class=\"leaves\">\n";
    for (const auto* l : items) body += leaf_item(*l, "../");
    body += "</ul>\n";
    w.put("tag/" + s + ".html", page(o, "../", "#" + tag + " · " + o.title, body, "feed/" + s + ".xml"));
    w.put("feed/" + s + ".xml", feed(o, o.title + ": #" + tag, "urn:leaves:tag:" + tag, "tag/" + s + ".html",
                                     "feed/" + s + ".xml", items));
  }
  std::vector<const domain::leaf*> all;
  for (const auto& l : leaves) all.push_back(&l);
  w.put("feed/all.xml", feed(o, o.title, "urn:leaves:all", "index.html", "feed/all.xml", all));

  // The index: the tags by count, then the newest leaves.
  std::vector<std::pair<std::string, size_t>> counts;
  for (const auto& [tag, items] : by_tag) counts.emplace_back(tag, items.size());
  std::sort(counts.begin(), counts.end(),
            [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  std::string body = "<h1>" + escape(o.title) + "</h1>\n<p class=\"meta\">" + std::to_string(leaves.size()) +
                     " public leaves · <a href=\"feed/all.xml\">Atom feed</a></p>\n";
  if (!counts.empty()) {
    body += "<h2>Tags</h2>\n<ul class=\"tags\">";
    for (const auto& [tag, n] : counts) {
      body += "<li><a href=\"tag/" + slug(tag) + ".html\">#" + escape(tag) + " <span class=\"meta\">" +
              std::to_string(n) + "</span></a></li>";
    }
    body += "</ul>\n";
  }
  body += "<h2>Newest</h2>\n<ul class=\"leaves\">\n";
  for (size_t i = 0; i < leaves.size() && i < kIndexLeaves; ++i) body += leaf_item(leaves[i], "");
  body += "</ul>\n";
  w.put("index.html", page(o, "", o.title, body, "feed/all.xml"));
  w.put("search.json", json::serialize(search));
  w.put("search.js", std::string(site_search()));
  w.put("style.css", std::string(site_style()));
  w.remove_stale();

  json::object files;
  for (const auto& [p, sum] : w.files) files[p] = sum;
  json::object manifest{{"render", kRenderVersion},
                        {"exported_at", iso(system_clock().now_ms())},
                        {"source", o.server.empty() ? "data-dir" : o.server},
                        {"position", src.position},
                        {"files", std::move(files)},
                        {"leaves", std::move(versions)}};
  writer::write_file(o.out / kManifest, json::serialize(manifest));
  std::printf("export-site: %zu public leaves, %zu tags -> %s: %zu files written (%zu leaf pages rendered), "
              "%zu unchanged, %zu removed%s\n",
              leaves.size(), by_tag.size(), o.out.c_str(), w.written, rendered, w.unchanged, w.removed,
              src.position.empty() ? "" : (" (log position " + src.position + ")").c_str());
  return 0;
}

}  // namespace leaves::app
