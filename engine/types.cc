#include "engine/types.h"

namespace coffer {

std::string_view ResultCodeName(ResultCode code) {
  switch (code) {
    case ResultCode::kOk:
      return "ok";
    case ResultCode::kLinkedOpFailed:
      return "linked_op_failed";
    case ResultCode::kLinkedChainOpen:
      return "linked_chain_open";
    case ResultCode::kLinkedChainTooLong:
      return "linked_chain_too_long";
    case ResultCode::kOpIdZero:
      return "op_id_zero";
    case ResultCode::kAccountIdZero:
      return "account_id_zero";
    case ResultCode::kInvalidKind:
      return "invalid_kind";
    case ResultCode::kInvalidFlags:
      return "invalid_flags";
    case ResultCode::kInvalidField:
      return "invalid_field";
    case ResultCode::kAmountZero:
      return "amount_zero";
    case ResultCode::kSameAccount:
      return "same_account";
    case ResultCode::kCurrencyZero:
      return "currency_zero";
    case ResultCode::kAccountNotFound:
      return "account_not_found";
    case ResultCode::kAccountExists:
      return "account_exists";
    case ResultCode::kAccountExistsWithDifferentFields:
      return "account_exists_with_different_fields";
    case ResultCode::kCurrencyMismatch:
      return "currency_mismatch";
    case ResultCode::kInsufficientFunds:
      return "insufficient_funds";
    case ResultCode::kBalanceCapExceeded:
      return "balance_cap_exceeded";
    case ResultCode::kOverflow:
      return "overflow";
    case ResultCode::kOpIdReusedWithDifferentFields:
      return "op_id_reused_with_different_fields";
    case ResultCode::kHoldNotFound:
      return "hold_not_found";
    case ResultCode::kHoldAlreadyClosed:
      return "hold_already_closed";
    case ResultCode::kHoldExpired:
      return "hold_expired";
    case ResultCode::kCaptureExceedsHold:
      return "capture_exceeds_hold";
    case ResultCode::kOverdraftLimitTooLarge:
      return "overdraft_limit_too_large";
    case ResultCode::kOpIdRepeatedInChain:
      return "op_id_repeated_in_chain";
    case ResultCode::kOpIssuedInFuture:
      return "op_issued_in_future";
    case ResultCode::kOpExpired:
      return "op_expired";
  }
  return "unknown_result_code";
}

std::string_view OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kCreateAccount:
      return "create_account";
    case OpKind::kCredit:
      return "credit";
    case OpKind::kDebit:
      return "debit";
    case OpKind::kTransfer:
      return "transfer";
    case OpKind::kHold:
      return "hold";
    case OpKind::kCapture:
      return "capture";
    case OpKind::kRelease:
      return "release";
  }
  return "unknown_kind";
}

std::string_view EntryKindName(EntryKind kind) {
  switch (kind) {
    case EntryKind::kCreate:
      return "create";
    case EntryKind::kCredit:
      return "credit";
    case EntryKind::kDebit:
      return "debit";
    case EntryKind::kTransferOut:
      return "transfer_out";
    case EntryKind::kTransferIn:
      return "transfer_in";
    case EntryKind::kHold:
      return "hold";
    case EntryKind::kCaptureOut:
      return "capture_out";
    case EntryKind::kCaptureIn:
      return "capture_in";
    case EntryKind::kRelease:
      return "release";
    case EntryKind::kHoldExpired:
      return "hold_expired";
  }
  return "unknown_entry_kind";
}

}  // namespace coffer
