// /status/sessions answers name the account behind each playing client, in XML and JSON.
#include "enrich/accounts.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace plextap::enrich {
namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(PLEXTAP_FIXTURES_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(SessionAccounts, FromXml) {
  auto accounts = parse_session_accounts(fixture("status-sessions.xml"));
  ASSERT_EQ(accounts.size(), 1u);
  EXPECT_EQ(accounts[0].client_id, "k5y3j33nmvjvd0uhvnd9zi2x");
  EXPECT_EQ(accounts[0].account_id, "1");
  EXPECT_EQ(accounts[0].name, "APlexUser");
}

TEST(SessionAccounts, FromJson) {
  auto accounts = parse_session_accounts(fixture("status-sessions.json"));
  ASSERT_EQ(accounts.size(), 1u);
  EXPECT_EQ(accounts[0].client_id, "3tsdzir85m2onc3qyr255aq1");
  EXPECT_EQ(accounts[0].account_id, "1");
  EXPECT_EQ(accounts[0].name, "Blindkitty38");
}

TEST(SessionAccounts, NothingFromGarbageOrItemsWithoutUser) {
  EXPECT_TRUE(parse_session_accounts("<html>401</html>").empty());
  EXPECT_TRUE(parse_session_accounts("").empty());
  EXPECT_TRUE(
      parse_session_accounts(
          R"({"MediaContainer":{"size":1,"Metadata":[{"Player":{"machineIdentifier":"x"}}]}})")
          .empty());
}

}  // namespace
}  // namespace plextap::enrich
