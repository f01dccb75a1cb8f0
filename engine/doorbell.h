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
  void Sleep(uint32_t token) { epoch_.wait(token, std::memory_order_acquire); }
  void Awake() { sleeping_.store(false, std::memory_order_relaxed); }

  void Ring() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_relaxed)) {
      epoch_.fetch_add(1, std::memory_order_release);
      epoch_.notify_one();
    }
  }
  // Wakes the consumer whether or not it announced sleep (shutdown).
  void RingAlways() {
    epoch_.fetch_add(1, std::memory_order_release);
    epoch_.notify_one();
  }

 private:
  // Separate cache lines: producers read sleeping_ on every push.
  alignas(64) std::atomic<uint32_t> epoch_{0};
  alignas(64) std::atomic<bool> sleeping_{false};
};

}  // namespace coffer::internal
