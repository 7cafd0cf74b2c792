// The parser of every message the proxy reads: Beast's basic_parser (its tokenizer and
// its framing checks) with the head kept flat. beast::http::parser builds a field object
// per header (an allocation each, and a tree to index them) that the proxy never looks
// up; here the start line and the fields are copied into one buffer per connection, which
// keeps its capacity from message to message, and are read back as a list of views. The
// body goes where body() points, as with beast::http::buffer_body. Internal to proxy/: it
// carries Beast types.
#pragma once

#include <algorithm>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/framing.hpp"

namespace plextap::proxy {

// What a head parser fills: one per connection and direction, reused for every message.
struct HeadStore {
  std::string text;  // the method and target (or the reason), then each name and value
  struct Span {
    std::uint32_t name, name_size, value, value_size;
  };
  std::vector<Span> spans;
  std::vector<Field> fields;  // views into `text`, made once the head is complete

  void clear() {
    text.clear();
    spans.clear();
    fields.clear();
  }
  // Gives memory back after an unusually large head, so an idle connection keeps little.
  void trim() {
    if (text.capacity() > 8 * 1024) std::string().swap(text);
    if (spans.capacity() > 128) std::vector<Span>().swap(spans);
    if (fields.capacity() > 128) std::vector<Field>().swap(fields);
  }
};

template <bool isRequest>
class HeadParser final : public boost::beast::http::basic_parser<isRequest> {
 public:
  using error_code = boost::system::error_code;
  using string_view = boost::beast::string_view;

  // Where the body's bytes go, as buffer_body's value: `data` advances and `size` shrinks
  // as they arrive; a read stops with need_buffer when they do not fit.
  struct Body {
    void* data = nullptr;
    std::size_t size = 0;
  };

  explicit HeadParser(HeadStore& store) : store_(store) { store_.clear(); }

  // The head, once is_header_done().
  std::string_view method() const { return part(0, first_size_); }
  std::string_view target() const { return part(first_size_, second_size_); }
  std::string_view reason() const { return part(0, first_size_); }
  unsigned status() const { return status_; }
  unsigned version() const { return version_; }
  std::span<const Field> fields() const { return store_.fields; }
  // The value of the first field named `name` (any letter case); empty if none.
  std::string_view field(std::string_view name) const {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    for (const auto& f : store_.fields)
      if (std::equal(f.name.begin(), f.name.end(), name.begin(), name.end(),
                     [&](char a, char b) { return lower(a) == lower(b); }))
        return f.value;
    return {};
  }

  Body& body() { return body_; }

 private:
  std::string_view part(std::size_t at, std::size_t size) const {
    return std::string_view(store_.text).substr(at, size);
  }
  static std::uint32_t size32(std::size_t n) { return static_cast<std::uint32_t>(n); }

  void on_request_impl(boost::beast::http::verb, string_view method, string_view target,
                       int version, error_code&) override {
    store_.text.append(method.data(), method.size()).append(target.data(), target.size());
    first_size_ = method.size();
    second_size_ = target.size();
    version_ = static_cast<unsigned>(version);
  }
  void on_response_impl(int status, string_view reason, int version, error_code&) override {
    store_.text.append(reason.data(), reason.size());
    first_size_ = reason.size();
    status_ = static_cast<unsigned>(status);
    version_ = static_cast<unsigned>(version);
  }
  void on_field_impl(boost::beast::http::field, string_view name, string_view value,
                     error_code&) override {
    // Offsets, not views: the text may move as it grows. The head is bounded by the
    // header limit, far below 4 GiB.
    auto& t = store_.text;
    const auto at = size32(t.size());
    t.append(name.data(), name.size()).append(value.data(), value.size());
    store_.spans.push_back(
        {at, size32(name.size()), size32(at + name.size()), size32(value.size())});
  }
  void on_header_impl(error_code&) override {
    const std::string_view t = store_.text;
    store_.fields.reserve(store_.spans.size());
    for (const auto& s : store_.spans)
      store_.fields.push_back({t.substr(s.name, s.name_size), t.substr(s.value, s.value_size)});
  }
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(string_view bytes, error_code& ec) override {
    return take_body(bytes, ec);
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view bytes, error_code& ec) override {
    return take_body(bytes, ec);
  }
  void on_finish_impl(error_code&) override {}

  std::size_t take_body(string_view bytes, error_code& ec) {
    if (!body_.data) {
      ec = boost::beast::http::error::need_buffer;
      return 0;
    }
    const std::size_t n = std::min(body_.size, bytes.size());
    std::memcpy(body_.data, bytes.data(), n);
    body_.data = static_cast<char*>(body_.data) + n;
    body_.size -= n;
    if (n < bytes.size()) ec = boost::beast::http::error::need_buffer;
    return n;
  }

  HeadStore& store_;
  std::size_t first_size_ = 0, second_size_ = 0;
  unsigned status_ = 0, version_ = 11;
  Body body_;
};

using RequestParser = HeadParser<true>;
using ResponseParser = HeadParser<false>;

}  // namespace plextap::proxy
