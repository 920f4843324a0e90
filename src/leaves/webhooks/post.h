// One HTTP POST to a URL a user gave, for webhooks: the name is resolved,
// each address is checked (address.h) unless private targets are allowed,
// and the connection goes to the first allowed address; https verifies the
// certificate and the host name. No redirects are followed, the answer's
// body is read to at most 64 KiB and dropped, and the whole exchange has
// one deadline. Arguments by value: a coroutine outlives its caller's temporaries.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace leaves::webhooks {

struct post_options {
  bool allow_private = false;
  std::chrono::milliseconds timeout{10000};
};

struct post_result {
  int status = 0;     // the answer's status; 0: none (error says why)
  std::string error;  // empty when an answer came
  bool refused = false;  // the target is an internal address (not retried)
};

boost::asio::awaitable<post_result> post_json(std::string url, std::vector<std::pair<std::string, std::string>> headers,
                                              std::string body, post_options o);

}  // namespace leaves::webhooks
