// net/reply_inbox.h: completions pushed from other threads run exactly once
// on the io thread, many per wake-up, and the bound degrades to one post
// per completion rather than losing any.
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "net/reply_inbox.h"

namespace coffer::net {
namespace {

struct Counts {
  std::vector<uint32_t> runs;  // per item: how often it ran
  uint64_t total = 0;          // runs of all items
  std::thread::id ran_on;
  bool other_thread = false;
};

struct Item {
  Counts* counts;
  uint32_t index;
};

void RunItem(void* arg) {
  Item* item = static_cast<Item*>(arg);
  ++item->counts->runs[item->index];
  ++item->counts->total;
  if (std::this_thread::get_id() != item->counts->ran_on) {
    item->counts->other_thread = true;
  }
}

// Runs `io`'s handlers one at a time until `counts` has `n` runs; returns
// how many handlers that took. The inbox's pending eventfd read keeps the
// io_context from ever running out of work, so run() would not return; a
// handler that does not come within a second ends the loop (and the test
// fails on the counts).
size_t RunUntil(boost::asio::io_context& io, const Counts& counts, uint64_t n) {
  size_t handlers = 0;
  while (counts.total < n) {
    const size_t ran = io.run_one_for(std::chrono::seconds(1));
    if (ran == 0) break;
    handlers += ran;
  }
  return handlers;
}

// Pushes `n` items from a producer thread while the io_context is not
// running, then runs it; returns how many handlers it ran.
size_t PushThenRun(uint32_t n, Counts* counts, std::vector<Item>* items) {
  boost::asio::io_context io;
  ReplyInbox inbox(io);
  counts->runs.assign(n, 0);
  counts->ran_on = std::this_thread::get_id();
  items->clear();
  for (uint32_t i = 0; i < n; ++i) items->push_back({counts, i});
  for (uint32_t i = 0; i < n; ++i) inbox.Expect();  // as the connection does
  std::thread producer([&] {
    for (Item& item : *items) inbox.Push({&RunItem, &item});
  });
  producer.join();
  const size_t handlers = RunUntil(io, *counts, n);
  EXPECT_EQ(inbox.awaited(), 0u) << "every expected completion counted off";
  return handlers;
}

TEST(ReplyInbox, ManyCompletionsCostOneWakeUp) {
  Counts counts;
  std::vector<Item> items;
  const size_t handlers = PushThenRun(1000, &counts, &items);
  EXPECT_EQ(handlers, 1u) << "one drain carries every pending completion";
  for (uint32_t i = 0; i < 1000; ++i) EXPECT_EQ(counts.runs[i], 1u) << i;
  EXPECT_FALSE(counts.other_thread);
}

TEST(ReplyInbox, ADrainRunsABatchThenLetsOtherHandlersIn) {
  Counts counts;
  std::vector<Item> items;
  const uint32_t n = 3 * ReplyInbox::kDrainBatchMax + 5;
  const size_t handlers = PushThenRun(n, &counts, &items);
  EXPECT_EQ(handlers, 4u);
  for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(counts.runs[i], 1u) << i;
}

TEST(ReplyInbox, BeyondTheBoundEachCompletionIsPostedAloneAndNoneIsLost) {
  Counts counts;
  std::vector<Item> items;
  const uint32_t extra = 100;
  const uint32_t n = ReplyInbox::kCapacity + extra;
  const size_t handlers = PushThenRun(n, &counts, &items);
  // The queue's drains, plus one post for each completion that found it
  // full.
  const size_t drains =
      (ReplyInbox::kCapacity + ReplyInbox::kDrainBatchMax - 1) /
      ReplyInbox::kDrainBatchMax;
  EXPECT_EQ(handlers, drains + extra);
  for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(counts.runs[i], 1u) << i;
}

TEST(ReplyInbox, PushesRacingADrainAreNeverStranded) {
  // This thread pushes while the io thread drains: every completion runs
  // exactly once, none is left in the queue without a drain to run it.
  boost::asio::io_context io;
  ReplyInbox inbox(io);
  constexpr uint32_t kItems = 200'000;
  Counts counts;
  counts.runs.assign(kItems, 0);
  std::vector<Item> items;
  for (uint32_t i = 0; i < kItems; ++i) items.push_back({&counts, i});
  // Before the io thread starts, so the io-thread-only count is not raced.
  for (uint32_t i = 0; i < kItems; ++i) inbox.Expect();
  std::thread io_thread([&] {
    counts.ran_on = std::this_thread::get_id();
    RunUntil(io, counts, kItems);
  });
  for (Item& item : items) inbox.Push({&RunItem, &item});
  io_thread.join();
  for (uint32_t i = 0; i < kItems; ++i) ASSERT_EQ(counts.runs[i], 1u) << i;
  EXPECT_EQ(inbox.awaited(), 0u);
}

// Pushes one completion that no Expect announced, and runs it.
void RunUnexpectedCompletion() {
  boost::asio::io_context io;
  ReplyInbox inbox(io);
  Counts counts;
  counts.runs.assign(1, 0);
  Item item{&counts, 0};
  inbox.Push({&RunItem, &item});
  io.run_one_for(std::chrono::seconds(1));
}

TEST(ReplyInboxDeathTest, ACompletionNobodyExpectedStopsTheServer) {
  // A completion without an Expect means a request completed twice (or
  // bypassed the count the io loop trusts): fail-stop, not a quiet skip.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(RunUnexpectedCompletion(), "a completion nobody expected");
}

}  // namespace
}  // namespace coffer::net
