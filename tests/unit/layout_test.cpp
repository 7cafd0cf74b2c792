// The layout of DESIGN.md section 2, held against the code: every include of one of our
// headers runs along an arrow of the table below, and no header includes itself round a
// circle. Reads the source tree; a new folder or arrow is added here and in the README.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace plextap {
namespace {

namespace fs = std::filesystem;

// Folder -> the folders its files may include (besides its own).
const std::map<std::string, std::set<std::string>>& arrows() {
  static const std::map<std::string, std::set<std::string>> table{
      {"base", {}},
      {"store", {"base"}},
      {"certs", {"base"}},
      {"net", {"base", "certs"}},
      {"capture", {"base", "store"}},
      {"enrich", {"base", "net", "store", "capture"}},
      {"analytics", {"base", "store", "capture"}},
      {"proxy", {"base", "net", "certs", "capture"}},
      {"replay", {"base", "net", "store", "capture", "proxy"}},
      {"sink", {"base", "store", "capture", "analytics"}},
      {"app",
       {"base", "store", "certs", "net", "capture", "enrich", "analytics", "proxy", "replay",
        "sink"}},
  };
  return table;
}

// The one header of a folder another may use where the table allows only a seam.
const std::map<std::pair<std::string, std::string>, std::set<std::string>>& seams() {
  static const std::map<std::pair<std::string, std::string>, std::set<std::string>> table{
      // The tap, and redaction: the access log writes targets with capture's rule, so that
      // a token never reaches a log.
      {{"proxy", "capture"}, {"capture/tap.hpp", "capture/redact.hpp"}},
      {{"replay", "proxy"}, {"proxy/responder.hpp"}},
  };
  return table;
}

struct Include {
  fs::path file;  // relative to the source root
  int line;
  std::string target;  // "folder/name.hpp"
};

std::vector<Include> includes_of(const fs::path& root, const fs::path& file) {
  static const std::regex kInclude(R"(^\s*#\s*include\s+"([a-z_]+/[^"]+)\")");
  std::vector<Include> out;
  std::ifstream in(root / file);
  std::string text;
  for (int n = 1; std::getline(in, text); ++n)
    if (std::smatch m; std::regex_search(text, m, kInclude)) out.push_back({file, n, m[1]});
  return out;
}

std::vector<fs::path> sources(const fs::path& root) {
  std::vector<fs::path> out;
  for (const auto& [folder, _] : arrows()) {
    if (!fs::is_directory(root / folder)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
      const auto ext = entry.path().extension();
      if (entry.is_regular_file() && (ext == ".hpp" || ext == ".cpp"))
        out.push_back(fs::relative(entry.path(), root));
    }
  }
  return out;
}

std::string folder_of(const std::string& path) {
  return path.substr(0, path.find('/'));
}

TEST(Layout, EveryIncludeRunsAlongAnArrow) {
  const fs::path root = PLEXTAP_SOURCE_DIR;
  std::size_t checked = 0;
  for (const auto& file : sources(root)) {
    const std::string from = folder_of(file.generic_string());
    for (const auto& inc : includes_of(root, file)) {
      const std::string to = folder_of(inc.target);
      if (to == from || to == "tests" || !arrows().contains(to)) continue;
      ++checked;
      const auto& allowed = arrows().at(from);
      EXPECT_TRUE(allowed.contains(to))
          << file.generic_string() << ":" << inc.line << " includes " << inc.target << ": " << from
          << "/ may not use " << to << "/";
      if (auto seam = seams().find({from, to}); seam != seams().end()) {
        EXPECT_TRUE(seam->second.contains(inc.target))
            << file.generic_string() << ":" << inc.line << " includes " << inc.target << ": "
            << from << "/ may use only the seam of " << to << "/";
      }
    }
  }
  EXPECT_GT(checked, 50u) << "the tree was not found under " << root;
}

TEST(Layout, NoCircleOfIncludes) {
  const fs::path root = PLEXTAP_SOURCE_DIR;
  std::map<std::string, std::vector<std::string>> edges;
  for (const auto& file : sources(root))
    for (const auto& inc : includes_of(root, file))
      if (fs::exists(root / inc.target)) edges[file.generic_string()].push_back(inc.target);
  ASSERT_FALSE(edges.empty());
  std::map<std::string, int> state;  // 1: on the path, 2: done
  std::vector<std::string> path;
  std::function<void(const std::string&)> visit = [&](const std::string& node) {
    state[node] = 1;
    path.push_back(node);
    for (const auto& next : edges[node]) {
      if (state[next] == 1) {
        std::string circle;
        for (auto it = std::find(path.begin(), path.end(), next); it != path.end(); ++it)
          circle += *it + " -> ";
        ADD_FAILURE() << "circle of includes: " << circle << next;
      } else if (state[next] == 0) {
        visit(next);
      }
    }
    path.pop_back();
    state[node] = 2;
  };
  for (const auto& [node, _] : edges)
    if (state[node] == 0) visit(node);
}

}  // namespace
}  // namespace plextap
