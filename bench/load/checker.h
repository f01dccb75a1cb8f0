// The correctness check of a coffer-bench run. From the answers received it
// computes every account's expected balance (initial - applied debits -
// transfers out + transfers in, counting only answers that are new, not
// duplicates), reads the real balances back and compares them, and checks
// that no balance is below 0 and that totals agree. Resends are checked as
// they are answered (OpSource::OnAnswered): same code as the original, and
// exactly one of the two answers new (two new answers = applied twice).
// Any problem fails the check and with it the run.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bench/load/target.h"

namespace coffer::bench {

// Failures found during a run, with the first few described.
class CheckLog {
 public:
  static constexpr size_t kDetailsMax = 20;
  void Fail(std::string detail);
  void Add(const CheckLog& other);
  uint64_t failures() const { return failures_; }
  const std::vector<std::string>& details() const { return details_; }

 private:
  uint64_t failures_ = 0;
  std::vector<std::string> details_;
};

// Expected balance changes of accounts first_account .. + count - 1 from
// the answers one generator thread received.
class BalanceDeltas {
 public:
  BalanceDeltas(uint64_t first_account, uint64_t count);
  // Counts `result` for `op` if it applied now (ok and not a duplicate).
  // A lookup checks only that the balance read is not negative.
  void Apply(const LoadOp& op, const LoadResult& result, CheckLog* log);
  void Add(const BalanceDeltas& other);

  std::span<const int64_t> deltas() const { return deltas_; }
  int64_t debited_total() const { return debited_total_; }
  uint64_t applied_ops() const { return applied_ops_; }

 private:
  int64_t* Slot(uint64_t account_id, CheckLog* log);

  uint64_t first_account_;
  std::vector<int64_t> deltas_;
  int64_t debited_total_ = 0;  // debits only (transfers move, not remove)
  uint64_t applied_ops_ = 0;
};

struct CheckOutcome {
  bool performed = false;  // false: the run failed before it could check
  bool ok = false;
  uint64_t accounts = 0;
  uint64_t mismatches = 0;
  uint64_t negative = 0;
  int64_t expected_total = 0;
  int64_t actual_total = 0;
  uint64_t failures = 0;  // everything counted, retries included
  std::vector<std::string> details;
};

// Compares `actual` balances with initial_balance + deltas, adding the
// failures already in `log` (resend checks, bad lookups).
CheckOutcome CheckBalances(uint64_t first_account, int64_t initial_balance,
                           const BalanceDeltas& expected,
                           std::span<const int64_t> actual,
                           const CheckLog& log);

}  // namespace coffer::bench
