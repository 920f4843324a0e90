#include "leaves/projector/progress.h"

#include <algorithm>
#include <boost/asio/this_coro.hpp>
#include <charconv>

namespace asio = boost::asio;

namespace leaves::projector {

result<std::vector<log::position>> parse_positions(std::string_view text, int32_t partitions) {
  std::vector<log::position> out;
  auto bad = [&] {
    return make_error(errc::invalid_argument,
                      "position must be PARTITION:OFFSET[,PARTITION:OFFSET...], got '" +
                          std::string(text.substr(0, 200)) + "'",
                      "invalid_query");
  };
  if (text.empty() || text.size() > 4096) return bad();
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    auto item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    const auto colon = item.find(':');
    if (colon == std::string_view::npos) return bad();
    log::position p;
    auto r1 = std::from_chars(item.data(), item.data() + colon, p.partition);
    auto r2 = std::from_chars(item.data() + colon + 1, item.data() + item.size(), p.offset);
    if (r1.ec != std::errc() || r1.ptr != item.data() + colon || r2.ec != std::errc() ||
        r2.ptr != item.data() + item.size() || p.partition < 0 || p.partition >= partitions ||
        p.offset < 0) {
      return bad();
    }
    out.push_back(p);
    start = end + 1;
  }
  return out;
}

bool covers(const std::vector<int64_t>& at, const std::vector<int64_t>& end, const std::vector<int64_t>* also) {
  for (size_t p = 0; p < end.size(); ++p) {
    const int64_t mine = p < at.size() ? at[p] : 0;
    const int64_t theirs = also && p < also->size() ? (*also)[p] : 0;
    if (std::max(mine, theirs) < end[p]) return false;
  }
  return true;
}

std::vector<int64_t> lag(const std::vector<int64_t>& at, const std::vector<int64_t>& end) {
  std::vector<int64_t> out(end.size());
  for (size_t p = 0; p < end.size(); ++p) out[p] = std::max<int64_t>(0, end[p] - (p < at.size() ? at[p] : 0));
  return out;
}

std::string format_position(const log::position& p) {
  return std::to_string(p.partition) + ":" + std::to_string(p.offset);
}

std::vector<int64_t> progress::applied() const {
  std::lock_guard lk(mu_);
  return applied_;
}

// Notifies under the lock: a waiter leaves waiters_ under it too (see
// wait_for), so no signal whose wait has ended is ever notified. Notifying it
// would post to an io_context that may be gone, and the last reference to
// its timer could then be dropped here, after the timer's service was
// destroyed (UBSan found that in a unit test).
void progress::set_applied(const std::vector<int64_t>& next) {
  std::lock_guard lk(mu_);
  for (size_t i = 0; i < applied_.size() && i < next.size(); ++i) {
    applied_[i] = std::max(applied_[i], next[i]);
  }
  for (auto& w : waiters_) {
    if (auto s = w.lock()) s->notify();
  }
  waiters_.clear();
}

bool progress::reached(const std::vector<log::position>& want) const {
  std::lock_guard lk(mu_);
  for (const auto& p : want) {
    if (p.partition < 0 || static_cast<size_t>(p.partition) >= applied_.size() ||
        applied_[p.partition] <= p.offset) {
      return false;
    }
  }
  return true;
}

asio::awaitable<bool> progress::wait_for(std::vector<log::position> want,
                                         std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto signal = std::make_shared<async_signal>(co_await asio::this_coro::executor);
  // Leaves waiters_ on every way out: returned, or destroyed with its
  // io_context while suspended.
  struct registration {
    progress& owner;
    const async_signal* signal;
    ~registration() {
      std::lock_guard lk(owner.mu_);
      std::erase_if(owner.waiters_, [this](const std::weak_ptr<async_signal>& w) {
        auto s = w.lock();
        return !s || s.get() == signal;
      });
    }
  } registered{*this, signal.get()};
  for (;;) {
    {
      std::lock_guard lk(mu_);
      bool done = true;
      for (const auto& p : want) {
        if (p.partition < 0 || static_cast<size_t>(p.partition) >= applied_.size() ||
            applied_[p.partition] <= p.offset) {
          done = false;
        }
      }
      if (done) co_return true;
      waiters_.push_back(signal);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) co_return false;
    co_await signal->wait(deadline - now);
  }
}

}  // namespace leaves::projector
