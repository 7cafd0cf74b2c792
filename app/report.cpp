// `plextap report`: the views of the store (analytics/views.hpp) as text tables, JSON or
// one HTML page (analytics/report.hpp), read-only, safe while `serve` writes the store.
#include "analytics/report.hpp"

#include <cstdio>
#include <filesystem>
#include <memory>

#include "analytics/views.hpp"
#include "app/cli.hpp"
#include "app/commands.hpp"
#include "store/store.hpp"

namespace plextap::app {
namespace {

struct ReportFlags {
  std::string data = "./plextap-data";
  std::string since, until, user, output;
  std::string format = "text";
};

int run_report(const ReportFlags& f) {
  analytics::ViewFilter filter;
  if (!f.since.empty()) filter.since_ms = parse_time(f.since);
  if (!f.until.empty()) filter.until_ms = parse_time(f.until);
  filter.user = f.user;

  store::Store store(std::filesystem::path(f.data) / "store", true);
  analytics::Insights insights(store);
  insights.finish();  // the store as it is now is all there is: every play ends
  std::string views = insights.views_json(filter);
  std::string text = f.format == "json"   ? views + "\n"
                     : f.format == "html" ? analytics::render_html(views)
                                          : analytics::render_text(views);

  Output output(f.output);
  std::FILE* out = output.get();
  std::fwrite(text.data(), 1, text.size(), out);
  if (std::fflush(out) != 0 || std::ferror(out)) throw std::runtime_error("write failed");
  // What was intact has been reported; a record that was not makes the run fail.
  store.throw_if_damaged();
  return 0;
}

}  // namespace

Runner add_report(CLI::App& app) {
  auto f = std::make_shared<ReportFlags>();
  auto* cmd = app.add_subcommand(
      "report", "Print the analytics views of the store as tables (text, JSON or an HTML page)");
  with_env(cmd->add_option("--data", f->data, "Data directory")->capture_default_str());
  with_env(
      cmd->add_option("--since", f->since, "From this time (RFC 3339, date, or age like 24h)"));
  with_env(cmd->add_option("--until", f->until, "Before this time"));
  with_env(cmd->add_option("--user", f->user, "Only this user (account name or id)"));
  with_env(cmd->add_option("--format", f->format, "Output format")
               ->check(CLI::IsMember({"text", "json", "html"}))
               ->capture_default_str());
  with_env(cmd->add_option("--output", f->output, "Write to FILE instead of standard output"));
  return [f] { return run_report(*f); };
}

}  // namespace plextap::app
