// A shard's side of an in-process snapshot (engine/DESIGN.md "Snapshots"):
// the signal that starts it and the state of its walk. Shard's methods in
// engine/shard_snapshot.cc use them.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "engine/account.h"
#include "engine/snapshot_codec.h"
#include "engine/snapshot_writer.h"

namespace coffer::internal {

// The internal account flag bit that says whether a record is saved in the
// current snapshot: it is saved when the bit equals the shard's
// saved_mark. Flipping saved_mark at a snapshot's start marks every record
// unsaved at once, with no pass over them.
inline constexpr uint32_t kAccountFlagSnapshotMark = 1u << 31;
static_assert((kAccountFlagSnapshotMark & kAccountFlagInternalMask) != 0);

// The sequencer → a shard running its own thread: "take the snapshot at
// seq, into writer". The sequencer announces only after it has handed the
// shard every request ordered up to seq and before any later one; the next
// announcement comes only after this snapshot's writer is done, which needs
// this shard to finish, so the fields are stable while the shard reads them.
class SnapshotAnnouncement {
 public:
  void Announce(uint64_t seq, SnapshotWriter* writer) {
    seq_.store(seq, std::memory_order_relaxed);
    writer_.store(writer, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  // Announcements so far; seq() and writer() are those of the last.
  uint64_t generation() const {
    return generation_.load(std::memory_order_acquire);
  }
  uint64_t seq() const { return seq_.load(std::memory_order_relaxed); }
  SnapshotWriter* writer() const {
    return writer_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> seq_{0};
  std::atomic<SnapshotWriter*> writer_{nullptr};
};

// One snapshot's walk over a shard's records, on the shard's thread.
struct ShardSnapshotWalk {
  // kHistory, then kAccounts, then kSending (the last blocks).
  enum class Phase : uint8_t { kNone, kHistory, kAccounts, kSending };
  Phase phase = Phase::kNone;
  SnapshotWriter* writer = nullptr;
  // Accounts at the snapshot's seq, and how many are saved so far (by the
  // walk or just before their first change).
  uint64_t accounts_total = 0;
  uint64_t accounts_saved = 0;
  // The walk's place in the account map. An insert that grows the map
  // moves its records: the walk starts over (saved records are skipped).
  absl::flat_hash_map<uint64_t, AccountState>::iterator it;
  size_t pass_capacity = 0;
  // The ring's entries at the snapshot's seq: [history_pos, history_end).
  uint64_t history_pos = 0;
  uint64_t history_end = 0;
  std::optional<SnapshotBlockBuilder> accounts;
  std::optional<SnapshotBlockBuilder> history;
  // Finished blocks the writer had no room for yet, oldest first.
  std::deque<std::string> unsent;
};

}  // namespace coffer::internal
