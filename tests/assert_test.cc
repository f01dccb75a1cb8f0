// COFFER_ASSERT is on in every build: these death tests run in the release
// build (-DNDEBUG), where the C assert() is compiled out, and show that a
// violated invariant stops the process with the documented line on stderr.
#include "common/assert.h"

#include <gtest/gtest.h>

#include <cassert>
#include <csignal>
#include <cstdint>

#include "engine/account.h"
#include "engine/executor.h"
#include "engine/types.h"

namespace coffer {
namespace {

using internal::AccountFull;
using internal::CheckAccountInvariant;

class CofferAssertDeathTest : public ::testing::Test {
 protected:
  // The engine's tests start threads; "threadsafe" re-executes the binary
  // for each death test instead of forking a copy of a threaded process.
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(CofferAssertDeathTest, FalseAbortsWithTheExpressionFileAndLine) {
#ifdef NDEBUG
  assert(false);  // compiled out here: only COFFER_ASSERT is left to fire
#endif
  EXPECT_DEATH(COFFER_ASSERT(1 + 1 == 3),
               "coffer: FATAL: invariant violated: 1 \\+ 1 == 3 at "
               ".*assert_test\\.cc:[0-9]+");
}

TEST_F(CofferAssertDeathTest, MessageIsPrintedInParentheses) {
  EXPECT_DEATH(COFFER_ASSERT_MSG(false, "queue over its bound"),
               "coffer: FATAL: invariant violated: false \\(queue over its "
               "bound\\) at .*assert_test\\.cc:[0-9]+");
}

TEST_F(CofferAssertDeathTest, DiesBySigabrt) {
  EXPECT_EXIT(COFFER_ASSERT(false), ::testing::KilledBySignal(SIGABRT),
              "invariant violated");
}

TEST(CofferAssert, TrueConditionDoesNothingAndEvaluatesOnce) {
  int evaluated = 0;
  COFFER_ASSERT(++evaluated == 1);
  COFFER_ASSERT_MSG(++evaluated == 2, "never printed");
  EXPECT_EQ(evaluated, 2);
}

AccountFull Account(int64_t balance, uint64_t held) {
  AccountFull a;
  a.state.currency = 1;
  a.state.balance = balance;
  a.state.held = held;
  return a;
}

TEST(CofferAssert, SoundAccountsPassTheMoneyInvariant) {
  CheckAccountInvariant(Account(10, 10));
  AccountFull overdrawn = Account(-5, 5);
  overdrawn.state.flags = kAccountFlagOverdraft;
  overdrawn.limits.overdraft_limit = 10;
  CheckAccountInvariant(overdrawn);
  AccountFull capped = Account(100, 0);
  capped.state.flags = kAccountFlagCap;
  capped.limits.balance_cap = 100;
  CheckAccountInvariant(capped);
}

TEST_F(CofferAssertDeathTest, HoldsOverTheBalanceBreakTheFloor) {
  EXPECT_DEATH(CheckAccountInvariant(Account(10, 11)),
               "invariant violated: .* \\(balance - held below the "
               "account's floor\\) at .*executor\\.cc:[0-9]+");
}

TEST_F(CofferAssertDeathTest, OverdraftPastItsLimitBreaksTheFloor) {
  AccountFull a = Account(-11, 0);
  a.state.flags = kAccountFlagOverdraft;
  a.limits.overdraft_limit = 10;
  EXPECT_DEATH(CheckAccountInvariant(a), "below the account's floor");
}

TEST_F(CofferAssertDeathTest, HeldThatWrappedBelowZeroBreaksTheFloor) {
  // held -= amount with amount > held wraps to a huge value.
  EXPECT_DEATH(CheckAccountInvariant(Account(10, ~uint64_t{0})),
               "below the account's floor");
}

TEST_F(CofferAssertDeathTest, BalanceOverItsCapIsFatal) {
  AccountFull a = Account(101, 0);
  a.state.flags = kAccountFlagCap;
  a.limits.balance_cap = 100;
  EXPECT_DEATH(CheckAccountInvariant(a), "balance above the account's cap");
}

}  // namespace
}  // namespace coffer
