#include "leaves/fetch/pdf_isolated.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

namespace leaves::fetch {
namespace {

// The result on the wire: five frames "<decimal length>\n<bytes>": error,
// title, author, text, pages (decimal).
constexpr size_t kMaxOutput = 8 * 1024 * 1024;  // text is cut at 1 MiB; titles are short
constexpr int kOutOfMemoryExit = 3;

void put_frame(std::string& out, std::string_view v) {
  out += std::to_string(v.size());
  out += '\n';
  out += v;
}

bool take_frame(std::string_view& in, std::string& v) {
  const auto nl = in.find('\n');
  if (nl == std::string_view::npos || nl == 0 || nl > 10) return false;
  size_t n = 0;
  for (char c : in.substr(0, nl)) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  in.remove_prefix(nl + 1);
  if (n > in.size()) return false;
  v.assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// The child's address space now, in bytes (/proc/self/statm, first field).
size_t address_space_now() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long pages = 0;
  const int got = std::fscanf(f, "%lu", &pages);
  std::fclose(f);
  return got == 1 ? pages * static_cast<size_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

pdf_text failed(std::string why) {
  pdf_text t;
  t.error = std::move(why);
  return t;
}

}  // namespace

int pdf_text_child(size_t memory_mb, int cpu_seconds) {
  std::string data;
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 2;
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  // The limits hold what poppler may add to what the child holds now.
  rlimit as{};
  as.rlim_cur = as.rlim_max = address_space_now() + memory_mb * 1024 * 1024;
  rlimit cpu{};
  cpu.rlim_cur = static_cast<rlim_t>(cpu_seconds);
  cpu.rlim_max = static_cast<rlim_t>(cpu_seconds) + 1;
  rlimit core{};  // a reader killed by a limit leaves no core file of a hostile PDF
  if (::setrlimit(RLIMIT_AS, &as) != 0 || ::setrlimit(RLIMIT_CPU, &cpu) != 0 || ::setrlimit(RLIMIT_CORE, &core) != 0) {
    return 2;
  }
  pdf_text t;
  try {
    t = extract_pdf(data);
  } catch (const std::bad_alloc&) {
    return kOutOfMemoryExit;
  }
  std::string out;
  try {
    data.clear();
    data.shrink_to_fit();
    put_frame(out, t.error);
    put_frame(out, t.title);
    put_frame(out, t.author);
    put_frame(out, t.text);
    put_frame(out, std::to_string(t.pages));
  } catch (const std::bad_alloc&) {
    return kOutOfMemoryExit;
  }
  return write_all(1, out) ? 0 : 2;
}

pdf_text extract_pdf_isolated(std::string_view data, const pdf_isolation& iso) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return failed(std::string("cannot start the PDF reader: socketpair: ") + std::strerror(errno));
  }
  const int mine = sv[0], theirs = sv[1];
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, theirs, 0);
  posix_spawn_file_actions_adddup2(&fa, theirs, 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  // Nothing else of the server's: not its listening socket, connections,
  // log or store files (Asio opens sockets without close-on-exec).
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  const std::string mb = std::to_string(iso.memory_mb), secs = std::to_string(iso.cpu_seconds);
  std::string arg0 = "leaves", arg1 = "pdf-text";
  char* argv[] = {arg0.data(), arg1.data(), const_cast<char*>(mb.c_str()), const_cast<char*>(secs.c_str()), nullptr};
  // Nor its environment (tokens may be in it): only a sanitizer's options,
  // for the hardening build.
  std::vector<std::string> env_kept;
  for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"}) {
    if (const char* v = std::getenv(name)) env_kept.push_back(std::string(name) + "=" + v);
  }
  std::vector<char*> envp;
  for (auto& e : env_kept) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, iso.program.c_str(), &fa, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(theirs);
  if (rc != 0) {
    ::close(mine);
    return failed("cannot start the PDF reader (" + iso.program + "): " + std::strerror(rc));
  }
  ::fcntl(mine, F_SETFL, ::fcntl(mine, F_GETFL) | O_NONBLOCK);
  const auto deadline = std::chrono::steady_clock::now() + iso.wall;
  std::string out;
  size_t sent = 0;
  bool wrote_all = data.empty(), eof = false, too_big = false, timed_out = false;
  if (wrote_all) ::shutdown(mine, SHUT_WR);
  char buf[64 * 1024];
  while (!eof) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{mine, static_cast<short>(POLLIN | (wrote_all ? 0 : POLLOUT)), 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    if (!wrote_all && (p.revents & POLLOUT)) {
      const ssize_t w = ::send(mine, data.data() + sent, std::min<size_t>(data.size() - sent, 256 * 1024), MSG_NOSIGNAL);
      if (w > 0) sent += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR) wrote_all = true;  // the child is gone: read what it says
      if (sent == data.size()) wrote_all = true;
      if (wrote_all) ::shutdown(mine, SHUT_WR);
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t r = ::recv(mine, buf, sizeof buf, 0);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        eof = true;
      } else if (r > 0) {
        out.append(buf, static_cast<size_t>(r));
        if (out.size() > kMaxOutput) {
          too_big = true;
          break;
        }
      }
    }
  }
  ::close(mine);
  if (!eof) ::kill(pid, SIGKILL);
  // The child has closed its output (or was killed): it ends at once.
  int status = 0;
  const auto reap_by = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid || (w < 0 && errno != EINTR)) break;
    if (std::chrono::steady_clock::now() > reap_by) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const std::string limits = " (limits: " + std::to_string(iso.memory_mb) + " MiB, " +
                             std::to_string(iso.cpu_seconds) + " s of CPU; --pdf-memory-mb)";
  if (timed_out) return failed("reading the PDF took longer than " + std::to_string(iso.wall.count() / 1000) + " s");
  if (too_big) return failed("the PDF reader's answer was too large");
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if (sig == SIGXCPU || sig == SIGKILL) return failed("reading the PDF used up its CPU time" + limits);
    return failed("the PDF reader crashed on this PDF (signal " + std::to_string(sig) + ", " + strsignal(sig) +
                  "), possibly out of memory" + limits);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kOutOfMemoryExit) {
    return failed("the PDF needs more memory than the reader may use" + limits);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return failed("the PDF reader failed (exit " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
  }
  std::string_view in(out);
  pdf_text t;
  std::string pages;
  if (!take_frame(in, t.error) || !take_frame(in, t.title) || !take_frame(in, t.author) || !take_frame(in, t.text) ||
      !take_frame(in, pages) || !in.empty()) {
    return failed("the PDF reader's answer was malformed");
  }
  const bool number = !pages.empty() && pages.size() <= 9 && pages.find_first_not_of("0123456789") == std::string::npos;
  t.pages = number ? std::stoi(pages) : 0;
  return t;
}

}  // namespace leaves::fetch
