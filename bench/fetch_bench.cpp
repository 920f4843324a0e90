// The fetch client's own rate, the limit enrichment is measured beside
// (bench/enrich.sh): URL fetched N times in a row on one thread with
// fetch::fetch_url, then N times with the extraction enrichment does
// (charset decoding and extract_html). Prints pages/s and CPU per page.
//   leaves_bench_fetch URL N
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "leaves/fetch/extract.h"
#include "leaves/fetch/fetch.h"

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int run(const char* name, const std::string& url, int n, bool extract) {
  leaves::fetch::fetch_options o;
  o.allow_private = true;  // the benchmark's page server is on loopback
  size_t bytes = 0, text = 0;
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    auto r = leaves::fetch::fetch_url(url, o);
    if (!r.ok()) {
      std::fprintf(stderr, "fetch %s: %s (status %ld)\n", url.c_str(), r.error.c_str(), r.http_status);
      return 1;
    }
    bytes += r.body.size();
    if (extract) {
      const auto cs = !r.charset.empty() ? r.charset : leaves::fetch::sniff_charset(r.body);
      text += leaves::fetch::extract_html(leaves::fetch::to_utf8(r.body, cs), r.final_url).content_text.size();
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  std::printf("%-22s %6d pages in %6.2f s: %8.1f pages/s, CPU %6.3f ms a page, %zu bytes a page%s\n", name, n, secs,
              n / secs, cpu * 1000 / n, bytes / n,
              extract ? (", " + std::to_string(text / n) + " bytes of text").c_str() : "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: leaves_bench_fetch URL N\n");
    return 2;
  }
  const int n = std::atoi(argv[2]);
  if (run("fetch only (1 thread)", argv[1], n, false)) return 1;
  return run("fetch + extract", argv[1], n, true);
}
