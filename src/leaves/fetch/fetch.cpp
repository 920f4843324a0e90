#include "leaves/fetch/fetch.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <iconv.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <cstring>
#include <memory>
#include <mutex>

#include "leaves/base/utf8.h"
#include "leaves/webhooks/address.h"

namespace leaves::fetch {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// One transfer's state, shared with libcurl's callbacks.
struct transfer {
  const fetch_options* o = nullptr;
  std::string body;
  bool too_big = false;
  std::string refused;  // why a connection was refused, the last one
};

size_t on_body(char* p, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  const size_t len = size * n;
  if (t->body.size() + len > t->o->max_body_bytes) {
    t->too_big = true;
    return 0;  // libcurl stops with CURLE_WRITE_ERROR
  }
  t->body.append(p, len);
  return len;
}

// Every socket libcurl opens passes here, with the address it will connect to.
curl_socket_t on_open_socket(void* user, curlsocktype, struct curl_sockaddr* a) {
  auto* t = static_cast<transfer*>(user);
  if (!t->o->allow_private) {
    boost::asio::ip::address addr;
    if (a->family == AF_INET && a->addrlen >= sizeof(sockaddr_in)) {
      sockaddr_in in{};
      std::memcpy(&in, &a->addr, sizeof in);
      addr = boost::asio::ip::address_v4(ntohl(in.sin_addr.s_addr));
    } else if (a->family == AF_INET6 && a->addrlen >= sizeof(sockaddr_in6)) {
      sockaddr_in6 in6{};
      std::memcpy(&in6, &a->addr, sizeof in6);
      boost::asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &in6.sin6_addr, b.size());
      addr = boost::asio::ip::address_v6(b);
    } else {
      t->refused = "an address of another family than IPv4 or IPv6";
      return CURL_SOCKET_BAD;
    }
    const auto& nets = t->o->allowed_networks;
    const bool allowed = std::any_of(nets.begin(), nets.end(), [&](const network& n) { return n.contains(addr); });
    if (auto why = webhooks::internal_address(addr); why && !allowed) {
      t->refused = "a " + *why + " address (" + addr.to_string() + ")";
      return CURL_SOCKET_BAD;
    }
  }
  return ::socket(a->family, a->socktype, a->protocol);
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* t = static_cast<const transfer*>(user);
  return t->o->cancel && t->o->cancel->load() ? 1 : 0;  // non-zero aborts the transfer
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct easy_deleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

namespace {

// IPv4 inside IPv6 (::ffff:a.b.c.d) as the IPv4 address it carries.
boost::asio::ip::address unmapped(const boost::asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

std::vector<unsigned char> bytes_of(const boost::asio::ip::address& a) {
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    return {b.begin(), b.end()};
  }
  const auto b = a.to_v6().to_bytes();
  return {b.begin(), b.end()};
}

}  // namespace

bool network::contains(const boost::asio::ip::address& a) const {
  const auto x = bytes_of(unmapped(a));
  const auto n = bytes_of(address);
  if (x.size() != n.size()) return false;
  unsigned bits = prefix;
  for (size_t i = 0; i < n.size() && bits > 0; ++i) {
    const unsigned take = std::min(bits, 8u);
    const auto mask = static_cast<unsigned char>(0xFF00u >> take);
    if ((x[i] & mask) != (n[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

result<network> parse_network(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_argument, "'" + std::string(text.substr(0, 60)) + "' is not an address range: " + why);
  };
  const size_t slash = text.find('/');
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(std::string(text.substr(0, slash)), ec);
  if (ec) return bad("not an IPv4 or IPv6 address");
  network n{unmapped(addr), 0};
  const unsigned width = n.address.is_v4() ? 32 : 128;
  n.prefix = width;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    unsigned v = 0;
    if (p.empty() || p.size() > 3 || !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return bad("the prefix length is not a number");
    }
    for (char c : p) v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > width) return bad("the prefix length is over " + std::to_string(width));
    if (v == 0) return bad("a range of every address: use --fetch-allow-private");
    n.prefix = v;
  }
  return n;
}

fetch_result fetch_url(const std::string& url, const fetch_options& o) {
  global_init();
  fetch_result out;
  const std::string scheme = lower(url.substr(0, url.find(':')));
  if (scheme != "http" && scheme != "https") {
    out.error = "only http and https URLs are fetched";
    return out;
  }
  std::unique_ptr<CURL, easy_deleter> h(curl_easy_init());
  if (!h) {
    out.error = "libcurl could not start a transfer";
    out.retryable = true;
    return out;
  }
  transfer t;
  t.o = &o;
  char errbuf[CURL_ERROR_SIZE] = {};
  std::unique_ptr<curl_slist, slist_deleter> headers(curl_slist_append(
      nullptr, "Accept: text/html,application/xhtml+xml,application/pdf;q=0.9,*/*;q=0.5"));
  CURL* c = h.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, o.max_redirects);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // every encoding this libcurl decodes
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // never a proxy from the environment
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_USERAGENT, o.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o.max_body_bytes));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &t);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  if (o.cancel) {
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  }
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);

  const CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  out.http_status = status;
  long redirects = 0;
  curl_easy_getinfo(c, CURLINFO_REDIRECT_COUNT, &redirects);
  out.redirects = static_cast<int>(redirects);
  char* effective = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective) out.final_url = effective;
  char* ctype = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK && ctype) {
    const std::string ct = lower(ctype);
    out.mimetype = trim(std::string_view(ct).substr(0, ct.find(';')));
    if (auto at = ct.find("charset="); at != std::string::npos) {
      std::string cs = trim(std::string_view(ct).substr(at + 8));
      cs = cs.substr(0, cs.find(';'));
      cs.erase(std::remove(cs.begin(), cs.end(), '"'), cs.end());
      out.charset = trim(cs);
    }
  }
  curl_off_t retry_after = 0;
  if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
    out.retry_after = std::chrono::seconds(std::min<curl_off_t>(retry_after, 24 * 3600));

  if (rc != CURLE_OK) {
    if (!t.refused.empty() && rc == CURLE_COULDNT_CONNECT) {
      out.error = "refused to connect to " + t.refused + ": internal addresses are not fetched";
      out.refused = true;
    } else if (t.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
      out.error = "the page is larger than " + std::to_string(o.max_body_bytes) + " bytes";
    } else if (rc == CURLE_TOO_MANY_REDIRECTS) {
      out.error = "more than " + std::to_string(o.max_redirects) + " redirects";
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
      out.error = "timed out (" + std::string(errbuf[0] ? errbuf : curl_easy_strerror(rc)) + ")";
      out.retryable = true;
    } else if (rc == CURLE_ABORTED_BY_CALLBACK) {
      out.error = "cancelled";
      out.retryable = true;
    } else if (rc == CURLE_UNSUPPORTED_PROTOCOL) {
      out.error = "a redirect to another scheme than http or https";
    } else {
      out.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
      out.retryable = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_RECV_ERROR ||
                      rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE ||
                      rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM || rc == CURLE_SSL_CONNECT_ERROR;
    }
    out.body.clear();
    return out;
  }
  out.body = std::move(t.body);
  if (status >= 500 || status == 429) out.retryable = true;
  return out;
}

std::string sniff_charset(const std::string& html) {
  const std::string head = lower(html.substr(0, 1024));
  for (size_t at = head.find("<meta"); at != std::string::npos; at = head.find("<meta", at + 5)) {
    const size_t end = head.find('>', at);
    if (end == std::string::npos) break;
    const std::string tag = head.substr(at, end - at);
    auto cs = tag.find("charset=");
    if (cs == std::string::npos) continue;
    size_t i = cs + 8;
    while (i < tag.size() && (tag[i] == '"' || tag[i] == '\'' || tag[i] == ' ')) ++i;
    size_t j = i;
    while (j < tag.size() && (std::isalnum(static_cast<unsigned char>(tag[j])) || tag[j] == '-' || tag[j] == '_' ||
                              tag[j] == ':' || tag[j] == '.'))
      ++j;
    if (j > i) {
      // A page that could declare itself in a meta element is not UTF-16
      // (an ASCII-compatible encoding was read): browsers take UTF-8 then.
      std::string cs = tag.substr(i, j - i);
      if (cs.starts_with("utf-16")) cs = "utf-8";
      return cs;
    }
  }
  return {};
}

std::string to_utf8(const std::string& body, const std::string& charset) {
  const std::string cs = lower(charset);
  if (cs.empty() || cs == "utf-8" || cs == "utf8" || cs == "us-ascii" || cs == "ascii") return utf8_repaired(body);
  // WHATWG maps these labels to windows-1252, a superset iconv knows.
  const std::string from = (cs == "iso-8859-1" || cs == "latin1" || cs == "l1") ? "WINDOWS-1252" : cs;
  iconv_t cd = iconv_open("UTF-8", from.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return utf8_repaired(body);  // an unknown label: as UTF-8
  std::string out;
  out.reserve(body.size() + body.size() / 2);
  std::array<char, 16384> buf;
  char* in = const_cast<char*>(body.data());
  size_t in_left = body.size();
  while (in_left > 0) {
    char* o = buf.data();
    size_t o_left = buf.size();
    const size_t r = iconv(cd, &in, &in_left, &o, &o_left);
    out.append(buf.data(), buf.size() - o_left);
    if (r == static_cast<size_t>(-1)) {
      if (errno == E2BIG) continue;
      // A byte the charset does not map (EILSEQ) or a cut sequence at the end (EINVAL).
      out += "\xEF\xBF\xBD";
      ++in;
      --in_left;
    }
  }
  {
    char* o = buf.data();
    size_t o_left = buf.size();
    iconv(cd, nullptr, nullptr, &o, &o_left);  // what a stateful charset still holds
    out.append(buf.data(), buf.size() - o_left);
  }
  iconv_close(cd);
  return utf8_repaired(out);
}

}  // namespace leaves::fetch
