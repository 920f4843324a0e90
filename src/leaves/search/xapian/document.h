// The Xapian document the index keeps for a leaf (terms, values, data), for
// code outside the index that must build exactly the same documents: the
// search benchmark's raw-Xapian baseline.
#pragma once

#include <xapian.h>

#include "leaves/domain/leaf.h"

namespace leaves::search {

// New tags, users and hosts are numbered in `db`'s metadata, as the index does.
// One database per process (the numbering is kept in a static).
Xapian::Document leaf_document(const domain::leaf& l, Xapian::TermGenerator& tg, Xapian::WritableDatabase& db);

}  // namespace leaves::search
