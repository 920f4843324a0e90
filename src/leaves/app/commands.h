// The leaves command line: serve, replay, reindex, check, import, export, topics, export-site. Each returns a process exit code.
#pragma once

#include <string>
#include <vector>

namespace leaves::app {

int serve_main(const std::vector<std::string>& args);
int replay_main(const std::vector<std::string>& args);
int reindex_main(const std::vector<std::string>& args);
int check_main(const std::vector<std::string>& args);
int import_main(const std::vector<std::string>& args);
int export_main(const std::vector<std::string>& args);
int fetch_main(const std::vector<std::string>& args);
// `leaves pdf-text MB SECONDS`: the enrichment's PDF reader, a child of the server.
int pdf_text_main(const std::vector<std::string>& args);
int topics_main(const std::vector<std::string>& args);
int export_site_main(const std::vector<std::string>& args);
int users_main(const std::vector<std::string>& args);

}  // namespace leaves::app
