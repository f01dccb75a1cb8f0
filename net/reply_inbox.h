// Completed engine requests on their way back to one io thread.
//
// The engine completes requests on its own thread (the sequencer) and the
// connection that owns each one lives on an io thread. A sequencer pass
// completes many requests at once, so the inbox hands them over in a batch,
// as Seastar's smp queues do: each completion is pushed onto a lock-free
// queue, and the io thread is signalled only when no signal is pending. One
// wake-up then carries every completion of the pass.
//
// The signal is an eventfd of the inbox's own, which the io thread reads
// through Asio (an async read, so it wakes epoll like any socket). It is not
// asio::post: a post from the engine thread takes the scheduler's mutex and,
// while holding it, interrupts the io thread's epoll_wait; the io thread
// wakes, finds the mutex still held and sleeps again on it (strace, in
// bench/RESULTS.md "Spinning for the reply"). The eventfd write takes no
// lock the io thread needs.
//
// Bound: the queue holds kCapacity completions (the lock-free queue's index
// is 16 bits). At the bound a completion is posted on its own, as before
// the inbox existed: slower, never lost.
//
// Lifetime: the inbox keeps an async read pending on its io_context, which
// therefore never runs out of work; stop the io_context to end its run().
// Destroy the inbox before its io_context.
#pragma once

#include <atomic>
#include <cstdint>

#include "boost/asio/io_context.hpp"
#include "boost/asio/posix/stream_descriptor.hpp"
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

  // Fail-stop if no eventfd can be made (a process out of descriptors at
  // start-up).
  explicit ReplyInbox(boost::asio::io_context& io);
  ~ReplyInbox();
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
  // Any thread: completions are waiting and the io thread was signalled.
  // The io loop spins on this without a syscall.
  bool signalled() const { return signalled_.load(std::memory_order_acquire); }
  // io thread: runs up to kDrainBatchMax waiting completions now, without
  // waiting for the signal's read (the io loop, after a spin).
  void Drain();

 private:
  void Signal();           // any thread: one write to the eventfd
  void ArmRead();          // io thread
  void Run(Completion c);  // io thread: counts it off, then runs it

  boost::asio::io_context& io_;
  boost::asio::posix::stream_descriptor wake_;
  uint64_t wake_count_ = 0;  // the eventfd read's buffer
  boost::lockfree::queue<Completion, boost::lockfree::fixed_sized<true>> queue_{
      kCapacity};
  // True from a signal until the drain it asks for starts: pushes in
  // between need no signal of their own.
  std::atomic<bool> signalled_{false};
  uint32_t awaited_ = 0;  // io thread only
};

}  // namespace coffer::net
