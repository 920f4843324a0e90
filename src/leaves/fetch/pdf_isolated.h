// A PDF read in a process of its own (docs/fetch.md "Limits"): poppler runs
// in a child of the server, started afresh (`<program> pdf-text MB SECONDS`,
// the server's own binary, with none of the server's descriptors or
// environment), under an address-space limit (RLIMIT_AS: MB
// beyond what the child holds once it has the PDF) and a CPU limit
// (RLIMIT_CPU), and is killed past a wall-clock deadline. A hostile or
// broken PDF that needs too much memory, loops or crashes costs the child,
// never the server, and becomes a reason in the leaf's enrichment.
//
// The PDF goes in and the result comes out over one socket pair (the child's
// stdin and stdout), so a child that dies early cannot raise SIGPIPE in the
// server. Blocking: call it from a worker thread, not an I/O thread.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "leaves/fetch/pdf.h"

namespace leaves::fetch {

struct pdf_isolation {
  std::string program = "/proc/self/exe";  // the running binary, even if replaced on disk
  size_t memory_mb = 512;
  int cpu_seconds = 30;
  std::chrono::milliseconds wall{60000};
};

pdf_text extract_pdf_isolated(std::string_view data, const pdf_isolation& iso);

// The child's side (`leaves pdf-text MB SECONDS`): reads the PDF from stdin,
// sets its limits, writes the result to stdout. Returns the exit code.
int pdf_text_child(size_t memory_mb, int cpu_seconds);

}  // namespace leaves::fetch
