// `plextap export clients`: the client table of clients.hpp as JSON lines or CSV.
#include "analytics/clients.hpp"
#include "analytics/export.hpp"

namespace plextap::analytics {

std::uint64_t export_clients(store::Store& store, const ExportOptions& options, std::FILE* out) {
  auto sink = make_record_sink(options.format, out);
  std::vector<std::string> rows;
  for (const ClientRow& row : collect_clients(store, options.since_ms, options.until_ms)) {
    if (!options.client.empty() && row.client_id != options.client) continue;
    std::string json;
    base::JsonWriter w(json);
    write_client(row, w);
    rows.push_back(std::move(json));
  }
  if (sink->needs_columns())
    for (const auto& r : rows) sink->learn(r);
  sink->begin({"client_id", "product", "platform", "device_name", "first_seen", "last_seen"});
  for (const auto& r : rows) sink->write(r);
  sink->flush();
  return sink->written();
}

}  // namespace plextap::analytics
