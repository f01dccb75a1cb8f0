// History pages: newest first, cursors by per-account entry number, the
// per-shard memory bound, and unknown accounts.
#include <cstdint>
#include <vector>

#include "tests/test_util.h"

namespace coffer::testing {
namespace {

constexpr uint64_t kAccount = 42;
constexpr int kCredits = 250;

std::vector<Op> Credits(uint64_t account, int n) {
  std::vector<Op> ops;
  for (int i = 0; i < n; ++i) {
    Op op = Credit(account, 1 + i);
    op.user_data = 1000 + i;
    op.reason = 7;
    ops.push_back(op);
  }
  return ops;
}

TEST(HistoryTest, PaginatesNewestFirst) {
  auto e = MakeEngine(2);
  ASSERT_EQ(Code(*e, CreateAccount(kAccount)), ResultCode::kOk);
  const std::vector<Op> ops = Credits(kAccount, kCredits);
  const std::vector<OpResult> results = e->Apply(ops);
  for (const OpResult& r : results) ASSERT_EQ(r.code, ResultCode::kOk);
  const uint32_t total = kCredits + 1;  // create + credits
  EXPECT_EQ(Account(*e, kAccount).history_count, total);

  uint32_t before = 0;
  uint32_t expected_number = total;
  std::vector<size_t> page_sizes;
  for (int page = 0; page < 10; ++page) {
    Request r = HistoryPage(*e, kAccount, before, 100);
    EXPECT_TRUE(r.history_found);
    page_sizes.push_back(r.history.size());
    for (const HistoryEntry& h : r.history) {
      EXPECT_EQ(h.number, expected_number);
      EXPECT_EQ(h.account_id, kAccount);
      if (h.number >= 2) {
        // Entry n (n >= 2) is the credit ops[n - 2].
        const int i = static_cast<int>(h.number) - 2;
        EXPECT_EQ(h.kind, EntryKind::kCredit);
        EXPECT_EQ(h.op_id, ops[i].op_id);
        EXPECT_EQ(h.amount, 1 + i);
        EXPECT_EQ(h.balance_after, results[i].balance_after);
        EXPECT_EQ(h.seq, results[i].seq);
        EXPECT_EQ(h.user_data, 1000u + i);
        EXPECT_EQ(h.reason, 7u);
      } else {
        EXPECT_EQ(h.kind, EntryKind::kCreate);
      }
      --expected_number;
    }
    if (r.history_next_before == 0) break;
    EXPECT_EQ(r.history_next_before, r.history.back().number);
    before = r.history_next_before;
  }
  EXPECT_EQ(page_sizes, (std::vector<size_t>{100, 100, 51}));
  EXPECT_EQ(expected_number, 0u);  // every entry seen exactly once

  // A page that ends exactly at the oldest entry has no next page.
  Request last = HistoryPage(*e, kAccount, 52, 51);
  EXPECT_EQ(last.history.size(), 51u);
  EXPECT_EQ(last.history_next_before, 0u);
  // A cursor past the newest entry returns from the newest.
  Request top = HistoryPage(*e, kAccount, 100000, 3);
  ASSERT_EQ(top.history.size(), 3u);
  EXPECT_EQ(top.history[0].number, total);
  EXPECT_EQ(top.history_next_before, total - 2);
  // Limit 0: found, no entries.
  Request none = HistoryPage(*e, kAccount, 0, 0);
  EXPECT_TRUE(none.history_found);
  EXPECT_TRUE(none.history.empty());
}

// With a small per-shard ring only the newest entries remain, and the
// cursor ends (0) after them.
TEST(HistoryTest, RingKeepsOnlyNewestEntries) {
  EngineConfig config;
  config.history_entries_per_shard_max = 50;
  auto e = MakeEngine(2, config);
  ASSERT_EQ(Code(*e, CreateAccount(kAccount)), ResultCode::kOk);
  for (const OpResult& r : e->Apply(Credits(kAccount, kCredits))) {
    ASSERT_EQ(r.code, ResultCode::kOk);
  }
  const uint32_t total = kCredits + 1;
  EXPECT_EQ(Account(*e, kAccount).history_count, total);  // ever written

  Request all = HistoryPage(*e, kAccount, 0, 100);
  EXPECT_TRUE(all.history_found);
  ASSERT_EQ(all.history.size(), 50u);
  EXPECT_EQ(all.history.front().number, total);
  EXPECT_EQ(all.history.back().number, total - 49);
  EXPECT_EQ(all.history_next_before, 0u);

  // Paged in 20s: 20, 20, 10, then the end.
  std::vector<size_t> sizes;
  uint32_t before = 0;
  uint32_t expected_number = total;
  for (int page = 0; page < 10; ++page) {
    Request r = HistoryPage(*e, kAccount, before, 20);
    sizes.push_back(r.history.size());
    for (const HistoryEntry& h : r.history)
      EXPECT_EQ(h.number, expected_number--);
    if (r.history_next_before == 0) break;
    before = r.history_next_before;
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{20, 20, 10}));

  // A cursor into the part that fell out of memory returns nothing.
  Request old = HistoryPage(*e, kAccount, 100, 20);
  EXPECT_TRUE(old.history_found);
  EXPECT_TRUE(old.history.empty());
  EXPECT_EQ(old.history_next_before, 0u);
}

TEST(HistoryTest, UnknownAccountIsNotFound) {
  auto e = MakeEngine(2);
  ASSERT_EQ(Code(*e, CreateAccount(kAccount)), ResultCode::kOk);
  Request r = HistoryPage(*e, 4242, 0, 100);
  EXPECT_FALSE(r.history_found);
  EXPECT_TRUE(r.history.empty());
  EXPECT_EQ(r.history_next_before, 0u);
  // A failed create leaves no account and no history either.
  EXPECT_EQ(Code(*e, CreateAccount(4242, 0)), ResultCode::kCurrencyZero);
  EXPECT_FALSE(HistoryPage(*e, 4242, 0, 100).history_found);
  EXPECT_FALSE(HistoryPage(*e, 0, 0, 100).history_found);
}

// A transfer writes one entry per side, with the counterparty and the same
// seq; a reused Request returns fresh answers.
TEST(HistoryTest, TransferEntriesAndRequestReuse) {
  auto e = MakeEngine(3);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(2)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(1, 100)), ResultCode::kOk);
  const Op t = Transfer(1, 2, 40);
  const OpResult tr = e->Apply({t})[0];
  ASSERT_EQ(tr.code, ResultCode::kOk);

  Request r;
  r.kind = RequestKind::kHistory;
  r.history_account = 1;
  r.history_limit = 10;
  ASSERT_EQ(e->Execute(r), SubmitResult::kAccepted);
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_EQ(r.history[0].kind, EntryKind::kTransferOut);
  EXPECT_EQ(r.history[0].amount, -40);
  EXPECT_EQ(r.history[0].other_account_id, 2u);
  EXPECT_EQ(r.history[0].seq, tr.seq);
  EXPECT_EQ(r.history[0].op_id, t.op_id);
  EXPECT_EQ(r.history[0].balance_after, 60);

  r.history_account = 2;  // reuse the same Request
  ASSERT_EQ(e->Execute(r), SubmitResult::kAccepted);
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_EQ(r.history[0].kind, EntryKind::kTransferIn);
  EXPECT_EQ(r.history[0].amount, 40);
  EXPECT_EQ(r.history[0].other_account_id, 1u);
  EXPECT_EQ(r.history[0].seq, tr.seq);
  EXPECT_EQ(r.history[0].timestamp_ns,
            HistoryPage(*e, 1, 0, 1).history[0].timestamp_ns);
  EXPECT_EQ(r.history[1].kind, EntryKind::kCreate);
}

// A sparse filter is paged in bounded steps: a page examines at most
// kHistoryScanEntriesMax entries, so it may come back short, even empty,
// with a cursor; reading on finds every match exactly once and ends.
TEST(HistoryTest, ASparseFilterIsReadInBoundedStepsAndMissesNothing) {
  auto e = MakeEngine(1);
  ASSERT_EQ(Code(*e, CreateAccount(kAccount)), ResultCode::kOk);
  constexpr uint32_t kEntries = 2 * kHistoryScanEntriesMax + 100;
  std::vector<Op> ops;
  for (uint32_t i = 0; i < kEntries; ++i) {
    Op op = Credit(kAccount, 1);
    op.reason = i % 10'000 == 0 ? 9 : 1;  // 4 matches among 32,868
    ops.push_back(op);
    if (ops.size() == 4096 || i + 1 == kEntries) {
      for (const OpResult& r : e->Apply(ops)) ASSERT_TRUE(r.ok());
      ops.clear();
    }
  }
  HistoryFilter f;
  f.has_reason = true;
  f.reason = 9;
  std::vector<uint32_t> numbers;
  uint32_t before = 0;
  int pages = 0;
  for (; pages < 10; ++pages) {
    const Request r = HistoryPage(*e, kAccount, before, 100, f);
    for (const HistoryEntry& h : r.history) {
      EXPECT_EQ(h.reason, 9u);
      numbers.push_back(h.number);
    }
    before = r.history_next_before;
    if (before == 0) break;
  }
  // Credit i is entry i + 2; 32,869 entries take three bounded pages.
  EXPECT_EQ(numbers, (std::vector<uint32_t>{30'002, 20'002, 10'002, 2}));
  EXPECT_EQ(before, 0u);
  EXPECT_EQ(pages, 2) << "three pages: two cut at the scan bound, one to end";
  // Unfiltered, a page still holds `limit` entries.
  EXPECT_EQ(HistoryPage(*e, kAccount, 0, 1000).history.size(), 1000u);
}

}  // namespace
}  // namespace coffer::testing
