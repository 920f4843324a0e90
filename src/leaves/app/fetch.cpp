// leaves fetch URL: fetches one page as the enrichment worker will
// (fetch/fetch.h, fetch/extract.h) and prints what it found as JSON: to see
// what leaves makes of a site, and for the fetch tests.
#include <boost/json.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include <unistd.h>

#include "leaves/app/commands.h"
#include "leaves/fetch/extract.h"
#include "leaves/fetch/fetch.h"
#include "leaves/fetch/pdf.h"
#include "leaves/fetch/pdf_isolated.h"

namespace leaves::app {
namespace {

constexpr const char* kFetchUsage = R"(Usage: leaves fetch URL [options]

Fetches URL as the enrichment worker does and prints, as JSON, the answer
(status, redirects, type, charset, size, or why it failed) and for an HTML
page what it extracts (title, excerpt, article text and HTML, picture,
language, canonical URL, favicon, author, date, reading time); for a PDF its
title, author, page count and text.
Exit 0 when a 2xx answer came, 1 otherwise, 2 for bad arguments.

Options:
  --allow-private      fetch loopback, private and other internal addresses
                       (refused by default)
  --allow-network CIDR an internal range fetched all the same (10.1.0.0/16,
                       fd00::/8, 10.1.2.3); repeatable
  --max-bytes N        the largest decoded body read (default 5242880)
  --timeout-ms N       the whole fetch, redirects included (default 20000)
  --connect-timeout-ms N  each connection (default 5000)
  --max-redirects N    (default 5)
)";

bool number_arg(const std::vector<std::string>& args, size_t& i, long long lo, long long hi, long long& out) {
  if (i + 1 >= args.size()) return false;
  try {
    size_t used = 0;
    out = std::stoll(args[i + 1], &used);
    if (used != args[i + 1].size() || out < lo || out > hi) return false;
  } catch (const std::exception&) {
    return false;
  }
  ++i;
  return true;
}

}  // namespace

int pdf_text_main(const std::vector<std::string>& args) {
  long long mb = 0, secs = 0;
  std::vector<std::string> a = {"", args.size() > 0 ? args[0] : "", "", args.size() > 1 ? args[1] : ""};
  size_t i = 0, j = 2;
  if (args.size() != 2 || !number_arg(a, i, 1, 1048576, mb) || !number_arg(a, j, 1, 86400, secs)) {
    std::fputs("leaves pdf-text MB SECONDS: reads a PDF from stdin (used by the enrichment worker)\n", stderr);
    return 2;
  }
  // Ends at once, without the exit handlers: a helper whose answer is
  // written has nothing to tidy (and a sanitizer's exit check would need
  // memory the limit no longer grants).
  const int code = fetch::pdf_text_child(static_cast<size_t>(mb), static_cast<int>(secs));
  std::fflush(stdout);
  ::_exit(code);
}

int fetch_main(const std::vector<std::string>& args) {
  fetch::fetch_options o;
  std::string url;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    long long v = 0;
    if (a == "--help" || a == "-h") {
      std::fputs(kFetchUsage, stdout);
      return 0;
    } else if (a == "--allow-private") {
      o.allow_private = true;
    } else if (a == "--allow-network" && i + 1 < args.size()) {
      auto n = fetch::parse_network(args[++i]);
      if (!n) {
        std::fprintf(stderr, "leaves fetch: --allow-network: %s\n", n.err().message.c_str());
        return 2;
      }
      o.allowed_networks.push_back(*n);
    } else if (a == "--max-bytes" && number_arg(args, i, 1, 1LL << 32, v)) {
      o.max_body_bytes = static_cast<size_t>(v);
    } else if (a == "--timeout-ms" && number_arg(args, i, 1, 600000, v)) {
      o.total_timeout = std::chrono::milliseconds(v);
    } else if (a == "--connect-timeout-ms" && number_arg(args, i, 1, 600000, v)) {
      o.connect_timeout = std::chrono::milliseconds(v);
    } else if (a == "--max-redirects" && number_arg(args, i, 0, 50, v)) {
      o.max_redirects = static_cast<long>(v);
    } else if (!a.starts_with("-") && url.empty()) {
      url = a;
    } else {
      std::fprintf(stderr, "leaves fetch: bad argument '%s'\n\n%s", a.c_str(), kFetchUsage);
      return 2;
    }
  }
  if (url.empty()) {
    std::fputs(kFetchUsage, stderr);
    return 2;
  }
  const auto r = fetch::fetch_url(url, o);
  boost::json::object out{{"url", url},
                          {"final_url", r.final_url},
                          {"http_status", r.http_status},
                          {"redirects", r.redirects},
                          {"mimetype", r.mimetype},
                          {"charset", r.charset},
                          {"bytes", r.body.size()}};
  if (!r.error.empty()) out["error"] = r.error;
  out["refused"] = r.refused;
  out["retryable"] = r.retryable;
  if (r.retry_after) out["retry_after_s"] = r.retry_after->count();
  const bool html = r.mimetype == "text/html" || r.mimetype == "application/xhtml+xml";
  if (r.ok() && html) {
    const std::string charset = !r.charset.empty() ? r.charset : fetch::sniff_charset(r.body);
    const auto p = fetch::extract_html(fetch::to_utf8(r.body, charset), r.final_url.empty() ? url : r.final_url);
    out["page"] = boost::json::object{{"title", p.title},
                                      {"excerpt", p.excerpt},
                                      {"content", p.content},
                                      {"content_text", p.content_text},
                                      {"preview_picture", p.preview_picture},
                                      {"language", p.language},
                                      {"canonical_url", p.canonical_url},
                                      {"favicon", p.favicon},
                                      {"published_at", p.published_at},
                                      {"published_by", p.published_by},
                                      {"reading_time", p.reading_time},
                                      {"charset_used", charset.empty() ? "utf-8" : charset}};
  }
  if (r.ok() && r.mimetype == "application/pdf") {
    const auto p = fetch::extract_pdf(r.body);
    if (p.ok()) {
      out["pdf"] = boost::json::object{{"title", p.title}, {"author", p.author}, {"pages", p.pages}, {"text", p.text}};
    } else {
      out["pdf"] = boost::json::object{{"error", p.error}};
    }
  }
  std::puts(boost::json::serialize(out).c_str());
  return r.ok() ? 0 : 1;
}

}  // namespace leaves::app
