// JSON leaf decoding, as a POST body or an import line is read: parse, the
// save command and the patch, then the aggregate decides and applies what
// that command makes. The events it makes must survive their wire form.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "leaves/domain/events.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace json = boost::json;
  using namespace leaves::domain;
  boost::system::error_code ec;
  json::parse_options po;
  po.max_depth = 64;
  auto v = json::parse(json::string_view(reinterpret_cast<const char*>(data), size), ec, {}, po);
  if (ec || !v.is_object()) return 0;
  const limits lim;
  (void)parse_patch(v.get_object(), lim, /*ignore_unknown=*/true);
  auto cmd = save_command(v.get_object(), lim, /*ignore_unknown=*/false, /*keep_id=*/true);
  if (!cmd) return 0;
  context ctx;
  ctx.now_ms = 1700000000000;
  auto events = decide(std::nullopt, *cmd, ctx);
  if (!events) return 0;
  std::optional<leaf> state;
  for (auto& ev : *events) {
    ev.event_id = "fuzz";
    auto back = event_from_json(event_to_json(ev));
    if (!back) std::abort();  // an event the service made does not decode
    if (json::serialize(event_to_json(*back)) != json::serialize(event_to_json(ev))) std::abort();
    if (!leaves::domain::apply(state, *back)) std::abort();
  }
  if (state) {
    auto again = leaf_from_json(leaf_to_json(*state));
    if (!again || !(*again == *state)) std::abort();  // a stored leaf does not read back
  }
  return 0;
}
