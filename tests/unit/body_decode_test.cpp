#include "capture/body_decode.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace plextap::capture {
namespace {

// window_bits: 15 + 16 = gzip, 15 = zlib, -15 = raw deflate.
std::string compress(std::string_view in, int window_bits) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

const std::string kXml =
    R"(<?xml version="1.0" encoding="UTF-8"?><MediaContainer size="0" terminationCode="2006"></MediaContainer>)";

TEST(DecodeBody, Identity) {
  for (auto enc : {"", "identity", " Identity "}) {
    auto d = decode_body(enc, kXml, 1 << 20);
    EXPECT_TRUE(d.ok) << enc;
    EXPECT_FALSE(d.truncated);
    EXPECT_EQ(d.body, kXml);
  }
}

TEST(DecodeBody, IdentityCapped) {
  auto d = decode_body("", kXml, 10);
  EXPECT_TRUE(d.ok);
  EXPECT_TRUE(d.truncated);
  EXPECT_EQ(d.body, kXml.substr(0, 10));
}

TEST(DecodeBody, Gzip) {
  for (auto enc : {"gzip", "GZIP", "x-gzip", "gzip, identity"}) {
    auto d = decode_body(enc, compress(kXml, 16 + 15), 1 << 20);
    EXPECT_TRUE(d.ok) << enc << ": " << d.error;
    EXPECT_FALSE(d.truncated);
    EXPECT_EQ(d.body, kXml);
  }
}

TEST(DecodeBody, DeflateZlibWrappedAndRaw) {
  auto zlib = decode_body("deflate", compress(kXml, 15), 1 << 20);
  EXPECT_TRUE(zlib.ok) << zlib.error;
  EXPECT_EQ(zlib.body, kXml);
  auto raw = decode_body("deflate", compress(kXml, -15), 1 << 20);
  EXPECT_TRUE(raw.ok) << raw.error;
  EXPECT_EQ(raw.body, kXml);
}

TEST(DecodeBody, ConcatenatedGzipMembers) {
  auto d = decode_body("gzip", compress("first,", 31) + compress("second", 31), 1 << 20);
  EXPECT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.body, "first,second");
}

TEST(DecodeBody, StackedEncodingsUndoneInReverse) {
  auto twice = compress(compress(kXml, 15), 31);  // deflate applied first, then gzip
  auto d = decode_body("deflate, gzip", twice, 1 << 20);
  EXPECT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.body, kXml);
}

TEST(DecodeBody, CorruptInputFails) {
  auto gz = compress(kXml, 31);
  std::string bad = gz;
  for (std::size_t i = 10; i < bad.size() - 8; ++i) bad[i] = static_cast<char>(bad[i] ^ 0x5A);
  auto d = decode_body("gzip", bad, 1 << 20);
  EXPECT_FALSE(d.ok);
  EXPECT_FALSE(d.error.empty());

  auto not_gzip = decode_body("gzip", "<MediaContainer/>", 1 << 20);
  EXPECT_FALSE(not_gzip.ok);
  EXPECT_FALSE(not_gzip.error.empty());

  auto not_deflate = decode_body("deflate", std::string("\xff\xff\xff\xff", 4), 1 << 20);
  EXPECT_FALSE(not_deflate.ok);
}

TEST(DecodeBody, TruncatedInputFailsButKeepsThePrefix) {
  std::string big;
  for (int i = 0; i < 2000; ++i) big += "<Video ratingKey=\"" + std::to_string(i) + "\"/>";
  auto gz = compress(big, 31);
  auto d = decode_body("gzip", gz.substr(0, gz.size() / 2), 1 << 20);
  EXPECT_FALSE(d.ok);
  EXPECT_NE(d.error.find("ends before"), std::string::npos) << d.error;
  EXPECT_FALSE(d.body.empty());
  EXPECT_EQ(d.body, big.substr(0, d.body.size()));
}

TEST(DecodeBody, OutputCapFlagsTruncation) {
  std::string big(1 << 20, 'a');  // a 1 MiB bomb compresses to about 1 KiB
  auto gz = compress(big, 31);
  ASSERT_LT(gz.size(), 4096u);
  auto d = decode_body("gzip", gz, 1000);
  EXPECT_TRUE(d.ok);
  EXPECT_TRUE(d.truncated);
  EXPECT_EQ(d.body, std::string(1000, 'a'));
}

TEST(DecodeBody, OutputExactlyAtCapIsNotTruncated) {
  auto d = decode_body("gzip", compress(kXml, 31), kXml.size());
  EXPECT_TRUE(d.ok);
  EXPECT_FALSE(d.truncated);
  EXPECT_EQ(d.body, kXml);
  auto one_less = decode_body("deflate", compress(kXml, 15), kXml.size() - 1);
  EXPECT_TRUE(one_less.truncated);
  EXPECT_EQ(one_less.body, kXml.substr(0, kXml.size() - 1));
}

TEST(DecodeBody, CapReachedBetweenGzipMembers) {
  // The output is full when the first member ends: whether anything was cut depends on what
  // the following member holds.
  auto empty_next = decode_body("gzip", compress("abc", 31) + compress("", 31), 3);
  EXPECT_TRUE(empty_next.ok) << empty_next.error;
  EXPECT_FALSE(empty_next.truncated);
  EXPECT_EQ(empty_next.body, "abc");
  auto more_next = decode_body("gzip", compress("abc", 31) + compress("d", 31), 3);
  EXPECT_TRUE(more_next.ok);
  EXPECT_TRUE(more_next.truncated);
  EXPECT_EQ(more_next.body, "abc");
}

TEST(DecodeBody, EmptyBodyIsEmptyWhateverTheEncoding) {
  auto d = decode_body("gzip", "", 100);
  EXPECT_TRUE(d.ok);
  EXPECT_TRUE(d.body.empty());
}

TEST(DecodeBody, UnsupportedEncoding) {
  auto d = decode_body("br", "\x0b\x02\x80", 100);
  EXPECT_FALSE(d.ok);
  EXPECT_NE(d.error.find("br"), std::string::npos);
}

}  // namespace
}  // namespace plextap::capture
