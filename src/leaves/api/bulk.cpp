#include "leaves/api/handlers.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

namespace leaves::api {

asio::awaitable<void> bulk::bulk_item(std::shared_ptr<api::impl> self, std::shared_ptr<bulk_state> st, size_t i,
                                      domain::command cmd) {
  auto w = co_await self->c.execute(std::move(cmd));
  auto& out = st->results[i];
  if (!w) {
    out["status"] = "rejected";
    out["error"] = json::object{{"code", w.err().detail.empty() ? to_string(w.err().code) : w.err().detail},
                                {"message", w.err().message}};
  } else {
    out["status"] = w->created ? "created" : w->changed ? "updated" : "unchanged";
    if (w->position) {
      auto& off = st->last[w->position->partition];
      off = std::max(off, w->position->offset);
    }
  }
  if (--st->remaining == 0) st->done->notify();
}

asio::awaitable<response> bulk::v1_bulk(const request& req, std::shared_ptr<api::impl> self) {
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  const auto* items = body->if_contains("items");
  if (!items || !items->is_array()) {
    co_return error_to_response(make_error(errc::invalid_argument, "items: required array", "invalid_field"));
  }
  const auto& arr = items->get_array();
  if (arr.size() > o.max_bulk_items) {
    co_return error_to_response(make_error(errc::invalid_argument,
                                           "items: at most " + std::to_string(o.max_bulk_items) + " per request",
                                           "invalid_field"));
  }
  auto ex = co_await asio::this_coro::executor;
  auto st = std::make_shared<bulk_state>();
  st->results.resize(arr.size());
  st->done = std::make_shared<async_signal>(ex);
  std::vector<std::pair<size_t, domain::command>> cmds;
  for (size_t i = 0; i < arr.size(); ++i) {
    auto& out = st->results[i];
    out["index"] = i;
    auto reject = [&](const error& e) {
      out["status"] = "rejected";
      out["error"] = json::object{{"code", e.detail.empty() ? to_string(e.code) : e.detail}, {"message", e.message}};
    };
    if (!arr[i].is_object()) {
      reject(make_error(errc::invalid_argument, "entry is not a JSON object", "invalid_field"));
      continue;
    }
    auto cmd = domain::save_command(arr[i].get_object(), o.limits, /*ignore_unknown=*/true, /*keep_id=*/true);
    if (!cmd) {
      reject(cmd.err());
      continue;
    }
    out["id"] = cmd->leaf_id;
    c.stamp(*cmd, req);
    cmds.emplace_back(i, std::move(*cmd));
  }
  st->remaining = cmds.size();
  // All entries run concurrently on this strand, so their appends share fsyncs.
  for (auto& [i, cmd] : cmds) {
    asio::co_spawn(ex, bulk_item(self, st, i, std::move(cmd)), asio::detached);
  }
  while (st->remaining > 0) co_await st->done->wait(std::chrono::seconds(60));
  json::object summary{{"created", 0}, {"updated", 0}, {"unchanged", 0}, {"rejected", 0}};
  json::array results;
  for (auto& r : st->results) {
    summary[r["status"].as_string()].as_int64() += 1;
    results.push_back(std::move(r));
  }
  summary["results"] = std::move(results);
  response r = json_response(200, json::serialize(summary));
  if (!st->last.empty()) {
    // Every partition the batch wrote to, so one Leaves-Min-Position covers it all.
    std::string pos;
    for (const auto& [p, off] : st->last) {
      if (!pos.empty()) pos += ',';
      pos += projector::format_position({p, off});
    }
    r.headers.emplace_back("Leaves-Position", pos);
  }
  co_return r;
}

}  // namespace leaves::api
