// GET /v1/export?format=jsonl|json|csv|html: every leaf the caller may see
// (optionally of one tag, starred, archived, public, in a time range; or
// the matches of a search, ?q=, through the index),
// streamed a page at a time with chunked transfer coding, so an export of
// 100,000 leaves holds one page in memory, not the whole answer.
#include <algorithm>

#include "leaves/api/handlers.h"
#include "leaves/api/search.h"
#include "leaves/base/separated.h"
#include "leaves/base/time.h"
#include "leaves/html/text.h"

namespace leaves::api {

namespace {

constexpr size_t kExportPage = 100;  // leaves per piece
constexpr size_t kSearchExportPage = 500;  // matches per search (each search visits every match)

enum class export_format { jsonl, json, csv, html };

std::optional<export_format> parse_format(std::string_view f) {
  if (f == "jsonl") return export_format::jsonl;
  if (f == "json") return export_format::json;
  if (f == "csv") return export_format::csv;
  if (f == "html") return export_format::html;
  return std::nullopt;
}

// RFC 4180: a field with a comma, quote or line break is quoted, its quotes
// doubled. A field a spreadsheet would run as a formula (=, +, -, @, tab,
// CR first) gets a leading apostrophe (OWASP's CSV injection advice), and so
// does one that starts with an apostrophe of its own: `leaves import` takes
// exactly one off a quoted field that starts with it and one of those.
void csv_field(std::string& out, std::string_view v) {
  const bool formula = !v.empty() && std::string_view("=+-@\t\r'").find(v.front()) != std::string_view::npos;
  const bool quote = formula || v.find_first_of(",\"\r\n") != std::string_view::npos;
  if (!quote) {
    out += v;
    return;
  }
  out += '"';
  if (formula) out += '\'';
  for (char ch : v) {
    if (ch == '"') out += '"';
    out += ch;
  }
  out += '"';
}

// A '|' or ',' inside a tag is escaped with a backslash (base/separated.h).
std::string joined(const std::optional<domain::string_list>& tags, char sep) {
  return tags ? join_escaped(*tags, sep) : std::string();
}

const char* kCsvHeader = "id,url,title,tags,created_at,updated_at,is_starred,is_archived,is_public,user_name\r\n";

void csv_row(std::string& out, const leaf& l) {
  csv_field(out, l.id);
  out += ',';
  csv_field(out, l.url);
  out += ',';
  csv_field(out, l.title);
  out += ',';
  csv_field(out, joined(l.tags, '|'));  // Pocket's separator
  out += ',';
  out += format_iso8601(l.created_at);
  out += ',';
  out += format_iso8601(l.updated_at);
  out += l.is_starred ? ",true" : ",false";
  out += l.is_archived ? ",true" : ",false";
  out += l.is_public ? ",true," : ",false,";
  csv_field(out, l.user_name);
  out += "\r\n";
}

// The Netscape bookmark file every browser imports and exports (and
// Pinboard, linkding, Raindrop, Shaarli): one <DT><A> per leaf, tags in TAGS,
// seconds since the epoch in ADD_DATE, the text (content_text) in <DD>, whole,
// so an export imported again changes nothing but the dates' milliseconds.
const char* kHtmlHead =
    "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n"
    "<!-- This is an automatically generated file. It will be read and overwritten. DO NOT EDIT! -->\n"
    "<META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=UTF-8\">\n"
    "<TITLE>Bookmarks</TITLE>\n<H1>Bookmarks</H1>\n<DL><p>\n";

void html_row(std::string& out, const leaf& l) {
  // Browsers read a bookmark file a line at a time (Chromium's reader wants
  // the whole <A ...>title</A> on one line): line breaks in the anchor's
  // title or tags are written as spaces.
  const size_t anchor = out.size();
  out += "<DT><A HREF=\"";
  out += html::escape(l.url);
  out += "\" ADD_DATE=\"" + std::to_string(l.created_at / 1000) + "\" LAST_MODIFIED=\"" +
         std::to_string(l.updated_at / 1000) + "\"";
  if (auto tags = joined(l.tags, ','); !tags.empty()) out += " TAGS=\"" + html::escape(tags) + "\"";
  out += l.is_public ? " PRIVATE=\"0\"" : " PRIVATE=\"1\"";
  if (l.is_starred) out += " STARRED=\"1\"";
  if (l.is_archived) out += " TOREAD=\"0\" ARCHIVED=\"1\"";
  out += '>';
  out += html::escape(l.title.empty() ? l.url : l.title);
  out += "</A>";
  for (size_t i = anchor; i < out.size(); ++i) {
    if (out[i] == '\n' || out[i] == '\r') out[i] = ' ';
  }
  out += '\n';
  if (l.content_text && !l.content_text->empty()) {
    out += "<DD>" + html::escape(*l.content_text) + "\n";
  }
}

// Where an export's leaves come from, a batch at a time.
class leaf_source {
 public:
  virtual ~leaf_source() = default;
  // The next batch; an empty one with `more` false at the end.
  struct batch {
    std::vector<domain::leaf> items;
    bool more = false;
  };
  virtual asio::awaitable<result<batch>> next() = 0;
};

// A listing of the read store, page after page.
class list_source final : public leaf_source {
 public:
  list_source(store::leaf_queries& st, store::list_query q, store::list_page first)
      : store_(st), q_(std::move(q)), first_(std::move(first)) {}
  asio::awaitable<result<batch>> next() override {
    store::list_page page;
    if (!started_) {
      started_ = true;
      page = std::move(first_);
    } else {
      auto p = co_await store_.async_list(q_);
      if (!p) co_return p.err();
      page = std::move(*p);
    }
    batch b;
    b.items = std::move(page.items);
    b.more = !page.next_page_token.empty();
    q_.page_token = std::move(page.next_page_token);
    co_return b;
  }

 private:
  store::leaf_queries& store_;
  store::list_query q_;
  store::list_page first_;
  bool started_ = false;
};

// The matches of a search (?q=), newest first, each read whole from the
// store (a search hit carries no content), up to kMaxSearchExport of them.
// Paged by key, not by offset: each page asks for what was created up to
// the last page's oldest time, skipping the leaves of that very millisecond
// it already gave, so a leaf saved during the export neither shifts nor
// repeats what follows, and no page makes the index skip the ones before it.
// One of the few search exports that may run at once, held while it streams.
class export_slot {
 public:
  explicit export_slot(std::shared_ptr<std::atomic<int>> n) : n_(std::move(n)) {}
  export_slot(export_slot&& o) noexcept : n_(std::move(o.n_)) {}
  export_slot(const export_slot&) = delete;
  ~export_slot() {
    if (n_) n_->fetch_sub(1);
  }

 private:
  std::shared_ptr<std::atomic<int>> n_;
};

class search_source final : public leaf_source {
 public:
  search_source(search::search_index& ix, store::leaf_queries& st, search::search_request r, export_slot slot)
      : index_(ix), store_(st), r_(std::move(r)), until_(r_.until_ms), slot_(std::move(slot)) {}
  asio::awaitable<result<batch>> next() override {
    batch b;
    if (r_.limit == 0 || sent_ >= kMaxSearchExport) co_return b;
    r_.offset = tie_;
    r_.until_ms = until_;
    if (boundary_ && (!until_ || *boundary_ + 1 < *until_)) r_.until_ms = *boundary_ + 1;
    auto res = co_await index_.async_search(r_);
    if (!res) co_return res.err();
    for (const auto& h : res->items) {
      auto l = co_await store_.async_get(h.leaf.id);
      if (!l) co_return l.err();
      if (*l) b.items.push_back(std::move(**l));  // gone since it was indexed: skipped
    }
    sent_ += res->items.size();
    if (!res->items.empty()) {
      const int64_t last = res->items.back().leaf.created_at;
      size_t at_last = 0;
      for (const auto& h : res->items) at_last += h.leaf.created_at == last ? 1 : 0;
      if (boundary_ && *boundary_ == last) {
        tie_ += at_last;  // a whole page of one millisecond: the next one goes on within it
      } else {
        boundary_ = last;
        tie_ = at_last;
      }
    }
    b.more = res->more && res->items.size() == r_.limit && sent_ < kMaxSearchExport;
    co_return b;
  }
  static constexpr size_t kMaxSearchExport = 100000;

 private:
  search::search_index& index_;
  store::leaf_queries& store_;
  search::search_request r_;
  std::optional<int64_t> until_;     // the caller's own `until`, if any
  std::optional<int64_t> boundary_;  // created_at of the last leaf given
  size_t tie_ = 0;                   // leaves of that millisecond given already
  size_t sent_ = 0;
  export_slot slot_;
};

class export_stream final : public http::stream_source {
 public:
  export_stream(std::unique_ptr<leaf_source> src, export_format f, http::request::caller_info caller,
                const context& ctx)
      : src_(std::move(src)), format_(f), caller_(std::move(caller)), c_(ctx) {}

  asio::awaitable<std::vector<http::stream_event>> next(std::chrono::milliseconds, std::string& end) override {
    std::vector<http::stream_event> out(1);
    std::string& piece = out[0].data;
    if (!opened_) {
      opened_ = true;
      if (format_ == export_format::json) piece = "[";
      if (format_ == export_format::csv) piece = kCsvHeader;
      if (format_ == export_format::html) piece = kHtmlHead;
    }
    auto b = co_await src_->next();
    if (!b) {
      end = "failed";  // the body ends without its last chunk: visibly truncated
      co_return out;
    }
    const auto marks = c_.marks_view(caller_);  // one look at the directory a batch
    for (auto& l : b->items) {
      if (l.deleted || !caller_.sees(l.is_public, l.user_id)) continue;
      context::show_marks(marks, l);
      switch (format_) {
        case export_format::jsonl:
          piece += json::serialize(domain::leaf_to_json(l));
          piece += '\n';
          break;
        case export_format::json:
          if (sent_) piece += ',';
          piece += json::serialize(domain::leaf_to_json(l));
          break;
        case export_format::csv: csv_row(piece, l); break;
        case export_format::html: html_row(piece, l); break;
      }
      ++sent_;
    }
    if (!b->more) {
      if (format_ == export_format::json) piece += "]\n";
      if (format_ == export_format::html) piece += "</DL><p>\n";
      end = "done";
    }
    co_return out;
  }
  void closed() override {}

 private:
  std::unique_ptr<leaf_source> src_;
  export_format format_;
  http::request::caller_info caller_;
  const context& c_;  // the API's, which outlives its streams
  bool opened_ = false;
  size_t sent_ = 0;
};

}  // namespace

asio::awaitable<response> v1_leaves::v1_export(const request& req, const params& p) {
  std::string fmt = "jsonl";
  params filters;
  for (const auto& [k, v] : p) {
    if (k == "format") {
      fmt = v;
    } else if (k == "limit" || k == "page_token" || k == "sort" || k == "order") {
      co_return error_to_response(
          bad_query(k + " does not apply to an export (it lists every leaf, newest first)"));
    } else {
      filters.emplace_back(k, v);
    }
  }
  const auto f = parse_format(fmt);
  if (!f) {
    co_return error_to_response(bad_query("format must be jsonl, json, csv or html, got '" + fmt.substr(0, 40) + "'"));
  }
  if (auto w = co_await c.wait_min_position(req, p)) co_return std::move(*w);
  std::unique_ptr<leaf_source> src;
  const bool search = std::any_of(filters.begin(), filters.end(), [](const auto& kv) { return kv.first == "q"; });
  if (search) {
    // The matches of a search, through the index: its filters (tag, user,
    // domain, starred, ...) apply as on /v1/search.
    auto r = parse_search(filters, o.limits, o.search);
    if (!r) co_return error_to_response(r.err());
    r->sort = search::sort_by::created;
    r->descending = true;
    r->offset = 0;
    r->limit = kSearchExportPage;
    r->facet_tags = r->facet_users = r->facet_domains = false;
    // A caller who sees only public leaves asking for private ones: an empty export.
    if (!req.caller.narrow(*r)) r->limit = 0;
    r->marks = c.marks_view(req.caller);
    if (auto u = searching.search_unavailable()) co_return std::move(*u);
    constexpr int kMaxSearchExports = 2;
    if (search_exports->fetch_add(1) >= kMaxSearchExports) {
      search_exports->fetch_sub(1);
      response busy = http::error_response(503, "export_busy",
                                           "2 search exports are running; try again when one has finished");
      busy.headers.emplace_back("Retry-After", "5");
      co_return busy;
    }
    src = std::make_unique<search_source>(*d.search, d.store, std::move(*r), export_slot(search_exports));
  } else {
    auto q = list_query(filters);
    if (!q) co_return error_to_response(q.err());
    q->limit = kExportPage;
    // A caller who sees only public leaves asking for private ones: an empty export.
    const bool none = !req.caller.narrow(*q);
    if (q->starred || q->archived) q->marks = c.marks_view(req.caller);
    store::list_page first;
    if (!none) {  // (not a ?: around co_await: GCC 12 miscompiles temporaries there)
      auto page = co_await d.store.async_list(*q);
      if (!page) co_return error_to_response(page.err());
      first = std::move(*page);
    }
    src = std::make_unique<list_source>(d.store, std::move(*q), std::move(first));
  }
  static constexpr const char* kTypes[] = {"application/x-ndjson", "application/json", "text/csv; charset=utf-8",
                                           "text/html; charset=utf-8"};
  static constexpr const char* kExt[] = {"jsonl", "json", "csv", "html"};
  const auto i = static_cast<size_t>(*f);
  response r;
  r.content_type = kTypes[i];
  const std::string day = format_iso8601(system_clock().now_ms()).substr(0, 10);
  r.headers.emplace_back("Content-Disposition",
                         std::string("attachment; filename=\"leaves-") + day + "." + kExt[i] + "\"");
  r.headers.emplace_back("Cache-Control", "no-store");
  r.stream = http::stream_kind::chunked;
  r.source = std::make_shared<export_stream>(std::move(src), *f, req.caller, c);
  co_return r;
}

}  // namespace leaves::api
