// `plextap export har`: recorded exchanges as an HTTP Archive 1.2 file, which browser
// developer tools and other recorders open. Tokens stay redacted; bodies are written as
// captured (decoded from gzip/deflate, base64 where they are not text).
#pragma once

#include <cstdint>
#include <cstdio>

#include "analytics/export.hpp"
#include "store/store.hpp"

namespace plextap::analytics {

std::uint64_t export_har(store::Store& store, const ExportOptions& options, std::FILE* out);

}  // namespace plextap::analytics
