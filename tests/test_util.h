// Helpers shared by the engine tests: op builders and a test engine.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "engine/engine.h"
#include "engine/types.h"
#include "gtest/gtest.h"

namespace coffer::testing {

// Process-wide source of unique op ids for tests.
inline uint64_t NextOpId() {
  static std::atomic<uint64_t> next{1'000'000};
  return next.fetch_add(1, std::memory_order_relaxed);
}

inline Op CreateAccount(uint64_t id, uint32_t currency = 1,
                        uint64_t overdraft_limit = 0, uint64_t cap = 0) {
  Op op;
  op.op_id = NextOpId();
  op.kind = OpKind::kCreateAccount;
  op.account_id = id;
  op.currency = currency;
  op.amount = overdraft_limit;
  op.aux = cap;
  if (overdraft_limit != 0) op.account_flags |= kAccountFlagOverdraft;
  if (cap != 0) op.account_flags |= kAccountFlagCap;
  return op;
}

inline Op Credit(uint64_t id, uint64_t amount) {
  Op op;
  op.op_id = NextOpId();
  op.kind = OpKind::kCredit;
  op.account_id = id;
  op.amount = amount;
  return op;
}

inline Op Debit(uint64_t id, uint64_t amount) {
  Op op;
  op.op_id = NextOpId();
  op.kind = OpKind::kDebit;
  op.account_id = id;
  op.amount = amount;
  return op;
}

inline Op Transfer(uint64_t from, uint64_t to, uint64_t amount) {
  Op op;
  op.op_id = NextOpId();
  op.kind = OpKind::kTransfer;
  op.account_id = from;
  op.other_account_id = to;
  op.amount = amount;
  return op;
}

inline Op Hold(uint64_t id, uint64_t amount, uint64_t timeout_ms = 0) {
  Op op;
  op.op_id = NextOpId();
  op.kind = OpKind::kHold;
  op.account_id = id;
  op.amount = amount;
  op.aux = timeout_ms;
  return op;
}

inline Op Capture(uint64_t held_account, uint64_t hold_id, uint64_t to,
                  uint64_t amount) {
  Op op;
  op.op_id = NextOpId();
  op.kind = OpKind::kCapture;
  op.account_id = held_account;
  op.other_account_id = to;
  op.amount = amount;
  op.aux = hold_id;
  return op;
}

inline Op Release(uint64_t held_account, uint64_t hold_id) {
  Op op;
  op.op_id = NextOpId();
  op.kind = OpKind::kRelease;
  op.account_id = held_account;
  op.aux = hold_id;
  return op;
}

inline Op Linked(Op op) {
  op.flags |= kOpFlagLinked;
  return op;
}

// The ASan and TSan builds run 5-15x slower: long tests run shorter there
// (the release run is the long one; these look for races, leaks and
// undefined behaviour). Decided at compile time, so that no test depends
// on ctest passing it an environment.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif

// The whole number in environment variable `name` if it is set (to run a
// test longer or shorter by hand), else `release`, or `sanitized` in a
// sanitizer build.
inline uint64_t TestScale(const char* name, uint64_t release,
                          uint64_t sanitized) {
  const char* v = std::getenv(name);
  if (v != nullptr && *v != 0) return std::strtoull(v, nullptr, 10);
  return kSanitizerBuild ? sanitized : release;
}

// An empty directory under the test temp dir, named `name` and this
// process's id (tests of one binary may run in parallel processes).
inline std::string FreshDir(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) /
      (name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// Removes a test's directory once it passed (a failed test's is kept to
// look at): some tests leave a gigabyte of log and stores.
inline void RemoveIfPassed(const std::string& dir) {
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// Asks for a snapshot and waits (at most `limit`) until one more is
// written; fails the test on a failed snapshot or at the limit.
inline void TakeSnapshot(
    Engine& e, std::chrono::seconds limit = std::chrono::seconds(120)) {
  const uint64_t before = e.Stats().snapshots;
  e.RequestSnapshot();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (e.Stats().snapshots == before) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    ASSERT_EQ(e.Stats().snapshot_failures, 0u);
    std::this_thread::yield();
  }
}

// A manual clock for tests of time (hold expiry).
struct ManualClock {
  std::atomic<uint64_t> now_ns{1'000'000'000};
};

inline std::unique_ptr<Engine> MakeEngine(uint32_t shards,
                                          EngineConfig config = {}) {
  config.shard_count = shards;
  // Tests share two cores: sleep soon rather than spin.
  if (config.idle_spin_iterations == EngineConfig{}.idle_spin_iterations) {
    config.idle_spin_iterations = 64;
  }
  auto engine = Engine::Create(std::move(config));
  EXPECT_TRUE(engine.ok()) << engine.status();
  return std::move(engine).value();
}

inline ResultCode Code(Engine& e, const Op& op) {
  return e.Apply({op})[0].code;
}

inline AccountInfo Account(Engine& e, uint64_t id) { return e.Lookup({id})[0]; }

}  // namespace coffer::testing

// ---- Helpers shared by the engine test suites (appended) -------------------

#include <string>
#include <vector>

#include "engine/partition.h"

namespace coffer::testing {

// The first account id >= `from` that lives on `shard` of `shard_count`.
inline uint64_t IdOnShard(uint32_t shard, uint32_t shard_count,
                          uint64_t from = 1) {
  for (uint64_t id = from;; ++id) {
    if (ShardOf(id, shard_count) == shard) return id;
  }
}

// `op` with its currency guard (or, for create_account, its currency) set.
inline Op WithCurrency(Op op, uint32_t currency) {
  op.currency = currency;
  return op;
}

// One history page of `account`: newest first, numbers < `before` (0: from
// the newest), at most `limit` entries.
inline Request HistoryPage(Engine& e, uint64_t account, uint32_t before,
                           uint32_t limit, HistoryFilter filter = {}) {
  Request r;
  r.kind = RequestKind::kHistory;
  r.history_account = account;
  r.history_before = before;
  r.history_limit = limit;
  r.history_filter = filter;
  EXPECT_EQ(e.Execute(r), SubmitResult::kAccepted);
  return r;
}

// Every history entry of `account` still in memory, newest first.
inline std::vector<HistoryEntry> AllHistory(Engine& e, uint64_t account) {
  std::vector<HistoryEntry> all;
  uint32_t before = 0;
  for (;;) {
    Request r = HistoryPage(e, account, before, 1000);
    all.insert(all.end(), r.history.begin(), r.history.end());
    if (r.history_next_before == 0) break;
    before = r.history_next_before;
  }
  return all;
}

inline int64_t Balance(Engine& e, uint64_t id) {
  return Account(e, id).balance;
}

inline std::string Describe(const OpResult& r) {
  return std::string(ResultCodeName(r.code)) +
         (r.duplicate() ? " (duplicate)" : "") +
         " balance_after=" + std::to_string(r.balance_after) +
         " seq=" + std::to_string(r.seq);
}

}  // namespace coffer::testing
