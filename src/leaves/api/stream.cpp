#include "leaves/api/stream.h"

#include <boost/json.hpp>
#include <charconv>

#include "leaves/domain/leaf.h"
#include "leaves/projector/progress.h"

namespace asio = boost::asio;
namespace json = boost::json;

namespace leaves::api {
namespace {

constexpr size_t kCatchUpBatch = 256;

class log_stream final : public http::stream_source {
 public:
  log_stream(log::event_log& log, realtime::hub& hub, realtime::filter f, std::vector<int64_t> cursor,
             bool catch_up, asio::any_io_executor strand)
      : log_(log), hub_(hub), cursor_(std::move(cursor)), catching_up_(catch_up) {
    signal_ = std::make_shared<async_signal>(std::move(strand));
    sub_ = hub_.subscribe(std::move(f), signal_);
    sub_->set_catching_up(catch_up);
    // "now": take the log end only after subscribing, so anything appended
    // later reaches the hub while we listen.
    if (!catch_up) cursor_ = log_.end_offsets();
  }
  ~log_stream() override { hub_.unsubscribe(sub_); }

  asio::awaitable<std::vector<http::stream_event>> next(std::chrono::milliseconds heartbeat,
                                                         std::string& end_reason) override {
    std::vector<http::stream_event> out;
    while (catching_up_) {
      if (catch_up_step(out)) co_return out;
    }
    for (int round = 0; round < 2; ++round) {
      std::string reason;
      auto msgs = sub_->take(reason);
      for (const auto& m : msgs) emit(*m, out);
      if (!reason.empty()) {
        end_reason = reason;
        co_return out;
      }
      if (!out.empty() || round == 1) break;
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
  bool catch_up_step(std::vector<http::stream_event>& out) {
    size_t read = 0;
    for (int32_t p = 0; p < static_cast<int32_t>(cursor_.size()) && out.size() < kCatchUpBatch; ++p) {
      auto recs = log_.read(p, cursor_[p], kCatchUpBatch);
      if (!recs) break;  // a read error ends catch-up; live events still flow
      for (const auto& r : *recs) {
        ++read;
        boost::system::error_code ec;
        auto j = json::parse(r.value, ec);
        auto ev = !ec && j.is_object() ? domain::event_from_json(j.get_object())
                                       : result<domain::event>(make_error(errc::invalid_argument, "bad"));
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
    return !out.empty();
  }

  void emit(const realtime::message& m, std::vector<http::stream_event>& out) {
    if (m.partition < 0 || static_cast<size_t>(m.partition) >= cursor_.size()) return;
    if (m.offset < cursor_[m.partition]) return;  // already sent (catch-up/live overlap)
    cursor_[m.partition] = m.offset + 1;
    if (!sub_->flt().matches(m)) return;
    http::stream_event e;
    e.id = format_cursor(cursor_);
    e.event = m.type;
    e.data.reserve(m.json_body.size() + e.id.size() + 16);
    e.data = m.json_body;
    e.data += ",\"cursor\":\"";
    e.data += e.id;
    e.data += "\"}";
    out.push_back(std::move(e));
  }

  log::event_log& log_;
  realtime::hub& hub_;
  std::shared_ptr<async_signal> signal_;
  std::shared_ptr<realtime::subscriber> sub_;
  std::vector<int64_t> cursor_;
  bool catching_up_;
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
    asio::any_io_executor strand, log::event_log& log, realtime::hub& hub) {
  realtime::filter f;
  std::string from = "now";
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
    } else if (k == "from") {
      if (req.header("last-event-id").empty()) from = v;
    } else {
      return make_error(errc::invalid_argument, "unknown query parameter: " + k, "invalid_query");
    }
  }
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
    return std::shared_ptr<http::stream_source>(src);
  }
  return std::shared_ptr<http::stream_source>(
      std::make_shared<log_stream>(log, hub, std::move(f), std::move(cursor), true, std::move(strand)));
}

}  // namespace leaves::api
