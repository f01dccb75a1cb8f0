#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "tests/proc_util.h"
#include "tests/test_util.h"

namespace coffer::testing {
namespace {

TEST(EngineSmoke, CreditDebitTransferAcrossShardCounts) {
  for (uint32_t shards : {1u, 2u, 4u}) {
    auto e = MakeEngine(shards);
    ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, CreateAccount(2)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, Credit(1, 100)), ResultCode::kOk);
    EXPECT_EQ(Code(*e, Debit(1, 30)), ResultCode::kOk);
    EXPECT_EQ(Code(*e, Debit(1, 71)), ResultCode::kInsufficientFunds);
    EXPECT_EQ(Code(*e, Transfer(1, 2, 70)), ResultCode::kOk);
    EXPECT_EQ(Account(*e, 1).balance, 0);
    EXPECT_EQ(Account(*e, 2).balance, 70);
    EXPECT_EQ(Code(*e, Transfer(1, 2, 1)), ResultCode::kInsufficientFunds);
  }
}

// Every engine thread has a name (common/thread_name.h), which top -H, perf
// and bench/RESULTS.md's per-thread CPU figures go by.
TEST(EngineSmoke, EngineThreadsAreNamed) {
  EngineConfig config;
  config.data_dir = FreshDir("engine_thread_names");
  {
    auto e = MakeEngine(2, config);
    ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
    const std::vector<std::string> names = ThreadNames();
    for (const char* name :
         {"coffer-seq", "coffer-shard-0", "coffer-shard-1", "coffer-log",
          "coffer-opidx", "coffer-history", "coffer-histread"}) {
      EXPECT_NE(std::find(names.begin(), names.end(), name), names.end())
          << name;
    }
  }
  RemoveIfPassed(config.data_dir);
}

TEST(EngineSmoke, DigestIndependentOfShardCount) {
  StateDigest first;
  std::vector<Op> ops;
  for (uint64_t id = 1; id <= 50; ++id) ops.push_back(CreateAccount(id));
  for (uint64_t id = 1; id <= 50; ++id) ops.push_back(Credit(id, 1000 + id));
  for (uint64_t id = 1; id < 50; ++id) ops.push_back(Transfer(id, id + 1, id));
  ops.push_back(Hold(7, 5));
  for (uint32_t shards : {1u, 2u, 3u, 8u}) {
    auto e = MakeEngine(shards);
    for (const OpResult& r : e->Apply(ops)) ASSERT_EQ(r.code, ResultCode::kOk);
    StateDigest d = e->Digest();
    EXPECT_EQ(d.accounts, 50u);
    EXPECT_EQ(d.holds, 1u);
    if (shards == 1) {
      first = d;
    } else {
      EXPECT_EQ(d, first) << "shards=" << shards;
    }
  }
}

}  // namespace
}  // namespace coffer::testing
