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
  sample(name, std::span<const Label>(&label, 1), value);
}

void PrometheusText::sample(std::string_view name, std::span<const Label> labels,
                            std::string_view value) {
  out_.append(name).append("{");
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i) out_ += ',';
    out_.append(labels[i].name).append("=\"");
    append_escaped(out_, labels[i].value, true);
    out_ += '"';
  }
  out_.append("} ").append(value).append("\n");
}

}  // namespace plextap::base
