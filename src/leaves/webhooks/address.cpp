#include "leaves/webhooks/address.h"

#include <array>
#include <cstdint>

namespace leaves::webhooks {
namespace {

struct v4_range {
  uint32_t net;
  int bits;
  const char* why;
};

constexpr uint32_t ip4(int a, int b, int c, int d) {
  return (uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | uint32_t(d);
}

// IANA's special-purpose registry, the ranges no public service lives in.
constexpr std::array<v4_range, 15> kV4 = {{
    {ip4(0, 0, 0, 0), 8, "unspecified"},
    {ip4(10, 0, 0, 0), 8, "private"},
    {ip4(100, 64, 0, 0), 10, "shared (carrier-grade NAT)"},
    {ip4(127, 0, 0, 0), 8, "loopback"},
    {ip4(169, 254, 0, 0), 16, "link-local"},
    {ip4(172, 16, 0, 0), 12, "private"},
    {ip4(192, 0, 0, 0), 24, "IETF protocol assignment"},
    {ip4(192, 0, 2, 0), 24, "documentation"},
    {ip4(192, 88, 99, 0), 24, "6to4 relay"},
    {ip4(192, 168, 0, 0), 16, "private"},
    {ip4(198, 18, 0, 0), 15, "benchmarking"},
    {ip4(198, 51, 100, 0), 24, "documentation"},
    {ip4(203, 0, 113, 0), 24, "documentation"},
    {ip4(224, 0, 0, 0), 4, "multicast"},
    {ip4(240, 0, 0, 0), 4, "reserved"},
}};

std::optional<std::string> internal_v4(const boost::asio::ip::address_v4& a) {
  const uint32_t x = a.to_uint();
  for (const auto& r : kV4) {
    const uint32_t mask = r.bits == 0 ? 0 : ~uint32_t(0) << (32 - r.bits);
    if ((x & mask) == r.net) return std::string(r.why);
  }
  return std::nullopt;  // 255.255.255.255 is inside 240/4
}

}  // namespace

std::optional<std::string> internal_address(const boost::asio::ip::address& a) {
  if (a.is_v4()) return internal_v4(a.to_v4());
  const auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return internal_v4(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6));
  const auto b = v6.to_bytes();
  if (v6.is_unspecified()) return std::string("unspecified");
  if (v6.is_loopback()) return std::string("loopback");
  if (b[0] == 0xff) return std::string("multicast");
  if ((b[0] & 0xfe) == 0xfc) return std::string("private (unique local)");
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return std::string("link-local");
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return std::string("site-local");
  // ::/96 (IPv4-compatible, deprecated), 64:ff9b::/96 (NAT64, may reach inside),
  // 2001:db8::/32 (documentation), 2002::/16 (6to4, wraps any IPv4 address).
  bool zero96 = true;
  for (int i = 0; i < 12; ++i) zero96 = zero96 && b[i] == 0;
  if (zero96) return std::string("IPv4-compatible");
  auto v4_at = [&](size_t i) {
    return boost::asio::ip::address_v4(boost::asio::ip::address_v4::bytes_type{b[i], b[i + 1], b[i + 2], b[i + 3]});
  };
  // Wrappings of an IPv4 address are judged by the address they wrap (an
  // IPv6-only network reaches public IPv4 sites through NAT64).
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
    bool zero = true;
    for (int i = 4; i < 12; ++i) zero = zero && b[i] == 0;
    if (!zero) return std::string("NAT64 (local use)");
    return internal_v4(v4_at(12));
  }
  if (b[0] == 0x20 && b[1] == 0x02) return internal_v4(v4_at(2));  // 6to4
  bool translated = b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0;  // ::ffff:0:a.b.c.d
  for (int i = 0; i < 8; ++i) translated = translated && b[i] == 0;
  if (translated) return internal_v4(v4_at(12));
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return std::string("documentation");
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) return std::string("Teredo");
  return std::nullopt;
}

}  // namespace leaves::webhooks
