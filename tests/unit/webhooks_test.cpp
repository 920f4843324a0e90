// Webhooks: the internal-address policy, the signature, the webhook events
// of the user aggregate, and a POST refused before it connects.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include "leaves/auth/token.h"
#include "leaves/domain/user.h"
#include "leaves/webhooks/address.h"
#include "leaves/webhooks/post.h"

namespace leaves {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

std::string why(const char* a) { return webhooks::internal_address(asio::ip::make_address(a)).value_or("public"); }

TEST(WebhookAddress, InternalRangesAreNamedAndPublicOnesPass) {
  EXPECT_EQ(why("127.0.0.1"), "loopback");
  EXPECT_EQ(why("127.255.1.2"), "loopback");
  EXPECT_EQ(why("10.9.8.7"), "private");
  EXPECT_EQ(why("172.16.0.1"), "private");
  EXPECT_EQ(why("172.31.255.255"), "private");
  EXPECT_EQ(why("172.32.0.1"), "public");
  EXPECT_EQ(why("192.168.1.1"), "private");
  EXPECT_EQ(why("169.254.169.254"), "link-local");  // cloud metadata
  EXPECT_EQ(why("100.64.0.1"), "shared (carrier-grade NAT)");
  EXPECT_EQ(why("0.0.0.0"), "unspecified");
  EXPECT_EQ(why("224.0.0.1"), "multicast");
  EXPECT_EQ(why("255.255.255.255"), "reserved");
  EXPECT_EQ(why("8.8.8.8"), "public");
  EXPECT_EQ(why("1.1.1.1"), "public");
  EXPECT_EQ(why("::1"), "loopback");
  EXPECT_EQ(why("::"), "unspecified");
  EXPECT_EQ(why("::ffff:127.0.0.1"), "loopback");  // IPv4-mapped: judged as IPv4
  EXPECT_EQ(why("::ffff:10.0.0.1"), "private");
  EXPECT_EQ(why("::ffff:8.8.8.8"), "public");
  EXPECT_EQ(why("fd00::1"), "private (unique local)");
  EXPECT_EQ(why("fe80::1"), "link-local");
  EXPECT_EQ(why("ff02::1"), "multicast");
  // Wrappings of IPv4 are judged by what they wrap.
  EXPECT_EQ(why("64:ff9b::7f00:1"), "loopback");
  EXPECT_EQ(why("64:ff9b::808:808"), "public");  // NAT64 to 8.8.8.8
  EXPECT_EQ(why("2002:7f00:1::"), "loopback");    // 6to4 of 127.0.0.1
  EXPECT_EQ(why("2002:808:808::1"), "public");
  EXPECT_EQ(why("::ffff:0:a00:1"), "private");     // IPv4-translated 10.0.0.1
  EXPECT_EQ(why("2001:4860:4860::8888"), "public");
}

TEST(WebhookSignature, HmacSha256MatchesRfc4231) {
  // RFC 4231, test case 2.
  EXPECT_EQ(auth::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(auth::random_hex(32).size(), 64u);
  EXPECT_NE(auth::random_hex(6), auth::random_hex(6));
}

domain::user_command hook_cmd(domain::user_command_kind k, std::string id, std::string url = "https://h.example/x") {
  domain::user_command c;
  c.kind = k;
  c.name = "ann";
  c.webhook.id = std::move(id);
  c.webhook.url = std::move(url);
  c.webhook.secret = std::string(64, 'a');
  return c;
}

void apply_all(std::optional<domain::user>& u, const std::vector<domain::user_event>& evs) {
  for (const auto& e : evs) {
    auto back = domain::user_event_from_json(json::parse(json::serialize(domain::user_event_to_json(e))).as_object());
    ASSERT_TRUE(back.ok());
    ASSERT_TRUE(domain::apply_user(u, *back).ok());
  }
}

TEST(WebhookEvents, CreateTurnOffAndDeleteThroughTheWireForm) {
  std::optional<domain::user> u;
  domain::user_command create;
  create.kind = domain::user_command_kind::create;
  create.name = "ann";
  apply_all(u, *domain::decide_user(u, create, 1000, "admin"));
  auto c = hook_cmd(domain::user_command_kind::create_webhook, "0123456789ab");
  c.webhook.tag = "kafka";
  apply_all(u, *domain::decide_user(u, c, 2000, "ann"));
  ASSERT_NE(u->webhook("0123456789ab"), nullptr);
  EXPECT_EQ(u->webhook("0123456789ab")->tag, "kafka");
  EXPECT_EQ(u->webhook("0123456789ab")->secret, std::string(64, 'a'));
  EXPECT_TRUE(u->webhook("0123456789ab")->enabled);
  // Off with a reason; off again changes nothing.
  auto off = hook_cmd(domain::user_command_kind::update_webhook, "0123456789ab");
  off.webhook.enabled = false;
  off.webhook.disabled_reason = "10 deliveries failed";
  apply_all(u, *domain::decide_user(u, off, 3000, "leaves (webhooks)"));
  EXPECT_FALSE(u->webhook("0123456789ab")->enabled);
  EXPECT_EQ(u->webhook("0123456789ab")->disabled_reason, "10 deliveries failed");
  EXPECT_TRUE(domain::decide_user(u, off, 3000, "x")->empty());
  EXPECT_FALSE(domain::webhook_to_json(*u->webhook("0123456789ab")).contains("secret"));
  // Deleted: gone from the state, secret and all; deleting again is not_found.
  apply_all(u, *domain::decide_user(u, hook_cmd(domain::user_command_kind::delete_webhook, "0123456789ab"), 4000, "ann"));
  EXPECT_EQ(u->webhook("0123456789ab"), nullptr);
  EXPECT_TRUE(u->webhooks.empty());
  auto again = domain::decide_user(u, hook_cmd(domain::user_command_kind::delete_webhook, "0123456789ab"), 5000, "ann");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.err().code, errc::not_found);
}

TEST(WebhookEvents, ACollectionsWebhookKeepsItsCollection) {
  std::optional<domain::user> u;
  domain::user_command create;
  create.kind = domain::user_command_kind::create;
  create.name = "ann";
  apply_all(u, *domain::decide_user(u, create, 1000, "admin"));
  auto bad = hook_cmd(domain::user_command_kind::create_webhook, "0123456789ab");
  bad.webhook.collection = "not-a-collection";
  auto refused = domain::decide_user(u, bad, 2000, "ann");
  ASSERT_FALSE(refused.ok()) << "a malformed collection id is refused";
  EXPECT_EQ(refused.err().code, errc::invalid_argument);
  auto c = hook_cmd(domain::user_command_kind::create_webhook, "0123456789ab");
  c.webhook.collection = "00112233aabbccdd";
  auto evs = domain::decide_user(u, c, 2000, "ann");
  ASSERT_TRUE(evs.ok()) << evs.err().message;
  ASSERT_EQ(evs->size(), 1u);
  EXPECT_EQ(evs->front().data.at("collection"), "00112233aabbccdd");
  apply_all(u, *evs);
  ASSERT_NE(u->webhook("0123456789ab"), nullptr);
  EXPECT_EQ(u->webhook("0123456789ab")->collection, "00112233aabbccdd");
  EXPECT_EQ(domain::webhook_to_json(*u->webhook("0123456789ab")).at("collection"), "00112233aabbccdd");
  // One without: no "collection" in its event (as events before it had none).
  auto plain = hook_cmd(domain::user_command_kind::create_webhook, "0123456789ac");
  auto pe = domain::decide_user(u, plain, 3000, "ann");
  ASSERT_TRUE(pe.ok());
  EXPECT_FALSE(pe->front().data.contains("collection"));
  apply_all(u, *pe);
  EXPECT_FALSE(u->webhook("0123456789ac")->collection.has_value());
  EXPECT_TRUE(domain::webhook_to_json(*u->webhook("0123456789ac")).at("collection").is_null());
}

TEST(WebhookEvents, BadUrlsAndTooManyAreRefused) {
  std::optional<domain::user> u;
  domain::user_command create;
  create.kind = domain::user_command_kind::create;
  create.name = "ann";
  apply_all(u, *domain::decide_user(u, create, 1000, "admin"));
  for (const char* url : {"ftp://h.example/", "https://user:pw@h.example/", "/relative", "https://", "http://a b/",
                          "javascript:alert(1)", "http://a%0a.example/", "http://a%00b.example/", "http://a_b.example/"}) {
    EXPECT_FALSE(domain::decide_user(u, hook_cmd(domain::user_command_kind::create_webhook, "0123456789ab", url), 2000,
                                     "ann")
                     .ok())
        << url;
  }
  for (size_t i = 0; i < domain::kMaxWebhooksPerUser; ++i) {
    char id[13];
    std::snprintf(id, sizeof id, "%012zx", i);
    apply_all(u, *domain::decide_user(u, hook_cmd(domain::user_command_kind::create_webhook, id), 2000, "ann"));
  }
  auto more = domain::decide_user(u, hook_cmd(domain::user_command_kind::create_webhook, "ffffffffffff"), 2000, "ann");
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.err().detail, "too_many_webhooks");
}

TEST(WebhookPost, AnInternalTargetIsRefusedWithoutConnecting) {
  asio::io_context io;
  // A listener on loopback that would accept: the POST must not reach it.
  asio::ip::tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acc.local_endpoint().port();
  webhooks::post_options o;
  o.timeout = std::chrono::milliseconds(2000);
  auto f = asio::co_spawn(io, webhooks::post_json("http://127.0.0.1:" + std::to_string(port) + "/", {}, "{}", o),
                          asio::use_future);
  io.run();
  auto r = f.get();
  EXPECT_TRUE(r.refused) << r.error;
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("loopback"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("--webhook-allow-private"), std::string::npos) << r.error;
  // Nothing connected.
  acc.non_blocking(true);
  boost::system::error_code ec;
  asio::ip::tcp::socket s(io);
  acc.accept(s, ec);
  EXPECT_EQ(ec, asio::error::would_block);
}

}  // namespace
}  // namespace leaves
