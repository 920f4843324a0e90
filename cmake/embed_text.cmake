# Writes OUTPUT, a C++ file defining `std::string_view NAME()` that returns the
# bytes of INPUT. Run at build time so edits to INPUT rebuild the binary.
file(READ "${INPUT}" content)
string(FIND "${content}" ")EMBED\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )EMBED\"")
endif()
file(WRITE "${OUTPUT}" "// Generated from ${INPUT}; do not edit.\n#include <string_view>\nnamespace ${NAMESPACE} {\nstd::string_view ${NAME}() {\n  static constexpr std::string_view kText = R\"EMBED(${content})EMBED\";\n  return kText;\n}\n}  // namespace ${NAMESPACE}\n")
