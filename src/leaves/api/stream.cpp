#include "leaves/api/stream.h"

#include <boost/json.hpp>
#include <charconv>
#include <set>

#include "leaves/base/log.h"
#include "leaves/domain/event_avro.h"
#include "leaves/domain/leaf.h"
#include "leaves/projector/progress.h"

namespace asio = boost::asio;
namespace json = boost::json;

namespace leaves::api {
namespace {

constexpr size_t kCatchUpBatch = 256;
// Live messages formatted per write: what a stream holds beyond its queue's
// shared messages is one write's frames (tens of KiB), however many wait.
// Taking the whole queue at once made 500 subscribers of a 1,000-event burst
// hold 330 MiB of frames (bench/scale.sh).
constexpr size_t kLiveBatch = 64;

class log_stream final : public http::stream_source {
 public:
  log_stream(log::event_log& log, realtime::hub& hub, realtime::filter f, std::vector<int64_t> cursor,
             bool catch_up, asio::any_io_executor strand)
      : log_(log), hub_(hub), cursor_(std::move(cursor)), catching_up_(catch_up) {
    signal_ = std::make_shared<async_signal>(std::move(strand));
    sub_ = hub_.subscribe(std::move(f), signal_);
    sub_->set_catching_up(catch_up);
    // "now": the log end is read only after subscribing (in begin(), before
    // the answer, without blocking the I/O thread), so anything appended
    // later reaches the hub while we listen.
    need_end_ = !catch_up;
  }

  asio::awaitable<void> begin() override {
    if (need_end_) {
      need_end_ = false;
      cursor_ = co_await log_.async_end_offsets();
    }
  }
  ~log_stream() override { hub_.unsubscribe(sub_); }

  // Live search: only the events whose leaf matches `q` (see open_stream).
  void set_query(std::optional<search::node> q, store::leaf_queries* store, const leaf_matcher* matcher,
                 leaf_view as_seen) {
    query_ = std::move(q);
    as_seen_ = std::move(as_seen);
    store_ = store;
    matcher_ = matcher;
    searching_ = true;
  }

  void set_access_check(access_check check) { still_allowed_ = std::move(check); }

  // A collection's stream: its own events that name a leaf pass the check.
  void set_leaf_check(collection_leaf_check check, store::leaf_queries* store) {
    leaf_check_ = std::move(check);
    store_ = store;
  }
  bool staging() const { return searching_ || static_cast<bool>(leaf_check_); }

  asio::awaitable<std::vector<http::stream_event>> next(std::chrono::milliseconds heartbeat,
                                                         std::string& end_reason) override {
    auto out = co_await next_unfiltered(heartbeat, end_reason);
    if (staging()) {
      std::string failed;
      co_await filter_staged(out, failed);
      if (!failed.empty() && end_reason.empty()) end_reason = failed;
    }
    // Asked after the batch is made and before it leaves: a revocation the
    // directory has applied stops every event after it (and an idle stream
    // ends at its next heartbeat).
    if (still_allowed_) {
      if (auto why = still_allowed_()) {
        log_info("stream", "a stream of " + actor_ + " ends: " + *why);
        out.clear();
        end_reason = "unauthenticated";
      }
    }
    co_return out;
  }
  void set_actor(std::string actor) { actor_ = std::move(actor); }

  asio::awaitable<std::vector<http::stream_event>> next_unfiltered(std::chrono::milliseconds heartbeat,
                                                                   std::string& end_reason) {
    std::vector<http::stream_event> out;
    co_await begin();  // when the handler did not
    while (catching_up_) {
      if (co_await catch_up_step(out, end_reason)) co_return out;
    }
    for (int round = 0; round < 2; ++round) {
      std::string reason;
      auto msgs = sub_->take(reason, kLiveBatch);
      for (const auto& m : msgs) emit(*m, out);
      if (!reason.empty()) {
        end_reason = reason;
        co_return out;
      }
      if (!out.empty() || !staged_.empty() || round == 1) break;
      co_await signal_->wait(heartbeat);
    }
    co_return out;
  }

  // The slot is free at once, and a next() waiting for messages returns now.
  void closed() override {
    hub_.unsubscribe(sub_);
    signal_->notify();
  }

 private:
  // Reads one batch from the log. Returns true when it produced messages.
  // A read error ends the stream (end reason log_unavailable) after what was
  // read: the client resumes from its last cursor and misses nothing.
  asio::awaitable<bool> catch_up_step(std::vector<http::stream_event>& out, std::string& end_reason) {
    size_t read = 0;
    for (int32_t p = 0; p < static_cast<int32_t>(cursor_.size()) && out.size() < kCatchUpBatch; ++p) {
      auto recs = co_await log_.async_read(p, cursor_[p], kCatchUpBatch);
      if (!recs) {
        end_reason = "log_unavailable";
        co_return true;
      }
      for (const auto& r : *recs) {
        ++read;
        if (!domain::is_leaf_key(r.key)) {
          // A collection's own events reach only a collection's stream.
          if (sub_->flt().allow && r.key.starts_with("collection:")) {
            auto j = domain::decode_event_value(r.value);
            auto ge = j ? domain::group_event_from_json(*j) : result<domain::group_event>(j.err());
            if (ge) {
              emit(realtime::make_collection_message(r.partition, r.offset, *ge), out);
              continue;
            }
          }
          cursor_[p] = r.offset + 1;
          continue;
        }
        auto j = domain::decode_event_value(r.value);
        auto ev = j ? domain::event_from_json(*j) : result<domain::event>(j.err());
        if (!ev) {
          cursor_[p] = r.offset + 1;
          continue;
        }
        emit(realtime::make_message(r.partition, r.offset, *ev), out);
      }
    }
    if (read == 0) {
      // Reached the end. If the live queue overflowed meanwhile, read on from
      // the log; otherwise the queue holds everything after this point.
      if (!sub_->end_catch_up_round()) {
        sub_->set_catching_up(false);
        catching_up_ = false;
      }
    }
    co_return !out.empty() || !staged_.empty();
  }

  // Keeps the staged messages whose leaf matches the query now. Deletes always
  // pass, and so do later events of a leaf this stream already sent, so a
  // client can drop or re-check a card it shows.
  // A store error ends the stream (end reason store_unavailable) before the
  // event it could not check: the client resumes from the last cursor it got,
  // and nothing that matched is skipped.
  asio::awaitable<void> filter_staged(std::vector<http::stream_event>& out, std::string& end_reason) {
    auto staged = std::move(staged_);
    staged_.clear();
    for (auto& [m, cursor] : staged) {
      if (!m.collection_id.empty()) {
        // A collection's own event: one that names a leaf only if the leaf
        // reaches the caller through the collection now.
        bool show = true;
        if (!m.leaf_id.empty()) {
          show = false;
          if (leaf_check_ && store_) {
            if (leaf_check_.folded) {
              std::vector<log::position> at{{m.partition, m.offset}};
              co_await leaf_check_.folded->wait_for(std::move(at), std::chrono::seconds(1));
            }
            auto l = co_await store_->async_get(m.leaf_id);
            if (!l) {
              end_reason = "store_unavailable";
              co_return;
            }
            show = *l && !(*l)->deleted && leaf_check_.shows(**l);
          }
        }
        if (show) out.push_back(to_event(m, std::move(cursor)));
        continue;
      }
      if (!searching_) {
        out.push_back(to_event(m, std::move(cursor)));
        continue;
      }
      bool pass = m.type == "leaf.deleted" || sent_.contains(m.leaf_id);
      if (!pass) {
        auto l = co_await store_->async_get(m.leaf_id);
        if (!l) {
          end_reason = "store_unavailable";
          co_return;
        }
        if (*l && !(*l)->deleted) {
          if (as_seen_) as_seen_(**l);
          auto hit = (*matcher_)(query_, **l);
          pass = hit && *hit;
        }
      }
      if (!pass) continue;
      if (sent_.size() < kMaxRemembered) sent_.insert(m.leaf_id);
      out.push_back(to_event(m, std::move(cursor)));
    }
  }

  void emit(const realtime::message& m, std::vector<http::stream_event>& out) {
    if (m.partition < 0 || static_cast<size_t>(m.partition) >= cursor_.size()) return;
    if (m.offset < cursor_[m.partition]) return;  // already sent (catch-up/live overlap)
    cursor_[m.partition] = m.offset + 1;
    if (!sub_->flt().matches(m)) return;
    if (staging()) {
      staged_.emplace_back(m, format_cursor(cursor_));
      return;
    }
    out.push_back(to_event(m, format_cursor(cursor_)));
  }

  static http::stream_event to_event(const realtime::message& m, std::string cursor) {
    http::stream_event e;
    e.id = std::move(cursor);
    e.event = m.type;
    e.data.reserve(m.json_body.size() + e.id.size() + 16);
    e.data = m.json_body;
    e.data += ",\"cursor\":\"";
    e.data += e.id;
    e.data += "\"}";
    return e;
  }

  log::event_log& log_;
  realtime::hub& hub_;
  std::shared_ptr<async_signal> signal_;
  std::shared_ptr<realtime::subscriber> sub_;
  std::vector<int64_t> cursor_;
  bool need_end_ = false;
  bool catching_up_;
  // Live search.
  static constexpr size_t kMaxRemembered = 10000;
  bool searching_ = false;
  std::optional<search::node> query_;
  access_check still_allowed_;
  std::string actor_;
  collection_leaf_check leaf_check_;
  store::leaf_queries* store_ = nullptr;
  const leaf_matcher* matcher_ = nullptr;
  leaf_view as_seen_;
  std::vector<std::pair<realtime::message, std::string>> staged_;  // with the cursor after each
  std::set<std::string> sent_;
};

}  // namespace

result<std::vector<int64_t>> parse_cursor(std::string_view text, int32_t partitions) {
  auto pos = projector::parse_positions(text, partitions);
  if (!pos) {
    return make_error(errc::invalid_argument,
                      "cursor must be PARTITION:OFFSET[,...], 'beginning' or 'now'", "invalid_query");
  }
  std::vector<int64_t> out(partitions, 0);
  for (const auto& p : *pos) out[p.partition] = p.offset;
  return out;
}

std::string format_cursor(const std::vector<int64_t>& next) {
  std::string s;
  for (size_t p = 0; p < next.size(); ++p) {
    if (p) s += ',';
    s += std::to_string(p);
    s += ':';
    s += std::to_string(next[p]);
  }
  return s;
}

result<std::shared_ptr<http::stream_source>> open_stream(
    const http::request& req, const std::vector<std::pair<std::string, std::string>>& params,
    asio::any_io_executor strand, log::event_log& log, realtime::hub& hub, store::leaf_queries* store,
    const leaf_matcher* matcher, access_check still_allowed, std::function<bool(const realtime::message&)> scope,
    collection_leaf_check leaf_check, leaf_view as_seen) {
  realtime::filter f;
  f.limited = req.caller.limited;
  f.visible_owner = req.caller.user_id;
  f.allow = std::move(scope);
  std::string from = "now";
  std::optional<std::string> q_text;
  auto mode = search::match_mode::all;
  if (auto last = req.header("last-event-id"); !last.empty()) from = std::string(last);
  for (const auto& [k, v] : params) {
    if (k == "tag") {
      auto t = domain::normalize_tag(v, domain::limits{});
      if (!t) return make_error(errc::invalid_argument, "tag: " + t.err().message, "invalid_query");
      f.tag = *t;
    } else if (k == "user") {
      int64_t u = 0;
      auto r = std::from_chars(v.data(), v.data() + v.size(), u);
      if (r.ec != std::errc() || r.ptr != v.data() + v.size() || u < 0) {
        return make_error(errc::invalid_argument, "user must be a user id", "invalid_query");
      }
      f.user_id = u;
    } else if (k == "collection") {
      if (!f.allow) return make_error(errc::unavailable, "this server keeps no collections", "users_disabled");
    } else if (k == "from") {
      if (req.header("last-event-id").empty()) from = v;
    } else if (k == "q") {
      q_text = v;
    } else if (k == "match") {
      if (v != "all" && v != "any") return make_error(errc::invalid_argument, "match must be all or any", "invalid_query");
      mode = v == "any" ? search::match_mode::any : search::match_mode::all;
    } else {
      return make_error(errc::invalid_argument, "unknown query parameter: " + k, "invalid_query");
    }
  }
  std::optional<search::node> query;
  if (q_text) {
    if (!matcher || !*matcher || !store) {
      return make_error(errc::unavailable, "search is not enabled on this server", "search_disabled");
    }
    auto parsed = search::parse_query(*q_text, mode);
    if (!parsed) return parsed.err();
    query = std::move(*parsed);
  }
  auto searching = [&](const std::shared_ptr<log_stream>& src) {
    if (leaf_check && store) src->set_leaf_check(std::move(leaf_check), store);
    if (q_text) src->set_query(query, store, matcher, std::move(as_seen));
    if (still_allowed) {
      src->set_access_check(std::move(still_allowed));
      src->set_actor(req.caller.actor);
    }
    return std::shared_ptr<http::stream_source>(src);
  };
  std::vector<int64_t> cursor;
  bool catch_up = true;
  if (from == "now") {
    catch_up = false;
  } else if (from == "beginning" || from == "0") {
    cursor.assign(log.partitions(), 0);
  } else {
    auto c = parse_cursor(from, log.partitions());
    if (!c) return c.err();
    cursor = std::move(*c);
  }
  if (!catch_up) {
    // Subscribe first, then take the end: anything appended after this point
    // reaches the hub after the subscription exists.
    auto src = std::make_shared<log_stream>(log, hub, std::move(f), std::vector<int64_t>(log.partitions(), 0),
                                            false, std::move(strand));
    return searching(src);
  }
  return searching(std::make_shared<log_stream>(log, hub, std::move(f), std::move(cursor), true, std::move(strand)));
}

}  // namespace leaves::api
