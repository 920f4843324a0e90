// The ingest record decoder: what any Kafka producer may write to the ingest
// topic becomes a save command or a dead letter, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "leaves/ingest/ingest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string value(reinterpret_cast<const char*>(data), size);
  const leaves::domain::limits lim;
  (void)leaves::ingest::ingester::to_command(value, lim);
  return 0;
}
