// The event envelope, as the projector and the stream's catch-up read records
// from the log (written by any version, or by a stranger on a Kafka topic).
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "leaves/domain/events.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace json = boost::json;
  using namespace leaves::domain;
  boost::system::error_code ec;
  auto v = json::parse(json::string_view(reinterpret_cast<const char*>(data), size), ec);
  if (ec || !v.is_object()) return 0;
  auto ev = event_from_json(v.get_object());
  if (!ev) return 0;
  // Accepted once, accepted again from its own canonical form, unchanged.
  const auto canonical = json::serialize(event_to_json(*ev));
  auto again = event_from_json(event_to_json(*ev));
  if (!again || json::serialize(event_to_json(*again)) != canonical) std::abort();
  (void)changed_fields(*ev);
  std::optional<leaf> state;
  (void)leaves::domain::apply(state, *ev);
  return 0;
}
