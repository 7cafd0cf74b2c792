#include "app/config_file.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iterator>
#include <map>
#include <sstream>

#include "base/text_distance.hpp"

namespace plextap::app {
namespace {

// Subcommands that read another's table: `check` validates what `serve` would use.
const std::map<std::string, std::string, std::less<>> kReadsTableOf{{"check", "serve"}};
// Subcommands that have no table: `help`, and those that read another's.
bool has_table(const CLI::App& cmd) {
  return cmd.get_name() != "help" && !kReadsTableOf.contains(cmd.get_name());
}

std::vector<const CLI::App*> tables_of(const CLI::App& cmd) {
  std::vector<const CLI::App*> out;
  for (const auto* sub : cmd.get_subcommands([](const CLI::App*) { return true; }))
    if (has_table(*sub)) out.push_back(sub);
  return out;
}

const CLI::App* table_named(const CLI::App& cmd, std::string_view name) {
  for (const auto* sub : tables_of(cmd))
    if (sub->get_name() == name) return sub;
  return nullptr;
}

// The flags a table may set: every long option but --help and --config.
std::vector<const CLI::Option*> keys_of(const CLI::App& cmd) {
  std::vector<const CLI::Option*> out;
  for (const auto* opt : cmd.get_options([](const CLI::Option* o) {
         return !o->get_lnames().empty() && o->get_configurable();
       })) {
    const auto& name = opt->get_lnames().front();
    if (name != "help" && name != "config" && name != "version") out.push_back(opt);
  }
  return out;
}

const CLI::Option* key_named(const CLI::App& cmd, std::string_view name) {
  for (const auto* opt : keys_of(cmd))
    if (opt->get_lnames().front() == name) return opt;
  return nullptr;
}

// "[serve]", "[replay.send]"; "the top level" for the file itself.
std::string table_label(const std::vector<std::string>& path) {
  if (path.empty()) return "the top level";
  std::string label = "[";
  for (const auto& p : path) label += (label.size() > 1 ? "." : "") + p;
  return label + "]";
}

// Every place a key may stand, "[serve] upstream" and "[replay.send] target" alike.
void all_keys(const CLI::App& cmd, std::vector<std::string>& path,
              std::vector<std::pair<std::string, std::string>>& out) {
  for (const auto* opt : keys_of(cmd))
    if (!path.empty()) out.emplace_back(opt->get_lnames().front(), table_label(path));
  for (const auto* sub : tables_of(cmd)) {
    path.push_back(sub->get_name());
    all_keys(*sub, path, out);
    path.pop_back();
  }
}

const char* type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "a whole number";
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "true or false";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date or time";
  }
}

struct Walker {
  const CLI::App& root;
  const std::string& file;
  std::vector<CLI::ConfigItem> items;

  [[noreturn]] void fail(const toml::source_region& where, const std::string& what) const {
    throw ConfigFileError(file + ":" + std::to_string(where.begin.line) + ": " + what);
  }

  // The closest of `candidates` to `name`, if it is close enough to be a likely typo.
  static std::string closest(std::string_view name, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_distance = std::max<std::size_t>(2, name.size() / 3) + 1;
    for (const auto& c : candidates) {
      auto d = base::edit_distance(name, c);
      if (d < best_distance) best_distance = d, best = c;
    }
    return best;
  }

  [[noreturn]] void unknown_key(const toml::key& key, const CLI::App& cmd,
                                const std::vector<std::string>& path, bool is_table) const {
    const std::string name(key.str());
    // The same name in another table: the key stands in the wrong place.
    std::vector<std::pair<std::string, std::string>> everywhere;
    std::vector<std::string> scratch;
    all_keys(root, scratch, everywhere);
    std::vector<std::string> tables_here, keys_here;
    for (const auto* sub : tables_of(cmd)) tables_here.push_back(sub->get_name());
    for (const auto* opt : keys_of(cmd)) keys_here.push_back(opt->get_lnames().front());
    if (!is_table) {
      std::string tables, first;
      for (const auto& [k, table] : everywhere)
        if (k == name) {
          tables += (tables.empty() ? "" : ", ") + table;
          // Under the table the key stands in first: [replay] data -> [replay.serve].
          const auto here = table_label(path);
          const bool inside =
              !path.empty() && table.starts_with(here.substr(0, here.size() - 1) + ".");
          if (first.empty() ||
              (inside && !first.starts_with(here.substr(0, here.size() - 1) + ".")))
            first = table;
        }
      if (!tables.empty())
        fail(key.source(), "key '" + name + "' " +
                               (path.empty() ? std::string("is outside any table")
                                             : "in " + table_label(path) + " is not a flag there") +
                               ": it belongs in " + tables + " (did you mean " + first + " " +
                               name + "?)");
    }
    std::vector<std::string> candidates = is_table ? tables_here : keys_here;
    if (is_table) candidates.insert(candidates.end(), keys_here.begin(), keys_here.end());
    std::string suggestion = closest(name, candidates);
    if (suggestion.empty() && !is_table) {
      // A typo of a key of another table.
      std::vector<std::string> names;
      for (const auto& [k, table] : everywhere) names.push_back(k);
      auto other = closest(name, names);
      for (const auto& [k, table] : everywhere)
        if (!other.empty() && k == other) {
          suggestion = table + " " + k;
          break;
        }
    }
    std::string what = std::string(is_table ? "unknown table '" : "unknown key '") + name +
                       "' in " + table_label(path);
    if (const auto reads = kReadsTableOf.find(name); is_table && reads != kReadsTableOf.end())
      suggestion = reads->second;  // [check] -> [serve]: check reads serve's table
    if (path.empty() && !is_table) what = "key '" + name + "' outside any table";
    if (!suggestion.empty()) what += " (did you mean '" + suggestion + "'?)";
    fail(key.source(), what);
  }

  // The text CLI11 converts, for one scalar of the right kind for `opt`.
  std::string scalar(const toml::key& key, const toml::node& value, const CLI::Option& opt,
                     const std::string& where) const {
    const std::string type = opt.get_type_name();
    const bool integer = type.starts_with("UINT") || type.starts_with("INT");
    const bool number = integer || type.starts_with("FLOAT") || type.starts_with("NUMBER");
    const std::string name(key.str());
    auto wrong = [&](const char* expected) {
      fail(value.source(), "key '" + name + "' in " + where + " must be " + expected + ", not " +
                               type_name(value.type()));
    };
    if (const auto* i = value.as_integer()) {
      if (type.starts_with("UINT") && i->get() < 0) wrong("a whole number of 0 or more");
      return std::to_string(i->get());
    }
    if (const auto* f = value.as_floating_point()) {
      if (integer) wrong("a whole number");
      std::ostringstream out;
      out << f->get();
      return out.str();
    }
    if (const auto* s = value.as_string()) {
      if (number) wrong(integer ? "a whole number" : "a number");
      return s->get();
    }
    wrong(number ? (integer ? "a whole number" : "a number") : "a string");
    return {};  // not reached: wrong() throws
  }

  void value(const toml::key& key, const toml::node& node, const CLI::Option& opt,
             const std::vector<std::string>& path) {
    const std::string where = table_label(path);
    const std::string name(key.str());
    CLI::ConfigItem item;
    item.parents = path;
    item.name = name;
    if (opt.get_expected_max() == 0) {
      // A flag: true or false, nothing else.
      const auto* b = node.as_boolean();
      if (!b) fail(node.source(), "key '" + name + "' in " + where + " must be true or false");
      item.inputs = {b->get() ? "true" : "false"};
    } else if (const auto* array = node.as_array()) {
      if (opt.get_items_expected_max() <= 1)
        fail(node.source(), "key '" + name + "' in " + where + " takes one value, not an array");
      for (const auto& element : *array) item.inputs.push_back(scalar(key, element, opt, where));
    } else {
      item.inputs = {scalar(key, node, opt, where)};
    }
    // The environment wins over the file: CLI11 reads the file first, and would keep it.
    const std::string env = opt.get_envname();
    if (const char* set = env.empty() ? nullptr : std::getenv(env.c_str()); set && *set) return;
    add(std::move(item));
  }

  // The item, and the same for every subcommand that reads this table.
  void add(CLI::ConfigItem item) {
    for (const auto& [reader, table] : kReadsTableOf)
      if (item.parents.size() == 1 && item.parents.front() == table) {
        auto copy = item;
        copy.parents = {reader};
        items.push_back(std::move(copy));
      }
    items.push_back(std::move(item));
  }

  void table(const toml::table& t, const CLI::App& cmd, std::vector<std::string>& path) {
    for (const auto& [key, node] : t) {
      const std::string name(key.str());
      if (const auto* sub = table_named(cmd, name)) {
        const auto* inner = node.as_table();
        path.push_back(name);
        if (!inner) fail(key.source(), "'" + name + "' must be a table: " + table_label(path));
        table(*inner, *sub, path);
        path.pop_back();
      } else if (const auto* opt = path.empty() ? nullptr : key_named(cmd, name)) {
        value(key, node, *opt, path);
      } else {
        unknown_key(key, cmd, path, node.is_table());
      }
    }
  }
};

// " at key 'threads'" for a line that reads `threads = ...`, "" for any other.
std::string key_on_line(std::string_view text, std::size_t line) {
  for (std::size_t n = 1; n < line && !text.empty(); ++n) {
    const auto end = text.find('\n');
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
  }
  text = text.substr(0, text.find('\n'));
  const auto eq = text.find('=');
  if (eq == std::string_view::npos) return {};
  auto key = text.substr(0, eq);
  while (!key.empty() && (key.front() == ' ' || key.front() == '\t')) key.remove_prefix(1);
  while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
  return bare ? " at key '" + std::string(key) + "'" : std::string();
}

}  // namespace

std::vector<CLI::ConfigItem> config_items(const CLI::App& app, std::string_view text,
                                          const std::string& file) {
  toml::table doc;
  try {
    doc = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    const auto line = e.source().begin.line;
    throw ConfigFileError(file + ":" + std::to_string(line) + ": syntax error" +
                          key_on_line(text, line) + ": " + std::string(e.description()));
  }
  Walker walker{app, file, {}};
  std::vector<std::string> path;
  walker.table(doc, app, path);
  return std::move(walker.items);
}

std::vector<CLI::ConfigItem> StrictTomlConfig::from_config(std::istream& input) const {
  const std::string text(std::istreambuf_iterator<char>(input), {});
  const auto* option = app_.get_option_no_throw("--config");
  return config_items(app_, text, option ? option->as<std::string>() : "config file");
}

}  // namespace plextap::app
