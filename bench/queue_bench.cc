// Hand-off rate of the Boost.Lockfree queues the engine is built on
// (engine/queues.h), between real threads.
//
//   BM_Spsc/batch:N        spsc_queue<Item*>: one producer thread pushes
//                          batches of N with push(ptr, n); the benchmark
//                          thread pops batches of N with pop(ptr, n).
//   BM_SpscScalar          the same with push(x)/pop(x), one item at a time
//                          (what the engine's request queues do).
//   BM_Mpsc/producers:P    boost::lockfree::queue<Item*, fixed_sized<true>>
//                          (the engine's submit queue): P producer threads
//                          bounded_push one item at a time, the benchmark
//                          thread pops.
//
// One benchmark iteration = the consumer receives one batch (N items for
// BM_Spsc, kMpscItemsPerIteration for BM_Mpsc); items_per_second counts
// items. Producers are started for each run and told up front how many items
// to send, so nothing is left in flight when the run ends. Real time is
// reported: the work is spread over threads.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "common/cpu_relax.h"

namespace {

struct Item {
  uint64_t value;
};

using coffer::CpuRelax;

// Waits politely on a full or empty queue: spin a little, then yield (this
// machine may have fewer cores than threads).
struct Backoff {
  uint32_t spins = 0;
  void Wait() {
    if (++spins < 64) {
      CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }
  void Reset() { spins = 0; }
};

// Items are pointers into this array; the consumer checks that it receives
// them in order (SPSC) or that the sum matches (MPSC).
constexpr size_t kItems = 1 << 16;
Item* ItemArray() {
  static std::vector<Item> items = [] {
    std::vector<Item> v(kItems);
    for (size_t i = 0; i < kItems; ++i) v[i].value = i;
    return v;
  }();
  return items.data();
}

constexpr size_t kSpscCapacity = 1 << 16;

void BM_Spsc(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  auto queue_ptr =
      std::make_unique<boost::lockfree::spsc_queue<Item*>>(kSpscCapacity);
  auto& queue = *queue_ptr;
  Item* items = ItemArray();
  const uint64_t total = state.max_iterations * batch;

  std::thread producer([&] {
    std::vector<Item*> buf(batch);
    uint64_t sent = 0;
    Backoff backoff;
    while (sent < total) {
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(batch, total - sent));
      for (size_t i = 0; i < n; ++i) buf[i] = &items[(sent + i) % kItems];
      size_t done = 0;
      while (done < n) {
        const size_t pushed = queue.push(buf.data() + done, n - done);
        if (pushed == 0) {
          backoff.Wait();
        } else {
          backoff.Reset();
          done += pushed;
        }
      }
      sent += n;
    }
  });

  std::vector<Item*> buf(batch);
  uint64_t received = 0;
  bool in_order = true;
  Backoff backoff;
  for (auto _ : state) {
    size_t got = 0;
    while (got < batch) {
      const size_t popped = queue.pop(buf.data() + got, batch - got);
      if (popped == 0) {
        backoff.Wait();
      } else {
        backoff.Reset();
        got += popped;
      }
    }
    for (size_t i = 0; i < batch; ++i) {
      in_order &= buf[i]->value == (received + i) % kItems;
    }
    received += batch;
  }
  producer.join();
  state.SetItemsProcessed(static_cast<int64_t>(received));
  if (!in_order) state.SkipWithError("items arrived out of order");
}

void BM_SpscScalar(benchmark::State& state) {
  auto queue_ptr =
      std::make_unique<boost::lockfree::spsc_queue<Item*>>(kSpscCapacity);
  auto& queue = *queue_ptr;
  Item* items = ItemArray();
  const uint64_t total = state.max_iterations;

  std::thread producer([&] {
    Backoff backoff;
    for (uint64_t sent = 0; sent < total; ++sent) {
      while (!queue.push(&items[sent % kItems])) backoff.Wait();
      backoff.Reset();
    }
  });

  uint64_t received = 0;
  bool in_order = true;
  Backoff backoff;
  for (auto _ : state) {
    Item* item;
    while (!queue.pop(item)) backoff.Wait();
    backoff.Reset();
    in_order &= item->value == received % kItems;
    ++received;
  }
  producer.join();
  state.SetItemsProcessed(static_cast<int64_t>(received));
  if (!in_order) state.SkipWithError("items arrived out of order");
}

constexpr size_t kMpscItemsPerIteration = 1024;
// The engine's submit queue capacity default (EngineConfig).
constexpr size_t kMpscCapacity = 4096;

void BM_Mpsc(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  // On the heap, as the engine allocates it (engine.cc): on the stack its
  // head and tail share cache lines with the consumer's locals.
  auto queue_ptr = std::make_unique<
      boost::lockfree::queue<Item*, boost::lockfree::fixed_sized<true>>>(
      kMpscCapacity);
  auto& queue = *queue_ptr;
  Item* items = ItemArray();
  const uint64_t total = state.max_iterations * kMpscItemsPerIteration;

  uint64_t expected_sum = 0;
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    // Producer p sends items p, p + P, p + 2P, ... below total.
    for (uint64_t i = static_cast<uint64_t>(p); i < total;
         i += static_cast<uint64_t>(producers)) {
      expected_sum += i % kItems;
    }
    threads.emplace_back([&, p] {
      Backoff backoff;
      for (uint64_t i = static_cast<uint64_t>(p); i < total;
           i += static_cast<uint64_t>(producers)) {
        while (!queue.bounded_push(&items[i % kItems])) backoff.Wait();
        backoff.Reset();
      }
    });
  }

  uint64_t received = 0;
  uint64_t sum = 0;
  Backoff backoff;
  for (auto _ : state) {
    for (size_t k = 0; k < kMpscItemsPerIteration; ++k) {
      Item* item;
      while (!queue.pop(item)) backoff.Wait();
      backoff.Reset();
      sum += item->value;
    }
    received += kMpscItemsPerIteration;
  }
  for (auto& t : threads) t.join();
  state.SetItemsProcessed(static_cast<int64_t>(received));
  if (received == total && sum != expected_sum) {
    state.SkipWithError("items lost or duplicated");
  }
}

BENCHMARK(BM_Spsc)->ArgName("batch")->Arg(1)->Arg(64)->Arg(1024)->UseRealTime();
BENCHMARK(BM_SpscScalar)->UseRealTime();
BENCHMARK(BM_Mpsc)->ArgName("producers")->Arg(1)->Arg(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
