// Avro leaf records (ingest/avro.h): whatever bytes follow a schema id in the
// Confluent frame decode to a leaf record, a save command or a dead letter,
// never a crash, under the reference writer schema and an evolved one (an
// enum, a promoted int, a field leaves does not know).
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "leaves/ingest/avro.h"
#include "leaves/ingest/ingest.h"

namespace {

const char* kEvolved = R"({"type": "record", "name": "Leaves", "namespace": "org.anant.demo.leaves", "fields": [
  {"name": "url", "type": "string"}, {"name": "title", "type": ["null", "string"], "default": null},
  {"name": "created_at", "type": "int"}, {"name": "tags", "type": {"type": "array", "items": "string"}},
  {"name": "language", "type": {"type": "enum", "name": "Lang", "symbols": ["en", "de"]}},
  {"name": "extra", "type": {"type": "map", "values": "long"}}]})";

std::unique_ptr<leaves::ingest::avro_decoder> make(const std::string& schema) {
  auto d = leaves::ingest::avro_decoder::make(schema);
  if (!d) __builtin_trap();  // the harness's own schemas must resolve
  return std::move(*d);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto reference = [] {
    std::ifstream in(LEAVES_SOURCE_DIR "/data/leaves-record-schema.avsc");
    std::stringstream ss;
    ss << in.rdbuf();
    return make(ss.str());
  }();
  static auto evolved = make(kEvolved);
  if (size == 0) return 0;
  // The first byte picks the writer schema; the rest is the record.
  auto& d = data[0] & 1 ? *evolved : *reference;
  auto o = d.decode(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  if (o) (void)leaves::ingest::ingester::to_command(*o, leaves::domain::limits{});
  return 0;
}
