// The completion token of every coroutine that awaits an Asio operation: the error comes
// back as the first element of a tuple, never as an exception (error_code on the I/O path).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace plextap::net {

inline constexpr auto kUseTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace plextap::net
