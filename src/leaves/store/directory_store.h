// The DirectoryStore port: the read model of users, teams and collections
// (and each user's marks of others' leaves), projected from the log by the
// directory (auth/directory.h) and loaded by it at start, so a server starts
// from the model and reads only the log after the model's positions instead
// of the whole log. `leaves replay` rebuilds it. Adapters:
// store/embedded/rocks_directory_store (under <data-dir>/directory) and the
// Cassandra store's tables (docs/cassandra.md "Users, teams and collections").
//
// Contract (tests/contract/directory_store_contract.cpp runs it against every
// adapter):
// - save() writes the rows, then the positions they are valid through: a
//   model loaded after any crash holds every aggregate at least as new as
//   its positions say (the embedded store writes both in one batch;
//   Cassandra writes the rows first).
// - Rows and positions only move forward: a row older than the one stored
//   (by its version) and positions behind the stored ones are ignored, so
//   several servers of one deployment may all save into one Cassandra
//   keyspace in any order.
// - A mark row with marks == 0 removes the mark.
// Thread-safety: one directory calls it, from one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "leaves/base/result.h"

namespace leaves::store {

enum class directory_kind : uint8_t { user, team, collection, mark };

struct directory_row {
  directory_kind kind = directory_kind::user;
  std::string id;      // the user's name, the team's or collection's id; a mark: its user's name
  std::string leaf;    // a mark: the leaf's id
  int64_t version = 0;  // the aggregate's version (a mark: its user's at the mark)
  std::string state;   // the aggregate's JSON (domain/state_json.h); a mark: empty
  uint8_t marks = 0;   // a mark: domain::mark_bits; 0 removes it
  bool operator==(const directory_row&) const = default;
};

struct directory_snapshot {
  std::vector<int64_t> next;  // per log partition: the offset of the next record to apply
  std::vector<directory_row> rows;
};

class directory_store {
 public:
  virtual ~directory_store() = default;
  // Everything saved, or nullopt when nothing was (a new or cleared model).
  virtual result<std::optional<directory_snapshot>> load() = 0;
  virtual status save(const std::vector<directory_row>& rows, const std::vector<int64_t>& next) = 0;
  virtual status clear() = 0;
  // Where the model is, for logs ("DIR/directory", "Cassandra keyspace K").
  virtual std::string where() const = 0;
  // Whether other servers may save into it too (Cassandra): it is then never
  // cleared by a server at start, only by `leaves replay`.
  virtual bool shared() const { return false; }
};

}  // namespace leaves::store
