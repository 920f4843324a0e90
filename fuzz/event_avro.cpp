// leaves' events in Avro (domain/event_avro.h), as every reader of the log
// decodes them (written by any version, or by a stranger on a Kafka topic):
// whatever the bytes, a decoded event or an error, never a crash; and what
// decodes encodes again to the same event.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "leaves/domain/event_avro.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace leaves::domain;
  static auto schema = [] {
    auto s = avro_event_schema::parse(event_avro_schema());
    if (!s) std::abort();  // the build's own schema must parse
    return *s;
  }();
  auto ev = schema->decode(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!ev) return 0;
  auto bytes = schema->encode(*ev);
  if (!bytes) std::abort();
  auto again = schema->decode(*bytes);
  if (!again || *again != *ev) std::abort();
  return 0;
}
