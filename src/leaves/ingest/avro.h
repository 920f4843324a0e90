// Avro leaf records on the ingest topic, in the Confluent wire format: a 0
// byte, the writer schema's registry id (4 bytes, big-endian), then the record
// in Avro binary. The record is decoded with its writer schema, resolved by
// Avro's rules against leaves' reader schema (every field of the reference
// schema, data/leaves-record-schema.avsc, optional: a writer may add fields,
// drop them, promote numbers, use unions with null), and becomes the same JSON
// object a JSON record is, so both go through one save path.
//
// Decoding is Avro C's (Debian's libavro-dev 1.11): its resolver implements
// the resolution rules.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "leaves/base/result.h"

namespace leaves::ingest {

struct confluent_frame {
  int32_t schema_id = 0;
  std::string_view payload;
};

// The frame of a value in the Confluent wire format, or nullopt when the value
// is not one (JSON never starts with a 0 byte).
std::optional<confluent_frame> parse_confluent_frame(std::string_view value);

// Decodes records of one writer schema. Not thread-safe (it reuses one value).
class avro_decoder {
 public:
  // The writer schema as the registry gives it. Errors: invalid_argument with
  // detail "avro_schema_invalid" (not a schema, or not a record) or
  // "avro_schema_unresolvable" (its types cannot be read as a leaf record).
  static result<std::unique_ptr<avro_decoder>> make(std::string_view writer_schema_json);
  ~avro_decoder();
  avro_decoder(const avro_decoder&) = delete;
  avro_decoder& operator=(const avro_decoder&) = delete;

  // The record as a JSON object (null fields left out). Errors:
  // invalid_argument with detail "avro_corrupt".
  result<boost::json::object> decode(std::string_view payload);

 private:
  avro_decoder() = default;
  struct state;
  std::unique_ptr<state> s_;
};

// Encodes JSON values of one schema to Avro binary, for the REST Proxy's avro
// embedded format: the values are in Avro's JSON encoding (a union's value is
// null or {"<branch type name>": value}; bytes and fixed are strings of code
// points 0-255). A record field missing from the JSON is null when its type
// is a union with null, else an error (other defaults are not applied). Not
// thread-safe (it reuses one value).
class avro_encoder {
 public:
  // Errors: invalid_argument, detail "avro_schema_invalid".
  static result<std::unique_ptr<avro_encoder>> make(std::string_view schema_json);
  ~avro_encoder();
  avro_encoder(const avro_encoder&) = delete;
  avro_encoder& operator=(const avro_encoder&) = delete;

  // Errors: invalid_argument naming the path of the value that does not fit.
  result<std::string> encode(const boost::json::value& v);

 private:
  avro_encoder() = default;
  struct state;
  std::unique_ptr<state> s_;
};

// A Confluent wire-format value: 0, the schema id (big-endian), the Avro bytes.
std::string confluent_framed(int32_t schema_id, std::string_view avro);

}  // namespace leaves::ingest
