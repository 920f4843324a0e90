// A client of a Schema Registry's Confluent-compatible API, for the writer
// schemas of Avro records on the ingest topic: GET {url}/schemas/ids/{id},
// each id asked once and its decoder kept (a schema id never changes what it
// names). Blocking (libcurl), bounded: 2 s to connect, 10 s a request, 1 MiB
// an answer. Used from the ingester's own thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "leaves/base/result.h"
#include "leaves/ingest/avro.h"

namespace leaves::ingest {

class schema_registry {
 public:
  explicit schema_registry(std::string base_url);

  // The decoder of writer schema `id`. Errors: not_found (detail
  // "avro_unknown_schema": the registry has no such id) and the decoder's own
  // (the schema is no record, or cannot be read as a leaf record) are the
  // record's fault; unavailable (the registry unreachable, or answering 5xx)
  // is not, and the caller waits and asks again.
  // Shared: a batch keeps its decoders while the cache evicts.
  result<std::shared_ptr<avro_decoder>> decoder(int32_t id);
  // Registers `schema` (Avro JSON) under `subject` (POST
  // {url}/subjects/{subject}/versions), or finds it there: its id. Errors:
  // conflict (detail "schema_incompatible": the subject's compatibility rule
  // refuses it), invalid_argument ("avro_schema_invalid"), unavailable.
  // Each (subject, schema) asked once.
  result<int32_t> register_schema(const std::string& subject, const std::string& schema);
  // A subject's version (a number, or "latest"): its id and schema (GET
  // {url}/subjects/{subject}/versions/{version}). Errors: not_found (no such
  // subject or version), invalid_argument (not Avro), unavailable.
  result<std::pair<int32_t, std::string>> subject_version(const std::string& subject, const std::string& version);
  // The schema of id `id` (GET {url}/schemas/ids/{id}).
  result<std::string> schema_text(int32_t id) { return fetch_schema(id); }
  const std::string& url() const { return url_; }

  static constexpr size_t kMaxCached = 1000;

 private:
  result<std::string> fetch_schema(int32_t id);
  // The schema text of an answer {"schema": ..., "schemaType": ...}.
  static result<std::string> schema_of(const std::string& where, const std::string& text, const std::string& what);
  static std::string path_segment(const std::string& s);
  // One request: its status and body, or unavailable.
  result<std::pair<long, std::string>> call(const std::string& where, const std::string* post_body);
  std::map<std::pair<std::string, std::string>, int32_t> registered_;  // (subject, digest) -> id
  std::string url_;
  std::map<int32_t, std::shared_ptr<avro_decoder>> cache_;
};

}  // namespace leaves::ingest
