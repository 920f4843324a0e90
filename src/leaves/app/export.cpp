// leaves export: GET /v1/export of a running server, written to a file (or
// stdout) as it arrives, with a count of bytes on a terminal.
#include <unistd.h>

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "leaves/app/commands.h"
#include "leaves/app/http_client.h"

namespace leaves::app {
namespace {

void usage(FILE* to) {
  std::fputs(
      "Usage: leaves export [--format jsonl|json|csv|html] [--tag T] [--query Q] [--starred true|false]\n"
      "                     [--archived true|false] [--public true|false] [--out FILE] [--server URL]\n"
      "  Every leaf the token of LEAVES_TOKEN may see (anonymous: per the server's --anonymous),\n"
      "  newest first, streamed from GET /v1/export of a running server.\n"
      "  --format: jsonl (default; one leaf per line), json (an array), csv (a header row;\n"
      "            tags separated by |), html (a Netscape bookmark file for browsers, linkding)\n"
      "  --query Q: only the matches of a search (the query grammar of /v1/search), newest\n"
      "            first, at most 100,000\n"
      "  --out FILE: write there (replaced only when the export is complete); default stdout\n"
      "  --server URL: default http://127.0.0.1:8080, env LEAVES_SERVER\n"
      "  `leaves import` reads every format back.\n"
      "Exit status: 0 done, 2 bad options, a server error or an export cut short.\n",
      to);
}

std::string encoded(const std::string& v) { return boost::urls::encode(v, boost::urls::unreserved_chars); }

}  // namespace

int export_main(const std::vector<std::string>& args) {
  std::string server = getenv("LEAVES_SERVER") ? getenv("LEAVES_SERVER") : "http://127.0.0.1:8080";
  std::string format = "jsonl", out;
  std::string query;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    }
    if (i + 1 >= args.size()) {
      std::fprintf(stderr, "leaves export: unexpected argument '%s' (see --help)\n", a.c_str());
      return 2;
    }
    const std::string& v = args[++i];
    if (a == "--server") {
      server = v;
    } else if (a == "--format") {
      format = v;
    } else if (a == "--out") {
      out = v;
    } else if (a == "--tag" || a == "--starred" || a == "--archived" || a == "--public") {
      query += "&" + a.substr(2) + "=" + encoded(v);
    } else if (a == "--query") {
      query += "&q=" + encoded(v);
    } else {
      std::fprintf(stderr, "leaves export: unknown option '%s' (see --help)\n", a.c_str());
      return 2;
    }
  }
  if (format != "jsonl" && format != "json" && format != "csv" && format != "html") {
    std::fprintf(stderr, "leaves export: --format must be jsonl, json, csv or html, got '%s'\n", format.c_str());
    return 2;
  }
  http_client c(server);
  if (!c.ok()) {
    std::fprintf(stderr, "leaves export: --server: %s\n", c.why().c_str());
    return 2;
  }
  // Into a temporary file beside --out, renamed over it once complete: a cut
  // export never replaces a good one.
  const std::string tmp = out.empty() ? std::string() : out + ".partial";
  std::unique_ptr<FILE, int (*)(FILE*)> file(out.empty() ? nullptr : std::fopen(tmp.c_str(), "wb"), std::fclose);
  if (!out.empty() && !file) {
    std::fprintf(stderr, "leaves export: cannot write %s\n", tmp.c_str());
    return 2;
  }
  FILE* to = file ? file.get() : stdout;
  const bool tty = isatty(fileno(stderr)) && to != stdout;
  uint64_t bytes = 0;
  bool write_failed = false;
  http_answer res;
  try {
    res = c.stream_get(c.prefix() + "/v1/export?format=" + format + query, [&](std::string_view piece) {
      if (std::fwrite(piece.data(), 1, piece.size(), to) != piece.size()) {
        write_failed = true;
        return false;
      }
      bytes += piece.size();
      if (tty) std::fprintf(stderr, "\r%.1f MB", double(bytes) / 1e6);
      return true;
    }, "leaves-export");
  } catch (const std::exception& e) {
    if (tty) std::fputc('\n', stderr);
    std::fprintf(stderr, "leaves export: the export from %s was cut short after %llu bytes: %s\n", server.c_str(),
                 static_cast<unsigned long long>(bytes), e.what());
    if (!tmp.empty()) std::filesystem::remove(tmp);
    return 2;
  }
  if (tty) std::fputc('\n', stderr);
  if (res.status != 200) {
    const char* hint = res.status == 401 ? " (set LEAVES_TOKEN to a token with the read scope; docs/auth.md)" : "";
    std::fprintf(stderr, "leaves export: the server answered %d: %s%s\n", res.status, res.body.substr(0, 500).c_str(),
                 hint);
    if (!tmp.empty()) std::filesystem::remove(tmp);
    return 2;
  }
  if (write_failed || std::fflush(to) != 0) {
    std::fprintf(stderr, "leaves export: cannot write %s\n", out.empty() ? "stdout" : tmp.c_str());
    if (!tmp.empty()) std::filesystem::remove(tmp);
    return 2;
  }
  if (file) {
    file.reset();
    std::error_code ec;
    std::filesystem::rename(tmp, out, ec);
    if (ec) {
      std::fprintf(stderr, "leaves export: cannot rename %s to %s: %s\n", tmp.c_str(), out.c_str(),
                   ec.message().c_str());
      return 2;
    }
    std::fprintf(stderr, "leaves export: %llu bytes to %s\n", static_cast<unsigned long long>(bytes), out.c_str());
  }
  return 0;
}

}  // namespace leaves::app
