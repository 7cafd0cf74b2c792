#include "app/version.hpp"

#include "app/version_info.hpp"  // generated: PLEXTAP_VERSION, PLEXTAP_COMMIT
#include "base/prometheus.hpp"

namespace plextap::app {

std::string_view version() {
  return PLEXTAP_VERSION;
}

std::string_view commit() {
  return PLEXTAP_COMMIT;
}

std::string version_line() {
  return "plextap " + std::string(version()) + " (" + std::string(commit()) + ")";
}

std::string build_info_metrics() {
  std::string text;
  base::PrometheusText out(text);
  out.family("plextap_build_info", "gauge",
             "Always 1; the labels name the version and the commit plextap was built from.");
  const base::Label labels[] = {{"version", version()}, {"commit", commit()}};
  out.sample("plextap_build_info", labels, 1);
  return text;
}

}  // namespace plextap::app
