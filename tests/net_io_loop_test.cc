// net/io_loop.h: the io thread's loop runs every completion exactly once,
// serves other handlers while it spins for a reply, gives up the spin at
// its bound, and returns when its io_context stops, as io_context::run
// does. (The inbox's pending eventfd read means the context never runs out
// of work.)
#include <chrono>
#include <cstdint>
#include <thread>

#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "gtest/gtest.h"
#include "net/io_loop.h"
#include "net/reply_inbox.h"

namespace coffer::net {
namespace {

struct Finish {
  uint32_t runs = 0;
  uint32_t expected = 0;
  boost::asio::io_context* io = nullptr;
};

// A completion: counts itself and, at the last one, ends the loop.
void RunFinish(void* arg) {
  Finish* f = static_cast<Finish*>(arg);
  if (++f->runs == f->expected) f->io->stop();
}

class IoLoopTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(IoLoopTest, RunsEveryCompletionOnceThenReturnsWhenStopped) {
  boost::asio::io_context io(1);
  ReplyInbox inbox(io);
  constexpr uint32_t kCompletions = 10'000;
  Finish finish{0, kCompletions, &io};
  for (uint32_t i = 0; i < kCompletions; ++i) inbox.Expect();
  std::thread engine([&] {
    for (uint32_t i = 0; i < kCompletions; ++i) {
      inbox.Push({&RunFinish, &finish});
    }
  });
  RunIoLoop(io, inbox, GetParam());
  engine.join();
  EXPECT_EQ(finish.runs, kCompletions);
  EXPECT_EQ(inbox.awaited(), 0u);
  EXPECT_TRUE(io.stopped());
}

TEST_P(IoLoopTest, OtherHandlersRunWhileAReplyIsAwaited) {
  // A reply that never comes: the loop must still run the io thread's
  // other handlers (here a timer, standing for another connection's
  // socket), and return once the context is stopped.
  boost::asio::io_context io(1);
  ReplyInbox inbox(io);
  inbox.Expect();
  uint32_t timer_fired = 0;
  boost::asio::steady_timer timer(io, std::chrono::milliseconds(2));
  timer.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) ++timer_fired;
    io.stop();
  });
  RunIoLoop(io, inbox, GetParam());
  EXPECT_EQ(timer_fired, 1u);
  EXPECT_EQ(inbox.awaited(), 1u) << "nothing completed";
}

TEST_P(IoLoopTest, NothingAwaitedRunsHandlersUntilStopped) {
  boost::asio::io_context io(1);
  ReplyInbox inbox(io);
  uint32_t ran = 0;
  boost::asio::post(io, [&] { ++ran; });
  boost::asio::post(io, [&] {
    ++ran;
    io.stop();
  });
  RunIoLoop(io, inbox, GetParam());
  EXPECT_EQ(ran, 2u);
  EXPECT_TRUE(io.stopped());
}

// 0: plain io_context::run; 50 µs and 100 ms: a spin shorter and much
// longer than the test's events.
INSTANTIATE_TEST_SUITE_P(ReplySpin, IoLoopTest,
                         ::testing::Values(0u, 50u, 100'000u));

}  // namespace
}  // namespace coffer::net
