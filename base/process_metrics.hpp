// The process_* lines of /metrics under the names Prometheus' own clients use, so that
// dashboards and alerts written for any exporter work: CPU time, memory, descriptors and
// the start time, read from /proc/self and getrusage/getrlimit at each scrape.
#pragma once

#include <string>

namespace plextap::base {

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds, each with HELP and TYPE.
// A value that cannot be read (no /proc) is left out, its family with it.
std::string process_metrics_text();

}  // namespace plextap::base
