// An io_context with its own threads for sessions used from synchronous code:
// run() starts a coroutine on a given executor and blocks until it finishes.
// Do not call run() from one of the runtime's own threads (it would wait on
// itself).
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <thread>
#include <vector>

namespace cql {

class runtime {
 public:
  explicit runtime(size_t threads = 1) : work_(ioc_.get_executor()) {
    for (size_t i = 0; i < (threads ? threads : 1); ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  ~runtime() { stop(); }
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // A new strand: give each session its own.
  boost::asio::any_io_executor make_strand() { return boost::asio::make_strand(ioc_); }

  template <class T>
  static T run(boost::asio::any_io_executor ex, boost::asio::awaitable<T> a) {
    return boost::asio::co_spawn(ex, std::move(a), boost::asio::use_future).get();
  }

  void stop() {
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

}  // namespace cql
