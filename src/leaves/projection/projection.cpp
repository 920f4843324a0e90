#include "leaves/projection/projection.h"

namespace leaves::projection {

leaf_step fold_leaf(const std::optional<domain::leaf>& state, const domain::event& ev) {
  leaf_step out;
  const int64_t have = state ? state->version : 0;
  if (ev.aggregate_version <= have) return out;  // already applied: replay
  out.next = state;
  if (ev.aggregate_version != have + 1) {
    // A gap means events of this leaf were lost upstream; applying the later
    // event on top of what we have is the best available state.
    if (out.next) out.next->version = ev.aggregate_version - 1;
  }
  if (!domain::apply(out.next, ev)) {
    if (ev.type == domain::event_type::deleted && state && state->deleted) {
      // A delete whose removal landed before a crash (the Cassandra store
      // removes rows before it records the tombstone): record its version.
      out.next = state;
      out.next->version = ev.aggregate_version;
      out.skip = false;
      return out;
    }
    out.next.reset();
    return out;
  }
  out.skip = false;
  return out;
}

}  // namespace leaves::projection
