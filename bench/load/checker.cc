#include "bench/load/checker.h"

#include "absl/strings/str_cat.h"

namespace coffer::bench {

void CheckLog::Fail(std::string detail) {
  ++failures_;
  if (details_.size() < kDetailsMax) details_.push_back(std::move(detail));
}

void CheckLog::Add(const CheckLog& other) {
  failures_ += other.failures_;
  for (const std::string& d : other.details_) {
    if (details_.size() >= kDetailsMax) break;
    details_.push_back(d);
  }
}

BalanceDeltas::BalanceDeltas(uint64_t first_account, uint64_t count)
    : first_account_(first_account), deltas_(count, 0) {}

int64_t* BalanceDeltas::Slot(uint64_t account_id, CheckLog* log) {
  const uint64_t i = account_id - first_account_;
  if (account_id < first_account_ || i >= deltas_.size()) {
    log->Fail(absl::StrCat("answer for account ", account_id,
                           " outside the run's range"));
    return nullptr;
  }
  return &deltas_[i];
}

void BalanceDeltas::Apply(const LoadOp& op, const LoadResult& result,
                          CheckLog* log) {
  if (op.kind == LoadOpKind::kLookup) {
    if (result.code == ResultCode::kOk && result.balance < 0) {
      log->Fail(absl::StrCat("lookup of account ", op.account_id,
                             " read a negative balance ", result.balance));
    }
    return;
  }
  if (result.code != ResultCode::kOk || result.duplicate) return;
  int64_t* from = Slot(op.account_id, log);
  if (from == nullptr) return;
  *from -= op.amount;
  ++applied_ops_;
  if (op.kind == LoadOpKind::kTransfer) {
    if (int64_t* to = Slot(op.to_account_id, log)) *to += op.amount;
  } else {
    debited_total_ += op.amount;
  }
}

void BalanceDeltas::Add(const BalanceDeltas& other) {
  for (size_t i = 0; i < deltas_.size() && i < other.deltas_.size(); ++i) {
    deltas_[i] += other.deltas_[i];
  }
  debited_total_ += other.debited_total_;
  applied_ops_ += other.applied_ops_;
}

CheckOutcome CheckBalances(uint64_t first_account, int64_t initial_balance,
                           const BalanceDeltas& expected,
                           std::span<const int64_t> actual,
                           const CheckLog& log) {
  CheckOutcome out;
  out.performed = true;
  CheckLog all = log;
  const std::span<const int64_t> deltas = expected.deltas();
  out.accounts = deltas.size();
  if (actual.size() != deltas.size()) {
    all.Fail(absl::StrCat("read ", actual.size(), " balances, expected ",
                          deltas.size()));
  }
  for (size_t i = 0; i < deltas.size() && i < actual.size(); ++i) {
    const int64_t want = initial_balance + deltas[i];
    out.expected_total += want;
    out.actual_total += actual[i];
    if (actual[i] != want) {
      ++out.mismatches;
      all.Fail(absl::StrCat("account ", first_account + i, ": balance ",
                            actual[i], ", expected ", want));
    }
    if (actual[i] < 0) {
      ++out.negative;
      all.Fail(absl::StrCat("account ", first_account + i,
                            ": negative balance ", actual[i]));
    }
  }
  const int64_t funded = initial_balance * static_cast<int64_t>(deltas.size());
  if (out.actual_total != funded - expected.debited_total()) {
    all.Fail(absl::StrCat("total ", out.actual_total, ", expected ", funded,
                          " funded - ", expected.debited_total(),
                          " debited = ", funded - expected.debited_total()));
  }
  out.failures = all.failures();
  out.details = all.details();
  out.ok = all.failures() == 0;
  return out;
}

}  // namespace coffer::bench
