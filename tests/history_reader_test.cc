// The history reader (engine/history_reader.h): a page that goes on in the
// store is read on the reader's thread, never the caller's, under the same
// rules as a page read from memory, and handed back through its done queue.
#include "engine/history_reader.h"

#include <atomic>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "engine/history_store.h"
#include "tests/test_util.h"

namespace coffer::testing {
namespace {

using internal::HistoryReader;
using internal::HistoryStore;
using internal::HistoryStoreOptions;

// Account 5 has entries 1..count, each stamped with its number.
std::unique_ptr<HistoryStore> StoreOfOneAccount(const std::string& dir,
                                                uint32_t count) {
  HistoryStoreOptions options;
  options.dir = dir + "/store";
  auto store = HistoryStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  std::vector<HistoryEntry> batch;
  for (uint32_t n = 1; n <= count; ++n) {
    HistoryEntry e;
    e.account_id = 5;
    e.number = n;
    e.seq = n;
    e.amount = n;
    e.timestamp_ns = n;
    batch.push_back(e);
  }
  EXPECT_TRUE((*store)->Add(batch).ok());
  return std::move(store).value();
}

// Waits on `bell` until the reader hands a request back (bounded: the test
// handed it exactly one).
Request* AwaitDone(HistoryReader& reader, internal::Doorbell& bell) {
  Request* r = nullptr;
  while (!reader.done()->pop(r)) {
    const uint32_t token = bell.PrepareSleep();
    if (reader.done()->read_available() == 0) bell.Sleep(token);
    bell.Awake();
  }
  return r;
}

TEST(HistoryReaderTest, ReadsOnInTheStoreOffTheCallersThread) {
  const std::string dir = FreshDir("history_reader");
  {
    std::unique_ptr<HistoryStore> store = StoreOfOneAccount(dir, 300);
    internal::Doorbell sequencer_bell;
    std::latch may_read(1);
    const std::thread::id test_thread = std::this_thread::get_id();
    std::atomic<bool> read_on_callers_thread{false};
    // Holds the read until the test lets it go; a read on the test's own
    // thread (inside Hand) is noted instead of waited for, so the test fails
    // rather than hangs.
    HistoryReader reader(store.get(), /*lanes=*/2, /*requests_in_flight_max=*/4,
                         &sequencer_bell, /*on_fatal=*/{}, [&] {
                           if (std::this_thread::get_id() == test_thread) {
                             read_on_callers_thread = true;
                           } else {
                             may_read.wait();
                           }
                         });
    Request r;
    r.kind = RequestKind::kHistory;
    r.history_account = 5;
    r.history_limit = 10;
    // The shard found entries 300..297 in memory and examined 4.
    for (uint32_t n = 300; n >= 297; --n) {
      HistoryEntry e;
      e.account_id = 5;
      e.number = n;
      e.amount = n;
      e.timestamp_ns = n;
      r.history.push_back(e);
    }
    r.internal.history_store_below = 297;
    r.internal.history_examined = 4;
    reader.Hand(1, &r);
    // Hand returned while the read waits: the caller was not held.
    EXPECT_FALSE(read_on_callers_thread.load());
    EXPECT_EQ(reader.done()->read_available(), 0u);
    may_read.count_down();
    Request* back = AwaitDone(reader, sequencer_bell);
    ASSERT_EQ(back, &r);
    ASSERT_EQ(r.history.size(), 10u);
    for (uint32_t i = 0; i < 10; ++i) {
      EXPECT_EQ(r.history[i].number, 300 - i) << i;
    }
    // A full page: the cursor goes on below its last entry.
    EXPECT_EQ(r.history_next_before, 291u);
    EXPECT_EQ(r.internal.history_store_below, 0u);
    EXPECT_EQ(r.internal.history_examined, 0u);
  }
  RemoveIfPassed(dir);
}

TEST(HistoryReaderTest, TheScanBoundCountsTheEntriesExaminedInMemory) {
  const std::string dir = FreshDir("history_reader_bound");
  {
    std::unique_ptr<HistoryStore> store = StoreOfOneAccount(dir, 50);
    internal::Doorbell sequencer_bell;
    HistoryReader reader(store.get(), 1, 4, &sequencer_bell, {});
    Request r;
    r.kind = RequestKind::kHistory;
    r.history_account = 5;
    r.history_limit = 100;
    // The shard examined all but two entries of the scan bound in memory
    // (say, filtered out): the store may add two more.
    r.internal.history_store_below = 51;
    r.internal.history_examined = kHistoryScanEntriesMax - 2;
    reader.Hand(0, &r);
    ASSERT_EQ(AwaitDone(reader, sequencer_bell), &r);
    EXPECT_EQ(r.history.size(), 2u);
    // A short page: it goes on below the last entry examined.
    EXPECT_EQ(r.history_next_before, 49u);
  }
  RemoveIfPassed(dir);
}

}  // namespace
}  // namespace coffer::testing
