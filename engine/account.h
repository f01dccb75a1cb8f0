// Internal state of accounts and holds, as a shard stores them.
#pragma once

#include <cstdint>

namespace coffer::internal {

// Internal account flag bits, above the client-visible kAccountFlag* bits.
inline constexpr uint32_t kAccountFlagInternalMask = 0xffff0000u;

// The per-account record a shard keeps: 40 bytes, so that the account map
// stays within the memory budget at 10M accounts (engine/DESIGN.md). The
// overdraft limit and balance cap are rare and live in a side table, keyed
// by the same id, present only when the matching flag is set.
struct AccountState {
  int64_t balance = 0;
  uint64_t held = 0;          // sum of open holds
  uint64_t history_head = 0;  // ring position of the newest entry (0: none)
  uint32_t currency = 0;
  uint32_t flags = 0;
  uint32_t history_count = 0;   // entries ever written for this account
  uint32_t expiring_holds = 0;  // open holds that carry an expiry
};
static_assert(sizeof(AccountState) == 40);

struct AccountLimits {
  uint64_t overdraft_limit = 0;
  uint64_t balance_cap = 0;
};

// An account as the executor sees it: state plus limits.
struct AccountFull {
  AccountState state;
  AccountLimits limits;
};

enum class HoldStatus : uint8_t {
  kOpen = 1,
  kCaptured = 2,
  kReleased = 3,
  kExpired = 4,
};

struct HoldState {
  uint64_t account_id = 0;
  uint64_t amount = 0;
  uint64_t expires_at_ns = 0;  // 0: never
  uint64_t closed_seq = 0;     // seq of the op that closed it (0: open)
  HoldStatus status = HoldStatus::kOpen;
};

}  // namespace coffer::internal
