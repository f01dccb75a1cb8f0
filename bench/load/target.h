// The system a coffer-bench run drives: Coffer over its binary protocol, or a
// peer (PostgreSQL, Redis) doing the same guarded debit with the same
// durability. The load generator (bench/load/) knows only this interface;
// each target lives in its own bench/load/<name>_target.cc and registers
// itself by name, so `coffer-bench --target=<name>` picks it.
//
// Threading: a LoadTarget is used by the generator's main thread (set-up and
// the final check); each LoadConnection by exactly one generator thread,
// which multiplexes many connections with poll(2) on fd().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/types.h"

namespace coffer::bench {

enum class LoadOpKind : uint8_t {
  kDebit,     // guarded: balance - amount >= 0, else kInsufficientFunds
  kTransfer,  // guarded debit of account_id, credit of to_account_id
  kLookup,    // read account_id's balance (op_id unused)
};

struct LoadOp {
  LoadOpKind kind = LoadOpKind::kDebit;
  uint64_t op_id =
      0;  // client-chosen, unique per logical op; a retry reuses it
  uint64_t account_id = 0;
  uint64_t to_account_id = 0;  // kTransfer only
  int64_t amount = 0;          // > 0 for kDebit and kTransfer
};

struct LoadResult {
  // Peers map their outcome onto Coffer's codes: kOk, kInsufficientFunds,
  // kAccountNotFound; anything else the target cannot classify is an error
  // (a failed Status), never a made-up code.
  ResultCode code = ResultCode::kOk;
  // The op id had already been applied: this is the stored answer, nothing
  // was applied now.
  bool duplicate = false;
  // kLookup: the balance read. Otherwise 0.
  int64_t balance = 0;
};

struct TargetOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;       // 0: the target's default port
  std::string auth_token;  // coffer
  std::string database;    // postgres: dbname
  std::string user;        // postgres
  // Where to find the peer's own files (SQL schema, Lua library), if any.
  std::string peer_dir = "bench/compare";
};

// One connection to the system under test. Requests on one connection
// complete in the order they were sent. Not thread-safe.
class LoadConnection {
 public:
  virtual ~LoadConnection() = default;
  // Queues one request carrying `ops` (one batch; a peer carries it as it
  // best can, e.g. one transaction or one pipelined group, and says so in
  // LoadTarget::settings()). Does not block: bytes go out in Flush.
  virtual absl::Status Send(std::span<const LoadOp> ops) = 0;
  // Writes what it can without blocking. Returns true while bytes remain
  // unsent (the caller then polls for POLLOUT).
  virtual absl::StatusOr<bool> Flush() = 0;
  // Reads what is available without blocking, and appends the results of
  // every request that completed (one vector per request, one LoadResult
  // per op, in order) to `completed`.
  virtual absl::Status OnReadable(
      std::vector<std::vector<LoadResult>>* completed) = 0;
  virtual int fd() const = 0;
};

class LoadTarget {
 public:
  virtual ~LoadTarget() = default;
  // "coffer", "postgres", "redis".
  virtual std::string name() const = 0;
  // One line for the report: how the peer is driven and configured
  // (prepared statements, pipelining, what a batch is, durability).
  virtual std::string settings() const = 0;
  // Most ops one request may carry.
  virtual uint32_t max_batch_ops() const = 0;
  virtual absl::StatusOr<std::unique_ptr<LoadConnection>> Connect() = 0;
  // Creates accounts first_account_id .. first_account_id + count - 1, each
  // holding `balance` with a floor of 0 (their schema/functions too). Blocks.
  // Accounts left by an earlier run are reset to `balance`.
  virtual absl::Status CreateAccounts(uint64_t first_account_id, uint64_t count,
                                      int64_t balance) = 0;
  // Balances of those accounts, in order, for the correctness check.
  virtual absl::StatusOr<std::vector<int64_t>> ReadBalances(
      uint64_t first_account_id, uint64_t count) = 0;
};

using TargetFactory = std::function<absl::StatusOr<std::unique_ptr<LoadTarget>>(
    const TargetOptions&)>;

// Called from a static initialiser in each <name>_target.cc (those sources
// are compiled into the coffer-bench executable itself, not a library, so
// the initialisers are kept). Returns true so it can initialise a bool.
bool RegisterTarget(const std::string& name, TargetFactory factory);
// The factory registered under `name`, or nullptr.
const TargetFactory* FindTarget(const std::string& name);
// Registered names, sorted (for --help and error messages).
std::vector<std::string> TargetNames();

}  // namespace coffer::bench
