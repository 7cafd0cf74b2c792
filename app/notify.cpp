#include "app/notify.hpp"

#include <systemd/sd-daemon.h>

#include <string>

namespace plextap::app {
namespace {

void send(std::string_view state, std::string_view status) {
  std::string message(state);
  if (!status.empty()) {
    if (!message.empty()) message += '\n';
    message.append("STATUS=").append(status);
  }
  // The result is not an error worth reporting: without a manager listening, nothing waits.
  (void)::sd_notify(0, message.c_str());
}

}  // namespace

void notify_ready(std::string_view status) {
  send("READY=1", status);
}

void notify_stopping(std::string_view status) {
  send("STOPPING=1", status);
}

}  // namespace plextap::app
