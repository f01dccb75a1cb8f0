#include "engine/executor.h"

#include <limits>

#include "common/assert.h"

namespace coffer::internal {
namespace {

using Int128 = __int128;
constexpr Int128 kInt64Max = std::numeric_limits<int64_t>::max();

bool HasOverdraft(const AccountFull& a) {
  return (a.state.flags & kAccountFlagOverdraft) != 0;
}
bool HasCap(const AccountFull& a) {
  return (a.state.flags & kAccountFlagCap) != 0;
}

// The floor a balance minus its holds may reach.
Int128 Floor(const AccountFull& a) {
  return HasOverdraft(a) ? -static_cast<Int128>(a.limits.overdraft_limit) : 0;
}

// Would taking `amount` out of `a` keep balance - held at or above the floor?
bool CanDebit(const AccountFull& a, uint64_t amount) {
  return static_cast<Int128>(a.state.balance) -
             static_cast<Int128>(a.state.held) - static_cast<Int128>(amount) >=
         Floor(a);
}

ResultCode CheckCredit(const AccountFull& a, uint64_t amount) {
  Int128 after = static_cast<Int128>(a.state.balance) + amount;
  if (after > kInt64Max) return ResultCode::kOverflow;
  if (HasCap(a) && after > static_cast<Int128>(a.limits.balance_cap)) {
    return ResultCode::kBalanceCapExceeded;
  }
  return ResultCode::kOk;
}

class OpApplier {
 public:
  OpApplier(View& view, const Op& op, uint64_t seq, uint64_t ts)
      : view_(view), op_(op), seq_(seq), ts_(ts) {}

  ResultCode Apply() {
    if (op_.op_id == 0) return ResultCode::kOpIdZero;
    if (static_cast<uint8_t>(op_.kind) == 0 ||
        static_cast<uint8_t>(op_.kind) > kOpKindMax) {
      return ResultCode::kInvalidKind;
    }
    if ((op_.flags & ~kOpFlagsKnown) != 0) return ResultCode::kInvalidFlags;
    if (op_.reserved != 0) return ResultCode::kInvalidField;
    if (op_.account_id == 0) return ResultCode::kAccountIdZero;
    if (op_.kind != OpKind::kCreateAccount && op_.account_flags != 0) {
      return ResultCode::kInvalidField;
    }
    switch (op_.kind) {
      case OpKind::kCreateAccount:
        return CreateAccount();
      case OpKind::kCredit:
        return Credit();
      case OpKind::kDebit:
        return Debit();
      case OpKind::kTransfer:
        return Transfer();
      case OpKind::kHold:
        return Hold();
      case OpKind::kCapture:
        return Capture();
      case OpKind::kRelease:
        return Release();
    }
    return ResultCode::kInvalidKind;
  }

 private:
  // Looks up an account the op names and checks the op's currency guard.
  ResultCode Existing(uint64_t id, AccountSlot** out) {
    AccountSlot* slot = view_.FindAccount(id);
    // The view is built from the op's own records (ForEachRecord), so a
    // missing slot is a bug here, never a client's unknown account.
    COFFER_ASSERT_MSG(slot != nullptr,
                      "view must hold every account the op names");
    if (!slot->exists) return ResultCode::kAccountNotFound;
    if (op_.currency != 0 && slot->account.state.currency != op_.currency) {
      return ResultCode::kCurrencyMismatch;
    }
    *out = slot;
    return ResultCode::kOk;
  }

  void Entry(AccountSlot* slot, EntryKind kind, int64_t amount,
             int64_t held_delta, uint64_t other) {
    PendingEntry pe;
    pe.slot = static_cast<uint32_t>(slot - view_.accounts.data());
    HistoryEntry& e = pe.entry;
    e.seq = seq_;
    e.op_id = op_.op_id;
    e.account_id = slot->id;
    e.other_account_id = other;
    e.amount = amount;
    e.held_delta = held_delta;
    e.balance_after = slot->account.state.balance;
    e.held_after = slot->account.state.held;
    e.user_data = op_.user_data;
    e.timestamp_ns = ts_;
    e.reason = op_.reason;
    e.kind = kind;
    view_.entries.push_back(pe);
    slot->dirty = true;
    CheckAccountInvariant(slot->account);
  }

  ResultCode CreateAccount() {
    if (op_.other_account_id != 0) return ResultCode::kInvalidField;
    if ((op_.account_flags & ~kAccountFlagsKnown) != 0) {
      return ResultCode::kInvalidFlags;
    }
    const bool overdraft = (op_.account_flags & kAccountFlagOverdraft) != 0;
    const bool cap = (op_.account_flags & kAccountFlagCap) != 0;
    // A flag and its field go together: a limit without the flag (or the
    // flag with a zero limit) is a client bug we refuse rather than guess.
    if (overdraft != (op_.amount != 0)) return ResultCode::kInvalidFlags;
    if (cap != (op_.aux != 0)) return ResultCode::kInvalidFlags;
    if (op_.currency == 0) return ResultCode::kCurrencyZero;
    if (op_.amount > static_cast<uint64_t>(kInt64Max) ||
        op_.aux > static_cast<uint64_t>(kInt64Max)) {
      return ResultCode::kOverdraftLimitTooLarge;
    }
    AccountSlot* slot = view_.FindAccount(op_.account_id);
    COFFER_ASSERT(slot != nullptr);
    if (slot->exists) {
      const AccountFull& a = slot->account;
      bool same =
          a.state.currency == op_.currency &&
          (a.state.flags & ~kAccountFlagInternalMask) == op_.account_flags &&
          a.limits.overdraft_limit == op_.amount &&
          a.limits.balance_cap == op_.aux;
      return same ? ResultCode::kAccountExists
                  : ResultCode::kAccountExistsWithDifferentFields;
    }
    slot->exists = true;
    slot->account = AccountFull{};
    slot->account.state.currency = op_.currency;
    slot->account.state.flags = op_.account_flags;
    slot->account.limits.overdraft_limit = op_.amount;
    slot->account.limits.balance_cap = op_.aux;
    Entry(slot, EntryKind::kCreate, 0, 0, 0);
    return ResultCode::kOk;
  }

  ResultCode Credit() {
    if (op_.other_account_id != 0 || op_.aux != 0) {
      return ResultCode::kInvalidField;
    }
    if (op_.amount == 0) return ResultCode::kAmountZero;
    AccountSlot* a;
    if (ResultCode rc = Existing(op_.account_id, &a); rc != ResultCode::kOk) {
      return rc;
    }
    if (ResultCode rc = CheckCredit(a->account, op_.amount);
        rc != ResultCode::kOk) {
      return rc;
    }
    a->account.state.balance += static_cast<int64_t>(op_.amount);
    Entry(a, EntryKind::kCredit, static_cast<int64_t>(op_.amount), 0, 0);
    return ResultCode::kOk;
  }

  ResultCode Debit() {
    if (op_.other_account_id != 0 || op_.aux != 0) {
      return ResultCode::kInvalidField;
    }
    if (op_.amount == 0) return ResultCode::kAmountZero;
    if (op_.amount > static_cast<uint64_t>(kInt64Max)) {
      return ResultCode::kOverflow;
    }
    AccountSlot* a;
    if (ResultCode rc = Existing(op_.account_id, &a); rc != ResultCode::kOk) {
      return rc;
    }
    if (!CanDebit(a->account, op_.amount)) {
      return ResultCode::kInsufficientFunds;
    }
    a->account.state.balance -= static_cast<int64_t>(op_.amount);
    Entry(a, EntryKind::kDebit, -static_cast<int64_t>(op_.amount), 0, 0);
    return ResultCode::kOk;
  }

  ResultCode Transfer() {
    if (op_.aux != 0) return ResultCode::kInvalidField;
    if (op_.amount == 0) return ResultCode::kAmountZero;
    if (op_.other_account_id == 0) return ResultCode::kAccountIdZero;
    if (op_.other_account_id == op_.account_id) {
      return ResultCode::kSameAccount;
    }
    if (op_.amount > static_cast<uint64_t>(kInt64Max)) {
      return ResultCode::kOverflow;
    }
    AccountSlot* from;
    AccountSlot* to;
    if (ResultCode rc = Existing(op_.account_id, &from);
        rc != ResultCode::kOk) {
      return rc;
    }
    if (ResultCode rc = Existing(op_.other_account_id, &to);
        rc != ResultCode::kOk) {
      return rc;
    }
    if (from->account.state.currency != to->account.state.currency) {
      return ResultCode::kCurrencyMismatch;
    }
    if (!CanDebit(from->account, op_.amount)) {
      return ResultCode::kInsufficientFunds;
    }
    if (ResultCode rc = CheckCredit(to->account, op_.amount);
        rc != ResultCode::kOk) {
      return rc;
    }
    const auto amount = static_cast<int64_t>(op_.amount);
    from->account.state.balance -= amount;
    to->account.state.balance += amount;
    Entry(from, EntryKind::kTransferOut, -amount, 0, to->id);
    Entry(to, EntryKind::kTransferIn, amount, 0, from->id);
    return ResultCode::kOk;
  }

  ResultCode Hold() {
    if (op_.other_account_id != 0) return ResultCode::kInvalidField;
    if (op_.amount == 0) return ResultCode::kAmountZero;
    if (op_.amount > static_cast<uint64_t>(kInt64Max)) {
      return ResultCode::kOverflow;
    }
    AccountSlot* a;
    if (ResultCode rc = Existing(op_.account_id, &a); rc != ResultCode::kOk) {
      return rc;
    }
    HoldSlot* h = view_.FindHold(op_.op_id);
    COFFER_ASSERT(h != nullptr);
    // Op ids are unique while remembered; a hold that still exists under
    // this id means the id was reused after the ledger forgot it.
    if (h->exists) return ResultCode::kOpIdReusedWithDifferentFields;
    if (!CanDebit(a->account, op_.amount)) {
      return ResultCode::kInsufficientFunds;
    }
    uint64_t expires = 0;
    if (op_.aux != 0) {
      constexpr uint64_t kNsPerMs = 1'000'000;
      if (op_.aux > (std::numeric_limits<uint64_t>::max() - ts_) / kNsPerMs) {
        return ResultCode::kOverflow;
      }
      expires = ts_ + op_.aux * kNsPerMs;
    }
    h->exists = true;
    h->dirty = true;
    h->hold = HoldState{};
    h->hold.account_id = a->id;
    h->hold.amount = op_.amount;
    h->hold.expires_at_ns = expires;
    h->hold.status = HoldStatus::kOpen;
    a->account.state.held += op_.amount;
    if (expires != 0) ++a->account.state.expiring_holds;
    Entry(a, EntryKind::kHold, 0, static_cast<int64_t>(op_.amount), 0);
    return ResultCode::kOk;
  }

  // Finds the open hold op_.aux on op_.account_id, or says why not.
  ResultCode OpenHold(AccountSlot** account, HoldSlot** hold) {
    if (op_.aux == 0) return ResultCode::kHoldNotFound;
    AccountSlot* a;
    if (ResultCode rc = Existing(op_.account_id, &a); rc != ResultCode::kOk) {
      return rc;
    }
    HoldSlot* h = view_.FindHold(op_.aux);
    COFFER_ASSERT(h != nullptr);
    if (!h->exists || h->hold.account_id != a->id) {
      return ResultCode::kHoldNotFound;
    }
    switch (h->hold.status) {
      case HoldStatus::kOpen:
        break;
      case HoldStatus::kExpired:
        return ResultCode::kHoldExpired;
      default:
        return ResultCode::kHoldAlreadyClosed;
    }
    // The owner shard expires holds up to the transaction's time before it
    // runs; an open hold here has not expired.
    COFFER_ASSERT(h->hold.expires_at_ns == 0 || h->hold.expires_at_ns > ts_);
    *account = a;
    *hold = h;
    return ResultCode::kOk;
  }

  void CloseHold(AccountSlot* a, HoldSlot* h, HoldStatus status) {
    // held is the sum of the open holds: it cannot be below one of them.
    COFFER_ASSERT(a->account.state.held >= h->hold.amount);
    a->account.state.held -= h->hold.amount;
    if (h->hold.expires_at_ns != 0) {
      COFFER_ASSERT(a->account.state.expiring_holds > 0);
      --a->account.state.expiring_holds;
    }
    h->hold.status = status;
    h->hold.closed_seq = seq_;
    h->dirty = true;
  }

  ResultCode Capture() {
    AccountSlot* a;
    HoldSlot* h;
    if (ResultCode rc = OpenHold(&a, &h); rc != ResultCode::kOk) return rc;
    if (op_.other_account_id == 0) return ResultCode::kAccountIdZero;
    if (op_.other_account_id == op_.account_id) {
      return ResultCode::kSameAccount;
    }
    AccountSlot* to;
    if (ResultCode rc = Existing(op_.other_account_id, &to);
        rc != ResultCode::kOk) {
      return rc;
    }
    if (to->account.state.currency != a->account.state.currency) {
      return ResultCode::kCurrencyMismatch;
    }
    const uint64_t amount = op_.amount == 0 ? h->hold.amount : op_.amount;
    if (amount > h->hold.amount) return ResultCode::kCaptureExceedsHold;
    if (ResultCode rc = CheckCredit(to->account, amount);
        rc != ResultCode::kOk) {
      return rc;
    }
    const uint64_t hold_amount = h->hold.amount;
    CloseHold(a, h, HoldStatus::kCaptured);
    a->account.state.balance -= static_cast<int64_t>(amount);
    to->account.state.balance += static_cast<int64_t>(amount);
    Entry(a, EntryKind::kCaptureOut, -static_cast<int64_t>(amount),
          -static_cast<int64_t>(hold_amount), to->id);
    Entry(to, EntryKind::kCaptureIn, static_cast<int64_t>(amount), 0, a->id);
    return ResultCode::kOk;
  }

  ResultCode Release() {
    if (op_.other_account_id != 0 || op_.amount != 0) {
      return ResultCode::kInvalidField;
    }
    AccountSlot* a;
    HoldSlot* h;
    if (ResultCode rc = OpenHold(&a, &h); rc != ResultCode::kOk) return rc;
    const uint64_t hold_amount = h->hold.amount;
    CloseHold(a, h, HoldStatus::kReleased);
    Entry(a, EntryKind::kRelease, 0, -static_cast<int64_t>(hold_amount), 0);
    return ResultCode::kOk;
  }

  View& view_;
  const Op& op_;
  uint64_t seq_;
  uint64_t ts_;
};

int64_t BalanceOf(View& view, uint64_t account_id) {
  AccountSlot* slot = view.FindAccount(account_id);
  return slot != nullptr && slot->exists ? slot->account.state.balance : 0;
}

}  // namespace

void CheckAccountInvariant(const AccountFull& a) {
  // In 128 bits: with an overdraft limit near 2^63 the difference does not
  // fit in 64. This also catches a held that wrapped below zero (it would
  // be huge).
  COFFER_ASSERT_MSG(static_cast<Int128>(a.state.balance) -
                            static_cast<Int128>(a.state.held) >=
                        Floor(a),
                    "balance - held below the account's floor");
  COFFER_ASSERT_MSG(!HasCap(a) || a.state.balance <= static_cast<int64_t>(
                                                         a.limits.balance_cap),
                    "balance above the account's cap");
}

AccountSlot* View::FindAccount(uint64_t id) {
  for (auto& s : accounts) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

HoldSlot* View::FindHold(uint64_t id) {
  for (auto& s : holds) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

void ExecuteTxn(View& view, const Op* ops, uint32_t n, uint64_t seq,
                uint64_t ts_ns, OpResult* results) {
  COFFER_ASSERT(n >= 1 && n <= kChainOpsMax);
  if (n == 1) {
    // A single op validates everything before it mutates: no undo needed.
    ResultCode rc = OpApplier(view, ops[0], seq, ts_ns).Apply();
    results[0] = OpResult{};
    results[0].code = rc;
    results[0].seq = seq;
    results[0].balance_after = BalanceOf(view, ops[0].account_id);
    return;
  }
  // A chain: keep the starting view so that a failure restores it whole.
  const auto saved_accounts = view.accounts;
  const auto saved_holds = view.holds;
  uint32_t failed = n;
  ResultCode failed_code = ResultCode::kOk;
  for (uint32_t i = 0; i < n; ++i) {
    ResultCode rc = OpApplier(view, ops[i], seq + i, ts_ns).Apply();
    results[i] = OpResult{};
    results[i].code = rc;
    results[i].seq = seq + i;
    results[i].balance_after = BalanceOf(view, ops[i].account_id);
    if (rc != ResultCode::kOk) {
      failed = i;
      failed_code = rc;
      break;
    }
  }
  if (failed == n) return;
  view.accounts = saved_accounts;
  view.holds = saved_holds;
  view.entries.clear();
  for (uint32_t i = 0; i < n; ++i) {
    results[i] = OpResult{};
    results[i].code = i == failed ? failed_code : ResultCode::kLinkedOpFailed;
    results[i].seq = seq + i;
    results[i].balance_after = BalanceOf(view, ops[i].account_id);
  }
}

}  // namespace coffer::internal
