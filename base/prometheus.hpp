// Prometheus text exposition format (version 0.0.4), as /metrics serves it: a family's
// HELP and TYPE lines, then its samples. Label values and HELP texts are escaped as the
// format asks ('\\', '"' and line feeds in label values; '\\' and line feeds in HELP).
#pragma once

#include <concepts>
#include <span>
#include <string>
#include <string_view>

namespace plextap::base {

struct Label {
  std::string_view name, value;
};

class PrometheusText {
 public:
  explicit PrometheusText(std::string& out) : out_(out) {}

  // "# HELP name help" and "# TYPE name type" (counter, gauge, histogram, ...).
  void family(std::string_view name, std::string_view type, std::string_view help);

  // "name value" and "name{label="value"} value"; `value` is written as given.
  void sample(std::string_view name, std::string_view value);
  void sample(std::string_view name, const Label& label, std::string_view value);
  // "name{a="x",b="y"} value": several labels, in the order given.
  void sample(std::string_view name, std::span<const Label> labels, std::string_view value);

  template <std::integral T>
  void sample(std::string_view name, T value) {
    sample(name, std::string_view(std::to_string(value)));
  }
  template <std::integral T>
  void sample(std::string_view name, const Label& label, T value) {
    sample(name, label, std::string_view(std::to_string(value)));
  }
  template <std::integral T>
  void sample(std::string_view name, std::span<const Label> labels, T value) {
    sample(name, labels, std::string_view(std::to_string(value)));
  }

 private:
  std::string& out_;
};

}  // namespace plextap::base
