#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "leaves/app/commands.h"

namespace {

constexpr const char* kUsage = R"(leaves: a realtime, event-sourced knowledge-base API server

Usage:
  leaves serve  [options]        run the API server (see 'leaves serve --help');
                                 --kafka HOST:PORT puts the event log on Kafka
  leaves replay --data-dir DIR [--kafka ...]
                                 rebuild every read model from the event log
                                 (takes serve's options; the server must be stopped)
  leaves reindex --data-dir DIR [--kafka ...]
                                 rebuild the search index from the event log, with
                                 progress (takes serve's options; server stopped)
  leaves check --data-dir DIR [--kafka ...]
                                 read the whole log and compare the read models and
                                 the search index with it (server stopped); exit 1
                                 names every damage or difference
  leaves import FILE [--server URL] [--format F]
                                 load a Solr/wallabag export, JSON, JSON lines, a
                                 Netscape bookmark file or CSV through a running server
  leaves export [--format jsonl|json|csv|html] [--tag T] [--out FILE] [--server URL]
                                 every leaf you may see, streamed from a running server
  leaves export-site --out DIR [--tag T]... (--server URL | --data-dir DIR)
                                 render the public leaves to a static site (index,
                                 tag and leaf pages, Atom feeds, search); a second
                                 run writes only what changed
  leaves users list|create|disable|enable|role|token|tokens|revoke|password ... [--server URL]
                                 users and API tokens through a running server, with
                                 the token of LEAVES_TOKEN (see 'leaves users --help')
  leaves fetch URL [--allow-private] [--max-bytes N] [--timeout-ms N]
                                 fetch a page as enrichment will and print what was
                                 found in it, as JSON (see 'leaves fetch --help')
  leaves topics list|describe|create --kafka HOST:PORT [--kafka-topic T] [--group G]
                                 Kafka topics: partitions, leaders, offsets, group lag
  leaves --help | --version

Every serve option can also be given as an environment variable LEAVES_<NAME>
(e.g. LEAVES_LISTEN=0.0.0.0:8080) or in a config file (--config FILE, lines of
name = value). Precedence: command line, then environment, then config file.
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    std::puts("leaves 0.1.0");
    return 0;
  }
  const std::string cmd = args[0];
  args.erase(args.begin());
  try {
    if (cmd == "serve") return leaves::app::serve_main(args);
    if (cmd == "replay") return leaves::app::replay_main(args);
    if (cmd == "reindex") return leaves::app::reindex_main(args);
    if (cmd == "check") return leaves::app::check_main(args);
    if (cmd == "import") return leaves::app::import_main(args);
    if (cmd == "export") return leaves::app::export_main(args);
    if (cmd == "topics") return leaves::app::topics_main(args);
    if (cmd == "export-site") return leaves::app::export_site_main(args);
    if (cmd == "users") return leaves::app::users_main(args);
    if (cmd == "fetch") return leaves::app::fetch_main(args);
    // Internal: the enrichment worker's PDF reader (fetch/pdf_isolated.h).
    if (cmd == "pdf-text") return leaves::app::pdf_text_main(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "leaves %s: %s\n", cmd.c_str(), e.what());
    return 2;
  }
  std::fprintf(stderr, "leaves: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
  return 2;
}
