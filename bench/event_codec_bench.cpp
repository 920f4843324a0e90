// The cost of an event's record value, JSON against Avro (--event-format):
// encode (event object -> value) and decode (value -> event object -> the
// parsed event, what every reader of the log does), per event, for a
// leaf.created with a page of text and a leaf.tags_added.
//   build/leaves_bench_event_codec [N]   (default 200000 of each)
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "leaves/domain/event_avro.h"
#include "leaves/domain/events.h"

namespace json = boost::json;
using namespace leaves::domain;

namespace {

json::object sample(const char* type) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Every write is an event in the log, and the tables are views of it. ";
  json::object leaf{{"url", "https://example.com/articles/event-sourcing"}, {"title", "Event sourcing, again"},
                    {"content", "<p>" + text + "</p>"}, {"content_text", text},
                    {"tags", json::array{"kafka", "cassandra", "streaming"}},
                    {"slugs", json::array{"kafka", "cassandra", "streaming"}}, {"all", json::array{}},
                    {"links", json::array{"https://kafka.apache.org/"}}, {"domain_name", "https://example.com"},
                    {"is_archived", false}, {"is_starred", true}, {"is_public", true},
                    {"created_at", "2026-01-15T09:30:00.000Z"}, {"updated_at", "2026-01-15T09:30:00.000Z"},
                    {"user_id", 42}, {"user_name", "ann"}, {"user_email", "ann@example.com"},
                    {"mimetype", "text/html"}, {"language", "en"}, {"reading_time", 2},
                    {"preview_picture", nullptr}, {"http_status", "200"}, {"published_at", nullptr},
                    {"published_by", nullptr}};
  json::object ev{{"event_id", "0b6f1c526a0e4d559a437f3a8e2c9d10"}, {"type", type}, {"schema_version", 1},
                  {"aggregate_id", "a631a7e661ad3c12df54cd1217800f5f"}, {"aggregate_version", 1},
                  {"time", "2026-01-15T09:30:00.000Z"}, {"actor", "ann"},
                  {"context", json::object{{"tags", json::array{"kafka", "cassandra", "streaming"}},
                                           {"user_id", 42}, {"is_public", true}}}};
  if (std::string_view(type) == "leaf.created") ev["data"] = json::object{{"leaf", leaf}};
  else ev["data"] = json::object{{"tags", json::array{"streaming"}}};
  return ev;
}

double per_event_us(std::chrono::steady_clock::time_point t0, int n) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 200000;
  std::printf("| event | format | value bytes | encode us/event | decode+parse us/event |\n|---|---|---|---|---|\n");
  for (const char* type : {"leaf.created", "leaf.tags_added"}) {
    const auto ev = sample(type);
    for (bool avro : {false, true}) {
      configure_event_format({.write_avro = avro, .schema_id = 1, .fetch_schema = nullptr});
      std::string value;
      size_t sink = 0;
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < n; ++i) {
        auto v = encode_event_value(ev);
        if (!v) return std::fprintf(stderr, "encode: %s\n", v.err().message.c_str()), 1;
        sink += v->size();
        if (i == 0) value = std::move(*v);
      }
      const double enc = per_event_us(t0, n);
      t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < n; ++i) {
        auto o = decode_event_value(value);
        if (!o) return std::fprintf(stderr, "decode: %s\n", o.err().message.c_str()), 1;
        auto parsed = event_from_json(*o);
        if (!parsed) return std::fprintf(stderr, "parse: %s\n", parsed.err().message.c_str()), 1;
        sink += parsed->aggregate_version;
      }
      const double dec = per_event_us(t0, n);
      std::printf("| %s | %s | %zu | %.2f | %.2f |\n", type, avro ? "Avro" : "JSON", value.size(), enc, dec);
      if (sink == 0) std::printf("\n");
    }
  }
  return 0;
}
