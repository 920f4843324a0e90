// GET /v1/export?format=jsonl|json|csv|html: every leaf the caller may see
// (optionally of one tag, starred, archived, public, in a time range),
// streamed a page at a time with chunked transfer coding, so an export of
// 100,000 leaves holds one page in memory, not the whole answer.
#include "leaves/api/handlers.h"
#include "leaves/base/separated.h"
#include "leaves/base/time.h"
#include "leaves/html/text.h"

namespace leaves::api {

namespace {

constexpr size_t kExportPage = 100;  // leaves per piece

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
  out += "</A>\n";
  if (l.content_text && !l.content_text->empty()) {
    out += "<DD>" + html::escape(*l.content_text) + "\n";
  }
}

class export_stream final : public http::stream_source {
 public:
  export_stream(store::leaf_queries& st, store::list_query q, store::list_page first, export_format f,
                http::request::caller_info caller)
      : store_(st), q_(std::move(q)), page_(std::move(first)), format_(f), caller_(std::move(caller)) {}

  asio::awaitable<std::vector<http::stream_event>> next(std::chrono::milliseconds, std::string& end) override {
    std::vector<http::stream_event> out(1);
    std::string& piece = out[0].data;
    if (!opened_) {
      opened_ = true;
      if (format_ == export_format::json) piece = "[";
      if (format_ == export_format::csv) piece = kCsvHeader;
      if (format_ == export_format::html) piece = kHtmlHead;
    }
    for (const auto& l : page_.items) {
      if (l.deleted || !caller_.sees(l.is_public, l.user_id)) continue;
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
    if (page_.next_page_token.empty()) {
      if (format_ == export_format::json) piece += "]\n";
      if (format_ == export_format::html) piece += "</DL><p>\n";
      end = "done";
      co_return out;
    }
    q_.page_token = std::move(page_.next_page_token);
    auto next_page = co_await store_.async_list(q_);
    if (!next_page) {
      end = "failed";  // the body ends without its last chunk: visibly truncated
      co_return out;
    }
    page_ = std::move(*next_page);
    co_return out;
  }
  void closed() override {}

 private:
  store::leaf_queries& store_;
  store::list_query q_;
  store::list_page page_;
  export_format format_;
  http::request::caller_info caller_;
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
  auto q = list_query(filters);
  if (!q) co_return error_to_response(q.err());
  q->limit = kExportPage;
  // A caller who sees only public leaves asking for private ones: an empty export.
  const bool none = req.caller.public_only() && q->is_public == false;
  if (req.caller.public_only()) {
    q->is_public = true;
  } else if (req.caller.limited) {
    q->visible_to = req.caller.user_id;
  }
  if (auto w = co_await c.wait_min_position(req, p)) co_return std::move(*w);
  store::list_page first;
  if (!none) {  // (not a ?: around co_await: GCC 12 miscompiles temporaries there)
    auto page = co_await d.store.async_list(*q);
    if (!page) co_return error_to_response(page.err());
    first = std::move(*page);
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
  r.source = std::make_shared<export_stream>(d.store, std::move(*q), std::move(first), *f, req.caller);
  co_return r;
}

}  // namespace leaves::api
