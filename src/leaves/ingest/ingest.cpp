#include "leaves/ingest/ingest.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <map>

#include "leaves/base/log.h"
#include "leaves/base/time.h"
#include "leaves/base/utf8.h"

namespace asio = boost::asio;
namespace json = boost::json;

namespace leaves::ingest {
namespace {

constexpr size_t kBatch = 500;

struct outcome {
  bool ok = false;
  error err{errc::internal, ""};
};

// Runs one command, retrying while the log is unavailable (never skipping it).
asio::awaitable<outcome> save(service::leaf_service* svc, domain::command cmd, const std::atomic<bool>* stop) {
  auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    auto r = co_await svc->execute(cmd, "ingest");
    if (r) co_return outcome{true, {}};
    if (r.err().code != errc::unavailable || stop->load()) co_return outcome{false, r.err()};
    asio::steady_timer t(co_await asio::this_coro::executor, backoff);
    co_await t.async_wait(asio::use_awaitable);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

// Appends and returns the error message, empty on success.
asio::awaitable<std::string> append_all(log::event_log* log, std::vector<log::record> recs) {
  auto r = co_await log->append(std::move(recs));
  co_return r ? std::string() : r.err().message;
}

}  // namespace

ingester::ingester(log::event_log& source, log::event_log& dlq, std::string source_topic, std::string group,
                   service::leaf_service& svc, asio::io_context& ioc, domain::limits lim,
                   std::unique_ptr<schema_registry> registry)
    : source_(source), dlq_(dlq), topic_(std::move(source_topic)), group_(std::move(group)), svc_(svc), ioc_(ioc),
      limits_(lim), registry_(std::move(registry)) {}

ingester::~ingester() { stop(); }

result<domain::command> ingester::to_command(const std::string& value, const domain::limits& lim) {
  json::parse_options po;
  po.max_depth = 32;
  boost::system::error_code ec;
  auto v = json::parse(value, ec, {}, po);
  if (ec) {
    // What the workshop's importer sends to its schemaless topic: str(dict).
    if (value.starts_with("{'") || value.starts_with("{u'")) {
      return make_error(errc::invalid_argument,
                        "a Python dict's repr (str(record)), not JSON: produce json.dumps(record), or Avro",
                        "python_repr");
    }
    return make_error(errc::invalid_argument, "not JSON: " + ec.message(), "invalid_json");
  }
  if (!v.is_object()) return make_error(errc::invalid_argument, "not a JSON object", "invalid_json");
  return to_command(v.get_object(), lim);
}

result<domain::command> ingester::to_command(const json::object& record, const domain::limits& lim) {
  return domain::save_command(record, lim, /*ignore_unknown=*/true, /*keep_id=*/true);
}

bool ingester::resolve_schemas(const std::vector<log::stored_record>& recs,
                               std::map<int32_t, result<std::shared_ptr<avro_decoder>>>& out) {
  if (!registry_) return true;
  for (const auto& r : recs) {
    const auto frame = parse_confluent_frame(r.value);
    if (!frame || out.count(frame->schema_id)) continue;
    auto backoff = std::chrono::milliseconds(200);
    for (;;) {
      auto d = registry_->decoder(frame->schema_id);
      if (d || d.err().code != errc::unavailable) {
        out.emplace(frame->schema_id, std::move(d));
        break;
      }
      ++stats_.registry_waits;
      log_warn("ingest", "waiting for the schema registry (" + d.err().message + "); retrying in " +
                             std::to_string(backoff.count()) + " ms");
      const auto until = std::chrono::steady_clock::now() + backoff;
      while (std::chrono::steady_clock::now() < until) {
        if (stop_) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
    }
  }
  return true;
}

status ingester::start() {
  std::lock_guard lk(lifecycle_mu_);
  if (stop_) return ok_status();
  auto c = source_.subscribe(group_);
  if (!c) return c.err();
  consumer_ = std::move(*c);
  thread_ = std::thread([this] { run(); });
  return ok_status();
}

void ingester::stop() {
  std::lock_guard lk(lifecycle_mu_);
  stop_ = true;
  if (consumer_) consumer_->wake();
  if (thread_.joinable()) thread_.join();
}


ingest_view ingester::view() const {
  // The topic's end as last known, without waiting (on Kafka a background
  // read refreshes it when it is older than 250 ms): asked only when the
  // operations page asks, so a broker away costs the ingester nothing.
  auto ends = source_.known_end_offsets();
  std::lock_guard lk(view_mu_);
  ingest_view v{topic_, group_, next_, std::move(ends), {recent_.begin(), recent_.end()}};
  if (v.next.size() < v.end.size()) v.next.resize(v.end.size(), -1);
  return v;
}

void ingester::run() {
  while (!stop_) {
    auto recs = consumer_->poll(kBatch, std::chrono::milliseconds(200));
    if (!recs) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    if (recs->empty()) continue;
    stats_.records += recs->size();
    {
      std::lock_guard lk(view_mu_);
      for (const auto& r : *recs) {
        if (r.partition < 0) continue;
        if (static_cast<size_t>(r.partition) >= next_.size()) next_.resize(r.partition + 1, -1);
        next_[r.partition] = std::max(next_[r.partition], r.offset + 1);
      }
    }
    std::vector<log::record> dead;
    std::vector<dead_letter> listed;  // for the operations page, once written
    std::vector<std::pair<size_t, std::future<outcome>>> running;
    auto reject = [&](const log::stored_record& r, const error& e) {
      log::record d;
      d.key = r.key;
      d.value = r.value;
      d.headers = {{"leaves-error-code", e.detail.empty() ? to_string(e.code) : e.detail},
                   {"leaves-error", e.message},
                   {"leaves-source-topic", topic_},
                   {"leaves-source-partition", std::to_string(r.partition)},
                   {"leaves-source-offset", std::to_string(r.offset)}};
      dead.push_back(std::move(d));
      dead_letter v;
      v.time_ms = system_clock().now_ms();
      v.partition = r.partition;
      v.offset = r.offset;
      v.key = utf8_repaired(r.key, 200);
      v.code = e.detail.empty() ? to_string(e.code) : e.detail;
      v.reason = utf8_repaired(e.message, 500);
      v.value = utf8_repaired(r.value, 200);
      listed.push_back(std::move(v));
    };
    std::map<int32_t, result<std::shared_ptr<avro_decoder>>> decoders;
    if (!resolve_schemas(*recs, decoders)) return;  // stopping: the batch is read again
    auto command_of = [&](const log::stored_record& r) -> result<domain::command> {
      const auto frame = parse_confluent_frame(r.value);
      if (!frame) return to_command(r.value, limits_);
      ++stats_.avro;
      if (!registry_) {
        return make_error(errc::invalid_argument,
                          "an Avro record (Confluent wire format, schema id " + std::to_string(frame->schema_id) +
                              ") but this server has no --schema-registry",
                          "avro_no_registry");
      }
      auto& d = decoders.at(frame->schema_id);
      if (!d) return d.err();
      auto obj = (*d)->decode(frame->payload);
      if (!obj) return obj.err();
      return to_command(*obj, limits_);
    };
    for (size_t i = 0; i < recs->size(); ++i) {
      auto cmd = command_of((*recs)[i]);
      if (!cmd) {
        reject((*recs)[i], cmd.err());
        continue;
      }
      // Commands on different leaves run concurrently; the service serialises same-leaf ones.
      // Each on a strand of its own: the service's waits (base/async_signal.h) need one.
      running.emplace_back(
          i, asio::co_spawn(asio::make_strand(ioc_), save(&svc_, std::move(*cmd), &stop_), asio::use_future));
    }
    for (auto& [i, f] : running) {
      auto o = f.get();
      if (o.ok) {
        ++stats_.saved;
      } else if (o.err.code == errc::unavailable) {
        return;  // stopping with the log down: leave the batch uncommitted, it is read again
      } else {
        reject((*recs)[i], o.err);
      }
    }
    if (!dead.empty()) {
      for (;;) {
        const std::string failure = asio::co_spawn(ioc_, append_all(&dlq_, dead), asio::use_future).get();
        if (failure.empty()) break;
        log_warn("ingest", "dead-letter write failed, retrying: " + failure);
        if (stop_) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
      stats_.dead_lettered += dead.size();  // before the list: whoever sees a dead letter sees it counted
      {
        std::lock_guard lk(view_mu_);
        for (auto& v : listed) {
          recent_.push_front(std::move(v));
          if (recent_.size() > kRecentDeadLetters) recent_.pop_back();
        }
      }
      log_warn("ingest", std::to_string(dead.size()) + " ingest records sent to the dead-letter topic");
    }
    std::map<int32_t, int64_t> next;
    for (const auto& r : *recs) next[r.partition] = std::max(next[r.partition], r.offset + 1);
    std::vector<log::position> commit;
    for (const auto& [p, o] : next) commit.push_back({p, o});
    if (auto st = consumer_->commit(commit); !st) log_warn("ingest", "commit failed: " + st.err().message);
  }
}

}  // namespace leaves::ingest
