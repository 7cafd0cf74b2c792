// Fields of the rows analytics derives (plays, runs, queue outcomes, clients): nulls where a value is unknown,
// times as RFC 3339.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include "base/json_writer.hpp"
#include "base/time.hpp"

namespace plextap::analytics {

inline void put_string_or_null(base::JsonWriter& out, std::string_view key,
                               std::string_view value) {
  out.key(key);
  if (value.empty())
    out.null();
  else
    out.string(value);
}

template <typename T>
void put_optional(base::JsonWriter& out, std::string_view key, const std::optional<T>& value) {
  out.key(key);
  if (!value)
    out.null();
  else if constexpr (std::is_same_v<T, bool>)
    out.boolean(*value);
  else if constexpr (std::is_same_v<T, double>)
    out.number(*value);
  else
    out.int64(*value);
}

inline void put_time(base::JsonWriter& out, std::string_view key, std::int64_t ms) {
  out.key(key);
  out.string(base::rfc3339_ms(ms));
}

// `"user":{"account_id":…,"name":…}`, or `"user":null` when neither is known.
inline void put_user(base::JsonWriter& out, const std::optional<std::int64_t>& account_id,
                     std::string_view name) {
  out.key("user");
  if (!account_id && name.empty()) {
    out.null();
    return;
  }
  out.begin_object();
  put_optional(out, "account_id", account_id);
  put_string_or_null(out, "name", name);
  out.end_object();
}

}  // namespace plextap::analytics
