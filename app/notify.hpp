// Telling systemd (Type=notify) how `serve` is doing, through libsystemd's sd_notify: READY=1
// once every listener is bound, STOPPING=1 when the drain starts, a STATUS= line with each
// for `systemctl status`. Outside systemd (no NOTIFY_SOCKET) each call does nothing.
#pragma once

#include <string_view>

namespace plextap::app {

void notify_ready(std::string_view status);
void notify_stopping(std::string_view status);

}  // namespace plextap::app
