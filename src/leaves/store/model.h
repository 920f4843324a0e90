// What every read-store adapter computes the same way: whether a leaf answers
// a list query, and the tags a leaf counts for. Pure functions.
#pragma once

#include <algorithm>
#include <optional>
#include <set>
#include <string>

#include "leaves/domain/leaf.h"
#include "leaves/store/read_store.h"

namespace leaves::store {

// A live leaf that passes every filter of the query.
inline bool matches(const domain::leaf& l, const list_query& q) {
  if (l.deleted) return false;
  if (q.tag && (!l.tags || std::find(l.tags->begin(), l.tags->end(), *q.tag) == l.tags->end())) return false;
  if (q.user_id && l.user_id != q.user_id) return false;
  auto seen = [&](bool flag, uint8_t bit) { return q.marks ? q.marks->seen(flag, bit, l.id, l.user_id) : flag; };
  if (q.starred && seen(l.is_starred, domain::mark_starred) != *q.starred) return false;
  if (q.archived && seen(l.is_archived, domain::mark_archived) != *q.archived) return false;
  if (q.is_public && l.is_public != *q.is_public) return false;
  if (q.visible_to && !l.is_public && l.user_id != q.visible_to) return false;
  if (q.since_ms && l.created_at < *q.since_ms) return false;
  if (q.until_ms && l.created_at >= *q.until_ms) return false;
  return true;
}

// The tags a leaf contributes to the tag counts (none when absent or deleted).
inline std::set<std::string> live_tags(const std::optional<domain::leaf>& l) {
  std::set<std::string> out;
  if (l && !l->deleted && l->tags) out.insert(l->tags->begin(), l->tags->end());
  return out;
}

}  // namespace leaves::store
