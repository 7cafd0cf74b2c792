#include "base/prometheus.hpp"

namespace plextap::base {
namespace {

void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quote)
      out += "\\\"";
    else
      out += c;
  }
}

}  // namespace

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
  out_.append("# HELP ").append(name).append(" ");
  append_escaped(out_, help, false);
  out_.append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
}

void PrometheusText::sample(std::string_view name, std::string_view value) {
  out_.append(name).append(" ").append(value).append("\n");
}

void PrometheusText::sample(std::string_view name, const Label& label, std::string_view value) {
  out_.append(name).append("{").append(label.name).append("=\"");
  append_escaped(out_, label.value, true);
  out_.append("\"} ").append(value).append("\n");
}

}  // namespace plextap::base
