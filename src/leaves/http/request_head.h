// The HTTP request edge's decisions, apart from the socket: what a request
// head is refused for, and the request a handler sees. session() in
// server.cpp calls these; fuzz/http_request.cpp drives them with arbitrary
// bytes through the same Beast parser and limits.
#pragma once

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "leaves/http/message.h"

namespace leaves::http {

using request_parser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// ASCII lower case (header values compared case-insensitively).
std::string lower(std::string_view s);

// A method label of /metrics: the standard ones, or "other" (a label per
// new method string would grow /metrics without bound).
std::string_view method_label(std::string_view m);

// An absolute-form target ("http://host/path?q", RFC 9112 3.2.2) is served as
// its origin form ("/path?q").
std::string origin_form(std::string_view target);

// The error answer for a head the server does not serve: smuggling vectors
// (a transfer coding other than exactly "chunked", both Transfer-Encoding and
// Content-Length), HTTP/1.1 without exactly one Host, an Expect other than
// 100-continue. nullopt when the head is acceptable.
std::optional<response> refuse_head(const request_parser& parser);

// The handler's view of a parsed request: origin-form target split into path
// and query, lower-case header names, the body.
request to_request(const boost::beast::http::request<boost::beast::http::string_body>& br);

}  // namespace leaves::http
