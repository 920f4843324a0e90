#include <gtest/gtest.h>

#include "leaves/base/hash.h"
#include "leaves/base/time.h"

namespace leaves {
namespace {

// Kafka's UtilsTest.testMurmur2 vectors: the Java client's partitioner output.
TEST(Murmur2, MatchesKafkaJavaClient) {
  const std::pair<const char*, int32_t> cases[] = {
      {"21", -973932308},
      {"foobar", -790332482},
      {"a-little-bit-long-string", -985981536},
      {"a-little-bit-longer-string", -1486304829},
      {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
      {"abc", 479470107},
  };
  for (const auto& [key, want] : cases) EXPECT_EQ(kafka_murmur2(key), want) << "key " << key;
}

TEST(Murmur2, PartitionUsesToPositiveNotAbs) {
  // toPositive(-790332482) = 1357151166; 1357151166 % 50 = 16.
  EXPECT_EQ(kafka_partition("foobar", 50), 16);
  for (int n : {1, 3, 8, 12}) {
    const int p = kafka_partition("some-leaf-id", n);
    EXPECT_GE(p, 0);
    EXPECT_LT(p, n);
  }
}

TEST(Md5, Rfc1321Vectors) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5_hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(md5_hex("abcdefghijklmnopqrstuvwxyz"), "c3fcd3d76192e4007dfb496cca67e13b");
  EXPECT_EQ(md5_hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
            "57edf4a22be3c955ac49da2e2107b67a");
}

TEST(Base64Url, RoundTripsEveryLength) {
  std::string data;
  for (int i = 0; i < 40; ++i) {
    const auto enc = base64url_encode(data);
    std::string dec;
    ASSERT_TRUE(base64url_decode(enc, dec)) << enc;
    EXPECT_EQ(dec, data);
    data.push_back(static_cast<char>(i * 37 + 200));
  }
  std::string out;
  EXPECT_FALSE(base64url_decode("a", out));
  EXPECT_FALSE(base64url_decode("ab+c", out));
}

TEST(Base64Url, RefusesTextsThatAreNotTheCanonicalEncoding) {
  std::string out;
  ASSERT_TRUE(base64url_decode("YWJjZA", out));
  EXPECT_EQ(out, "abcd");
  EXPECT_FALSE(base64url_decode("YWJjZG", out)) << "non-zero bits past the last byte decode to \"abcd\" too";
  EXPECT_FALSE(base64url_decode("YWJjZGV", out)) << "the last character leaves non-zero bits";
  ASSERT_TRUE(base64url_decode("YWJjZGU", out));
  EXPECT_EQ(out, "abcde");
}

TEST(Iso8601, FormatsAndParses) {
  EXPECT_EQ(format_iso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_iso8601(1564782312000), "2019-08-02T21:45:12.000Z");
  EXPECT_EQ(parse_iso8601("2019-08-02T21:45:12Z"), 1564782312000);
  EXPECT_EQ(parse_iso8601("2019-08-02T21:45:12.5Z"), 1564782312500);
  EXPECT_FALSE(parse_iso8601("2026-02-30").has_value());  // refused, not rolled over
  EXPECT_FALSE(parse_iso8601("2025-02-29T00:00:00Z").has_value());
  EXPECT_TRUE(parse_iso8601("2024-02-29").has_value());
  EXPECT_EQ(parse_iso8601("2019-08-02T23:45:12+02:00"), 1564782312000);
  EXPECT_EQ(parse_iso8601("2019-08-02"), 1564704000000);
  EXPECT_FALSE(parse_iso8601("2019-13-02"));
  EXPECT_FALSE(parse_iso8601("yesterday"));
  EXPECT_FALSE(parse_iso8601("2019-08-02T21:45:12Zjunk"));
}

}  // namespace
}  // namespace leaves
