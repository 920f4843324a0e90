// Helpers shared by the C++ tests: temporary directories and running an
// awaitable to completion on a private io_context.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <optional>
#include <random>
#include <string>

namespace leaves::testing {

class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("leaves-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

template <class T>
boost::asio::awaitable<std::optional<T>> as_optional(boost::asio::awaitable<T> aw) {
  co_return co_await std::move(aw);
}

// Runs an awaitable to completion (T need not be default-constructible).
template <class T>
T run(boost::asio::awaitable<T> aw) {
  boost::asio::io_context ioc;
  auto fut = boost::asio::co_spawn(ioc, as_optional(std::move(aw)), boost::asio::use_future);
  ioc.run();
  return *fut.get();
}

}  // namespace leaves::testing
