// The renderers of `plextap report`: views JSON in, text or HTML out (report.hpp).
#include "analytics/report.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "base/markup.hpp"

namespace plextap::analytics {
namespace {

namespace dom = simdjson::dom;

// A view as the renderers need it: every cell already formatted.
struct Table {
  std::string title, note;
  std::vector<std::string> labels;
  std::vector<bool> numeric;  // right-aligned
  std::vector<std::vector<std::string>> rows;
};

struct Report {
  std::string since, until, user, generated_at;
  std::vector<Table> tables;
};

std::string ms_text(double value) {
  const bool negative = value < 0;
  auto total = static_cast<long long>(std::llround(std::fabs(value)) / 1000);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%lld:%02lld:%02lld", negative ? "-" : "", total / 3600,
                total / 60 % 60, total % 60);
  return buf;
}

std::string ratio_text(double value) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f%%", value * 100.0);
  return buf;
}

std::string number_text(dom::element e) {
  if (e.is_int64()) return std::to_string(std::int64_t(e.get_int64()));
  if (e.is_uint64()) return std::to_string(std::uint64_t(e.get_uint64()));
  double d = e.get_double();
  if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(std::llround(d));
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3g", d);
  return buf;
}

std::string cell_text(std::string_view type, dom::element e) {
  switch (e.type()) {
    case dom::element_type::NULL_VALUE:
      return "-";
    case dom::element_type::BOOL:
      return bool(e.get_bool()) ? "yes" : "no";
    case dom::element_type::STRING:
      return std::string(std::string_view(e.get_string()));
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE: {
      double d = e.get_double();
      if (type == "ms") return ms_text(d);
      if (type == "ratio") return ratio_text(d);
      return number_text(e);
    }
    default:
      return simdjson::minify(e);
  }
}

std::string string_or_empty(dom::element e, std::string_view key) {
  auto v = e[key];
  if (v.error() || !v.value().is_string()) return {};
  return std::string(std::string_view(v.value().get_string()));
}

Report parse_report(std::string_view json) {
  dom::parser parser;
  simdjson::padded_string padded(json);
  dom::element root;
  if (parser.parse(padded).get(root) || !root.is_object())
    throw std::invalid_argument("views: not a JSON object");
  Report report;
  report.since = string_or_empty(root, "since");
  report.until = string_or_empty(root, "until");
  report.user = string_or_empty(root, "user");
  report.generated_at = string_or_empty(root, "generated_at");
  dom::array views;
  if (root["views"].get_array().get(views)) throw std::invalid_argument("views: no views array");
  for (dom::element view : views) {
    Table t;
    t.title = string_or_empty(view, "title");
    if (t.title.empty()) t.title = string_or_empty(view, "name");
    t.note = string_or_empty(view, "note");
    std::vector<std::string> types;
    dom::array columns, rows;
    if (view["columns"].get_array().get(columns) || view["rows"].get_array().get(rows))
      throw std::invalid_argument("views: a view without columns or rows");
    for (dom::element c : columns) {
      std::string label = string_or_empty(c, "label");
      t.labels.push_back(label.empty() ? string_or_empty(c, "name") : label);
      types.push_back(string_or_empty(c, "type"));
      const auto& type = types.back();
      t.numeric.push_back(type == "int" || type == "ms" || type == "ratio");
    }
    for (dom::element r : rows) {
      dom::array cells;
      if (r.get_array().get(cells))
        throw std::invalid_argument("views: a row that is not an array");
      std::vector<std::string> row;
      std::size_t i = 0;
      for (dom::element cell : cells) {
        if (i >= types.size()) break;
        row.push_back(cell_text(types[i++], cell));
      }
      row.resize(types.size(), "-");
      t.rows.push_back(std::move(row));
    }
    report.tables.push_back(std::move(t));
  }
  return report;
}

// Control bytes (C0, DEL, and C1 as UTF-8) as \xHH: a recorded string must not move a
// terminal's cursor or change its colours.
std::string terminal_safe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  char buf[8];
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned char>(s[i + 1]));
      out += buf;
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Display width in code points (the strings are valid UTF-8: simdjson checked them).
std::size_t width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

void pad(std::string& out, std::string_view cell, std::size_t w, bool right) {
  std::string fill(w > width(cell) ? w - width(cell) : 0, ' ');
  if (right) out += fill;
  out += cell;
  if (!right) out += fill;
}

void text_table(std::string& out, const Table& t) {
  std::string title = terminal_safe(t.title);
  out += title + "\n" + std::string(width(title), '=') + "\n";
  std::vector<std::string> labels;
  std::vector<std::size_t> widths;
  for (const auto& l : t.labels) {
    labels.push_back(terminal_safe(l));
    widths.push_back(width(labels.back()));
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : t.rows) {
    rows.emplace_back();
    for (std::size_t i = 0; i < r.size(); ++i) {
      rows.back().push_back(terminal_safe(r[i]));
      widths[i] = std::max(widths[i], width(rows.back().back()));
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i) text += "  ";
      pad(text, cells[i], widths[i], t.numeric[i]);
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  line(labels);
  std::vector<std::string> rules;
  for (auto w : widths) rules.emplace_back(w, '-');
  line(rules);
  for (const auto& r : rows) line(r);
  if (rows.empty()) out += "(no rows)\n";
  if (!t.note.empty()) out += terminal_safe(t.note) + "\n";
  out += "\n";
}

std::string scope_line(const Report& r) {
  std::string s = "from " + (r.since.empty() ? std::string("the start") : r.since) + " until " +
                  (r.until.empty() ? std::string("now") : r.until) + ", " +
                  (r.user.empty() ? std::string("every user") : "user " + r.user);
  if (!r.generated_at.empty()) s += " (generated " + r.generated_at + ")";
  return s;
}

constexpr std::string_view kCss = R"(
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:70em;padding:1em;color:#1d2327;background:#fff}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:1.6em 0 .4em}
.scope{color:#555;margin:0 0 1em}.note{color:#555;font-size:.9em}
.wrap{overflow-x:auto}table{border-collapse:collapse;min-width:50%}
th,td{padding:.25em .7em;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}
th{background:#f4f5f7;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:#777;font-style:italic}
)";

}  // namespace

std::string format_cell(std::string_view type, std::string_view json) {
  dom::parser parser;
  simdjson::padded_string padded(json);
  dom::element e;
  if (parser.parse(padded).get(e)) throw std::invalid_argument("cell: not JSON");
  return cell_text(type, e);
}

std::string html_escape(std::string_view s) {
  return base::markup_escaped(s);
}

std::string render_text(std::string_view views_json) {
  Report r = parse_report(views_json);
  std::string out = "plextap report: " + terminal_safe(scope_line(r)) + "\n\n";
  for (const auto& t : r.tables) text_table(out, t);
  return out;
}

std::string render_html(std::string_view views_json) {
  Report r = parse_report(views_json);
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      // Nothing on the page may load or run anything, whatever a recorded string holds.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'\">"
      "<title>plextap report</title><style>";
  out += kCss;
  out += "</style></head><body>\n<h1>plextap report</h1>\n<p class=\"scope\">" +
         html_escape(scope_line(r)) + "</p>\n";
  for (const auto& t : r.tables) {
    out += "<section><h2>" + html_escape(t.title) + "</h2>\n<div class=\"wrap\"><table><thead><tr>";
    for (std::size_t i = 0; i < t.labels.size(); ++i)
      out += std::string(t.numeric[i] ? "<th class=\"num\">" : "<th>") + html_escape(t.labels[i]) +
             "</th>";
    out += "</tr></thead><tbody>\n";
    for (const auto& row : t.rows) {
      out += "<tr>";
      for (std::size_t i = 0; i < row.size(); ++i)
        out += std::string(t.numeric[i] ? "<td class=\"num\">" : "<td>") + html_escape(row[i]) +
               "</td>";
      out += "</tr>\n";
    }
    if (t.rows.empty())
      out += "<tr><td class=\"empty\" colspan=\"" +
             std::to_string(std::max<std::size_t>(1, t.labels.size())) + "\">no rows</td></tr>\n";
    out += "</tbody></table></div>\n";
    if (!t.note.empty()) out += "<p class=\"note\">" + html_escape(t.note) + "</p>\n";
    out += "</section>\n";
  }
  out += "</body></html>\n";
  return out;
}

}  // namespace plextap::analytics
