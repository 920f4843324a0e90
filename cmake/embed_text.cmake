# Writes OUTPUT, a C++ file defining `std::string_view NAME()` that returns the
# bytes of INPUT. Run at build time so edits to INPUT rebuild the binary.
file(READ "${INPUT}" content)
string(FIND "${content}" ")EMBED\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )EMBED\"")
endif()
file(WRITE "${OUTPUT}" "// Generated from ${INPUT}; do not edit.\n#include <string_view>\nnamespace ${NAMESPACE} {\nstd::string_view ${NAME}() {\n  // An array, not a constexpr string_view: its length is not counted at\n  // compile time (GCC's constexpr loop limit stops at 262,144 characters).\n  static const char kText[] = R\"EMBED(${content})EMBED\";\n  return std::string_view(kText, sizeof(kText) - 1);\n}\n}  // namespace ${NAMESPACE}\n")
