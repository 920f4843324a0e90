#include "leaves/http/request_head.h"

#include <iterator>

namespace bhttp = boost::beast::http;

namespace leaves::http {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view method_label(std::string_view m) {
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (m == known) return known;
  }
  return "other";
}

std::string origin_form(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() > scheme.size() && lower(target.substr(0, scheme.size())) == scheme) {
      const auto rest = target.substr(scheme.size());
      const auto slash = rest.find_first_of("/?");
      if (slash == std::string_view::npos) return "/";
      std::string out(rest.substr(slash));
      if (out.front() == '?') out.insert(out.begin(), '/');
      return out;
    }
  }
  return std::string(target);
}

std::optional<response> refuse_head(const bhttp::request_parser<bhttp::string_body>& parser) {
  const auto& h = parser.get();
  const auto te_count = std::distance(h.equal_range(bhttp::field::transfer_encoding).first,
                                      h.equal_range(bhttp::field::transfer_encoding).second);
  if (te_count > 0) {
    std::string te = te_count == 1 ? lower(h[bhttp::field::transfer_encoding]) : std::string();
    while (!te.empty() && (te.back() == ' ' || te.back() == '\t')) te.pop_back();
    while (!te.empty() && (te.front() == ' ' || te.front() == '\t')) te.erase(te.begin());
    if (te != "chunked") {
      return error_response(501, "not_implemented",
                            "Transfer-Encoding: only \"chunked\" is supported (got \"" +
                                std::string(h[bhttp::field::transfer_encoding]).substr(0, 64) + "\")");
    }
    if (h.count(bhttp::field::content_length) > 0) {
      return error_response(400, "bad_request", "both Transfer-Encoding and Content-Length");
    }
  }
  const auto hosts = h.count(bhttp::field::host);
  if (h.version() >= 11 && hosts != 1) {
    return error_response(400, "bad_request", hosts == 0 ? "HTTP/1.1 request without a Host header"
                                                         : "more than one Host header");
  }
  if (h.count(bhttp::field::expect) > 0 && lower(h[bhttp::field::expect]) != "100-continue") {
    return error_response(417, "expectation_failed", "only Expect: 100-continue is supported");
  }
  return std::nullopt;
}

request to_request(const bhttp::request<bhttp::string_body>& br) {
  request r;
  r.method = std::string(br.method_string());
  r.target = origin_form(br.target());
  const auto q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  for (const auto& f : br) r.headers.emplace_back(lower(f.name_string()), std::string(f.value()));
  r.body = br.body();
  r.received = std::chrono::steady_clock::now();
  return r;
}

}  // namespace leaves::http
