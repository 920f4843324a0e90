// Teams and collections: each aggregate's own rules (decide) and the fold
// (apply), including the order of a collection's leaves and the version rule.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "leaves/domain/collection.h"

using namespace leaves;
using namespace leaves::domain;

namespace {

constexpr const char* kTeam = "00112233445566aa";
constexpr const char* kCol = "aa00112233445566";

// Decides and applies, as the write path does; the state after.
template <class State, class Cmd, class Decide, class Apply>
result<std::vector<group_event>> run(std::optional<State>& s, const Cmd& cmd, Decide decide, Apply apply) {
  auto evs = decide(s, cmd, 1000 + (s ? s->version : 0), "ann");
  if (!evs) return evs;
  for (auto& ev : *evs) {
    ev.event_id = "e" + std::to_string(ev.aggregate_version);
    // Through JSON, as the log carries it.
    auto back = group_event_from_json(group_event_to_json(ev));
    EXPECT_TRUE(back.ok());
    auto st = apply(s, *back);
    EXPECT_TRUE(st.ok()) << st.err().message;
  }
  return evs;
}

auto team_run(std::optional<team>& t, team_command c) { return run(t, c, decide_team, apply_team); }
auto col_run(std::optional<collection>& s, collection_command c) {
  return run(s, c, decide_collection, apply_collection);
}

collection_command leaf_cmd(collection_command_kind k, std::string leaf, std::optional<size_t> pos = {}) {
  collection_command c;
  c.kind = k;
  c.id = kCol;
  c.leaf = std::move(leaf);
  c.position = pos;
  return c;
}

}  // namespace

TEST(Collections, ATeamAlwaysKeepsAnAdmin) {
  std::optional<team> t;
  ASSERT_TRUE(team_run(t, {team_command_kind::create, kTeam, "Streaming", "ann", team_role::admin}).ok());
  ASSERT_EQ(t->members.size(), 1u);
  EXPECT_EQ(t->members.at("ann"), team_role::admin);
  auto demote = team_run(t, {team_command_kind::set_member, kTeam, "", "ann", team_role::member});
  ASSERT_FALSE(demote.ok());
  EXPECT_EQ(demote.err().detail, "last_team_admin");
  EXPECT_FALSE(team_run(t, {team_command_kind::remove_member, kTeam, "", "ann"}).ok());
  ASSERT_TRUE(team_run(t, {team_command_kind::set_member, kTeam, "", "bob", team_role::admin}).ok());
  ASSERT_TRUE(team_run(t, {team_command_kind::remove_member, kTeam, "", "ann"}).ok()) << "another admin is left";
  EXPECT_EQ(t->members.size(), 1u);
  // Setting the same role again changes nothing.
  auto same = team_run(t, {team_command_kind::set_member, kTeam, "", "bob", team_role::admin});
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->empty());
  EXPECT_EQ(team_run(t, {team_command_kind::remove_member, kTeam, "", "zed"}).err().detail, "member_not_found");
  ASSERT_TRUE(team_run(t, {team_command_kind::remove, kTeam}).ok());
  EXPECT_TRUE(t->deleted);
  EXPECT_EQ(team_run(t, {team_command_kind::rename, kTeam, "x"}).err().code, errc::not_found);
  EXPECT_FALSE(team_run(t, {team_command_kind::create, "not-hex", "x", "ann"}).ok());
}

TEST(Collections, LeavesKeepTheirOrderAndAppearOnce) {
  std::optional<collection> c;
  collection_command create;
  create.id = kCol;
  create.owner = "ann";
  create.name = "Kafka";
  ASSERT_TRUE(col_run(c, create).ok());
  for (const char* l : {"a", "b", "c"}) ASSERT_TRUE(col_run(c, leaf_cmd(collection_command_kind::add_leaf, l)).ok());
  EXPECT_EQ(c->leaves, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_TRUE(col_run(c, leaf_cmd(collection_command_kind::add_leaf, "d", 1)).ok());
  EXPECT_EQ(c->leaves, (std::vector<std::string>{"a", "d", "b", "c"}));
  auto again = col_run(c, leaf_cmd(collection_command_kind::add_leaf, "b", 0));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty()) << "a leaf is in a collection once";
  ASSERT_TRUE(col_run(c, leaf_cmd(collection_command_kind::move_leaf, "c", 0)).ok());
  EXPECT_EQ(c->leaves, (std::vector<std::string>{"c", "a", "d", "b"}));
  ASSERT_TRUE(col_run(c, leaf_cmd(collection_command_kind::move_leaf, "c", 99)).ok()) << "a position past the end";
  EXPECT_EQ(c->leaves, (std::vector<std::string>{"a", "d", "b", "c"}));
  ASSERT_TRUE(col_run(c, leaf_cmd(collection_command_kind::remove_leaf, "d")).ok());
  EXPECT_EQ(c->leaves, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(col_run(c, leaf_cmd(collection_command_kind::remove_leaf, "d")).err().detail, "leaf_not_in_collection");
  EXPECT_EQ(c->version, 8) << "create, 4 adds, 2 moves, 1 remove; the repeated add made no event";
}

TEST(Collections, UpdatesSharesAndTheVersionRule) {
  std::optional<collection> c;
  collection_command create;
  create.id = kCol;
  create.owner = "ann";
  create.name = "Kafka";
  create.parent = std::optional<std::string>("bb00112233445566");
  ASSERT_TRUE(col_run(c, create).ok());
  EXPECT_EQ(c->parent, "bb00112233445566");
  collection_command up;
  up.kind = collection_command_kind::update;
  up.id = kCol;
  up.name = "Kafka";  // unchanged: not in the event
  up.description = "logs\nand streams";
  up.parent = std::optional<std::string>{};  // to the top level
  up.is_public = true;
  auto evs = col_run(c, up);
  ASSERT_TRUE(evs.ok());
  ASSERT_EQ(evs->size(), 1u);
  const auto& changes = evs->front().data;
  EXPECT_FALSE(changes.contains("name"));
  EXPECT_TRUE(changes.at("parent").is_null());
  EXPECT_EQ(c->description, "logs\nand streams");
  EXPECT_FALSE(c->parent.has_value());
  EXPECT_TRUE(c->is_public);
  up.parent = std::optional<std::string>(kCol);
  EXPECT_EQ(col_run(c, up).err().detail, "invalid_parent") << "its own parent";
  up = {};
  up.kind = collection_command_kind::update;
  up.id = kCol;
  up.name = std::string(kMaxGroupNameBytes + 1, 'x');
  EXPECT_FALSE(col_run(c, up).ok());

  collection_command share;
  share.kind = collection_command_kind::share;
  share.id = kCol;
  share.team = kTeam;
  share.r = share_role::editor;
  ASSERT_TRUE(col_run(c, share).ok());
  EXPECT_EQ(c->shares.at(kTeam), share_role::editor);
  share.kind = collection_command_kind::unshare;
  ASSERT_TRUE(col_run(c, share).ok());
  EXPECT_TRUE(c->shares.empty());
  EXPECT_EQ(col_run(c, share).err().detail, "share_not_found");

  // An event of a version already applied (another server's, later in the
  // log) is refused; the fold skips it.
  group_event stale;
  stale.type = "collection.leaf_added";
  stale.aggregate_id = collection_key(kCol);
  stale.aggregate_version = c->version;
  stale.data = {{"leaf", "z"}, {"position", 0}};
  EXPECT_EQ(apply_collection(c, stale).err().code, errc::conflict);
  EXPECT_TRUE(c->leaves.empty());
}
