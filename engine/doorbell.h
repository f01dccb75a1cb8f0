// Wakes a thread that sleeps because all its lock-free queues are empty.
//
// Consumer:  if (!HaveWork()) { auto t = bell.PrepareSleep();
//                               if (!HaveWork()) bell.Sleep(t);
//                               bell.Awake(); }
// Producer:  push to the queue; bell.Ring();
//
// The seq_cst fences make the classic store/load race safe: either the
// producer sees `sleeping_` set and bumps the epoch (so the wait returns), or
// the consumer's second HaveWork() sees the pushed item.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace coffer::internal {

class Doorbell {
 public:
  uint32_t PrepareSleep() {
    uint32_t token = epoch_.load(std::memory_order_acquire);
    sleeping_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return token;
  }
  // A futex wait straight away. std::atomic::wait in libstdc++ first spins
  // and calls sched_yield a dozen times: the caller has already polled its
  // queues for idle_spin_iterations, and on 2 cores each yield hands the
  // core to another thread only to take it back (measured: 5 context
  // switches per request on the sequencer at C=1; bench/RESULTS.md).
  void Sleep(uint32_t token) {
    FutexWait(token);
    (void)epoch_.load(std::memory_order_acquire);
  }
  void Awake() { sleeping_.store(false, std::memory_order_relaxed); }

  void Ring() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_relaxed)) {
      epoch_.fetch_add(1, std::memory_order_release);
      FutexWake();
    }
  }
  // Wakes the consumer whether or not it announced sleep (shutdown).
  void RingAlways() {
    epoch_.fetch_add(1, std::memory_order_release);
    FutexWake();
  }

 private:
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  uint32_t* word() { return reinterpret_cast<uint32_t*>(&epoch_); }
  // Returns when the epoch is no longer `token` (at once if it already
  // moved: the kernel compares before it sleeps), on a wake, or spuriously;
  // the caller re-checks its queues either way.
  void FutexWait(uint32_t token) {
    syscall(SYS_futex, word(), FUTEX_WAIT_PRIVATE, token, nullptr, nullptr, 0);
  }
  void FutexWake() {
    syscall(SYS_futex, word(), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }

  // Separate cache lines: producers read sleeping_ on every push.
  alignas(64) std::atomic<uint32_t> epoch_{0};
  alignas(64) std::atomic<bool> sleeping_{false};
};

}  // namespace coffer::internal
