// leaves' own events in Avro (--event-format avro; docs/avro.md "Events in
// Avro"). The schema, docs/schemas/avro/leaves-event.avsc, is derived from the
// JSON Schemas of docs/schemas by scripts/avro-schema; an event's Avro record
// carries exactly what its JSON object does (`present_fields` keeps "absent"
// apart from "null", free-form objects travel as JSON text), so both formats
// decode to the same JSON event and one parser (event_from_json and its user
// and group siblings) reads either.
//
// Record values are JSON (the first byte is '{') or the Confluent wire format
// (a 0 byte, the writer schema's registry id, big-endian, then Avro binary),
// so a log may hold both and a deployment can switch formats.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "leaves/base/result.h"

namespace leaves::domain {

// The schema this build writes events with.
std::string_view event_avro_schema();

// One Avro schema of events, parsed once into a tree of typed nodes. Encodes
// and decodes Avro binary by the specification's rules (zig-zag varints,
// length-prefixed strings, blocked arrays and maps, unions by branch index),
// for the types the events use and the rest of Avro's (enum, fixed, bytes,
// map, float) so a schema of another version reads too. Immutable, so shared
// across threads.
class avro_event_schema {
 public:
  // Errors: invalid_argument naming what is not a schema.
  static result<std::shared_ptr<const avro_event_schema>> parse(std::string_view schema_json);

  // Avro binary of one event object (event_to_json and its siblings). A
  // union's branch is chosen by the value's JSON kind, `data`'s by the event
  // type. Errors: invalid_argument naming the path that does not fit.
  result<std::string> encode(const boost::json::object& event) const;
  // The event object of Avro binary written with this schema. Bounded:
  // nesting, element counts and lengths are checked against the input.
  // Errors: invalid_argument ("avro_corrupt").
  result<boost::json::object> decode(std::string_view avro) const;

  static constexpr int kMaxDepth = 32;
  static constexpr int64_t kMaxElements = 1 << 20;

  ~avro_event_schema();
  struct node;  // one type, compiled (event_avro.cpp)

 private:
  avro_event_schema() = default;
  std::vector<std::unique_ptr<node>> nodes_;
  const node* root_ = nullptr;
};

// How this process writes the values of event records, and how it finds the
// writer schemas of Avro values. Set once at start, before any log is read
// (serve, replay, check); until then events are JSON and Avro values cannot
// be read.
struct event_format_config {
  bool write_avro = false;
  int32_t schema_id = 0;  // the registry id of event_avro_schema(), when known
  // The text of a registry schema id (GET /schemas/ids/{id}): not_found for
  // an unknown id, unavailable when the registry cannot answer now.
  std::function<result<std::string>(int32_t)> fetch_schema;
};
void configure_event_format(event_format_config config);

// The value of an event record: JSON text, or the Confluent wire format.
result<std::string> encode_event_value(const boost::json::object& event);
// The event object of a record value. Errors: invalid_argument (not an
// event: bad JSON, corrupt Avro, an id the registry does not have, no
// registry), unavailable (the registry cannot be asked now: ask again later,
// the record is not at fault).
result<boost::json::object> decode_event_value(std::string_view value);
// decode_event_value, asked again while the registry is unavailable (backoff
// from 100 ms to 5 s, a warning from `who` each time) until it answers or
// `stop` is set (then the unavailable error): for consumers that must not
// skip an event because the registry is away.
result<boost::json::object> decode_event_value_waiting(std::string_view value, const std::atomic<bool>& stop,
                                                       std::string_view who);

}  // namespace leaves::domain
