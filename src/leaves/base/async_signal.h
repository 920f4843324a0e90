// A wake-up for one coroutine, notified from any thread. The waiting coroutine
// must run on the executor given here (a strand), which serialises notify()
// with wait(). Lost wake-ups are impossible: a notify() before wait() makes the
// next wait() return at once.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>

namespace leaves {

class async_signal : public std::enable_shared_from_this<async_signal> {
 public:
  explicit async_signal(boost::asio::any_io_executor ex) : timer_(std::move(ex)) {}

  void notify() {
    boost::asio::post(timer_.get_executor(), [self = shared_from_this()] {
      self->pending_ = true;
      self->timer_.cancel();
    });
  }

  // Returns true when notified, false when `max` passed first.
  boost::asio::awaitable<bool> wait(std::chrono::steady_clock::duration max) {
    if (!pending_) {
      timer_.expires_after(max);
      boost::system::error_code ec;
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    const bool notified = pending_;
    pending_ = false;
    co_return notified;
  }

  const boost::asio::any_io_executor& executor() { return timer_.get_executor(); }

 private:
  boost::asio::steady_timer timer_;
  bool pending_ = false;
};

}  // namespace leaves
