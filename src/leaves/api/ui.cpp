#include "leaves/api/ui.h"

#include <string>

#include "leaves/base/hash.h"

namespace leaves::api {
namespace {

constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: http: data:; "
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The ETag of an asset: its name carries its hash, the page's is computed once.
std::string etag_of(const ui_asset& a) {
  return "\"" + md5_hex(a.identity).substr(0, 16) + "\"";
}

http::response serve(const http::request& req, const ui_asset& a, bool immutable, const std::string& etag) {
  http::response r;
  r.route = immutable ? "/ui/{path...}" : "/";
  r.content_type = std::string(a.content_type);
  r.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "same-origin");
  r.headers.emplace_back("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
  r.headers.emplace_back("Vary", "Accept-Encoding");
  r.headers.emplace_back("ETag", etag);
  const std::string_view inm = req.header("if-none-match");
  if (!inm.empty() && inm.find(etag) != std::string_view::npos) {
    r.status = 304;
    return r;
  }
  const auto enc = parse_accept_encoding(req.header("accept-encoding"));
  if (enc.br && !a.brotli.empty()) {
    r.headers.emplace_back("Content-Encoding", "br");
    r.body = std::string(a.brotli);
  } else if (enc.gzip) {
    r.headers.emplace_back("Content-Encoding", "gzip");
    r.body = std::string(a.gzip);
  } else {
    r.body = std::string(a.identity);
  }
  return r;
}

}  // namespace

accepted_encodings parse_accept_encoding(std::string_view value) {
  accepted_encodings out;
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    std::string_view coding = item;
    bool refused = false;
    if (const size_t semi = item.find(';'); semi != std::string_view::npos) {
      coding = item.substr(0, semi);
      std::string_view q = trim(item.substr(semi + 1));
      if (q.size() >= 2 && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
        q = trim(q.substr(2));
        refused = !q.empty() && q.find_first_not_of("0.") == std::string_view::npos;
      }
    }
    coding = trim(coding);
    if (refused) continue;
    if (iequals(coding, "br")) out.br = true;
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) out.gzip = true;
  }
  return out;
}

const ui_asset* find_ui_asset(std::string_view name) {
  for (const auto& a : ui_assets()) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

http::response ui_page_response(const http::request& req) {
  static const ui_asset* page = find_ui_asset("index.html");
  static const std::string etag = etag_of(*page);
  return serve(req, *page, false, etag);
}

http::response ui_asset_response(const http::request& req, std::string_view name) {
  const ui_asset* a = name == "index.html" ? nullptr : find_ui_asset(name);
  if (!a) {
    http::response r = http::error_response(404, "not_found", "no such UI file: " + std::string(name.substr(0, 200)));
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return r;
  }
  return serve(req, *a, true, etag_of(*a));
}

}  // namespace leaves::api
