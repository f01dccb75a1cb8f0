// The lock manager alone (engine/lock_manager.h): no shard, no threads. Each
// case is a script of admissions, releases and contention checks with what
// the lock manager must answer at every step; the engine suites (Chains,
// Concurrency, Bank, ...) cover it inside the shards.
#include "engine/lock_manager.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace coffer {
namespace {

using internal::Key;
using internal::LockManager;

// Keys named by their txn index alone: the lock manager never looks inside
// the request, so one (absent) request is enough.
Key K(uint32_t txn) { return Key{nullptr, txn}; }

struct Step {
  enum Kind { kUncontended, kEnqueue, kRelease };
  Kind kind;
  uint32_t txn;  // unused by kUncontended
  std::vector<uint64_t> accounts;
  bool expect = false;          // kUncontended: free; kEnqueue: ready at once
  std::vector<uint32_t> ready;  // kRelease: the txns made ready, in order
};

Step Free(std::vector<uint64_t> accounts, bool expect) {
  return {Step::kUncontended, 0, std::move(accounts), expect, {}};
}
Step Enqueue(uint32_t txn, std::vector<uint64_t> accounts, bool ready) {
  return {Step::kEnqueue, txn, std::move(accounts), ready, {}};
}
Step Release(uint32_t txn, std::vector<uint64_t> accounts,
             std::vector<uint32_t> ready) {
  return {Step::kRelease, txn, std::move(accounts), false, std::move(ready)};
}

struct Case {
  std::string name;
  std::vector<Step> steps;
};

std::vector<uint32_t> Txns(const std::vector<Key>& keys) {
  std::vector<uint32_t> out;
  for (const Key& k : keys) out.push_back(k.txn);
  return out;
}

void RunStep(LockManager& m, const Step& s) {
  switch (s.kind) {
    case Step::kUncontended:
      EXPECT_EQ(m.Uncontended(s.accounts), s.expect);
      break;
    case Step::kEnqueue:
      EXPECT_EQ(m.Enqueue(K(s.txn), s.accounts), s.expect);
      break;
    case Step::kRelease: {
      std::vector<Key> now_ready;
      m.Release(K(s.txn), s.accounts, &now_ready);
      EXPECT_EQ(Txns(now_ready), s.ready);
      break;
    }
  }
}

TEST(LockManager, ScriptsGiveTheExpectedAnswersAndEndEmpty) {
  const std::vector<Case> cases = {
      {"uncontended admission",
       {Free({1, 2}, true), Enqueue(1, {1, 2}, true), Free({3}, true),
        Free({2, 3}, false), Free({1}, false), Release(1, {1, 2}, {}),
        Free({1, 2}, true)}},
      {"FIFO on one account",
       {Enqueue(1, {7}, true), Enqueue(2, {7}, false), Enqueue(3, {7}, false),
        Release(1, {7}, {2}), Release(2, {7}, {3}), Release(3, {7}, {})}},
      {"a txn on two accounts waits on both",
       {Enqueue(1, {1}, true), Enqueue(2, {2}, true), Enqueue(3, {1, 2}, false),
        Release(1, {1}, {}), Free({1}, false), Release(2, {2}, {3}),
        Release(3, {1, 2}, {})}},
      {"the other account's holder released first",
       {Enqueue(1, {1}, true), Enqueue(2, {2}, true), Enqueue(3, {1, 2}, false),
        Release(2, {2}, {}), Release(1, {1}, {3}), Release(3, {1, 2}, {})}},
      // 1 holds 1, 2 and 3; behind it 2 waits on 1, 3 on 3, 4 on 2 and on 3
      // (behind 1 and 3); 5 is elsewhere. Releasing 1 frees 2 and 3 only.
      {"release makes exactly the right successors ready",
       {Enqueue(1, {1, 2, 3}, true), Enqueue(2, {1}, false),
        Enqueue(3, {3}, false), Enqueue(4, {2, 3}, false),
        Enqueue(5, {4}, true), Release(1, {1, 2, 3}, {2, 3}),
        Release(3, {3}, {4}), Release(2, {1}, {}), Release(4, {2, 3}, {}),
        Release(5, {4}, {})}},
      {"successors come in the order of the released accounts",
       {Enqueue(1, {5, 6}, true), Enqueue(2, {6}, false),
        Enqueue(3, {5}, false), Release(1, {5, 6}, {3, 2}), Release(2, {6}, {}),
        Release(3, {5}, {})}},
      {"a later txn on a free account is ready while others wait",
       {Enqueue(1, {1}, true), Enqueue(2, {1, 2}, false), Enqueue(3, {3}, true),
        Enqueue(4, {2}, false), Release(3, {3}, {}), Release(1, {1}, {2}),
        Release(2, {1, 2}, {4}), Release(4, {2}, {})}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    LockManager m;
    EXPECT_TRUE(m.empty());
    for (size_t i = 0; i < c.steps.size(); ++i) {
      SCOPED_TRACE("step " + std::to_string(i));
      RunStep(m, c.steps[i]);
    }
    EXPECT_TRUE(m.empty());
    EXPECT_EQ(m.admitted(), 0u);
  }
}

TEST(LockManager, CountsAdmittedKeysAndDistinguishesRequests) {
  LockManager m;
  int a = 0, b = 0;  // stand-ins for two requests: only their addresses count
  const Key ka{reinterpret_cast<Request*>(&a), 0};
  const Key kb{reinterpret_cast<Request*>(&b), 0};
  const std::vector<uint64_t> account = {9};
  EXPECT_TRUE(m.Enqueue(ka, account));
  EXPECT_FALSE(m.Enqueue(kb, account));  // same txn index, other request
  EXPECT_EQ(m.admitted(), 2u);
  EXPECT_FALSE(m.empty());
  std::vector<Key> ready;
  m.Release(ka, account, &ready);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0], kb);
  EXPECT_EQ(m.admitted(), 1u);
}

class LockManagerDeathTest : public ::testing::Test {
 protected:
  // As in assert_test.cc: coffer_tests starts threads elsewhere, so each
  // death test re-executes the binary rather than fork a threaded process.
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }

  LockManager m_;
  std::vector<Key> ready_;
};

TEST_F(LockManagerDeathTest, KeyEnqueuedTwiceIsFatal) {
  const std::vector<uint64_t> first = {1}, second = {2};
  m_.Enqueue(K(1), first);
  EXPECT_DEATH(m_.Enqueue(K(1), second),
               "invariant violated: .* \\(transaction admitted twice\\) at "
               ".*lock_manager\\.cc:[0-9]+");
}

TEST_F(LockManagerDeathTest, ReleaseOfANonHeadKeyIsFatal) {
  const std::vector<uint64_t> account = {1};
  m_.Enqueue(K(1), account);
  m_.Enqueue(K(2), account);
  EXPECT_DEATH(m_.Release(K(2), account, &ready_),
               "invariant violated: .* \\(release by a txn not at the head\\)");
}

TEST_F(LockManagerDeathTest, ReleaseOfAnUnlockedAccountIsFatal) {
  const std::vector<uint64_t> held = {1}, other = {2};
  m_.Enqueue(K(1), held);
  EXPECT_DEATH(m_.Release(K(1), other, &ready_),
               "invariant violated: .* \\(release of an unlocked key\\)");
}

TEST_F(LockManagerDeathTest, ReleaseOfANeverAdmittedKeyIsFatal) {
  EXPECT_DEATH(m_.Release(K(1), {}, &ready_),
               "invariant violated: .* \\(released txn had no pending "
               "entry\\)");
}

}  // namespace
}  // namespace coffer
