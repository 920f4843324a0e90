// The Xapian document the index keeps for a leaf (terms, values, data), for
// code outside the index that must build exactly the same documents: the
// search benchmark's raw-Xapian baseline.
#pragma once

#include <xapian.h>

#include "leaves/domain/leaf.h"

namespace leaves::search {

Xapian::Document leaf_document(const domain::leaf& l, Xapian::TermGenerator& tg);

}  // namespace leaves::search
