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
#include "leaves/domain/event_avro.h"
#include "leaves/domain/events.h"
#include "leaves/fetch/extract.h"
#include "leaves/fetch/language.h"
#include "leaves/fetch/pdf.h"

namespace asio = boost::asio;
namespace json = boost::json;

namespace leaves::enrich {
namespace {

constexpr size_t kBatch = 100;
constexpr auto kCommitEvery = std::chrono::seconds(1);
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
  for (size_t i = 0; i < o_.concurrency; ++i) workers_.emplace_back([this] { work(); });
  thread_ = std::thread([this] { run(); });
  return ok_status();
}

void enricher::stop() {
  std::lock_guard lk(lifecycle_mu_);
  stop_ = true;
  if (consumer_) consumer_->wake();
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
}

size_t enricher::queued() const {
  std::lock_guard lk(mu_);
  return queued_.size();
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

void enricher::submit(job j) {
  std::lock_guard lk(mu_);
  if (!queued_.insert(j.request).second) return;  // read again (a rebalance, a reader's retry): queued once
  if (static_cast<size_t>(j.partition) >= unanswered_.size()) unanswered_.resize(j.partition + 1);
  unanswered_[j.partition].insert(j.offset);
  queue_[j.host].push_back(std::move(j));
  cv_.notify_one();
}

bool enricher::answered_here(const std::string& request) const {
  std::lock_guard lk(mu_);
  return answered_recently_.contains(request);
}

void enricher::run() {
  // Requests read from a partition that this run did not read just before
  // (its first read: a restart; or a rebalance handed it over, rewinding to
  // the group's commit) may have been answered by whoever read them before,
  // an earlier run or another server, after its last commit. They wait
  // until the worker has read that partition up to where it ended when it
  // came (a request and its answer share their leaf's partition); those an
  // answer follows are not fetched again.
  const size_t parts = static_cast<size_t>(log_.partitions());
  std::vector<int64_t> boundary(parts, 0);
  std::vector<int64_t> expect(parts, -1);  // the offset this run reads next from each partition; -1: none yet
  std::vector<int64_t> next(parts, 0);
  if (auto committed = log_.committed(group_); committed) {
    for (size_t p = 0; p < committed->size() && p < parts; ++p) next[p] = std::max<int64_t>(0, (*committed)[p]);
  }
  std::vector<bool> recovering(parts, false);
  std::vector<std::vector<job>> held(parts);
  std::vector<std::unordered_set<std::string>> answered(parts);  // seen while the partition recovers
  std::vector<int64_t> last_commit(parts, -1);
  std::vector<bool> read_here(parts, false);  // partitions this run has read (the ones it commits)
  auto next_commit = std::chrono::steady_clock::now();
  while (!stop_) {
    if (queued() >= kMaxQueued) {  // the pool is far behind: wait for it before reading more
      pause(std::chrono::milliseconds(200));
    } else {
      auto recs = consumer_->poll(kBatch, std::chrono::milliseconds(200));
      if (!recs) {
        pause(std::chrono::milliseconds(500));
        continue;
      }
      std::set<size_t> read;
      for (const auto& r : *recs) {
        if (r.partition < 0 || static_cast<size_t>(r.partition) >= parts) continue;
        const auto p = static_cast<size_t>(r.partition);
        if (r.offset != expect[p]) {
          // The partition came to this run (see above): recover up to its end now.
          auto end = log_.end_offset(r.partition);
          int64_t upto = r.offset + 1;
          if (end) {
            upto = std::max(upto, *end);
          } else if (auto known = log_.known_end_offsets(); p < known.size()) {
            upto = std::max(upto, known[p]);
          }
          if (expect[p] >= 0) {
            log_info("enrich", "partition " + std::to_string(p) + " handed over at " + std::to_string(r.offset) +
                                   ": requests up to " + std::to_string(upto) + " wait for their answers");
          }
          boundary[p] = std::max(boundary[p], upto);
          recovering[p] = true;
        }
        expect[p] = r.offset + 1;
        read.insert(p);
        read_here[p] = true;
        next[p] = std::max(next[p], r.offset + 1);
        auto v = domain::decode_event_value(r.value);
        if (!v) continue;
        auto ev = domain::event_from_json(*v);
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
            if (const auto* u = l->get_object().if_contains("url"); u && u->is_string())
              j.host = host_of(std::string(u->get_string()));
            break;
          }
          case domain::event_type::enrich_requested:
            if (const auto* u = ev->data.if_contains("url"); u && u->is_string())
              j.host = host_of(std::string(u->get_string()));
            break;
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
          submit(std::move(j));
        }
      }
      for (size_t p : read) {
        // Read up to the boundary again from where the partition came (not
        // the furthest this run ever read: a rebalance rewinds).
        if (!recovering[p] || expect[p] < boundary[p]) continue;
        recovering[p] = false;
        for (auto& j : held[p]) {
          if (answered[p].contains(j.request) || answered_here(j.request)) {
            ++stats_.already;
          } else {
            submit(std::move(j));
          }
        }
        held[p] = {};
        answered[p] = {};
      }
    }
    // Commit, at most once a second, per partition this run reads, up to
    // its oldest request not yet answered (queued, being fetched, or held).
    if (std::chrono::steady_clock::now() < next_commit) continue;
    next_commit = std::chrono::steady_clock::now() + kCommitEvery;
    std::vector<log::position> commit;
    {
      std::lock_guard lk(mu_);
      for (size_t p = 0; p < parts; ++p) {
        if (!read_here[p]) continue;
        int64_t upto = next[p];
        if (p < unanswered_.size() && !unanswered_[p].empty()) upto = std::min(upto, *unanswered_[p].begin());
        for (const auto& j : held[p]) upto = std::min(upto, j.offset);
        if (upto != last_commit[p]) commit.push_back({static_cast<int32_t>(p), upto});
      }
    }
    if (!commit.empty() && !stop_) {
      if (auto st = consumer_->commit(commit); !st) {
        log_warn("enrich", "commit failed: " + st.err().message);
      } else {
        for (const auto& c : commit) last_commit[c.partition] = c.offset;
      }
    }
  }
}

void enricher::work() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    // A host that is not being fetched, whose turn has come, with a request due.
    const auto now = std::chrono::steady_clock::now();
    auto soonest = now + std::chrono::seconds(1);
    std::string host;
    for (auto& [h, q] : queue_) {
      if (q.empty() || busy_hosts_.contains(h)) continue;
      auto due = std::max(q.front().not_before, next_fetch_[h]);
      if (due <= now) {
        host = h;
        break;
      }
      soonest = std::min(soonest, due);
    }
    if (host.empty()) {
      cv_.wait_until(lk, soonest);
      continue;
    }
    job j = std::move(queue_[host].front());
    queue_[host].pop_front();
    if (queue_[host].empty()) queue_.erase(host);
    busy_hosts_.insert(host);
    lk.unlock();
    outcome o = outcome::done;
    try {
      o = enrich_one(j);
    } catch (const std::exception& e) {
      log_error("enrich", "leaf " + j.leaf_id + ": request " + j.request + " failed: " + e.what());
      o = outcome::later;
    }
    lk.lock();
    busy_hosts_.erase(host);
    next_fetch_[host] = std::chrono::steady_clock::now() + o_.per_host_interval;
    if (o == outcome::later && !stop_) {
      // Put back, later each time (at most a minute apart): never dropped.
      ++j.tries;
      j.not_before = std::chrono::steady_clock::now() +
                     std::min<std::chrono::milliseconds>(std::chrono::milliseconds(250L << std::min(j.tries, 8)),
                                                         std::chrono::seconds(60));
      if (j.tries % 20 == 0) log_warn("enrich", "leaf " + j.leaf_id + ": request " + j.request + " put back " +
                                                    std::to_string(j.tries) + " times");
      queue_[host].push_back(std::move(j));
    } else if (o == outcome::done) {
      queued_.erase(j.request);
      // Its answer may not be in the log yet when a rebalance hands the
      // partition back: remembered, so it is not fetched again.
      if (answered_recently_.insert(j.request).second) answered_order_.push_back(j.request);
      while (answered_order_.size() > kRememberAnswered) {
        answered_recently_.erase(answered_order_.front());
        answered_order_.pop_front();
      }
      auto& u = unanswered_[j.partition];
      if (auto it = u.find(j.offset); it != u.end()) u.erase(it);
    }
    if (next_fetch_.size() > 10000) {  // bounded: forget hosts whose turn has passed
      const auto t = std::chrono::steady_clock::now();
      std::erase_if(next_fetch_, [&](const auto& kv) { return kv.second < t && !queue_.contains(kv.first); });
    }
    cv_.notify_all();
  }
}

enricher::outcome enricher::enrich_one(const job& j) {
  // The leaf as of its request at least (the read model may be behind the
  // log this worker reads), just before its fetch: the user may have filled
  // it meanwhile, or deleted it.
  auto st = *asio::co_spawn(asio::make_strand(ioc_), state_of(&svc_, j.leaf_id), asio::use_future).get();
  if (stop_) return outcome::stopped;
  if (!st || !*st || (*st)->version < j.version) return outcome::later;
  if ((*st)->deleted) {
    ++stats_.gone;
    return outcome::done;
  }
  const domain::leaf l = std::move(**st);
  domain::command cmd;
  cmd.leaf_id = j.leaf_id;
  cmd.request = j.request;
  fetch::fetch_result r;
  const auto started = std::chrono::steady_clock::now();
  for (int attempt = 0;; ++attempt) {
    r = fetch::fetch_url(l.url, o_.fetch);
    ++stats_.fetches;
    if (stop_) return outcome::stopped;  // cancelled mid-fetch: asked again after the restart
    if (r.ok() || !r.retryable || attempt + 1 >= o_.attempts) break;
    auto wait = o_.retry_base * (1 << (2 * attempt));  // 1 s, 4 s, 16 s, ...
    if (r.retry_after) wait = std::chrono::duration_cast<std::chrono::milliseconds>(*r.retry_after);
    if (!pause(std::max(std::min(wait, o_.max_retry_wait), o_.per_host_interval))) return outcome::stopped;
  }
  stats_.fetch_micros +=
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
  json::object page{{"final_url", r.final_url}, {"http_status", r.http_status}, {"redirects", r.redirects}};
  std::string log_reason;
  if (!r.ok()) {
    cmd.kind = domain::command_kind::enrich_failed;
    cmd.reason = !r.error.empty() ? r.error : "the server answered " + std::to_string(r.http_status);
    if (r.refused) {
      // Which internal address a name resolved to is for the server's log,
      // not for whoever saved the URL (it would map internal DNS for them).
      log_reason = cmd.reason;
      cmd.reason = "the page is on an internal address: not fetched (see --fetch-allow-private)";
    }
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
      } else if (auto lang = fetch::detect_language(x.content_text); !lang.empty()) {
        p.values.language = std::move(lang);
        set(domain::field::language);
        page["language_detected"] = true;
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
      const auto pdf = fetch::extract_pdf_isolated(r.body, o_.pdf);
      if (pdf.ok()) {
        if (!pdf.title.empty()) {
          p.values.title = utf8_repaired(pdf.title, kMaxTitleBytes);
          set(domain::field::title);
        }
        if (!pdf.text.empty()) {
          p.values.content_text = utf8_repaired(pdf.text, kMaxContentBytes);
          set(domain::field::content_text);
          p.values.reading_time = fetch::reading_minutes(pdf.text);
          set(domain::field::reading_time);
          if (auto lang = fetch::detect_language(pdf.text); !lang.empty()) {
            p.values.language = std::move(lang);
            set(domain::field::language);
            page["language_detected"] = true;
          }
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
      return outcome::done;
    }
    if (stop_) return outcome::stopped;
    log_warn("enrich", "leaf " + j.leaf_id + ": the answer to " + j.request + " was not written (tried again later): " +
                           done.err().message);
    return outcome::later;
  }
  if (cmd.kind == domain::command_kind::enrich) {
    ++stats_.enriched;
  } else {
    ++stats_.failed;
    log_info("enrich", "leaf " + j.leaf_id + ": " + (log_reason.empty() ? cmd.reason : log_reason));
  }
  return outcome::done;
}

}  // namespace leaves::enrich
