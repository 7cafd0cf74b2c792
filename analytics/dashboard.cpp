// The dashboard's routes and its update thread (dashboard.hpp).
#include "analytics/dashboard.hpp"

#include <exception>
#include <map>
#include <stdexcept>

#include "base/json_writer.hpp"
#include "base/percent.hpp"

namespace plextap::analytics {
namespace {

constexpr std::string_view kJson = "application/json";
struct BadRequest : std::runtime_error {
  using std::runtime_error::runtime_error;
};

DashboardAnswer json_answer(unsigned status, std::string body) {
  DashboardAnswer a;
  a.status = status;
  a.content_type = std::string(kJson);
  a.body = std::move(body);
  a.body += '\n';
  return a;
}

DashboardAnswer error_answer(unsigned status, std::string_view message) {
  std::string out = "{\"error\":";
  base::append_json_string(out, message);
  return json_answer(status, out + "}");
}

// The query's parameters, decoded; only those in `allowed`, each at most once.
std::map<std::string, std::string> parameters(std::string_view query,
                                              std::initializer_list<std::string_view> allowed) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    auto end = query.find('&');
    auto param = query.substr(0, end);
    query = end == std::string_view::npos ? std::string_view{} : query.substr(end + 1);
    if (param.empty()) continue;
    auto eq = param.find('=');
    std::string name = base::percent_decode(param.substr(0, eq), base::Plus::space);
    std::string value = eq == std::string_view::npos
                            ? std::string()
                            : base::percent_decode(param.substr(eq + 1), base::Plus::space);
    bool known = false;
    for (auto a : allowed) known = known || a == name;
    if (!known) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      throw BadRequest("unknown parameter '" + name + "'" +
                       (list.empty() ? std::string("; this endpoint takes none")
                                     : "; this endpoint takes " + list));
    }
    if (!out.emplace(name, value).second) throw BadRequest("parameter '" + name + "' given twice");
  }
  return out;
}

}  // namespace

Dashboard::Dashboard(Insights* insights, TimeParser parse_time, std::chrono::milliseconds min_gap)
    : insights_(insights),
      parse_time_(std::move(parse_time)),
      rounds_("dashboard", min_gap, [this] {
        insights_->update();
        ++rounds_done_;
      }) {}

Dashboard::~Dashboard() {
  stop();
}

void Dashboard::start() {
  if (insights_) rounds_.start();
}

void Dashboard::stop() {
  rounds_.stop();
}

DashboardAnswer Dashboard::answer(std::string_view method, std::string_view target) {
  const auto question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  const bool api = path.starts_with("/api/");
  if (path != "/" && !api) {
    DashboardAnswer a;
    a.status = 404;
    a.content_type = "text/plain; charset=utf-8";
    a.body = "not found; the dashboard is at /, its data under /api/\n";
    return a;
  }
  if (method != "GET") {
    auto a = error_answer(405, "only GET is answered here");
    a.headers.emplace_back("Allow", "GET");
    return a;
  }
  try {
    if (path == "/") {  // whatever its query: the page reads its filters itself
      DashboardAnswer a;
      a.content_type = "text/html; charset=utf-8";
      a.body = std::string(dashboard_page());
      // The page runs its own inline script and talks to this listener only.
      a.headers.emplace_back("Content-Security-Policy",
                             "default-src 'none'; script-src 'unsafe-inline'; style-src "
                             "'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
                             "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
      a.headers.emplace_back("X-Content-Type-Options", "nosniff");
      a.headers.emplace_back("Referrer-Policy", "no-referrer");
      return a;
    }
    if (!insights_) return error_answer(503, "recording is off: there is nothing to show");
    rounds_.ask();
    const bool updating = rounds_done_.load() == 0;
    auto api_answer = [updating](DashboardAnswer a) {
      if (updating) a.headers.emplace_back("X-Plextap-Updating", "1");
      return a;
    };
    auto filter_of = [&](const std::map<std::string, std::string>& p) {
      ViewFilter f;
      auto time = [&](const char* name) -> std::optional<std::int64_t> {
        auto it = p.find(name);
        if (it == p.end() || it->second.empty()) return std::nullopt;
        try {
          return parse_time_(it->second);
        } catch (const std::exception& e) {
          throw BadRequest(std::string(name) + ": " + e.what());
        }
      };
      f.since_ms = time("since");
      f.until_ms = time("until");
      if (auto it = p.find("user"); it != p.end()) f.user = it->second;
      return f;
    };
    if (path == "/api/views")
      return api_answer(json_answer(
          200, insights_->views_json(filter_of(parameters(query, {"since", "until", "user"})))));
    if (path == "/api/now_playing") {
      parameters(query, {});
      return api_answer(json_answer(200, insights_->now_playing_json()));
    }
    if (path == "/api/users") {
      parameters(query, {});
      return api_answer(json_answer(200, insights_->users_json()));
    }
    if (path.starts_with("/api/export/")) {
      const std::string_view kind = path.substr(std::string_view("/api/export/").size());
      auto p = parameters(query, {"format", "since", "until", "user"});
      const std::string format = p.count("format") ? p["format"] : "jsonl";
      if (format != "jsonl" && format != "csv")
        throw BadRequest("format: '" + format + "' is neither jsonl nor csv");
      DashboardAnswer a;
      a.content_type = format == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson";
      a.body = insights_->export_text(
          kind, format == "csv" ? ExportFormat::csv : ExportFormat::jsonl, filter_of(p));
      a.headers.emplace_back("Content-Disposition", "attachment; filename=\"plextap-" +
                                                        std::string(kind) + "." + format + "\"");
      return a;
    }
    return error_answer(404, "no such endpoint: " + std::string(path));
  } catch (const BadRequest& e) {
    return error_answer(400, e.what());
  } catch (const std::invalid_argument& e) {  // an export kind Insights does not know
    return error_answer(400, e.what());
  } catch (const std::exception& e) {
    return error_answer(500, e.what());
  }
}

}  // namespace plextap::analytics
