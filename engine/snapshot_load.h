// Start-up's load of a snapshot (engine/DESIGN.md "Recovery"): the payload's
// blocks are indexed once (engine/snapshot_codec.h IndexSnapshot), then
// every shard restores its own records on a loader thread of its own while
// the calling thread restores the sequencer's op ids. A load takes as long
// as its largest part rather than the sum of all, and no record is copied
// into an intermediate form on the way (before, one thread decoded every
// record through callbacks: bench/RESULTS.md "Restart at 10M accounts").
//
// Contract:
// - Runs before the engine's threads start. Each shard is touched by one
//   loader thread only, and every loader thread is joined before
//   LoadSnapshot returns, so the shard's own thread (started later) sees
//   all it wrote. Threads: one per shard, for the length of the load.
// - Records go to their owner by ShardOf under the current shard count, as
//   Shard::RestoreSnapshot says; a snapshot taken with another shard count
//   loads too.
// - Fails with DataLoss naming `path` on: an undecodable payload, history
//   entries whose account the snapshot lacks, records in a shard's blocks
//   that another shard owns, op ids whose seqs are not contiguous. The
//   shards are then partly restored: the caller must not start them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace coffer::internal {

class Sequencer;
class Shard;

struct LoadedSnapshot {
  uint64_t seq = 0;  // the state reflects ops 1..seq
  uint64_t last_timestamp_ns = 0;
};

absl::StatusOr<LoadedSnapshot> LoadSnapshot(
    const std::string& path, std::string_view payload,
    std::span<const std::unique_ptr<Shard>> shards, Sequencer* sequencer);

}  // namespace coffer::internal
