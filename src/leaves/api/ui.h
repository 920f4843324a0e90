// The Leaves Reader: the web UI's files, embedded in the binary at build time
// (cmake/embed_assets.cmake writes the table), and how they are served: the
// page at /, /leaf/{leaf}, /tags, /save and /ops (the client routes from the
// path), its scripts and styles under /ui/ with content-hashed names, cached
// for good, each precompressed (gzip, and brotli when the build had it).
#pragma once

#include <span>
#include <string_view>

#include "leaves/http/message.h"

namespace leaves::api {

struct ui_asset {
  std::string_view name;          // "index.html", "app.3f2a9c01b7d4.js"
  std::string_view content_type;
  std::string_view identity;      // the bytes
  std::string_view gzip;          // gzip -9 of them
  std::string_view brotli;        // brotli -q 11 of them; empty when the build had no brotli
};

// Generated: every embedded file, the page last.
std::span<const ui_asset> ui_assets();

// The file named `name` ("index.html" or a hashed name), or null.
const ui_asset* find_ui_asset(std::string_view name);

// The answer for the page (`page`) or an asset under /ui/: the encoding the
// request accepts best, an ETag (304 on If-None-Match), cache headers and the
// security headers every UI answer carries (a strict Content-Security-Policy:
// no inline script or style; frame-ancestors 'none'; nosniff).
http::response ui_page_response(const http::request& req);
http::response ui_asset_response(const http::request& req, std::string_view name);

// Which of "br", "gzip" an Accept-Encoding value allows (q=0 refuses).
struct accepted_encodings {
  bool br = false;
  bool gzip = false;
};
accepted_encodings parse_accept_encoding(std::string_view value);

}  // namespace leaves::api
