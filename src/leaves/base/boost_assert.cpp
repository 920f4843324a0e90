// The hardening build's handler for Boost's assertions (LEAVES_SANITIZE
// defines BOOST_ENABLE_ASSERT_HANDLER for every target): a failed assertion
// aborts with its place and expression, as BOOST_ASSERT does by default,
// except one that Boost 1.81 gets wrong.
//
// Beast's basic_parser::parse_chunk_header asserts `n >= 5` when it is called
// again after the final chunk's "0\r\n" with fewer bytes than that: a client
// that sends "0\r\n" and then one byte more reaches it. The code after the
// assertion handles that case (it looks for the end of the trailers and asks
// for more), the assertion is wrong, and Beast fixed it in Boost 1.86
// (boostorg/beast pull request 2861). Release builds have no assertions; this
// build must not abort on it either, or the HTTP fuzzer finds it again.
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace boost {

void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file, long line) {
  if (std::strstr(file, "beast/http/impl/basic_parser.ipp") && std::strcmp(expr, "n >= 5") == 0) return;
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed%s%s\n", file, line, function, expr, msg ? ": " : "",
               msg ? msg : "");
  std::abort();
}

void assertion_failed(char const* expr, char const* function, char const* file, long line) {
  assertion_failed_msg(expr, nullptr, function, file, line);
}

}  // namespace boost
