#include "net/io_loop.h"

#include <chrono>

#include "common/cpu_relax.h"

namespace coffer::net {
namespace {

using Clock = std::chrono::steady_clock;

// Spin steps between two polls of the sockets (each poll is an
// epoll_wait(0) syscall): about 2 µs of pause instructions.
constexpr uint32_t kSpinStepsPerPoll = 64;

// Spins until the inbox is signalled, nothing is awaited any more,
// the deadline passes or `io` stops. Runs ready handlers (socket events of
// other connections) on the way.
void SpinForReply(boost::asio::io_context& io, ReplyInbox& inbox,
                  Clock::time_point deadline) {
  while (inbox.awaited() > 0 && !inbox.signalled() && !io.stopped()) {
    for (uint32_t i = 0; i < kSpinStepsPerPoll; ++i) {
      if (inbox.signalled()) return;
      CpuRelax();
    }
    io.poll();
    if (Clock::now() >= deadline) return;
  }
}

}  // namespace

void RunIoLoop(boost::asio::io_context& io, ReplyInbox& inbox,
               uint32_t reply_spin_us) {
  if (reply_spin_us == 0) {
    io.run();
    return;
  }
  const auto spin = std::chrono::microseconds(reply_spin_us);
  while (!io.stopped()) {
    if (inbox.awaited() > 0 && !inbox.signalled()) {
      SpinForReply(io, inbox, Clock::now() + spin);
      // The replies at once, without waiting for the eventfd's read (which
      // then finds the queue empty); then whatever else is ready.
      if (inbox.signalled()) inbox.Drain();
      io.poll();
      // Still waiting after a whole spin: sleep for the next event.
      if (inbox.awaited() > 0 && !inbox.signalled() && !io.stopped()) {
        io.run_one();
      }
      continue;
    }
    // Nothing awaited (or the inbox is signalled): as run() does, one handler
    // at a time, sleeping in epoll when none is ready.
    if (io.run_one() == 0) return;  // stopped, or out of work
  }
}

}  // namespace coffer::net
