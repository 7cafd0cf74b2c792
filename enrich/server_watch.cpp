#include "enrich/server_watch.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <vector>

#include "base/prometheus.hpp"
#include "enrich/server_events.hpp"

namespace plextap::enrich {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A server event, turned into its stored record on the writer's thread.
class ServerEventRecord final : public store::Pending {
 public:
  explicit ServerEventRecord(capture::ServerEvent event) : event_(std::move(event)) {}
  bool build(store::Record& out) override {
    out = capture::build_server_record(event_);
    return true;
  }

 private:
  capture::ServerEvent event_;
};

}  // namespace

ServerWatch::ServerWatch(store::Writer& writer, net::Origin server, std::string token,
                         net::FetchTimeouts timeouts, Options options)
    : writer_(writer),
      token_(token),
      options_(options),
      client_(server, std::move(token), timeouts),
      websocket_(server,
                 net::WebsocketTimeouts{std::min(timeouts.total, std::chrono::milliseconds(10'000)),
                                        std::chrono::milliseconds(60'000), std::size_t{1} << 20}),
      server_name_(client_.name()) {}

ServerWatch::~ServerWatch() {
  stop();
}

void ServerWatch::start() {
  if (!listener_.joinable()) listener_ = std::thread([this] { listen(); });
  if (!worker_.joinable()) worker_ = std::thread([this] { work(); });
}

void ServerWatch::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  websocket_.cancel();
  client_.cancel();
  if (listener_.joinable()) listener_.join();
  if (worker_.joinable()) worker_.join();
}

bool ServerWatch::wait_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, d, [this] { return stop_.load(); });
  return !stop_;
}

void ServerWatch::refused(const char* what) {
  counters_.unauthorized++;
  // One clear line, not one per retry; the token itself is never written anywhere.
  if (!refusal_logged_.exchange(true))
    spdlog::error(
        "server watch: {} refuses the Plex token (401) for {}: check --plex-token / "
        "PLEX_TOKEN; retrying every {} s",
        server_name_, what,
        std::chrono::duration_cast<std::chrono::seconds>(options_.unauthorized_retry).count());
}

void ServerWatch::listen() {
  const net::Fields fields{{"X-Plex-Token", token_},
                           {"User-Agent", "plextap"},
                           {"X-Plex-Product", "plextap"},
                           {"X-Plex-Client-Identifier", "plextap-server-watch"}};
  auto backoff = options_.first_backoff;
  while (!stop_) {
    Clock::time_point opened_at{};
    auto end = websocket_.run(
        "/:/websockets/notifications", fields,
        [&] {
          opened_at = Clock::now();
          counters_.connects++;
          counters_.connected = 1;
          refusal_logged_ = false;
          {
            std::lock_guard lock(mutex_);
            queue_.push_back({true, {}});
          }
          wake_.notify_all();
        },
        [&](std::string&& message) {
          {
            std::lock_guard lock(mutex_);
            queue_.push_back({false, std::move(message)});
          }
          wake_.notify_all();
        });
    if (stop_ || end.cancelled) break;
    if (end.upgraded) {
      counters_.disconnects++;
      counters_.connected = 0;
      if (Clock::now() - opened_at >= options_.stable_after) backoff = options_.first_backoff;
      spdlog::warn("server watch: notifications from {} ended{}{}; reconnecting", server_name_,
                   end.error.empty() ? "" : ": ", end.error);
    }
    if (end.status == 401) {
      refused("the notification websocket");
      if (!wait_for(options_.unauthorized_retry)) break;
      continue;
    }
    if (!end.upgraded) {
      counters_.failures++;
      spdlog::warn("server watch: cannot open the notifications of {}: {}{}", server_name_,
                   end.status ? "HTTP " + std::to_string(end.status) + " " : std::string(),
                   end.error);
    }
    if (!wait_for(backoff)) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  counters_.connected = 0;
}

void ServerWatch::work() {
  next_resources_ = Clock::now();
  while (!stop_) {
    std::deque<Item> items;
    {
      std::unique_lock lock(mutex_);
      auto due = next_resources_;
      if (playing_) due = std::min(due, next_sessions_);
      wake_.wait_until(lock, due, [this] { return stop_ || !queue_.empty(); });
      if (stop_) break;
      items.swap(queue_);
    }
    try {
      for (const Item& item : items) {
        if (stop_) break;
        if (item.opened)
          fetch_sessions(Clock::now());
        else
          handle_message(item.message, Clock::now());
      }
      auto now = Clock::now();
      if (playing_ && now >= next_sessions_) fetch_sessions(now);
      if (!stop_ && Clock::now() >= next_resources_) {
        sample_resources();
        next_resources_ =
            Clock::now() + (playing_ ? options_.resources_playing : options_.resources_idle);
      }
    } catch (const std::exception& e) {
      spdlog::warn("server watch: {}", e.what());
    }
  }
}

void ServerWatch::handle_message(const std::string& message, Clock::time_point now) {
  auto parsed = parse_notification(message, now_ms());
  using Outcome = NotificationParse::Outcome;
  if (parsed.outcome == Outcome::malformed) {
    counters_.malformed++;
    return;
  }
  if (parsed.outcome == Outcome::unknown) {
    counters_.unknown++;
    return;
  }
  {
    std::lock_guard lock(types_mutex_);
    messages_[parsed.type]++;
  }
  std::vector<std::string> new_sessions;
  for (auto& event : parsed.events) {
    if (parsed.type == "playing") {
      if (event.fields.find(R"("state":"stopped")") == std::string::npos && !playing_) {
        playing_ = true;
        next_resources_ = std::min(next_resources_, now + options_.resources_playing);
      }
      // The session key is the first string after "session_key":.
      constexpr std::string_view kKey = R"("session_key":")";
      if (auto at = event.fields.find(kKey); at != std::string::npos) {
        auto from = at + kKey.size();
        auto key = event.fields.substr(from, event.fields.find('"', from) - from);
        if (!known_sessions_.contains(key)) new_sessions.push_back(std::move(key));
      }
    }
    counters_.events++;
    writer_.submit(std::make_unique<ServerEventRecord>(std::move(event)));
  }
  if (new_sessions.empty()) return;
  fetch_sessions(now);
  // Asked once: a session the server does not list yet is not asked about again.
  known_sessions_.insert(new_sessions.begin(), new_sessions.end());
}

void ServerWatch::fetch_sessions(Clock::time_point now) {
  next_sessions_ = now + options_.sessions_interval;
  auto answer = client_.fetch_sessions();
  if (answer.cancelled) return;
  counters_.session_fetches++;
  if (answer.status == 401) return refused("/status/sessions");
  if (answer.status != 200) {
    counters_.failures++;
    spdlog::warn("server watch: /status/sessions: {}",
                 answer.status ? "HTTP " + std::to_string(answer.status) : answer.error);
    return;
  }
  auto parsed = parse_sessions(answer.body, now_ms());
  if (!parsed.error.empty()) {
    counters_.failures++;
    spdlog::warn("server watch: /status/sessions: {}", parsed.error);
    return;
  }
  known_sessions_ = {parsed.session_keys.begin(), parsed.session_keys.end()};
  playing_ = !parsed.session_keys.empty();
  counters_.plays = static_cast<std::int64_t>(parsed.session_keys.size());
  counters_.transcodes = std::count_if(parsed.events.begin(), parsed.events.end(), [](auto& e) {
    return e.fields.find(R"("video_decision":"transcode")") != std::string::npos ||
           e.fields.find(R"("audio_decision":"transcode")") != std::string::npos;
  });
  for (auto& event : parsed.events) {
    counters_.events++;
    writer_.submit(std::make_unique<ServerEventRecord>(std::move(event)));
  }
}

void ServerWatch::sample_resources() {
  auto root = client_.fetch_root();
  if (root.cancelled) return;
  if (root.status == 401) return refused("/");
  std::optional<std::int64_t> active;
  if (root.status == 200) active = parse_transcoder_active(root.body);
  auto answer = client_.fetch_resources();
  if (answer.cancelled) return;
  if (answer.status == 401) return refused("/statistics/resources");
  if (answer.status != 200) {
    counters_.failures++;
    spdlog::warn("server watch: /statistics/resources: {}",
                 answer.status ? "HTTP " + std::to_string(answer.status) : answer.error);
    return;
  }
  if (auto event = parse_resources(answer.body, active, now_ms())) {
    counters_.resource_samples++;
    counters_.events++;
    writer_.submit(std::make_unique<ServerEventRecord>(std::move(*event)));
  }
}

std::string ServerWatch::metrics_text() const {
  std::string out;
  base::PrometheusText p(out);
  auto counter = [&](const char* name, const char* help, const std::atomic<std::uint64_t>& v) {
    p.family(name, "counter", help);
    p.sample(name, v.load());
  };
  p.family("plextap_server_watch_connected", "gauge",
           "1 while the server's notification websocket is open");
  p.sample("plextap_server_watch_connected", counters_.connected.load());
  p.family("plextap_plays_in_progress", "gauge",
           "Items playing or paused on the server (its latest /status/sessions)");
  p.sample("plextap_plays_in_progress", counters_.plays.load());
  p.family("plextap_transcodes_in_progress", "gauge",
           "Of those, items whose video or audio the server transcodes");
  p.sample("plextap_transcodes_in_progress", counters_.transcodes.load());
  counter("plextap_server_watch_connects_total", "Notification websocket connections opened",
          counters_.connects);
  counter("plextap_server_watch_disconnects_total", "Notification websocket connections lost",
          counters_.disconnects);
  counter("plextap_server_watch_connect_failures_total",
          "Failed connections and fetches of the server watch", counters_.failures);
  p.family("plextap_server_watch_messages_total", "counter",
           "Notification messages recorded, by type");
  {
    std::lock_guard lock(types_mutex_);
    for (const auto& [type, n] : messages_)
      p.sample("plextap_server_watch_messages_total", {"type", type}, n);
  }
  counter("plextap_server_watch_unknown_total", "Notification messages of types not recorded",
          counters_.unknown);
  counter("plextap_server_watch_malformed_total", "Notification messages that did not parse",
          counters_.malformed);
  counter("plextap_server_watch_session_fetches_total", "/status/sessions fetches",
          counters_.session_fetches);
  counter("plextap_server_watch_resource_samples_total", "/statistics/resources samples recorded",
          counters_.resource_samples);
  counter("plextap_server_watch_unauthorized_total", "Answers refusing the Plex token (401)",
          counters_.unauthorized);
  counter("plextap_server_watch_events_total", "Server events handed to the writer",
          counters_.events);
  return out;
}

}  // namespace plextap::enrich
