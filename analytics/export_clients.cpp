// `plextap export clients`: the client table of clients.hpp as JSON lines or CSV.
#include "analytics/clients.hpp"
#include "analytics/export.hpp"

namespace plextap::analytics {

std::uint64_t export_clients(store::Store& store, const ExportOptions& options, std::FILE* out) {
  auto sink = open_sink(options, out);
  std::string json;
  for (const ClientRow& row : collect_clients(store, options.since_ms, options.until_ms)) {
    if (!options.client.empty() && row.client_id != options.client) continue;
    json.clear();
    base::JsonWriter w(json);
    write_client(row, w);
    sink->write(json);
  }
  sink->flush();
  return sink->written();
}

}  // namespace plextap::analytics
