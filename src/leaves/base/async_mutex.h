// A mutex for coroutines: lock() suspends the caller (its thread stays free)
// until the holder unlocks; waiters get it in arrival order. For rare,
// serialised work (user and group administration). Thread-safe.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <deque>
#include <memory>
#include <mutex>

#include "leaves/base/async_signal.h"

namespace leaves {

class async_mutex {
 public:
  boost::asio::awaitable<void> lock() {
    std::shared_ptr<async_signal> me;
    {
      std::lock_guard lk(mu_);
      if (!held_) {
        held_ = true;
        co_return;
      }
      me = std::make_shared<async_signal>(co_await boost::asio::this_coro::executor);
      waiting_.push_back(me);
    }
    while (!co_await me->wait(std::chrono::hours(1))) {
    }
  }

  void unlock() {
    std::shared_ptr<async_signal> next;
    {
      std::lock_guard lk(mu_);
      if (waiting_.empty()) {
        held_ = false;
        return;
      }
      next = std::move(waiting_.front());
      waiting_.pop_front();
    }
    next->notify();  // the lock passes to it, still held
  }

  // Unlocks when it goes out of scope: `co_await m.lock(); async_mutex::guard g{m};`
  struct guard {
    async_mutex& m;
    ~guard() { m.unlock(); }
  };

 private:
  std::mutex mu_;
  bool held_ = false;
  std::deque<std::shared_ptr<async_signal>> waiting_;
};

}  // namespace leaves
