// What this build is: the version (CMake's project(VERSION)), the commit it was built from,
// and the /metrics line that says both.
#pragma once

#include <string>
#include <string_view>

namespace plextap::app {

std::string_view version();
// `git describe --always --dirty` at build time; "unknown" outside a git checkout.
std::string_view commit();
// "plextap 0.14.0 (b47281b)": what --version prints.
std::string version_line();
// plextap_build_info{version="…",commit="…"} 1, with its HELP and TYPE lines.
std::string build_info_metrics();

}  // namespace plextap::app
