#include "net/io_loop.h"

#include <chrono>

#include "common/cpu_relax.h"

namespace coffer::net {
namespace {

using Clock = std::chrono::steady_clock;

// Spin steps between two polls of the sockets (each poll is an
// epoll_wait(0) syscall): about 2 µs of pause instructions.
constexpr uint32_t kSpinStepsPerPoll = 64;

// Spins until the inbox has a drain waiting, nothing is awaited any more,
// the deadline passes or `io` stops. Runs ready handlers (socket events of
// other connections) on the way.
void SpinForReply(boost::asio::io_context& io, ReplyInbox& inbox,
                  Clock::time_point deadline) {
  while (inbox.awaited() > 0 && !inbox.drain_posted() && !io.stopped()) {
    for (uint32_t i = 0; i < kSpinStepsPerPoll; ++i) {
      if (inbox.drain_posted()) return;
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
    if (inbox.awaited() > 0 && !inbox.drain_posted()) {
      SpinForReply(io, inbox, Clock::now() + spin);
      // Runs the drain if one is posted, and whatever else is ready.
      io.poll();
      // Still waiting after a whole spin: sleep for the next event.
      if (inbox.awaited() > 0 && !inbox.drain_posted() && !io.stopped()) {
        io.run_one();
      }
      continue;
    }
    // Nothing awaited (or a drain is ready): as run() does, one handler
    // at a time, sleeping in epoll when none is ready.
    if (io.run_one() == 0) return;  // stopped, or out of work
  }
}

}  // namespace coffer::net
