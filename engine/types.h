// Public value types of the Coffer ledger: operations, results, accounts and
// history entries. Every struct here is fixed-size and trivially copyable so
// that the network protocol and the write-ahead log can carry it verbatim.
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>

namespace coffer {

// What an operation does. The numbers are part of the wire and log formats.
enum class OpKind : uint8_t {
  kCreateAccount = 1,
  kCredit = 2,
  kDebit = 3,
  kTransfer = 4,
  kHold = 5,
  kCapture = 6,
  kRelease = 7,
};
inline constexpr uint8_t kOpKindMax = 7;

// Op::flags.
inline constexpr uint16_t kOpFlagLinked = 1u << 0;  // chained with the next op
inline constexpr uint16_t kOpFlagsKnown = kOpFlagLinked;

// Op::account_flags (create_account only).
// kAccountFlagOverdraft: Op::amount is the overdraft limit; the balance may go
//   down to -limit (issuer/house accounts that mint currency).
// kAccountFlagCap: Op::aux is the balance cap; a credit above it is refused.
inline constexpr uint32_t kAccountFlagOverdraft = 1u << 0;
inline constexpr uint32_t kAccountFlagCap = 1u << 1;
inline constexpr uint32_t kAccountFlagsKnown =
    kAccountFlagOverdraft | kAccountFlagCap;

// One operation: 64 bytes. Field use by kind (unused fields must be zero):
//
//   kind            account_id   other_account_id  amount          aux
//   create_account  new account  -                 overdraft limit balance cap
//   credit          credited     -                 amount          -
//   debit           debited      -                 amount          -
//   transfer        debited      credited          amount          -
//   hold            held         -                 amount          timeout_ms
//                                                                  (0: never)
//   capture         held         destination       amount (0: all) hold id
//   release         held         -                 -               hold id
//
// currency: for create_account, the account's currency (non-zero). For the
// other kinds, 0 or the currency the client expects the account(s) to have;
// a mismatch is refused with currency_mismatch (a guard against debiting
// coins when gems were meant). A hold's id is the op_id of the hold op.
struct Op {
  uint64_t op_id = 0;  // client-chosen, non-zero, globally unique
  uint64_t account_id = 0;
  uint64_t other_account_id = 0;
  uint64_t amount = 0;
  uint64_t aux = 0;
  uint64_t user_data = 0;  // the game's own reference (match id, order id)
  uint32_t reason = 0;     // the game's reason code, stored in history
  uint32_t currency = 0;
  uint32_t account_flags = 0;
  OpKind kind = OpKind::kCredit;
  uint8_t reserved = 0;
  uint16_t flags = 0;
};
static_assert(sizeof(Op) == 64);
static_assert(std::is_trivially_copyable_v<Op>);

// Every outcome of an operation. The numbers are part of the wire and log
// formats: never renumber, only append.
enum class ResultCode : uint16_t {
  kOk = 0,
  kLinkedOpFailed = 1,      // another op of the same chain failed
  kLinkedChainOpen = 2,     // the batch's last op carries kOpFlagLinked
  kLinkedChainTooLong = 3,  // more ops in one chain than kChainOpsMax
  kOpIdZero = 4,
  kAccountIdZero = 5,
  kInvalidKind = 6,
  kInvalidFlags = 7,  // unknown flag bits, or flags/fields disagree
  kInvalidField = 8,  // a field that must be zero for this kind is not
  kAmountZero = 9,
  kSameAccount = 10,
  kCurrencyZero = 11,
  kAccountNotFound = 12,
  kAccountExists = 13,  // identical account already exists: state unchanged
  kAccountExistsWithDifferentFields = 14,
  kCurrencyMismatch = 15,
  kInsufficientFunds = 16,
  kBalanceCapExceeded = 17,
  kOverflow = 18,
  kOpIdReusedWithDifferentFields = 19,
  kHoldNotFound = 20,
  kHoldAlreadyClosed = 21,
  kHoldExpired = 22,
  kCaptureExceedsHold = 23,
  kOverdraftLimitTooLarge = 24,  // limit or cap above INT64_MAX
  kOpIdRepeatedInChain = 25,     // one chain names the same op twice
  // The request says it was first issued later than the engine's clock
  // allows (op_issued_future_max_ms): its age could not be judged.
  kOpIssuedInFuture = 26,
  // The request was first issued longer ago than the op-id retention and
  // its op is not remembered: applying it might apply it a second time.
  kOpExpired = 27,
};
inline constexpr uint16_t kResultCodeMax = 27;

// A stable lowercase name, e.g. "insufficient_funds".
std::string_view ResultCodeName(ResultCode code);
std::string_view OpKindName(OpKind kind);

// OpResult::flags.
inline constexpr uint16_t kResultFlagDuplicate = 1u << 0;  // a retry's answer

// The outcome of one operation: 24 bytes.
// balance_after: the balance of op.account_id after the op, or its current
// balance when the op was refused (0 if the account does not exist), also
// for refusals made before ordering.
// seq: the ledger sequence number the op was ordered at (0 if it was refused
// before ordering: op_id_zero, a reused op id, a chain-shape error).
struct OpResult {
  ResultCode code = ResultCode::kOk;
  uint16_t flags = 0;
  uint32_t reserved = 0;
  int64_t balance_after = 0;
  uint64_t seq = 0;
  bool ok() const { return code == ResultCode::kOk; }
  bool duplicate() const { return (flags & kResultFlagDuplicate) != 0; }
};
static_assert(sizeof(OpResult) == 24);

// An account as a lookup returns it.
struct AccountInfo {
  uint64_t id = 0;  // 0: not found
  int64_t balance = 0;
  uint64_t held = 0;             // reserved by open holds
  uint64_t overdraft_limit = 0;  // balance floor is -overdraft_limit
  uint64_t balance_cap = 0;      // 0: no cap
  uint32_t currency = 0;
  uint32_t flags = 0;          // kAccountFlag*
  uint32_t history_count = 0;  // entries ever written for this account
  uint32_t reserved = 0;
  int64_t available() const { return balance - static_cast<int64_t>(held); }
};

// What a history entry records.
enum class EntryKind : uint8_t {
  kCreate = 1,
  kCredit = 2,
  kDebit = 3,
  kTransferOut = 4,
  kTransferIn = 5,
  kHold = 6,
  kCaptureOut = 7,  // held account: captured amount leaves, hold closes
  kCaptureIn = 8,   // destination of a capture
  kRelease = 9,
  kHoldExpired = 10,
};
std::string_view EntryKindName(EntryKind kind);

// One applied mutation of one account.
struct HistoryEntry {
  uint64_t seq = 0;  // ledger sequence number of the op
  uint64_t op_id = 0;
  uint64_t account_id = 0;
  uint64_t other_account_id = 0;  // counterparty of a transfer or capture
  int64_t amount = 0;             // signed change of balance
  int64_t held_delta = 0;         // signed change of the held amount
  int64_t balance_after = 0;
  uint64_t held_after = 0;
  uint64_t user_data = 0;
  uint64_t timestamp_ns = 0;  // engine-assigned time of the op
  uint32_t reason = 0;
  uint32_t number = 0;  // 1-based per-account entry number
  EntryKind kind = EntryKind::kCredit;
  uint8_t reserved[7] = {};
};
static_assert(std::is_trivially_copyable_v<HistoryEntry>);

// Which entries a history read returns: those stamped in
// [timestamp_min_ns, timestamp_max_ns] (0: no bound on that side) and, when
// has_reason, with that reason. The default passes every entry.
struct HistoryFilter {
  uint64_t timestamp_min_ns = 0;
  uint64_t timestamp_max_ns = 0;
  uint32_t reason = 0;
  bool has_reason = false;

  bool Any() const {
    return timestamp_min_ns != 0 || timestamp_max_ns != 0 || has_reason;
  }
  bool Passes(const HistoryEntry& e) const {
    return e.timestamp_ns >= timestamp_min_ns &&
           (timestamp_max_ns == 0 || e.timestamp_ns <= timestamp_max_ns) &&
           (!has_reason || e.reason == reason);
  }
  bool operator==(const HistoryFilter&) const = default;
};
// Entries a filtered history read examines at most before it answers a
// page (maybe short, with a cursor to go on): the shard's thread is not
// held for a walk of its whole history.
inline constexpr uint32_t kHistoryScanEntriesMax = 16'384;

// Longest linked chain accepted in one batch.
inline constexpr uint32_t kChainOpsMax = 64;

// An order-independent digest of the whole state (accounts and holds):
// equal states give equal digests whatever the shard count.
struct StateDigest {
  uint64_t lo = 0;
  uint64_t hi = 0;
  uint64_t accounts = 0;
  uint64_t holds = 0;
  bool operator==(const StateDigest&) const = default;
};

// The accounts of one currency and the sums of their balances and holds.
// One type serves every stage of a digest: each shard's part, the ledger's
// total the sequencer merges from them, and DIGEST_REPLY on the wire, so
// the figures pass from one to the next without a copy by hand. The sums
// are 128-bit because many int64 balances can add up beyond 64 bits.
struct CurrencyTotal {
  uint32_t currency = 0;
  uint64_t accounts = 0;
  __int128 balance = 0;
  __int128 held = 0;
  bool operator==(const CurrencyTotal&) const = default;
};
static_assert(std::is_trivially_copyable_v<CurrencyTotal>);

}  // namespace coffer
