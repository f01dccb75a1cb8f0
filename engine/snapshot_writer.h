// The in-process snapshot's writer: one thread that streams the blocks every
// producer hands it (each shard's records, and the sequencer's op ids) into
// snap-<seq>.snap.tmp and publishes the file once every producer is done
// (engine/DESIGN.md "Snapshots"). The producers never do I/O.
//
// Contract:
// - Producer p (0..producers-1) pushes from one thread only, in its own
//   order; blocks of different producers interleave in the file (the
//   payload format allows it: engine/snapshot_codec.h, version 2).
// - TryPush fails when p's queue holds kSnapshotBlocksQueuedMax blocks: the
//   producer keeps the block and tries again later. That bounds the memory
//   between the producers and the disk.
// - After Finish(p), p pushes nothing more and touches the writer no more.
//   The writer may be done (and deleted) as soon as every lane is finished,
//   so Finish marks the lane released as its last touch; the owner deletes
//   the writer only once done() and released() (ringing `bell` after the
//   release, through a pointer read before it).
// - The first I/O error is sticky: later blocks are taken and dropped, so a
//   producer never waits on a failed write; done() then reports it. A
//   failed snapshot costs nothing but the retry: the log keeps everything.
// - `bell` is rung once done() is true; producer p's bell (producer_bells[p])
//   whenever the writer takes one of p's blocks, so that a producer whose
//   queue was full may sleep until there is room.
#pragma once

#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "engine/doorbell.h"
#include "wal/snapshot_file.h"
#include "wal/storage.h"

namespace coffer::internal {

// Blocks a producer may have waiting for the writer (of about
// kSnapshotBlockBytes each). What the producer keeps meanwhile has bounds of
// its own (engine/DESIGN.md "Snapshots").
inline constexpr uint32_t kSnapshotBlocksQueuedMax = 4;
// A producer hands over a block once it holds this many bytes.
inline constexpr size_t kSnapshotBlockBytes = size_t{1} << 20;

class SnapshotWriter {
 public:
  // `shard_count`: the engine's, recorded in the payload's header
  // (engine/snapshot_codec.h) so that a loader with as many shards reads
  // each shard's blocks only.
  SnapshotWriter(wal::Storage* storage, std::string dir, uint64_t seq,
                 uint64_t last_timestamp_ns, uint32_t shard_count,
                 std::vector<Doorbell*> producer_bells, Doorbell* bell);
  ~SnapshotWriter();  // waits for the thread: call once done()
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  // Producer p's thread. On success the writer owns the block.
  bool TryPush(uint32_t producer, std::string&& block);
  void Finish(uint32_t producer);
  // Producer p's thread: whether TryPush would take a block now.
  bool HasRoom(uint32_t producer) const {
    return lanes_[producer]->queue.write_available() > 0;
  }

  // Any thread: the file is published, or the write failed.
  bool done() const { return done_.load(std::memory_order_acquire); }
  // Every producer has returned from Finish: the writer may be deleted.
  bool released() const;
  // After done(): OK if the snapshot is published.
  const absl::Status& status() const { return status_; }
  uint64_t bytes_written() const {
    return bytes_written_.load(std::memory_order_relaxed);
  }

 private:
  struct Lane {
    boost::lockfree::spsc_queue<
        std::string*, boost::lockfree::capacity<kSnapshotBlocksQueuedMax>>
        queue;
    std::atomic<bool> finished{false};
    std::atomic<bool> released{false};  // Finish has returned
  };

  void Run();
  // Writes (or, after a failure, drops) every queued block; returns whether
  // it took any, and sets *all_finished when every lane is finished and
  // empty.
  bool Drain(bool* all_finished);
  void Write(std::string_view bytes);

  wal::Storage* const storage_;
  const std::string dir_;
  const uint64_t seq_;
  const uint64_t last_timestamp_ns_;
  const uint32_t shard_count_;
  Doorbell* const bell_;
  const std::vector<Doorbell*> producer_bells_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  Doorbell wake_;
  std::unique_ptr<wal::SnapshotFileWriter> file_;  // null after a failure
  absl::Status status_;  // written by the thread, read after done_
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace coffer::internal
