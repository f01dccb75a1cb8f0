// The loop an io thread runs: Asio's io_context::run, except that while a
// request of this thread is at the engine it spins for the reply instead
// of sleeping in epoll.
//
// Why (bench/RESULTS.md, "Spinning for the reply"): at one
// request in flight, the reply's hand-off from the engine thread to an io
// thread asleep in epoll_wait costs a wake-up, measured 49 µs p50 of a
// 262 µs request (stage released_written). The reply is at most one
// fdatasync away (150-400 µs here), a time during which the engine thread
// is blocked in the kernel, not using its core. Spinning then costs a
// core the disk wait leaves idle and saves the wake-up.
//
// Bound: the spin lasts at most `reply_spin_us` per wait, then the thread
// sleeps in epoll as run() would. During the spin, socket events are
// polled every few microseconds, so other connections are served.
// reply_spin_us = 0 is plain run().
#pragma once

#include <cstdint>

#include "boost/asio/io_context.hpp"
#include "net/reply_inbox.h"

namespace coffer::net {

// Runs `io` until it is stopped or out of work, as io_context::run does.
void RunIoLoop(boost::asio::io_context& io, ReplyInbox& inbox,
               uint32_t reply_spin_us);

}  // namespace coffer::net
