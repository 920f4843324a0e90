#include "leaves/enrich/enricher.h"

#include <algorithm>
#include <cctype>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <boost/url.hpp>
#include <deque>
#include <set>
#include <unordered_set>

#include "leaves/base/log.h"
#include "leaves/base/utf8.h"
#include "leaves/domain/events.h"
#include "leaves/fetch/extract.h"
#include "leaves/fetch/pdf.h"

namespace asio = boost::asio;
namespace json = boost::json;

namespace leaves::enrich {
namespace {

constexpr size_t kBatch = 100;
constexpr size_t kMaxTitleBytes = 1000;
constexpr size_t kMaxContentBytes = 1024 * 1024;  // as a client's content (domain::limits)

// Retries a command while the log is unavailable (stopping ends it). (co_spawn
// needs a default-constructible value: results travel in an optional.)
asio::awaitable<std::optional<status>> execute(service::leaf_service* svc, domain::command cmd,
                                               const std::atomic<bool>* stop) {
  auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    auto r = co_await svc->execute(cmd, "enricher");
    if (r) co_return ok_status();
    if (r.err().code != errc::unavailable || stop->load()) co_return status(r.err());
    asio::steady_timer t(co_await asio::this_coro::executor, backoff);
    co_await t.async_wait(asio::use_awaitable);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

asio::awaitable<std::optional<result<std::optional<domain::leaf>>>> state_of(service::leaf_service* svc,
                                                                             std::string id) {
  co_return co_await svc->state(std::move(id));
}

std::string host_of(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  return u ? std::string(u->encoded_host()) : std::string();
}

// Whether a created leaf has no page of its own: nothing to read or show.
bool needs_page(const json::object& leaf) {
  auto empty = [&](const char* k) {
    const auto* v = leaf.if_contains(k);
    return !v || v->is_null() || (v->is_string() && v->get_string().empty());
  };
  return empty("title") && empty("content") && empty("content_text");
}

}  // namespace

enricher::enricher(log::event_log& log, std::string group, service::leaf_service& svc, asio::io_context& ioc,
                   enrich_options o)
    : log_(log), group_(std::move(group)), svc_(svc), ioc_(ioc), o_(std::move(o)) {
  o_.fetch.cancel = &stop_;
  o_.concurrency = std::max<size_t>(1, o_.concurrency);
  o_.attempts = std::max(1, o_.attempts);
}

enricher::~enricher() { stop(); }

status enricher::start() {
  std::lock_guard lk(lifecycle_mu_);
  if (stop_ || thread_.joinable()) return ok_status();
  auto c = log_.subscribe(group_);
  if (!c) return c.err();
  consumer_ = std::move(*c);
  thread_ = std::thread([this] { run(); });
  return ok_status();
}

void enricher::stop() {
  std::lock_guard lk(lifecycle_mu_);
  stop_ = true;
  if (consumer_) consumer_->wake();
  if (thread_.joinable()) thread_.join();
}

bool enricher::pause(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (!stop_) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(50)));
  }
  return false;
}

void enricher::wait_for_host(const std::string& host) {
  std::chrono::steady_clock::time_point at;
  {
    std::lock_guard lk(hosts_mu_);
    auto& next = next_fetch_[host];
    at = std::max(next, std::chrono::steady_clock::now());
    next = at + o_.per_host_interval;
    if (next_fetch_.size() > 10000) {  // bounded: forget hosts whose turn has passed
      const auto now = std::chrono::steady_clock::now();
      std::erase_if(next_fetch_, [&](const auto& kv) { return kv.second < now; });
    }
  }
  const auto now = std::chrono::steady_clock::now();
  if (at > now) pause(std::chrono::duration_cast<std::chrono::milliseconds>(at - now));
}

void enricher::run() {
  // Requests written before the worker started may have been answered by
  // an earlier run whose position was not committed yet. Per partition (a
  // request and its answer share their leaf's partition), they wait until
  // the worker has read that partition up to where it ended at start.
  const std::vector<int64_t> boundary = log_.end_offsets();
  const size_t parts = boundary.size();
  std::vector<int64_t> next(parts, 0);
  if (auto committed = log_.committed(group_); committed) {
    for (size_t p = 0; p < committed->size() && p < parts; ++p) next[p] = std::max<int64_t>(0, (*committed)[p]);
  }
  std::vector<bool> recovering(parts);
  for (size_t p = 0; p < parts; ++p) recovering[p] = next[p] < boundary[p];
  std::vector<std::vector<job>> held(parts);
  std::vector<std::unordered_set<std::string>> answered(parts);  // seen while the partition recovers
  while (!stop_) {
    auto recs = consumer_->poll(kBatch, std::chrono::milliseconds(200));
    if (!recs) {
      pause(std::chrono::milliseconds(500));
      continue;
    }
    std::vector<job> ready;
    std::set<size_t> read;  // partitions of this batch: the only ones it commits
    for (const auto& r : *recs) {
      if (r.partition < 0 || static_cast<size_t>(r.partition) >= parts) continue;
      const auto p = static_cast<size_t>(r.partition);
      read.insert(p);
      next[p] = std::max(next[p], r.offset + 1);
      boost::system::error_code ec;
      auto v = json::parse(r.value, ec);
      if (ec || !v.is_object()) continue;
      auto ev = domain::event_from_json(v.get_object());
      if (!ev) continue;  // not a leaf event (a user's)
      job j;
      j.leaf_id = ev->aggregate_id;
      j.partition = r.partition;
      j.offset = r.offset;
      j.request = std::to_string(r.partition) + ":" + std::to_string(r.offset);
      j.version = ev->aggregate_version;
      switch (ev->type) {
        case domain::event_type::created: {
          const auto* l = ev->data.if_contains("leaf");
          if (!l || !l->is_object() || !needs_page(l->get_object())) continue;
          break;
        }
        case domain::event_type::enrich_requested: break;
        case domain::event_type::enriched:
        case domain::event_type::enrich_failed:
          if (recovering[p]) {
            if (const auto* q = ev->data.if_contains("request"); q && q->is_string())
              answered[p].insert(std::string(q->get_string()));
          }
          continue;
        default: continue;
      }
      ++stats_.requested;
      if (recovering[p] && r.offset < boundary[p]) {
        held[p].push_back(std::move(j));
      } else {
        ready.push_back(std::move(j));
      }
    }
    for (size_t p : read) {
      if (!recovering[p] || next[p] < boundary[p]) continue;
      recovering[p] = false;
      for (auto& j : held[p]) {
        if (answered[p].contains(j.request)) {
          ++stats_.already;
        } else {
          ready.push_back(std::move(j));
        }
      }
      held[p] = {};
      answered[p] = {};
    }
    if (!ready.empty()) run_jobs(std::move(ready));
    if (stop_) return;  // a batch cut short is read again: its answered requests are known then
    // Commit the partitions this batch read (others may belong to another
    // server of the group by now), past what is answered, never past a
    // request still held.
    std::vector<log::position> commit;
    for (size_t p : read) {
      int64_t upto = next[p];
      for (const auto& j : held[p]) upto = std::min(upto, j.offset);
      commit.push_back({static_cast<int32_t>(p), upto});
    }
    if (!commit.empty()) {
      if (auto st = consumer_->commit(commit); !st) log_warn("enrich", "commit failed: " + st.err().message);
    }
  }
}

void enricher::run_jobs(std::vector<job> jobs) {
  // Grouped by the host of each leaf's URL (a request names only the leaf):
  // one host's pages are fetched one after the other.
  std::map<std::string, std::deque<job>> by_host;
  for (auto& j : jobs) {
    auto l = leaf_at_request(j);
    if (!l) {
      if (stop_) return;
      ++stats_.gone;
      continue;
    }
    j.host = host_of(l->url);
    by_host[j.host].push_back(std::move(j));
  }
  std::mutex mu;
  auto take = [&]() -> std::optional<std::deque<job>> {
    std::lock_guard lk(mu);
    if (by_host.empty()) return std::nullopt;
    auto node = by_host.extract(by_host.begin());
    return std::move(node.mapped());
  };
  auto work = [&] {
    while (!stop_) {
      auto group = take();
      if (!group) return;
      for (const auto& j : *group) {
        if (stop_) return;
        enrich_one(j);
      }
    }
  };
  std::vector<std::thread> workers;
  const size_t n = std::min(o_.concurrency, by_host.size());
  for (size_t i = 1; i < n; ++i) workers.emplace_back(work);
  work();
  for (auto& t : workers) t.join();
}

std::optional<domain::leaf> enricher::leaf_at_request(const job& j) {
  constexpr auto kPatience = std::chrono::seconds(30);
  const auto until = std::chrono::steady_clock::now() + kPatience;
  while (!stop_) {
    auto st = *asio::co_spawn(asio::make_strand(ioc_), state_of(&svc_, j.leaf_id), asio::use_future).get();
    if (st && *st && (*st)->version >= j.version) {
      if ((*st)->deleted) return std::nullopt;
      return std::move(**st);
    }
    if (std::chrono::steady_clock::now() >= until) {
      log_warn("enrich", "leaf " + j.leaf_id + ": the read model did not reach version " + std::to_string(j.version) +
                             " in 30 s; request " + j.request + " is dropped");
      return std::nullopt;
    }
    pause(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

void enricher::enrich_one(const job& j) {
  // The leaf again, just before its fetch: the user may have filled it meanwhile.
  auto found = leaf_at_request(j);
  if (!found) {
    if (!stop_) ++stats_.gone;
    return;
  }
  const domain::leaf& l = *found;
  domain::command cmd;
  cmd.leaf_id = j.leaf_id;
  cmd.request = j.request;
  fetch::fetch_result r;
  const auto started = std::chrono::steady_clock::now();
  for (int attempt = 0;; ++attempt) {
    wait_for_host(j.host);
    if (stop_) return;
    r = fetch::fetch_url(l.url, o_.fetch);
    ++stats_.fetches;
    if (stop_) return;  // cancelled mid-fetch: asked again after the restart
    if (r.ok() || !r.retryable || attempt + 1 >= o_.attempts) break;
    auto wait = o_.retry_base * (1 << (2 * attempt));  // 1 s, 4 s, 16 s, ...
    if (r.retry_after) wait = std::chrono::duration_cast<std::chrono::milliseconds>(*r.retry_after);
    if (!pause(std::min(wait, o_.max_retry_wait))) return;
  }
  stats_.fetch_micros +=
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
  json::object page{{"final_url", r.final_url}, {"http_status", r.http_status}, {"redirects", r.redirects}};
  if (!r.ok()) {
    cmd.kind = domain::command_kind::enrich_failed;
    cmd.reason = !r.error.empty() ? r.error : "the server answered " + std::to_string(r.http_status);
    page["retryable"] = r.retryable;
    cmd.page = std::move(page);
  } else {
    cmd.kind = domain::command_kind::enrich;
    auto& p = cmd.patch;
    auto set = [&](domain::field f) { p.set(f); };
    p.values.http_status = std::to_string(r.http_status);
    set(domain::field::http_status);
    if (!r.mimetype.empty()) {
      p.values.mimetype = r.mimetype;
      set(domain::field::mimetype);
    }
    page["mimetype"] = r.mimetype;
    page["bytes"] = r.body.size();
    if (r.mimetype == "text/html" || r.mimetype == "application/xhtml+xml") {
      const std::string charset = !r.charset.empty() ? r.charset : fetch::sniff_charset(r.body);
      const auto x = fetch::extract_html(fetch::to_utf8(r.body, charset), r.final_url.empty() ? l.url : r.final_url);
      if (!x.title.empty()) {
        p.values.title = utf8_repaired(x.title, kMaxTitleBytes);
        set(domain::field::title);
      }
      if (!x.content.empty() && x.content.size() <= kMaxContentBytes) {
        p.values.content = x.content;
        set(domain::field::content);
      }
      if (!x.content_text.empty()) {
        p.values.content_text = utf8_repaired(x.content_text, kMaxContentBytes);
        set(domain::field::content_text);
      }
      if (!x.preview_picture.empty()) {
        p.values.preview_picture = x.preview_picture;
        set(domain::field::preview_picture);
      }
      if (!x.language.empty()) {
        p.values.language = x.language;
        set(domain::field::language);
      }
      if (x.reading_time > 0) {
        p.values.reading_time = x.reading_time;
        set(domain::field::reading_time);
      }
      if (!x.published_at.empty()) {
        p.values.published_at = domain::string_list{utf8_repaired(x.published_at, 200)};
        set(domain::field::published_at);
      }
      if (!x.published_by.empty()) {
        p.values.published_by = domain::string_list{utf8_repaired(x.published_by, 500)};
        set(domain::field::published_by);
      }
      page["excerpt"] = x.excerpt;
      page["canonical_url"] = x.canonical_url;
      page["favicon"] = x.favicon;
      page["charset"] = charset.empty() ? "utf-8" : charset;
    }
    if (r.mimetype == "application/pdf") {
      const auto pdf = fetch::extract_pdf(r.body);
      if (pdf.ok()) {
        if (!pdf.title.empty()) {
          p.values.title = utf8_repaired(pdf.title, kMaxTitleBytes);
          set(domain::field::title);
        }
        if (!pdf.text.empty()) {
          p.values.content_text = utf8_repaired(pdf.text, kMaxContentBytes);
          set(domain::field::content_text);
          size_t words = 0;
          bool in_word = false;
          for (char ch : pdf.text) {
            const bool space = std::isspace(static_cast<unsigned char>(ch));
            if (!space && !in_word) ++words;
            in_word = !space;
          }
          p.values.reading_time = static_cast<int32_t>((words + 199) / 200);
          set(domain::field::reading_time);
        }
        if (!pdf.author.empty()) {
          p.values.published_by = domain::string_list{utf8_repaired(pdf.author, 500)};
          set(domain::field::published_by);
        }
        page["pages"] = pdf.pages;
      } else {
        page["pdf_error"] = pdf.error;
      }
    }
    cmd.page = std::move(page);
  }
  auto done = *asio::co_spawn(asio::make_strand(ioc_), execute(&svc_, cmd, &stop_), asio::use_future).get();
  if (!done) {
    if (done.err().code == errc::not_found) {
      ++stats_.gone;  // deleted while it was fetched
    } else {
      log_warn("enrich", "leaf " + j.leaf_id + ": the answer to " + j.request + " was not written: " + done.err().message);
    }
    return;
  }
  if (cmd.kind == domain::command_kind::enrich) {
    ++stats_.enriched;
  } else {
    ++stats_.failed;
    log_info("enrich", "leaf " + j.leaf_id + ": " + cmd.reason);
  }
}

}  // namespace leaves::enrich
