// The enrichment worker (docs/fetch.md): a consumer of the event log, in a
// group of its own that the servers of a deployment share (on Kafka they
// split the work by partition), that fetches the page of every leaf saved
// without one (a leaf.created whose title, content and text are empty) and of
// every refetch asked for (leaf.enrich_requested), and answers each with a
// leaf.enriched event (the page's fields, taken only where the leaf's are
// empty) or a leaf.enrich_failed event with the reason.
//
// Exactly one answer per request, across restarts and hand-overs: an answer
// names its request (the partition:offset of the event that asked). When a
// partition comes to the worker (a start, a rebalance: a read that does not
// follow the last one), it notes where the partition ends; requests before
// that are held until it has read up to there, and those an answer already
// follows (or this worker answered) are not fetched again. Positions are
// committed only past requests answered.
//
// Politeness: `concurrency` pages at once, one at a time per host with
// `per_host_interval` between two fetches of a host (an import of 10,000
// bookmarks does not hammer their sites), retries with exponential backoff
// on timeouts, 5xx and 429, Retry-After honoured up to `max_retry_wait`.
//
// One thread reads the log and queues requests (at most kMaxQueued); a pool
// of `concurrency` threads answers them. Positions are committed up to the
// oldest request not yet answered, as answers come. A request whose leaf the
// read model does not show yet, or whose answer could not be written, is put
// back and tried again later, never dropped. Commands run on the server's
// io_context.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "leaves/fetch/fetch.h"
#include "leaves/fetch/pdf_isolated.h"
#include "leaves/log/event_log.h"
#include "leaves/service/leaf_service.h"

namespace leaves::enrich {

struct enrich_options {
  fetch::fetch_options fetch;
  size_t concurrency = 4;
  std::chrono::milliseconds per_host_interval{1000};
  int attempts = 3;
  std::chrono::milliseconds retry_base{1000};
  std::chrono::milliseconds max_retry_wait{60000};
  fetch::pdf_isolation pdf;  // PDFs are read in a child process
};

struct enrich_stats {
  std::atomic<uint64_t> requested{0};      // requests read
  std::atomic<uint64_t> enriched{0};       // answered with a page
  std::atomic<uint64_t> failed{0};         // answered with a failure
  std::atomic<uint64_t> already{0};        // answered before a restart: not fetched again
  std::atomic<uint64_t> gone{0};           // the leaf was deleted before its turn
  std::atomic<uint64_t> fetches{0};        // HTTP fetches made (retries included)
  std::atomic<uint64_t> fetch_micros{0};   // their time
};

class enricher {
 public:
  enricher(log::event_log& log, std::string group, service::leaf_service& svc, boost::asio::io_context& ioc,
           enrich_options o);
  ~enricher();
  status start();
  // Not from an io thread: it waits for commands that run on the io_context.
  void stop();
  const enrich_stats& stats() const { return stats_; }
  // Requests waiting or being fetched.
  size_t queued() const;
  static constexpr size_t kMaxQueued = 200000;  // the reader waits while this many wait

 private:
  struct job {
    std::string leaf_id, request, host;
    int32_t partition = 0;
    int64_t offset = 0;
    int64_t version = 0;  // of the leaf at the request
    int tries = 0;        // times put back (the read model behind, a write failed)
    std::chrono::steady_clock::time_point not_before{};
  };
  enum class outcome { done, later, stopped };
  void run();
  void work();
  void submit(job j);
  outcome enrich_one(const job& j);
  bool pause(std::chrono::milliseconds d);  // false when stopping

  log::event_log& log_;
  std::string group_;
  service::leaf_service& svc_;
  boost::asio::io_context& ioc_;
  enrich_options o_;
  std::unique_ptr<log::consumer> consumer_;
  std::mutex lifecycle_mu_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> workers_;
  enrich_stats stats_;
  // The work, by host: a host's requests are fetched one at a time, at most
  // once per per_host_interval; requests are held here until answered.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::deque<job>> queue_;
  std::set<std::string> busy_hosts_;
  std::map<std::string, std::chrono::steady_clock::time_point> next_fetch_;
  std::set<std::string> queued_;                  // requests queued or being fetched
  std::vector<std::multiset<int64_t>> unanswered_;  // their offsets, per partition
  // Requests this run answered, the last kRememberAnswered of them.
  static constexpr size_t kRememberAnswered = 100000;
  std::set<std::string> answered_recently_;
  std::deque<std::string> answered_order_;
  bool answered_here(const std::string& request) const;
};

}  // namespace leaves::enrich
