// Which addresses a server may be made to connect to by a URL a user gave
// (a webhook's target): not loopback, private, link-local, shared (CGNAT),
// multicast, reserved or unspecified ones, in IPv4 or IPv6 (an IPv4 address
// mapped into IPv6 is judged as IPv4). Checked on each address a name
// resolves to, and the connection goes to the address checked, so a name
// that resolves differently the second time cannot slip past.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string>

namespace leaves::webhooks {

// Why `a` is internal ("loopback", "private", ...), or nullopt for a public address.
std::optional<std::string> internal_address(const boost::asio::ip::address& a);

}  // namespace leaves::webhooks
