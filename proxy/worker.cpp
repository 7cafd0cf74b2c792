// One I/O thread's state: its upstream pools, its drain notice, its rate-limited warnings.
#include "proxy/worker.hpp"

#include <spdlog/spdlog.h>

namespace plextap::proxy {
namespace beast = boost::beast;

Worker::Worker(unsigned i, Shared& s, MetricsShard& m) : index(i), shared(s), metrics(m) {
  plain_pool_ = std::make_unique<UpstreamPool<beast::tcp_stream>>(
      ioc.get_executor(), s.upstream_endpoints, s.config.connect_timeout,
      s.config.upstream_idle_timeout, s.upstream_limit, m, s.upstream_tls);
  tls_pool_ = std::make_unique<UpstreamPool<TlsStream>>(
      ioc.get_executor(), s.upstream_endpoints, s.config.connect_timeout,
      s.config.upstream_idle_timeout, s.upstream_limit, m, s.upstream_tls);
}

Worker::~Worker() {
  // Pooled connections go before the io_context they were made on.
  plain_pool_->close_all();
  tls_pool_->close_all();
}

void Worker::drain() {
  drain_notice.fire();  // idle sessions end their read of a next head, and close
  plain_pool_->close_all();
  tls_pool_->close_all();
}

void Worker::sweep() {
  plain_pool_->sweep();
  tls_pool_->sweep();
}

}  // namespace plextap::proxy
