// The process_* lines read from /proc/self, and samples with several labels.
#include "base/process_metrics.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "base/prometheus.hpp"

namespace plextap::base {
namespace {

// The metrics text after a line feed, so that every line starts after one.
std::string lines() {
  std::string text(1, '\n');
  text.append(process_metrics_text());
  return text;
}

// The value of the unlabelled sample `name`, or -1 when it is missing.
double value(const std::string& text, const std::string& name) {
  std::string line(1, '\n');
  line.append(name).append(1, ' ');
  auto at = text.find(line);
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + line.size(), nullptr);
}

TEST(ProcessMetrics, EveryFamilyWithSaneValues) {
  const std::string text = lines();
  for (const char* family :
       {"process_cpu_seconds_total counter", "process_resident_memory_bytes gauge",
        "process_virtual_memory_bytes gauge", "process_open_fds gauge", "process_max_fds gauge",
        "process_start_time_seconds gauge"})
    EXPECT_NE(text.find(std::string("\n# TYPE ").append(family).append(1, '\n')), std::string::npos)
        << family;
  EXPECT_GE(value(text, "process_cpu_seconds_total"), 0);
  const double rss = value(text, "process_resident_memory_bytes");
  EXPECT_GT(rss, 100 * 1024);
  EXPECT_GT(value(text, "process_virtual_memory_bytes"), rss);
  const double started = value(text, "process_start_time_seconds");
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_GT(started, now - 3600) << "the test started over an hour ago?";
  EXPECT_LE(started, now + 1);
  EXPECT_GE(value(text, "process_max_fds"), value(text, "process_open_fds"));
}

TEST(ProcessMetrics, OpenDescriptorsAreCounted) {
  const double before = value(lines(), "process_open_fds");
  int fds[5];
  for (int& fd : fds) fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const double during = value(lines(), "process_open_fds");
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(during - before, 5);
}

TEST(Prometheus, SeveralLabelsInOrderEscaped) {
  std::string out;
  PrometheusText text(out);
  const Label labels[] = {{"version", "1.2.3"}, {"commit", "a\"b\\c"}};
  text.sample("plextap_build_info", labels, 1);
  EXPECT_EQ(out, "plextap_build_info{version=\"1.2.3\",commit=\"a\\\"b\\\\c\"} 1\n");
}

}  // namespace
}  // namespace plextap::base
