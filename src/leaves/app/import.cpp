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
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "leaves/app/commands.h"

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

// Entries of a Solr export ({"response":{"docs":[...]}}), a JSON array, or JSON lines.
bool read_entries(const std::string& text, std::vector<json::value>& out, std::string& err) {
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  if (i == text.size()) {
    err = "the file is empty";
    return false;
  }
  json::parse_options po;
  po.max_depth = 64;
  boost::system::error_code ec;
  auto whole = json::parse(text, ec, {}, po);
  if (!ec) {
    if (whole.is_array()) {
      for (auto& v : whole.as_array()) out.push_back(std::move(v));
      return true;
    }
    if (whole.is_object()) {
      const auto* resp = whole.as_object().if_contains("response");
      if (resp && resp->is_object()) {
        const auto* docs = resp->as_object().if_contains("docs");
        if (docs && docs->is_array()) {
          for (const auto& v : docs->as_array()) out.push_back(v);
          return true;
        }
      }
      out.push_back(std::move(whole));  // a single entry (also valid JSON lines of one line)
      return true;
    }
    err = "top-level JSON must be an export object, an array or JSON lines";
    return false;
  }
  // JSON lines.
  std::istringstream in(text);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto v = json::parse(line, ec, {}, po);
    if (ec) {
      err = "line " + std::to_string(n) + " is not JSON: " + ec.message();
      return false;
    }
    out.push_back(std::move(v));
  }
  return true;
}

class client {
 public:
  client(std::string host, std::string port) : host_(std::move(host)), port_(std::move(port)), stream_(ioc_) {}

  // POSTs JSON; returns status and body, or throws on transport errors.
  std::pair<int, std::string> post(const std::string& target, std::string body) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!connected_) {
          tcp::resolver r(ioc_);
          stream_.expires_after(std::chrono::seconds(10));
          stream_.connect(r.resolve(host_, port_));
          connected_ = true;
        }
        bhttp::request<bhttp::string_body> req{bhttp::verb::post, target, 11};
        req.set(bhttp::field::host, host_);
        req.set(bhttp::field::content_type, "application/json");
        req.set(bhttp::field::user_agent, "leaves-import");
        req.body() = body;
        req.prepare_payload();
        stream_.expires_after(std::chrono::seconds(120));
        bhttp::write(stream_, req);
        beast::flat_buffer buf;
        bhttp::response_parser<bhttp::string_body> res;
        res.body_limit(64 << 20);
        bhttp::read(stream_, buf, res);
        if (!res.get().keep_alive()) close();
        return {res.get().result_int(), res.get().body()};
      } catch (const std::exception&) {
        close();
        if (attempt == 1) throw;  // a stale keep-alive connection gets one retry
      }
    }
    return {0, {}};
  }

 private:
  void close() {
    beast::error_code ec;
    stream_.socket().close(ec);
    connected_ = false;
  }
  asio::io_context ioc_;
  std::string host_, port_;
  beast::tcp_stream stream_;
  bool connected_ = false;
};

void usage() {
  std::fputs(
      "Usage: leaves import FILE [--server URL]\n"
      "  FILE: a Solr/wallabag export ({\"response\":{\"docs\":[...]}}), a JSON array of\n"
      "        entries, or JSON lines. Entries keep their id (else md5 of url).\n"
      "  --server URL: a running leaves server (default http://127.0.0.1:8080, env LEAVES_SERVER)\n"
      "Exit status: 0 all entries accepted, 1 some rejected, 2 bad file or server error.\n",
      stdout);
}

}  // namespace

int import_main(const std::vector<std::string>& args) {
  std::string file;
  std::string server = getenv("LEAVES_SERVER") ? getenv("LEAVES_SERVER") : "http://127.0.0.1:8080";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      usage();
      return 0;
    }
    if (args[i] == "--server" && i + 1 < args.size()) {
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
  auto url = boost::urls::parse_absolute_uri(server);
  if (!url || url->scheme() != "http" || url->host().empty()) {
    std::fprintf(stderr, "leaves import: --server must be an http:// URL, got '%s'\n", server.c_str());
    return 2;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "leaves import: cannot open %s\n", file.c_str());
    return 2;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (text.size() > kMaxFileBytes) {
    std::fprintf(stderr, "leaves import: %s is larger than 2 GiB\n", file.c_str());
    return 2;
  }
  std::vector<json::value> entries;
  std::string err;
  if (!read_entries(text, entries, err)) {
    std::fprintf(stderr, "leaves import: %s: %s\n", file.c_str(), err.c_str());
    return 2;
  }
  client c(std::string(url->host()), url->has_port() ? std::string(url->port()) : "80");
  const bool tty = isatty(fileno(stderr));
  std::map<std::string, size_t> counts{{"created", 0}, {"updated", 0}, {"unchanged", 0}, {"rejected", 0}};
  std::vector<std::string> rejections;
  size_t done = 0;
  while (done < entries.size()) {
    // A batch: up to kBatch entries and kMaxBatchBytes of JSON.
    json::array items;
    size_t bytes = 0;
    const size_t first = done;
    while (done < entries.size() && items.size() < kBatch) {
      const size_t sz = json::serialize(entries[done]).size();
      if (!items.empty() && bytes + sz > kMaxBatchBytes) break;
      bytes += sz;
      items.push_back(entries[done++]);
    }
    std::pair<int, std::string> res;
    try {
      res = c.post(std::string(url->encoded_path()) + "/v1/bulk/leaves",
                   json::serialize(json::object{{"items", std::move(items)}}));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "\nleaves import: cannot reach %s: %s\n", server.c_str(), e.what());
      return 2;
    }
    if (res.first != 200) {
      std::fprintf(stderr, "\nleaves import: server answered %d: %s\n", res.first, res.second.substr(0, 500).c_str());
      return 2;
    }
    boost::system::error_code ec;
    auto body = json::parse(res.second, ec);
    if (ec || !body.is_object() || !body.as_object().contains("results")) {
      std::fprintf(stderr, "\nleaves import: unexpected answer from the server\n");
      return 2;
    }
    for (const auto& r : body.as_object().at("results").as_array()) {
      const auto& o = r.as_object();
      const std::string status(o.at("status").as_string());
      counts[status]++;
      if (status == "rejected") {
        const auto idx = first + static_cast<size_t>(o.at("index").to_number<int64_t>());
        std::string why = o.contains("error") ? std::string(o.at("error").as_object().at("message").as_string()) : "";
        rejections.push_back("entry " + std::to_string(idx + 1) + ": " + why);
      }
    }
    if (tty) {
      const int width = 40;
      const int filled = static_cast<int>(width * done / entries.size());
      std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), done, entries.size());
    }
  }
  if (tty) std::fputc('\n', stderr);
  std::printf("imported %zu, unchanged %zu, rejected %zu\n", counts["created"] + counts["updated"],
              counts["unchanged"], counts["rejected"]);
  for (const auto& r : rejections) std::printf("  rejected %s\n", r.c_str());
  return counts["rejected"] > 0 ? 1 : 0;
}

}  // namespace leaves::app
