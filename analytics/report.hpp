// `plextap report`: the views of views.hpp rendered for people. Pure functions from the
// views JSON text (as Insights::views_json answers) to text: aligned plain-text tables, or
// one self-contained HTML page (inline CSS, no script, nothing loaded from elsewhere).
// Every recorded string is escaped on the way: in text, control bytes become \xHH so that
// nothing reaches a terminal as a command; in HTML, markup characters become entities.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace plextap::analytics {

// One cell as people read it, by its column's type: "ms" as h:mm:ss, "ratio" as a
// percentage with one decimal, "bool" as yes/no, null as "-". `json` is the cell's JSON
// text (a number, a string literal, true/false or null).
std::string format_cell(std::string_view type, std::string_view json);

// Each view as a titled table, columns aligned (by code points, numbers to the right),
// its note under it. Throws std::invalid_argument when `views_json` is not views JSON.
std::string render_text(std::string_view views_json);

// One HTML page holding the same tables. Throws std::invalid_argument like render_text.
std::string render_html(std::string_view views_json);

// `s` with & < > " ' as entities, safe inside an element and a quoted attribute.
std::string html_escape(std::string_view s);

}  // namespace plextap::analytics
