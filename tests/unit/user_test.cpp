// The user aggregate (pure), tokens, the directory folded from the log and
// the user service on a real embedded log.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "leaves/auth/directory.h"
#include "leaves/auth/password.h"
#include "leaves/auth/token.h"
#include "leaves/auth/user_service.h"
#include "leaves/domain/event_avro.h"
#include "leaves/domain/events.h"
#include "leaves/domain/user.h"
#include "leaves/log/embedded/rocks_log.h"
#include "leaves/domain/state_json.h"
#include "leaves/projector/progress.h"
#include "leaves/store/embedded/rocks_directory_store.h"
#include "leaves/store/model.h"
#include "support/test_support.h"

namespace json = boost::json;

namespace leaves {
namespace {

using domain::user_command;

class test_clock final : public clock {
 public:
  int64_t now_ms() const override { return now_; }
  void set(int64_t ms) { now_ = ms; }

 private:
  int64_t now_ = 0;
};
using domain::user_command_kind;

std::vector<domain::user_event> decide_apply(std::optional<domain::user>& u, const user_command& c, int64_t now = 1000) {
  auto evs = domain::decide_user(u, c, now, "tester");
  EXPECT_TRUE(evs.ok()) << (evs.ok() ? "" : evs.err().message);
  if (!evs.ok()) return {};
  for (auto& e : *evs) {
    e.event_id = "e" + std::to_string(e.aggregate_version);
    // Through the wire form, as the directory reads it.
    auto back = domain::user_event_from_json(json::parse(json::serialize(domain::user_event_to_json(e))).as_object());
    EXPECT_TRUE(back.ok());
    auto st = domain::apply_user(u, *back);
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.err().message);
  }
  return *evs;
}

user_command create(std::string name, domain::role r = domain::role::reader) {
  user_command c;
  c.kind = user_command_kind::create;
  c.name = std::move(name);
  c.r = r;
  return c;
}

user_command make_token(std::string name, const auth::new_token& t, unsigned scopes,
                        std::optional<int64_t> expires = std::nullopt) {
  user_command c;
  c.kind = user_command_kind::create_token;
  c.name = std::move(name);
  c.token = {t.id, "laptop", t.hash, scopes, 0, expires};
  return c;
}

user_command mark_leaf(std::string name, std::string leaf, std::optional<bool> starred,
                       std::optional<bool> archived = std::nullopt) {
  user_command m;
  m.kind = user_command_kind::mark_leaf;
  m.name = std::move(name);
  m.mark.leaf_id = std::move(leaf);
  m.mark.starred = starred;
  m.mark.archived = archived;
  return m;
}

TEST(User, NamesAndIds) {
  EXPECT_TRUE(domain::valid_user_name("alice"));
  EXPECT_TRUE(domain::valid_user_name("a.b-c_9"));
  EXPECT_FALSE(domain::valid_user_name(""));
  EXPECT_FALSE(domain::valid_user_name("Alice"));
  EXPECT_FALSE(domain::valid_user_name("-x"));
  EXPECT_FALSE(domain::valid_user_name("a:b"));
  EXPECT_FALSE(domain::valid_user_name(std::string(65, 'a')));
  EXPECT_EQ(domain::user_id_for("alice"), domain::user_id_for("alice"));
  EXPECT_NE(domain::user_id_for("alice"), domain::user_id_for("bob"));
  EXPECT_GT(domain::user_id_for("alice"), 0);
  EXPECT_LE(domain::user_id_for("alice"), 0x7fffffff);
  // User keys can never be leaf ids, so the leaf projections skip them.
  EXPECT_TRUE(domain::is_user_key(domain::user_key("alice")));
  EXPECT_FALSE(domain::valid_leaf_id(domain::user_key("alice")));
}

TEST(User, ScopesAndRoles) {
  EXPECT_EQ(*domain::parse_scopes("read, write"), domain::scope_read | domain::scope_write);
  EXPECT_FALSE(domain::parse_scopes("read,root").ok());
  EXPECT_FALSE(domain::parse_scopes("").ok());
  EXPECT_EQ(domain::role_scopes(domain::role::reader), domain::scope_read | domain::scope_feed);
  EXPECT_EQ(domain::role_scopes(domain::role::curator), domain::scope_read | domain::scope_write | domain::scope_feed);
  EXPECT_EQ(*domain::parse_scopes("feed"), unsigned(domain::scope_feed));
  EXPECT_EQ(domain::scope_names(domain::scope_read | domain::scope_feed), (std::vector<std::string>{"read", "feed"}));
  EXPECT_EQ(domain::role_scopes(domain::role::admin), domain::kAllScopes);
}

TEST(User, CreateUpdateTokensAndRevoke) {
  std::optional<domain::user> u;
  decide_apply(u, create("alice", domain::role::curator));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->version, 1);
  EXPECT_EQ(u->r, domain::role::curator);
  EXPECT_EQ(u->user_id, domain::user_id_for("alice"));

  auto again = domain::decide_user(u, create("alice"), 2000, "t");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.err().detail, "user_exists");

  user_command up;
  up.kind = user_command_kind::update;
  up.name = "alice";
  up.r = domain::role::curator;  // unchanged: no event
  EXPECT_TRUE(decide_apply(u, up).empty());
  up.disabled = true;
  EXPECT_EQ(decide_apply(u, up).size(), 1u);
  EXPECT_TRUE(u->disabled);

  auto t = auth::generate_token();
  decide_apply(u, make_token("alice", t, domain::scope_read));
  ASSERT_EQ(u->tokens.size(), 1u);
  EXPECT_EQ(u->tokens[0].hash, t.hash);
  EXPECT_EQ(u->tokens[0].scopes, unsigned(domain::scope_read));
  auto twice = domain::decide_user(u, make_token("alice", t, domain::scope_read), 3000, "t");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.err().detail, "token_exists");

  user_command rv;
  rv.kind = user_command_kind::revoke_token;
  rv.name = "alice";
  rv.token_id = t.id;
  decide_apply(u, rv);
  EXPECT_TRUE(u->tokens[0].revoked);
  EXPECT_TRUE(decide_apply(u, rv).empty()) << "revoking twice changes nothing";
  rv.token_id = "000000000000";
  auto missing = domain::decide_user(u, rv, 4000, "t");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.err().code, errc::not_found);
}

TEST(User, RefusesBadInput) {
  std::optional<domain::user> none;
  EXPECT_EQ(domain::decide_user(none, create("Bad Name"), 1, "t").err().detail, "invalid_user_name");
  user_command up;
  up.kind = user_command_kind::update;
  up.name = "ghost";
  EXPECT_EQ(domain::decide_user(none, up, 1, "t").err().code, errc::not_found);
  std::optional<domain::user> u;
  decide_apply(u, create("bob"));
  auto t = auth::generate_token();
  auto expired = domain::decide_user(u, make_token("bob", t, domain::scope_read, 500), 1000, "t");
  EXPECT_FALSE(expired.ok()) << "a token that expires before it is made";
  auto c = make_token("bob", t, domain::scope_read);
  c.token.hash = "not-a-hash";
  EXPECT_FALSE(domain::decide_user(u, c, 1000, "t").ok());
}

TEST(User, ApplyRefusesAnEventOutOfOrder) {
  std::optional<domain::user> u;
  decide_apply(u, create("carol"));
  domain::user_event ev;
  ev.type = domain::user_event_type::token_revoked;
  ev.aggregate_id = "user:carol";
  ev.aggregate_version = 3;  // 2 is missing
  EXPECT_EQ(domain::apply_user(u, ev).err().code, errc::conflict);
}

// The pool does the Argon2 work off the caller's thread: while four checks
// (about 30 ms each, two at a time) run, a 1 ms ticker on the one thread of
// the caller's io_context keeps ticking. Were the work done on that thread,
// the ticker would stall for the whole time.
TEST(Password, PoolLeavesTheCallersThreadFree) {
  auto encoded = auth::hash_password("correct horse battery");
  ASSERT_TRUE(encoded.ok());
  auth::password_pool pool(2, 32);
  boost::asio::io_context ioc;
  int done = 0, matched = 0, ticks = 0;
  const auto caller = std::this_thread::get_id();
  for (int i = 0; i < 4; ++i) {
    boost::asio::co_spawn(
        ioc,
        [&, i]() -> boost::asio::awaitable<void> {
          auto ok = co_await pool.verify(*encoded, i % 2 ? "correct horse battery" : "wrong horse battery");
          EXPECT_EQ(std::this_thread::get_id(), caller) << "the answer comes back on the caller's thread";
          if (ok.ok() && *ok) ++matched;
          ++done;
        },
        boost::asio::detached);
  }
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
        while (done < 4) {
          t.expires_after(std::chrono::milliseconds(1));
          co_await t.async_wait(boost::asio::use_awaitable);
          ++ticks;
        }
      },
      boost::asio::detached);
  const auto t0 = std::chrono::steady_clock::now();
  ioc.run();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(done, 4);
  EXPECT_EQ(matched, 2);
  EXPECT_GE(ticks, ms / 4) << "the caller's thread ticked " << ticks << " times in " << ms
                           << " ms of password checks; it was held by the hashing";
}

TEST(Password, Argon2idHashesVerifyAndRefuse) {
  auto a = auth::hash_password("correct horse battery");
  ASSERT_TRUE(a.ok()) << a.err().message;
  EXPECT_TRUE(a->starts_with("$argon2id$v=19$m=19456,t=2,p=1$")) << *a;
  auto b = auth::hash_password("correct horse battery");
  EXPECT_NE(*a, *b) << "each hash has its own salt";
  EXPECT_TRUE(auth::verify_password(*a, "correct horse battery"));
  EXPECT_FALSE(auth::verify_password(*a, "correct horse batterz"));
  EXPECT_FALSE(auth::verify_password("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaA", "x")) << "not argon2id";
  EXPECT_FALSE(auth::verify_password("garbage", "correct horse battery"));
  // The domain keeps what it is given only when it looks like an encoding.
  std::optional<domain::user> u;
  decide_apply(u, create("pat"));
  domain::user_command c;
  c.kind = user_command_kind::set_password;
  c.name = "pat";
  c.password_hash = "plain text";
  EXPECT_FALSE(domain::decide_user(u, c, 1000, "t").ok());
  c.password_hash = *a;
  decide_apply(u, c);
  EXPECT_EQ(u->password_hash, *a);
  EXPECT_TRUE(domain::user_to_json(*u).at("has_password").as_bool());
  EXPECT_EQ(json::serialize(domain::user_to_json(*u)).find("argon2"), std::string::npos) << "never shown";
}

TEST(Token, FormatHashAndComparison) {
  auto a = auth::generate_token();
  auto b = auth::generate_token();
  EXPECT_NE(a.secret, b.secret);
  EXPECT_TRUE(a.secret.starts_with("lv_" + a.id + "_"));
  EXPECT_EQ(a.secret.size(), 3u + 12 + 1 + 43);
  EXPECT_EQ(a.hash, auth::sha256_hex(a.secret));
  // FIPS 180-2 test vector.
  EXPECT_EQ(auth::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(auth::constant_time_equal("abc", "abc"));
  EXPECT_FALSE(auth::constant_time_equal("abc", "abd"));
  EXPECT_FALSE(auth::constant_time_equal("abc", "abcd"));
  auto chosen = auth::adopt_token(std::string(40, 'x'));
  EXPECT_EQ(chosen.id, chosen.hash.substr(0, 12));
}

// The directory folds user records out of a log shared with leaf records,
// and authenticates tokens: unknown, revoked, expired, disabled.
// A directory and a user service on a fresh embedded log.
// A user directory and service on an embedded log of four partitions.
class UsersOnALog : public ::testing::Test {
 protected:
  void SetUp() override {
    clk.set(1000);
    ASSERT_TRUE(users.start().ok());
  }
  result<auth::user_write> run(user_command c) { return testing::run(svc.execute(std::move(c), "tester")); }

  testing::temp_dir dir;
  result<std::unique_ptr<log::rocks_log>> l = log::rocks_log::open({dir.path() / "log", 4});
  auth::directory users{**l};
  test_clock clk;
  auth::user_service svc{**l, users, clk};
};

TEST_F(UsersOnALog, TheDirectoryAuthenticatesFromTheLog) {

  ASSERT_TRUE(run(create("dana", domain::role::curator)).ok());
  auto t = auth::generate_token();
  auto w = run(make_token("dana", t, domain::scope_read | domain::scope_write | domain::scope_admin));
  ASSERT_TRUE(w.ok()) << w.err().message;
  ASSERT_TRUE(w->position.has_value());
  // A leaf record in the same log is skipped by its key.
  std::vector<log::record> leafrec{{"abc", "{\"not\":\"a user\"}", -1}};
  ASSERT_TRUE(testing::run((*l)->append(leafrec)).ok());

  auto p = users.authenticate(t.secret, 2000);
  ASSERT_TRUE(p.ok()) << p.err().message;
  EXPECT_EQ(p->name, "dana");
  EXPECT_FALSE(p->anonymous);
  EXPECT_EQ(p->scopes, domain::scope_read | domain::scope_write | domain::scope_feed)
      << "a curator's token cannot administer; reading implies feeds";
  EXPECT_EQ(users.authenticate("lv_nope", 2000).err().code, errc::unauthenticated);

  auto soon = auth::generate_token();
  ASSERT_TRUE(run(make_token("dana", soon, domain::scope_read, 5000)).ok());
  EXPECT_TRUE(users.authenticate(soon.secret, 4999).ok());
  EXPECT_EQ(users.authenticate(soon.secret, 5000).err().message, "the token " + soon.id + " has expired");

  user_command rv;
  rv.kind = user_command_kind::revoke_token;
  rv.name = "dana";
  rv.token_id = t.id;
  ASSERT_TRUE(run(rv).ok());
  // Answered after the directory applied it: refused at once.
  EXPECT_EQ(users.authenticate(t.secret, 2000).err().message, "the token " + t.id + " was revoked");

  user_command off;
  off.kind = user_command_kind::update;
  off.name = "dana";
  off.disabled = true;
  ASSERT_TRUE(run(off).ok());
  EXPECT_EQ(users.authenticate(soon.secret, 2000).err().message, "the user dana is disabled");
  users.stop();

  // A second directory on the same log (another server, or a restart) agrees.
  auth::directory again(**l);
  ASSERT_TRUE(again.start().ok());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again.find("dana")->disabled);
  EXPECT_EQ(again.find("dana")->tokens.size(), 2u);
  EXPECT_EQ(again.stats().applied.load(), 5u);
  EXPECT_EQ(again.stats().undecodable.load(), 0u);
  again.stop();
}

// The owner rules of domain::command::owner, decided on the leaf's state.
TEST(Ownership, ALimitedUserChangesItsOwnLeavesOnly) {
  using domain::command;
  using domain::command_kind;
  auto save = [](const char* body, std::optional<command::owner_info> owner) {
    auto c = domain::save_command(json::parse(body).as_object(), domain::limits{}, false, false);
    EXPECT_TRUE(c.ok());
    c->owner = std::move(owner);
    return *c;
  };
  const command::owner_info carla{7, "carla", "c@example.org", true}, dave{8, "dave", "", true};
  const command::owner_info admin{1, "admin", "", false};
  std::optional<domain::leaf> priv, pub;
  for (auto [state, body] : {std::pair{&priv, R"({"url":"https://e.org/p"})"},
                             std::pair{&pub, R"({"url":"https://e.org/q","is_public":true})"}}) {
    auto evs = domain::decide(*state, save(body, carla), domain::context{1000, "carla"});
    ASSERT_TRUE(evs.ok()) << evs.err().message;
    ASSERT_TRUE(domain::apply(*state, evs->front()).ok());
  }
  EXPECT_EQ(priv->user_id, 7);
  EXPECT_EQ(priv->user_name, "carla");
  EXPECT_EQ(priv->user_email, "c@example.org");

  command edit;
  edit.kind = command_kind::update;
  edit.patch.values.title = "x";
  edit.patch.set(domain::field::title);
  edit.owner = dave;
  edit.leaf_id = priv->id;
  EXPECT_EQ(domain::decide(priv, edit, {2000, "dave"}).err().code, errc::not_found) << "another's private leaf";
  edit.leaf_id = pub->id;
  EXPECT_EQ(domain::decide(pub, edit, {2000, "dave"}).err().code, errc::permission_denied) << "another's public leaf";
  auto again = domain::decide(priv, save(R"({"url":"https://e.org/p"})", dave), {2000, "dave"});
  EXPECT_EQ(again.err().detail, "leaf_not_yours") << "saving the URL of another's private leaf";
  EXPECT_EQ(domain::decide(std::nullopt, save(R"({"url":"https://e.org/r","user_id":7})", dave), {2000, "dave"})
                .err()
                .code,
            errc::permission_denied)
      << "a limited user saving in another's name";
  edit.owner = carla;
  EXPECT_TRUE(domain::decide(pub, edit, {2000, "carla"}).ok()) << "the owner";
  edit.owner = admin;
  EXPECT_TRUE(domain::decide(pub, edit, {2000, "admin"}).ok()) << "an admin";
  edit.owner.reset();
  EXPECT_TRUE(domain::decide(pub, edit, {2000, "anonymous"}).ok()) << "no owner rules (--anonymous all)";
  std::optional<domain::leaf> imported;
  auto evs = domain::decide(imported, save(R"({"url":"https://e.org/i","user_id":42})", admin), {3000, "admin"});
  ASSERT_TRUE(evs.ok());
  ASSERT_TRUE(domain::apply(imported, evs->front()).ok());
  EXPECT_EQ(imported->user_id, 42) << "an admin's import keeps the record's owner";
}

// Starred and archived of another user's leaf: the user's own marks.
TEST(Marks, DecidedAsTheFullStateAfterAndBounded) {
  std::optional<domain::user> u;
  decide_apply(u, create("ben"));
  user_command m;
  m.kind = user_command_kind::mark_leaf;
  m.name = "ben";
  m.mark.leaf_id = "leaf-1";
  m.mark.starred = true;
  auto evs = decide_apply(u, m);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, domain::user_event_type::leaf_marked);
  EXPECT_EQ(json::serialize(evs[0].data), R"({"leaf":"leaf-1","starred":true,"archived":false})");
  EXPECT_EQ(u->version, 2);

  // Archiving keeps the star: each event carries both, as they are after it.
  m.mark.before = domain::mark_starred;
  m.mark.starred.reset();
  m.mark.archived = true;
  evs = decide_apply(u, m);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(json::serialize(evs[0].data), R"({"leaf":"leaf-1","starred":true,"archived":true})");

  // As it is already: no event.
  m.mark.before = domain::mark_starred | domain::mark_archived;
  auto same = domain::decide_user(u, m, 1000, "tester");
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->empty());

  // A new mark past the bound is refused; changing one already kept is not.
  m.mark.before = 0;
  m.mark.marked = domain::kMaxMarksPerUser;
  auto full = domain::decide_user(u, m, 1000, "tester");
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.err().code, errc::conflict);
  EXPECT_EQ(full.err().detail, "too_many_marks");
  m.mark.before = domain::mark_starred;
  EXPECT_TRUE(domain::decide_user(u, m, 1000, "tester").ok());

  m.mark.leaf_id = "no spaces/here";
  EXPECT_EQ(domain::decide_user(u, m, 1000, "tester").err().code, errc::invalid_argument);
}

TEST_F(UsersOnALog, TheDirectoryFoldsMarksAndSnapshotsStayAsTheyWere) {
  auto mark = [&](const char* user, const char* leaf, std::optional<bool> s, std::optional<bool> a) {
    return run(mark_leaf(user, leaf, s, a));
  };
  ASSERT_TRUE(run(create("ben")).ok());
  ASSERT_TRUE(run(create("eve")).ok());
  ASSERT_TRUE(mark("ben", "a", true, std::nullopt).ok());
  ASSERT_TRUE(mark("ben", "b", std::nullopt, true).ok());
  EXPECT_EQ(users.mark("ben", "a"), domain::mark_starred);
  EXPECT_EQ(users.mark("ben", "b"), domain::mark_archived);
  EXPECT_EQ(users.mark("eve", "a"), 0) << "marks are each user's own";
  EXPECT_EQ(users.marks_of("eve"), nullptr);

  auto snap = users.marks_of("ben");
  ASSERT_NE(snap, nullptr);
  ASSERT_TRUE(mark("ben", "a", false, std::nullopt).ok());  // unstarred: forgotten
  EXPECT_EQ(users.mark("ben", "a"), 0);
  EXPECT_EQ(users.marked("ben"), 1u);
  EXPECT_EQ(snap->size(), 2u) << "a snapshot handed out does not change under its reader";
  EXPECT_EQ(snap->at("a"), domain::mark_starred);

  // The service asks the directory what the mark is now: no event when unchanged.
  auto w = mark("ben", "b", std::nullopt, true);
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w->position.has_value());
  users.stop();

  auth::directory again(**l);  // a restart folds the same marks from the log
  ASSERT_TRUE(again.start().ok());
  EXPECT_EQ(again.mark("ben", "a"), 0);
  EXPECT_EQ(again.mark("ben", "b"), domain::mark_archived);
  EXPECT_EQ(again.marked("ben"), 1u);
  again.stop();
}

TEST(Marks, AStoredLeafIsShownWithItsReadersMarksWithoutParsing) {
  domain::leaf l;
  l.id = "x-1";
  l.url = "https://e.org/\"is_starred\":true";
  l.title = "title with \"is_archived\":true inside";
  l.user_id = 7;
  l.is_starred = true;
  std::string j = json::serialize(domain::leaf_to_json(l));
  auto p = domain::peek_leaf_json(j);
  ASSERT_TRUE(p.has_value()) << j;
  EXPECT_EQ(p->id, "x-1");
  EXPECT_EQ(p->user_id, 7);
  EXPECT_TRUE(p->is_starred);
  EXPECT_FALSE(p->is_archived);
  ASSERT_TRUE(domain::set_leaf_json_flags(j, false, true));
  auto back = domain::leaf_from_json(json::parse(j).as_object());
  ASSERT_TRUE(back.ok()) << back.err().message;
  EXPECT_FALSE(back->is_starred);
  EXPECT_TRUE(back->is_archived);
  EXPECT_EQ(back->url, l.url) << "a value that looks like a key is left alone";
  EXPECT_EQ(back->title, l.title);

  l.user_id.reset();
  auto unowned = domain::peek_leaf_json(json::serialize(domain::leaf_to_json(l)));
  ASSERT_TRUE(unowned.has_value());
  EXPECT_FALSE(unowned->user_id.has_value());
  EXPECT_FALSE(domain::peek_leaf_json("{\"url\":\"x\"}").has_value());
}

TEST(Marks, ListFiltersSeeTheFlagOnOwnLeavesAndMarksOnOthers) {
  auto leaf = [](const char* id, std::optional<int64_t> owner, bool starred) {
    domain::leaf l;
    l.id = id;
    l.user_id = owner;
    l.is_starred = starred;
    return l;
  };
  const auto mine = leaf("mine", 1, true), theirs = leaf("theirs", 2, true), marked = leaf("marked", 2, false),
             nobodys = leaf("nobodys", std::nullopt, true);
  store::list_query q;
  q.starred = true;
  EXPECT_TRUE(store::matches(theirs, q)) << "without a view: the leaf's own flag";
  auto m = std::make_shared<domain::mark_map>();
  (*m)["marked"] = domain::mark_starred;
  q.marks = domain::marks_view{1, m};
  EXPECT_TRUE(store::matches(mine, q));
  EXPECT_FALSE(store::matches(theirs, q)) << "the owner's star is not the reader's";
  EXPECT_TRUE(store::matches(marked, q));
  EXPECT_TRUE(store::matches(nobodys, q));
  q.starred = false;
  EXPECT_TRUE(store::matches(theirs, q));
  EXPECT_FALSE(store::matches(marked, q));
}


// The whole state of each aggregate survives its JSON (the directory model's rows).
TEST(DirectoryModel, StateJsonKeepsEverything) {
  std::optional<domain::user> u;
  auto t = auth::generate_token();
  decide_apply(u, create("ann", domain::role::curator));
  decide_apply(u, make_token("ann", t, domain::scope_read, 9000));
  u->password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
  u->webhooks.push_back({"0123456789ab", "https://h.example/x", std::string(64, 'f'), "news", std::nullopt, true, 5, false,
                         "failed 10 times"});
  auto back = domain::user_state_from_json(json::parse(json::serialize(domain::user_state_to_json(*u))).as_object());
  ASSERT_TRUE(back.ok()) << back.err().message;
  EXPECT_EQ(json::serialize(domain::user_state_to_json(*back)), json::serialize(domain::user_state_to_json(*u)));
  EXPECT_EQ(back->tokens.at(0).hash, t.hash);
  EXPECT_EQ(back->tokens.at(0).expires_ms, std::optional<int64_t>(9000));
  EXPECT_EQ(back->webhooks.at(0).tag, std::optional<std::string>("news"));
  EXPECT_FALSE(back->webhooks.at(0).collection.has_value());

  domain::collection c;
  c.id = "aa00112233445566";
  c.name = "reading";
  c.owner = "ann";
  c.parent = "bb00112233445566";
  c.leaves = {"z", "a", "m"};  // order kept, not sorted
  c.added_by = {{"z", "ann"}, {"a", "bob"}, {"m", "ann"}};
  c.query = "tag:news";
  c.shares = {{"00112233445566aa", domain::share_role::editor}};
  c.version = 7;
  c.deleted = true;
  auto cb = domain::collection_state_from_json(json::parse(json::serialize(domain::collection_state_to_json(c))).as_object());
  ASSERT_TRUE(cb.ok()) << cb.err().message;
  EXPECT_EQ(cb->leaves, c.leaves);
  EXPECT_EQ(cb->added_by, c.added_by);
  EXPECT_EQ(cb->parent, c.parent);
  EXPECT_EQ(cb->query, c.query);
  EXPECT_EQ(cb->shares, c.shares);
  EXPECT_TRUE(cb->deleted);
  EXPECT_EQ(cb->version, 7);

  domain::team tm;
  tm.id = "00112233445566aa";
  tm.name = "editors";
  tm.members = {{"ann", domain::team_role::admin}, {"bob", domain::team_role::member}};
  tm.version = 3;
  auto tb = domain::team_state_from_json(json::parse(json::serialize(domain::team_state_to_json(tm))).as_object());
  ASSERT_TRUE(tb.ok()) << tb.err().message;
  EXPECT_EQ(tb->members, tm.members);
  EXPECT_EQ(tb->version, 3);

  // A row this build cannot read is refused with the field it lacks.
  auto bad = domain::collection_state_from_json(json::object{{"id", "x"}, {"name", "n"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.err().message.find("owner"), std::string::npos) << bad.err().message;
}

// Waits until `d` has applied everything in the log (the follower is asynchronous).
void wait_applied(auth::directory& d, log::event_log& l) {
  for (int i = 0; i < 500 && !projector::covers(d.progress().applied(), l.end_offsets()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(projector::covers(d.progress().applied(), l.end_offsets())) << "the directory did not catch up";
}

// What a directory holds, as text, to compare one loaded from its model with
// one folded from the whole log.
std::string holdings(const auth::directory& d, const std::string& team, const std::string& col) {
  std::string out;
  for (const auto& u : d.list()) out += json::serialize(domain::user_state_to_json(u)) + "\n";
  if (auto t = d.find_team(team)) out += json::serialize(domain::team_state_to_json(*t)) + "\n";
  if (auto c = d.find_collection(col)) out += json::serialize(domain::collection_state_to_json(*c)) + "\n";
  out += "bob marks a=" + std::to_string(d.mark("bob", "a")) + " b=" + std::to_string(d.mark("bob", "b"));
  return out;
}

TEST(DirectoryModel, ARestartLoadsTheModelAndReadsOnlyTheLogAfterIt) {
  testing::temp_dir dir;
  auto l = log::rocks_log::open({dir.path() / "log", 4});
  ASSERT_TRUE(l.ok());
  auto model = store::rocks_directory_store::open(dir.path() / "directory");
  ASSERT_TRUE(model.ok()) << model.err().message;
  test_clock clk;
  clk.set(1000);
  const std::string team = "00112233445566aa", col = "aa00112233445566";
  const auto t = auth::generate_token();
  const auto ann = auth::principal::of("ann", domain::user_id_for("ann"), domain::role::curator, domain::kAllScopes);
  {
    auth::directory users(**l, model->get());
    ASSERT_TRUE(users.start().ok());
    auth::user_service svc(**l, users, clk);
    ASSERT_TRUE(testing::run(svc.execute(create("ann", domain::role::curator), "tester")).ok());
    ASSERT_TRUE(testing::run(svc.execute(create("bob"), "tester")).ok());
    ASSERT_TRUE(testing::run(svc.execute(make_token("ann", t, domain::scope_read | domain::scope_write), "tester")).ok());
    domain::team_command tc;
    tc.kind = domain::team_command_kind::create;
    tc.id = team;
    tc.name = "editors";
    tc.user = "ann";
    ASSERT_TRUE(testing::run(svc.execute(tc, "ann")).ok());
    tc.kind = domain::team_command_kind::set_member;
    tc.user = "bob";
    ASSERT_TRUE(testing::run(svc.execute(tc, "ann")).ok());
    domain::collection_command cc;
    cc.kind = domain::collection_command_kind::create;
    cc.id = col;
    cc.owner = "ann";
    cc.name = "reading";
    ASSERT_TRUE(testing::run(svc.execute(cc, ann)).ok());
    for (const char* leaf : {"b", "a"}) {
      domain::collection_command add;
      add.kind = domain::collection_command_kind::add_leaf;
      add.id = col;
      add.leaf = leaf;
      auto w = testing::run(svc.execute(add, ann));
      ASSERT_TRUE(w.ok()) << w.err().message;
    }
    domain::collection_command share;
    share.kind = domain::collection_command_kind::share;
    share.id = col;
    share.team = team;
    ASSERT_TRUE(testing::run(svc.execute(share, ann)).ok());
    ASSERT_TRUE(testing::run(svc.execute(mark_leaf("bob", "a", true), "bob")).ok());
    // Leaf records in the same log, which a restart should not read again.
    std::vector<log::record> leaves;
    for (int i = 0; i < 200; ++i) leaves.push_back({"leaf-" + std::to_string(i), "{}", -1});
    ASSERT_TRUE(testing::run((*l)->append(leaves)).ok());
    wait_applied(users, **l);
    users.stop();
    EXPECT_GE(users.stats().model_saves.load(), 1u);
    EXPECT_EQ(users.stats().model_failures.load(), 0u);
  }
  auth::directory folded(**l);  // no model: the whole log, as before
  ASSERT_TRUE(folded.start().ok());
  folded.stop();
  int64_t total = 0;
  for (auto e : (*l)->end_offsets()) total += e;
  EXPECT_EQ(folded.stats().records_read_at_start.load(), static_cast<uint64_t>(total));
  {
    auth::directory again(**l, model->get());
    ASSERT_TRUE(again.start().ok());
    EXPECT_EQ(again.stats().records_read_at_start.load(), 0u) << "the model's positions are the log's end";
    EXPECT_EQ(again.stats().model_rows_loaded.load(), 5u) << "ann, bob, the team, the collection, bob's mark";
    EXPECT_EQ(holdings(again, team, col), holdings(folded, team, col));
    EXPECT_EQ(again.find_collection(col)->leaves, (std::vector<std::string>{"b", "a"}));
    EXPECT_TRUE(again.authenticate(t.secret, 2000).ok());
    EXPECT_EQ(again.mark("bob", "a"), domain::mark_starred);
    // The leaf -> collections index is rebuilt from the collection: bob sees ann's leaf through the team.
    EXPECT_TRUE(again.shared_with("a", domain::user_id_for("ann"), "bob"));
    EXPECT_FALSE(again.shared_with("c", domain::user_id_for("ann"), "bob"));

    // What happens while it runs is saved too; the next restart reads only what came after.
    auth::user_service svc(**l, again, clk);
    user_command rv;
    rv.kind = user_command_kind::revoke_token;
    rv.name = "ann";
    rv.token_id = t.id;
    ASSERT_TRUE(testing::run(svc.execute(rv, "ann")).ok());
    again.stop();
  }
  // Written by another server (no model here): the restart reads it from the log.
  {
    auth::directory other(**l);
    ASSERT_TRUE(other.start().ok());
    auth::user_service svc(**l, other, clk);
    ASSERT_TRUE(testing::run(svc.execute(mark_leaf("bob", "a", false), "bob")).ok());
    other.stop();
  }
  auth::directory last(**l, model->get());
  ASSERT_TRUE(last.start().ok());
  EXPECT_EQ(last.stats().records_read_at_start.load(), 1u) << "only the unmark, written after the model's positions";
  EXPECT_EQ(last.authenticate(t.secret, 2000).err().message, "the token " + t.id + " was revoked");
  EXPECT_EQ(last.mark("bob", "a"), 0);
  last.stop();
  auth::directory refolded(**l);
  ASSERT_TRUE(refolded.start().ok());
  EXPECT_EQ(holdings(last, team, col), holdings(refolded, team, col));
  refolded.stop();
}

TEST(DirectoryModel, AModelAheadOfItsLogIsRebuiltFromTheLog) {
  testing::temp_dir dir;
  auto model = store::rocks_directory_store::open(dir.path() / "directory");
  ASSERT_TRUE(model.ok());
  test_clock clk;
  clk.set(1000);
  {
    auto l = log::rocks_log::open({dir.path() / "log-a", 2});
    auth::directory users(**l, model->get());
    ASSERT_TRUE(users.start().ok());
    auth::user_service svc(**l, users, clk);
    for (const char* n : {"ann", "bob", "cat"}) ASSERT_TRUE(testing::run(svc.execute(create(n), "tester")).ok());
    users.stop();
  }
  // Another, shorter log (a log replaced or restored from an older backup).
  auto l = log::rocks_log::open({dir.path() / "log-b", 2});
  {
    auth::directory users(**l);
    ASSERT_TRUE(users.start().ok());
    auth::user_service svc(**l, users, clk);
    ASSERT_TRUE(testing::run(svc.execute(create("dan"), "tester")).ok());
    users.stop();
  }
  auth::directory d(**l, model->get());
  ASSERT_TRUE(d.start().ok());
  EXPECT_EQ(d.size(), 1u) << "only the users of this log";
  EXPECT_TRUE(d.find("dan").has_value());
  EXPECT_FALSE(d.find("ann").has_value());
  EXPECT_EQ(d.stats().model_rows_loaded.load(), 0u);
  d.stop();
  auto snap = (*model)->load();
  ASSERT_TRUE(snap.ok() && snap->has_value());
  ASSERT_EQ((*snap)->rows.size(), 1u) << "the model was saved again from this log";
  EXPECT_EQ((*snap)->rows[0].id, "dan");
}


// A record the schema registry could not decode while the directory was
// stopping was not applied: the model's positions stay before it, and the
// next start reads it again instead of passing over it for good.
TEST(DirectoryModel, ARecordTheRegistryCouldNotDecodeIsReadAgain) {
  testing::temp_dir dir;
  auto l = log::rocks_log::open({dir.path() / "log", 2});
  ASSERT_TRUE(l.ok());
  auto model = store::rocks_directory_store::open(dir.path() / "directory");
  ASSERT_TRUE(model.ok());
  test_clock clk;
  clk.set(1000);
  domain::event_format_config away;
  away.fetch_schema = [](int32_t) -> result<std::string> {
    return make_error(errc::unavailable, "the registry is not reachable (a test)");
  };
  domain::configure_event_format(away);
  {
    auth::directory users(**l, model->get());
    ASSERT_TRUE(users.start().ok());
    auth::user_service svc(**l, users, clk);
    ASSERT_TRUE(testing::run(svc.execute(create("zed"), "tester")).ok());
    // An Avro-framed record of zed's (schema id 99), which only the registry can decode.
    std::vector<log::record> framed{{domain::user_key("zed"), std::string("\0\0\0\0\x63", 5) + "x", -1}};
    ASSERT_TRUE(testing::run((*l)->append(framed)).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the follower waits for the registry
    users.stop();
  }
  domain::configure_event_format({});  // no registry: the record is now undecodable for good
  auth::directory again(**l, model->get());
  ASSERT_TRUE(again.start().ok());
  EXPECT_EQ(again.stats().records_read_at_start.load(), 1u) << "the record the registry could not decode, again";
  EXPECT_EQ(again.stats().undecodable.load(), 1u);
  EXPECT_TRUE(again.find("zed").has_value());
  again.stop();
}

}  // namespace
}  // namespace leaves
