// Completed engine requests on their way back to one io thread.
//
// The engine completes requests on its own thread (the sequencer) and the
// connection that owns each one lives on an io thread. Posting every
// completion to the io_context costs a lock of Asio's scheduler and, when
// the io thread waits in epoll, a wake-up per request. A sequencer pass
// completes many requests at once, so the inbox hands them over in a batch,
// as Seastar's smp queues do: each completion is pushed onto a lock-free
// queue, and a drain is posted only when none is pending. One wake-up then
// carries every completion of the pass.
//
// Bound: the queue holds kCapacity completions (the lock-free queue's index
// is 16 bits). At the bound a completion is posted on its own, as before
// the inbox existed: slower, never lost.
#pragma once

#include <atomic>
#include <cstdint>

#include "boost/asio/io_context.hpp"
#include "boost/lockfree/queue.hpp"

namespace coffer::net {

struct Completion {
  void (*run)(void* arg) = nullptr;  // runs on the io thread
  void* arg = nullptr;
};

class ReplyInbox {
 public:
  static constexpr uint32_t kCapacity = 65534;
  // Completions run per drain before the io thread goes back to its other
  // handlers (reads, writes, timers); the rest run in the next drain.
  static constexpr uint32_t kDrainBatchMax = 4096;

  explicit ReplyInbox(boost::asio::io_context& io);
  ReplyInbox(const ReplyInbox&) = delete;
  ReplyInbox& operator=(const ReplyInbox&) = delete;

  boost::asio::io_context& io_context() { return io_; }

  // Any thread: `c` will run once on the io thread.
  void Push(Completion c);

  // io thread: a request was handed to the engine and its completion will
  // be pushed here. The count lets the io loop (net/io_loop.h) tell "a
  // reply is on its way" from "nothing to wait for".
  void Expect() { ++awaited_; }
  // io thread: completions expected and not yet run.
  uint32_t awaited() const { return awaited_; }
  // Any thread: a drain is posted and has not started (so a completion is
  // waiting in the queue). The io loop spins on this without a syscall.
  bool drain_posted() const {
    return drain_posted_.load(std::memory_order_acquire);
  }

 private:
  void PostDrain();
  void Drain();            // io thread
  void Run(Completion c);  // io thread: counts it off, then runs it

  boost::asio::io_context& io_;
  boost::lockfree::queue<Completion, boost::lockfree::fixed_sized<true>> queue_{
      kCapacity};
  // True from the post of a drain until that drain starts: pushes in
  // between need no post of their own.
  std::atomic<bool> drain_posted_{false};
  uint32_t awaited_ = 0;  // io thread only
};

}  // namespace coffer::net
