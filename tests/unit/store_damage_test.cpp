// A damaged store reads as damaged, never as other data and never as a crash: every
// changed byte of an event or exchange record is caught by its checksum, the decoders stay
// within arbitrary bytes, and a data file with damaged pages gives an Error or counted
// damaged records (LMDB's faults and assertions included), whatever the damage.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>

#include "capture/exchange.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"
#include "tests/unit/temp_dir.hpp"

namespace plextap::store {
namespace {

namespace fs = std::filesystem;
using test_support::TempDir;

// `bytes` in a heap block of exactly their size, so that a read past the end is a
// sanitizer report (a std::string may have room behind its end).
class Exact {
 public:
  explicit Exact(std::string_view bytes) : size_(bytes.size()), data_(new char[size_ + 1]) {
    std::copy(bytes.begin(), bytes.end(), data_.get());
  }
  std::string_view view() const { return {data_.get(), size_}; }

 private:
  std::size_t size_;
  std::unique_ptr<char[]> data_;
};

std::string random_bytes(std::mt19937& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

capture::Exchange sample_exchange(int i) {
  capture::Exchange e;
  e.ts_ms = 1'700'000'000'000 + i;
  e.latency_us = 1234;
  e.status = 200;
  e.method = "GET";
  e.target = "/hubs/search?query=q" + std::to_string(i) + "&X-Plex-Token=REDACTED";
  e.request_headers = {{"Host", "plex"}, {"X-Plex-Client-Identifier", "client-1"}};
  e.response_headers = {{"Content-Type", "text/xml"}};
  e.response_body = "<MediaContainer size=\"" + std::to_string(i) + "\"/>";
  return e;
}

TEST(EventRecord, EveryChangedByteIsCaught) {
  EventHeader header{kRecordFormat, 3, 1, 1'700'000'000'123, true};
  const std::uint64_t id = first_id_at(header.ts_ms) + 7;
  const std::string json = R"({"kind":"search","query":"wallace","media":null})";
  const std::string record = header.encode(id, json);
  auto back = EventHeader::decode(id, record);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, 3);
  EXPECT_EQ(back->flags, 1);
  EXPECT_EQ(back->ts_ms, header.ts_ms);
  EXPECT_TRUE(back->has_exchange);
  for (std::size_t at = 0; at < record.size(); ++at)
    for (int bit = 0; bit < 8; ++bit) {
      std::string changed = record;
      changed[at] = static_cast<char>(changed[at] ^ (1 << bit));
      EXPECT_FALSE(EventHeader::decode(id, changed)) << "byte " << at << " bit " << bit;
    }
  // The id is covered too: a damaged key does not pass for another event.
  std::string problem;
  EXPECT_FALSE(EventHeader::decode(id + 1, record, &problem));
  EXPECT_NE(problem.find("checksum"), std::string::npos) << problem;
}

TEST(EventRecord, FormatOneRecordsStillRead) {
  // As written before records had checksums: format 1, zero bytes 3..7.
  std::string record(EventHeader::kSize, '\0');
  record[0] = 1;
  record[1] = 5;
  for (int i = 0; i < 8; ++i) record[8 + static_cast<std::size_t>(i)] = static_cast<char>(i + 1);
  record += R"({"a":1})";
  auto back = EventHeader::decode(42, record);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, 5);
  EXPECT_EQ(back->ts_ms, 0x0807060504030201);
  EXPECT_FALSE(back->has_exchange);
  record[EventHeader::kSize] = 'x';  // what a format 1 record can still show: not JSON
  EXPECT_FALSE(EventHeader::decode(42, record));
}

TEST(EventRecord, ArbitraryBytesAreRefusedWithinBounds) {
  std::mt19937 rng(1);
  EventHeader header{kRecordFormat, 1, 0, 5000, false};
  const std::string valid = header.encode(99, R"({"x":"y"})");
  for (int round = 0; round < 20'000; ++round) {
    std::string bytes;
    switch (round % 3) {
      case 0:
        bytes = random_bytes(rng, rng() % 64);
        break;
      case 1:  // a valid record cut short
        bytes = valid.substr(0, rng() % valid.size());
        break;
      default:  // a valid record with a few bytes replaced
        bytes = valid;
        for (int n = 1 + static_cast<int>(rng() % 4); n > 0; --n)
          bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xff);
        if (bytes == valid) continue;
    }
    Exact exact(bytes);
    std::string problem;
    EXPECT_FALSE(EventHeader::decode(99, exact.view(), &problem)) << round;
    EXPECT_FALSE(problem.empty());
  }
}

TEST(ExchangeRecord, EveryChangedByteIsCaught) {
  const std::string record = capture::encode_exchange(sample_exchange(1));
  ASSERT_TRUE(capture::decode_exchange(record));
  ASSERT_TRUE(capture::exchange_intact(record));
  for (std::size_t at = 0; at < record.size(); ++at) {
    std::string changed = record;
    changed[at] = static_cast<char>(changed[at] ^ 0x20);
    EXPECT_FALSE(capture::decode_exchange(changed)) << "byte " << at;
    EXPECT_FALSE(capture::exchange_intact(changed)) << "byte " << at;
  }
}

TEST(ExchangeRecord, ArbitraryBytesAreRefusedWithinBounds) {
  std::mt19937 rng(2);
  const std::string valid = capture::encode_exchange(sample_exchange(2));
  // Format 1 (no checksum) is where lengths are read from unchecked bytes.
  std::string unchecked = valid.substr(5);
  unchecked.insert(unchecked.begin(), '\x01');
  ASSERT_TRUE(capture::decode_exchange(unchecked));
  for (int round = 0; round < 20'000; ++round) {
    const std::string& base = round % 2 ? valid : unchecked;
    std::string bytes;
    switch (round % 3) {
      case 0:
        bytes = random_bytes(rng, rng() % 96);
        if (!bytes.empty()) bytes[0] = static_cast<char>(1 + round % 2);
        break;
      case 1:
        bytes = base.substr(0, rng() % base.size());
        break;
      default:
        bytes = base;
        for (int n = 1 + static_cast<int>(rng() % 4); n > 0; --n)
          bytes[1 + rng() % (bytes.size() - 1)] = static_cast<char>(rng() & 0xff);
    }
    Exact exact(bytes);
    auto decoded = capture::decode_exchange(exact.view());  // within bounds: the sanitizers say
    EXPECT_EQ(decoded.has_value(), capture::exchange_intact(exact.view())) << round;
    if (&base == &valid && bytes != valid) {
      EXPECT_FALSE(decoded) << round;
    }
  }
}

// A store of `events` events (with exchanges, rating keys, a media entry) in `dir`.
void write_store(const fs::path& dir, int events) {
  class Fixed final : public Pending {
   public:
    explicit Fixed(Record r) : r_(std::move(r)) {}
    bool build(Record& out) override {
      out = std::move(r_);
      return true;
    }

   private:
    Record r_;
  };
  Store store(dir, false);
  Writer writer(store, {});
  for (int i = 0; i < events; ++i) {
    Record r;
    r.kind = static_cast<std::uint8_t>(1 + i % 3);
    r.ts_ms = 1'700'000'000'000 + i * 10;
    r.json = R"({"kind":"k","n":)" + std::to_string(i) + R"(,"pad":")" + std::string(200, 'p') +
             R"(","media":null})";
    r.exchange = capture::encode_exchange(sample_exchange(i));
    r.rating_key = std::to_string(100 + i % 7);
    writer.submit(std::make_unique<Fixed>(std::move(r)));
  }
  Record media;
  media.table = Record::Table::media;
  media.rating_key = "100";
  media.json = R"({"status":200,"media":{"title":"t"}})";
  writer.submit(std::make_unique<Fixed>(std::move(media)));
  writer.flush();
}

struct Read {
  std::vector<std::string> events;  // id and JSON
  std::vector<std::string> exchanges;
  bool operator==(const Read&) const = default;
};

// Everything a reader gets from the store; an Error or damaged records are the
// other way a read can end.
Read read_all(Store& store) {
  Read r;
  store.for_each_event({}, [&](const StoredEvent& e) {
    r.events.push_back(std::to_string(e.id) + std::string(e.json));
    if (auto x = store.exchange(e.id)) r.exchanges.push_back(*x);
    return true;
  });
  EventFilter one_kind;
  one_kind.kind = 2;
  store.for_each_event(one_kind, [](const StoredEvent&) { return true; });
  store.for_each_rating_key([](std::string_view, const std::vector<std::uint64_t>&) {});
  store.for_each_media([](std::string_view, std::string_view) { return true; });
  store.summary(capture::exchange_intact);
  return r;
}

enum class Outcome { same, error, counted };

Outcome read_damaged(const fs::path& dir, const Read& intact) {
  try {
    Store store(dir, true);
    Read got = read_all(store);
    if (store.damaged_records() > 0) return Outcome::counted;
    EXPECT_TRUE(got == intact) << "the store read as other data, with no damage found";
    return Outcome::same;
  } catch (const Error& e) {
    EXPECT_TRUE(e.damaged()) << e.what();
    EXPECT_NE(std::string(e.what()).find("is damaged"), std::string::npos) << e.what();
    return Outcome::error;
  }
}

TEST(DamagedStore, EveryPageDamagedGivesAnErrorOrTheSameData) {
  TempDir tmp;
  const fs::path good = tmp.path() / "good";
  write_store(good, 400);
  Read intact;
  {
    Store store(good, true);
    intact = read_all(store);
    ASSERT_EQ(store.damaged_records(), 0u);
  }
  ASSERT_EQ(intact.events.size(), 400u);
  const auto size = fs::file_size(good / "data.mdb");
  const std::size_t page = 4096, pages = size / page;
  std::mt19937 rng(3);
  std::map<std::string, std::map<Outcome, int>> outcomes;
  const fs::path bad = tmp.path() / "bad";
  for (const char* how : {"random page", "zero page", "random header", "random bytes inside"})
    for (std::size_t p = 2; p < pages; ++p) {
      fs::remove_all(bad);
      fs::copy(good, bad);
      {
        std::fstream f(bad / "data.mdb", std::ios::in | std::ios::out | std::ios::binary);
        std::string with;
        std::size_t at = p * page;
        if (how == std::string_view("random page")) {
          with = random_bytes(rng, page);
        } else if (how == std::string_view("zero page")) {
          with.assign(page, '\0');
        } else if (how == std::string_view("random header")) {
          with = random_bytes(rng, 16);
        } else {
          at += 16 + rng() % (page - 64);
          with = random_bytes(rng, 24);
        }
        f.seekp(static_cast<std::streamoff>(at));
        f.write(with.data(), static_cast<std::streamsize>(with.size()));
      }
      ++outcomes[how][read_damaged(bad, intact)];
      if (HasFailure()) FAIL() << how << " at page " << p;
    }
  // The damage was seen, not only survived: most pages hold records.
  for (auto& [how, counts] : outcomes)
    EXPECT_GT(counts[Outcome::error] + counts[Outcome::counted], static_cast<int>(pages / 3))
        << how << ": damage found on " << counts[Outcome::error] + counts[Outcome::counted]
        << " of " << pages - 2 << " pages";
}

TEST(DamagedStore, CutShortFileIsAnError) {
  TempDir tmp;
  write_store(tmp.path(), 200);
  fs::resize_file(tmp.path() / "data.mdb", fs::file_size(tmp.path() / "data.mdb") / 2);
  try {
    Store store(tmp.path(), true);
    FAIL() << "opened a store whose data file was cut in half";
  } catch (const Error& e) {
    EXPECT_TRUE(e.damaged());
    EXPECT_NE(std::string(e.what()).find("cut short"), std::string::npos) << e.what();
  }
  // The writer refuses it too, rather than reading past the end of the file.
  EXPECT_THROW(Store(tmp.path(), false), Error);
}

}  // namespace
}  // namespace plextap::store
