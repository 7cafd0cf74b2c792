#include "enrich/accounts.hpp"

#include "capture/parse_doc.hpp"

namespace plextap::enrich {

std::vector<SessionAccount> parse_session_accounts(std::string_view body) {
  std::vector<SessionAccount> out;
  capture::detail::Document doc(200, {}, body);
  if (!doc.container()) return out;
  for (const auto& item : doc.container().children(capture::detail::kItemNames)) {
    auto player = item.first_child({"Player"});
    auto user = item.first_child({"User"});
    if (!player || !user) continue;
    SessionAccount a{capture::detail::to_text(player.get("machineIdentifier")),
                     capture::detail::to_text(user.get("id")), capture::detail::to_text(user.get("title"))};
    if (!a.client_id.empty() && !a.account_id.empty()) out.push_back(std::move(a));
  }
  return out;
}

}  // namespace plextap::enrich
