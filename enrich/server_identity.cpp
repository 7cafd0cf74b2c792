#include "enrich/server_identity.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace plextap::enrich {
namespace {

constexpr std::chrono::seconds kFirstRetry{1}, kLastRetry{60};
constexpr std::chrono::minutes kAskAgain{10};

}  // namespace

std::string identity_attribute(std::string_view body, std::string_view name) {
  std::string xml(name), json = "\"";
  xml += "=\"";
  json.append(name).append("\":\"");
  for (const std::string& opening : {xml, json}) {
    auto at = body.find(opening);
    if (at == std::string_view::npos) continue;
    at += opening.size();
    auto end = body.find('"', at);
    if (end != std::string_view::npos) return std::string(body.substr(at, end - at));
  }
  return {};
}

ServerIdentity::ServerIdentity(store::Store& store, net::Origin server,
                               net::FetchTimeouts timeouts)
    : store_(store), client_(std::move(server), timeouts) {}

ServerIdentity::~ServerIdentity() {
  stop();
}

void ServerIdentity::start() {
  thread_ = std::thread([this] { loop(); });
}

void ServerIdentity::stop() {
  stop_ = true;
  client_.cancel();
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool ServerIdentity::learn() {
  auto answer = client_.get("/identity", {{"Accept", "application/xml"}});
  const std::string id =
      answer.status == 200 ? identity_attribute(answer.body, "machineIdentifier") : "";
  if (id.empty()) return false;
  if (store_.meta_value("server_id") != id) {
    store_.put_meta("server_id", id);
    spdlog::info("the upstream is Plex server {}", id);
  }
  return true;
}

void ServerIdentity::loop() {
  auto retry = kFirstRetry;
  while (!stop_) {
    bool learnt = false;
    try {
      learnt = learn();
    } catch (const std::exception& e) {
      spdlog::warn("cannot keep the server's identity in the store: {}", e.what());
    }
    const auto wait = learnt ? std::chrono::duration_cast<std::chrono::seconds>(kAskAgain) : retry;
    retry = learnt ? kFirstRetry : std::min(retry * 2, kLastRetry);
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, wait, [this] { return stop_.load(); });
  }
}

}  // namespace plextap::enrich
