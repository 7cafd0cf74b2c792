// How fast the dashboard's views and `plextap report` answer on a large store: builds a
// store of N events (default 1,000,000: timelines of seven players, with a search and a play
// queue before every item and a server snapshot now and then), then times, in one run:
// the first Insights update (the whole store), the views (several rounds, median and range),
// a filtered view, "now playing", an update after 10,000 more events, and the report's path
// (a fresh Insights over the store, finished, every view). `insights_bench [N] [ROUNDS]`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>
#include <functional>
#include <string>
#include <vector>

#include "analytics/views.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"
#include "synthetic_events.hpp"

namespace {

using plextap::bench::Ready;
using plextap::store::Record;
namespace fs = std::filesystem;

constexpr std::int64_t kT0 = 1'700'000'000'000;

Record search_record(std::int64_t ts, int client, const std::string& rk) {
  Record r;
  r.kind = 7;  // search
  r.ts_ms = ts;
  r.json = R"({"ts":"2023-11-14T22:13:20.000Z","kind":"search","op":null,"method":"GET","path":"/hubs/search","params":{"query":"show )" +
           rk.substr(rk.size() - 2) +
           R"("},"status":200,"latency_ms":3.2,"client":{"id":"client-)" + std::to_string(client) +
           R"(","product":"Plex Web"},"user":{"token_fp":"0123456789abcdef"},"remote_addr":"192.168.1.20","rating_key":null,"query":"show )" +
           rk.substr(rk.size() - 2) +
           R"(","limit":10,"section_id":null,"hubs":[],"result_count":3,"results":[{"rating_key":")" +
           rk + R"(","type":"episode","title":"x"}],"media":null})";
  return r;
}

Record queue_record(std::int64_t ts, int client, const std::string& rk, long id) {
  Record r;
  r.kind = 4;  // playqueue
  r.ts_ms = ts;
  r.rating_key = rk;
  r.json = R"({"ts":"2023-11-14T22:13:20.000Z","kind":"playqueue","op":"create","method":"POST","path":"/playQueues","params":{},"status":200,"latency_ms":5.1,"client":{"id":"client-)" +
           std::to_string(client) +
           R"(","product":"Plex Web"},"user":{"token_fp":"0123456789abcdef"},"remote_addr":"192.168.1.20","rating_key":")" +
           rk + R"(","play_queue_id":)" + std::to_string(id) +
           R"(,"source_uri":"server://x/com.plexapp.plugins.library/library/metadata/)" + rk +
           R"(","type":"video","total_count":1,"selected_item_id":4711,"shuffled":false,"items":[")" +
           rk + R"("],"media":null})";
  return r;
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

struct Figure {
  std::vector<double> ms;
  void print(const char* what) {
    std::sort(ms.begin(), ms.end());
    std::printf("| %-44s | %9.1f | %9.1f | %9.1f | %2zu |\n", what, ms[ms.size() / 2], ms.front(),
                ms.back(), ms.size());
  }
};

Figure time(int rounds, const std::function<void()>& f) {
  Figure fig;
  for (int i = 0; i < rounds; ++i) {
    auto t = std::chrono::steady_clock::now();
    f();
    fig.ms.push_back(ms_since(t));
  }
  return fig;
}

void fill(plextap::store::Writer& writer, long from, long n) {
  long queue_id = from;
  for (long i = from; i < from + n; ++i) {
    std::int64_t ts = kT0 + i * 10;
    Record r = plextap::bench::timeline_record(ts, static_cast<int>(i));
    // Before each player's next item: a search that finds it and a queue made from it.
    if ((i / 7) % 100 == 0) {
      std::string rk = r.rating_key;
      const int client = static_cast<int>(i % 7);
      for (Record extra : {search_record(ts, client, rk), queue_record(ts, client, rk, ++queue_id)})
        while (!writer.submit(std::make_unique<Ready>(extra))) writer.flush();
    }
    while (!writer.submit(std::make_unique<Ready>(std::move(r)))) writer.flush();
  }
  writer.flush();
}

}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 1'000'000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 9;
  fs::path dir = fs::temp_directory_path() / ("insights-bench-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  {
    plextap::store::Store store(dir, false, std::size_t{2} << 30);
    plextap::store::Writer::Options options;
    options.queue_capacity = 1 << 20;
    options.max_map_size = std::size_t{8} << 30;
    plextap::store::Writer writer(store, options);
    auto t = std::chrono::steady_clock::now();
    fill(writer, 0, n);
    std::printf("store: %llu events written in %.0f ms\n\n",
                static_cast<unsigned long long>(writer.counters().written.load()), ms_since(t));

    std::printf("| %-44s | %9s | %9s | %9s | %2s |\n", "measure (ms)", "median", "min", "max", "n");
    std::printf("|%s|%s|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(11, '-').c_str(),
                std::string(11, '-').c_str(), std::string(11, '-').c_str(), "----");
    plextap::analytics::Insights live(store);
    time(1, [&] { live.update(); }).print("serve: first update (the whole store)");
    std::size_t bytes = 0;
    time(rounds, [&] { bytes = live.views_json({}).size(); }).print("dashboard: every view (/api/views)");
    plextap::analytics::ViewFilter user;
    user.user = "nobody";
    user.since_ms = kT0 + n * 5;
    time(rounds, [&] { live.views_json(user); }).print("dashboard: every view, filtered");
    time(rounds, [&] { live.now_playing_json(); }).print("dashboard: now playing");
    fill(writer, n, 10'000);
    time(1, [&] { live.update(); }).print("serve: update after 10,000 more events");
    time(3, [&] {
      plextap::analytics::Insights report(store);
      report.update();
      report.finish();
      report.views_json({});
    }).print("report: whole store, every view");
    std::printf("\nviews answer: %zu bytes\n", bytes);
  }
  fs::remove_all(dir);
  return 0;
}
