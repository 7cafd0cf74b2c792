// Who is behind a client: the server's /status/sessions names the account (User id and
// title) of every client playing now. plextap remembers it per client identifier and
// joins it onto events as user.account_id and user.name; tokens are never needed for it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace plextap::enrich {

struct SessionAccount {
  std::string client_id;   // Player.machineIdentifier
  std::string account_id;  // User.id
  std::string name;        // User.title
};

// Reads a /status/sessions answer (JSON or XML). Items without a player or user are skipped.
std::vector<SessionAccount> parse_session_accounts(std::string_view body);

}  // namespace plextap::enrich
