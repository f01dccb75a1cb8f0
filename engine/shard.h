// A shard: one thread that owns a partition of the accounts (and their holds
// and history) and applies transactions to them in sequence order.
//
// Transactions arrive from the sequencer in seq order. One that touches only
// this shard's accounts runs at once unless an earlier transaction still
// holds one of its accounts. One that spans shards takes its accounts' lock
// queues (a deterministic lock manager: queues are entered in seq order, so
// there is no deadlock), writes the records it owns into the transaction's
// snapshot area, tells the other participants, and runs once every
// participant has done the same. Each participant runs the same executor on
// the same records, reaches the same outcome, and writes back only its own
// accounts. engine/DESIGN.md has the full message flow.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <tuple>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "engine/account.h"
#include "engine/config.h"
#include "engine/doorbell.h"
#include "engine/durability_gate.h"
#include "engine/executor.h"
#include "engine/history_reader.h"
#include "engine/history_ring.h"
#include "engine/history_store_writer.h"
#include "engine/lock_manager.h"
#include "engine/queues.h"
#include "engine/request.h"
#include "engine/shard_snapshot.h"
#include "engine/snapshot_codec.h"

namespace coffer::internal {

struct ShardWiring {
  RequestQueue* in = nullptr;    // from the sequencer
  RequestQueue* done = nullptr;  // back to the sequencer
  Doorbell* sequencer_bell = nullptr;
  std::vector<PeerQueue*> peer_in;   // [p]: from shard p (null for self)
  std::vector<PeerQueue*> peer_out;  // [p]: to shard p (null for self)
  std::vector<Doorbell*> peer_bells;
  const std::atomic<bool>* stop = nullptr;  // set once no work can come
};

// The shard's live counters: written by its own thread, read at any time by
// Engine::Stats(), hence atomic. They stay private to the engine; the plain
// snapshot the engine hands out (and STATS_REPLY carries) is ShardStats in
// engine/stats.h, read from these.
struct ShardCounters {
  std::atomic<uint64_t> txns_applied{0};
  std::atomic<uint64_t> multi_shard_txns{0};
  std::atomic<uint64_t> deferred_txns{0};
  std::atomic<uint64_t> accounts{0};
  // History entries in memory beyond the ring's capacity, waiting for the
  // store (HistoryRing::backlog): the sequencer's admission bounds it
  // (EngineConfig::history_backlog_entries_max).
  std::atomic<uint64_t> history_backlog{0};
};

// Holds a shard's history feeding still while a snapshot forks: feeding
// changes the ring (entries leave it once stored) even while the shard has
// no request, and the forked child must see the ring whole. Dekker-style:
// the shard marks itself feeding, then checks for a pause; the sequencer
// pauses, then waits until the shard is not feeding (both seq_cst), so
// either the shard sees the pause or the sequencer sees it feeding.
class HistoryFeedPause {
 public:
  // The shard's thread: false if paused (do not feed); else call Exit after.
  bool Enter() {
    feeding_.store(true, std::memory_order_seq_cst);
    if (!paused_.load(std::memory_order_seq_cst)) return true;
    feeding_.store(false, std::memory_order_release);
    return false;
  }
  void Exit() { feeding_.store(false, std::memory_order_release); }
  bool paused() const { return paused_.load(std::memory_order_acquire); }

  // The sequencer's thread: returns once no feeding runs or can start.
  void Pause() {
    paused_.store(true, std::memory_order_seq_cst);
    while (feeding_.load(std::memory_order_seq_cst)) CpuRelaxForPause();
  }
  void Resume() { paused_.store(false, std::memory_order_release); }

 private:
  static void CpuRelaxForPause();
  std::atomic<bool> paused_{false};
  std::atomic<bool> feeding_{false};
};

// What a shard's restore found wrong in a snapshot (each a damaged or
// foreign file; the load fails on any).
struct SnapshotRestoreCounts {
  uint64_t orphan_history = 0;  // entries of accounts the snapshot lacks
  uint64_t misplaced = 0;  // records in this shard's blocks owned by another
};

// Most entries in one batch handed to the store's writer.
inline constexpr uint32_t kHistoryFeedEntriesMax = 16384;

class Shard {
 public:
  Shard(uint32_t index, uint32_t shard_count, const EngineConfig& config);
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  void Wire(ShardWiring wiring) { wiring_ = std::move(wiring); }
  Doorbell& bell() { return bell_; }
  const ShardCounters& counters() const { return counters_; }

  // The worker loop; returns when stop is set and nothing is left to do.
  void Loop();

  // Before anything is restored or the thread starts: entries that leave
  // memory go to the store through `writer` (shard lane `index`), once the
  // log holds them durably (`gate`). Pages go on in the store through
  // `reader` (lane `index`), off this thread. Entries of ops up to
  // `stored_through_seq` (the store's covered_seq at open) are in the store
  // already and are not written again.
  void AttachHistoryStore(HistoryStoreWriter* writer, HistoryReader* reader,
                          const DurabilityGate* gate,
                          uint64_t stored_through_seq);
  // The inline layout's sequencer, after ExecuteRequest(r) left
  // r->internal.history_store_below set: hands r to the history reader, as
  // its last touch of r (the reader hands it back through its done queue).
  void HandToHistoryReader(Request* r);
  // Lets stored entries leave memory and hands the writer the oldest
  // entries that must leave next. Returns whether it did anything. On the
  // shard's thread (the sequencer's in the inline layout).
  bool FeedHistory();
  // Whether FeedHistory would do anything now.
  bool HistoryHaveWork() const;
  // Paused by the sequencer while a snapshot forks (any thread).
  HistoryFeedPause& history_feed_pause() { return feed_pause_; }

  // Applies r->ops one by one on the calling thread, each as its own
  // transaction with seqs first_seq, first_seq+1, ..., bypassing queues and
  // the lock manager. Every record the ops name must belong to this shard.
  // For benchmarks and tests of the apply path: the shard's thread must not
  // be running. Fills r->results.
  void ApplyInline(Request* r, uint64_t first_seq, uint64_t timestamp_ns);

  // The inline layout (one shard, engine/DESIGN.md "Threads"): runs every
  // transaction of an ordered request, in order, on the calling thread,
  // which is then this shard's only thread (the worker loop never runs).
  // With one shard nothing is ever multi-shard or waiting on a lock, so the
  // lock manager is bypassed; the request is not handed back through a
  // queue: the caller continues with it.
  void ExecuteRequest(Request* r);

  // Snapshots. Save* run while the shard's thread is idle, in a forked child
  // (engine/DESIGN.md "Snapshots").
  void SaveAccounts(SnapshotEncoder& out) const;
  void SaveHolds(SnapshotEncoder& out) const;
  void SaveHistory(SnapshotEncoder& out) const;
  // Restores this shard's records of a snapshot: those whose ShardOf under
  // the current shard count is this shard, whatever count the snapshot was
  // taken with; when it was taken with this count, only the blocks this
  // shard wrote are read. Runs once, before the shard's thread starts, on
  // a loader thread of its own (engine/snapshot_load.h).
  SnapshotRestoreCounts RestoreSnapshot(const SnapshotLayout& layout);

  // In-process snapshots (engine/shard_snapshot.cc). The threaded layout's
  // sequencer announces one (snapshot_announcement) and the shard's loop
  // begins it once every transaction up to its seq is applied here, before
  // any later one. The inline layout's sequencer calls BeginSnapshot itself,
  // between passes, and steps the walk.
  SnapshotAnnouncement& snapshot_announcement() { return announcement_; }
  // At the cut: every transaction up to the snapshot's seq is applied here,
  // none after it.
  void BeginSnapshot(SnapshotWriter* writer);
  // One bounded step of the walk; returns progress.
  bool StepSnapshot();
  // Whether StepSnapshot would make progress now.
  bool SnapshotHaveWork() const;
  // A snapshot is announced and not yet begun, or its walk is not done.
  bool snapshot_pending() const;

 private:
  // A multi-shard transaction's side of the record exchange. It may exist
  // before the transaction is admitted here: a peer's records can come
  // first.
  struct PeerWait {
    uint32_t readies = 0;   // peers whose records have arrived
    bool acquired = false;  // this shard holds its locks and sent its own
  };
  using Accounts = absl::InlinedVector<uint64_t, 4>;

  bool AdmitWork();
  bool DrainPeers();
  bool FlushBacklogs();
  bool HaveWork() const;

  void Admit(Request* r, uint32_t t);
  void OnAcquired(const Key& key);
  void OnPeerReady(const Key& key);
  void Release(const Key& key);
  void DrainReady();
  void Finish(Request* r);
  void Send(uint32_t peer, const PeerMsg& msg);

  // The accounts of a transaction that this shard owns (and so locks).
  void LocalAccounts(const Request& r, const Txn& x, Accounts* out) const;

  // Runs transaction t of r; its accounts are locked (or uncontended).
  void RunTxn(Request* r, uint32_t t);
  void RunOps(Request* r, const Txn& x);
  void RunLookup(Request* r, const Txn& x);
  void RunHistory(Request* r, const Txn& x);
  void RunDigest(Request* r, const Txn& x);

  void LoadLocalView(const Request& r, const Txn& x);
  // Starts loading the account records of ops[0..count) into the cache, so
  // that the misses of the next few transactions overlap with this one's
  // work instead of stalling one after another (most of the apply cost at
  // millions of accounts).
  void Prefetch(const Op* ops, uint32_t count) const;
  void LoadSnapshotView(const Request& r, const Txn& x);
  void FillSnapshots(Request* r, const Txn& x);
  void Commit(uint64_t seq);

  // Closes, as expired, the account's holds whose expiry is <= ts_ns.
  void ExpireHolds(uint64_t account_id, AccountState& account, uint64_t ts_ns,
                   uint64_t seq);
  // A hold as a transaction at `seq` sees it: closed holds older than the
  // memory window are gone.
  const HoldState* VisibleHold(uint64_t hold_id, uint64_t seq) const;
  uint64_t EffectiveHeld(uint64_t account_id, const AccountState& a,
                         uint64_t ts_ns) const;
  void AppendHistory(AccountState& account, HistoryEntry entry);
  // The batch FeedHistory would hand over now (null if none).
  std::unique_ptr<HistoryStoreWriter::Batch> CutHistoryBatch() const;
  void NoteHistoryOrder(uint64_t pos, uint64_t seq);
  // Batch::through_seq of a batch of ring positions [from, last_pos] with
  // the ring ending at `end` (0: no claim).
  uint64_t HistoryThroughSeq(uint64_t from, uint64_t last_pos,
                             uint64_t end) const;
  // The first ring position not yet handed to the writer.
  uint64_t FirstUnhandedPos() const {
    return std::max(history_handed_pos_ + 1, history_.first_pos());
  }
  void ForgetClosedHolds(uint64_t seq);

  // Snapshot walk (engine/shard_snapshot.cc).
  // Saves an account's record as it is now, before its first change while a
  // walk runs, unless it is saved already (or new since the snapshot).
  void SaveBeforeWrite(uint64_t id, AccountState& live);
  uint32_t WithSavedMark(uint32_t flags) const {
    return (flags & ~kAccountFlagSnapshotMark) | saved_mark_;
  }
  bool IsSaved(const AccountState& a) const {
    return (a.flags & kAccountFlagSnapshotMark) == saved_mark_;
  }
  void SaveAccount(uint64_t id, AccountState& live);
  void RestoreAccount(const SnapshotAccount& a);
  void RestoreHold(const SnapshotHold& h);
  // False if the entry's account is not restored (a damaged snapshot).
  bool RestoreHistory(const HistoryEntry& e);
  // The announced snapshot is due before a transaction at `seq`.
  bool SnapshotDueBefore(uint64_t seq) const;
  void BeginAnnounced();
  // Begins the announced snapshot if nothing ordered before it is left here.
  bool MaybeBeginAnnounced();
  bool WalkAccounts();
  bool WalkHistory();
  bool SendSnapshotBlocks();

  const uint32_t index_;
  const uint32_t shard_count_;
  const EngineConfig config_;
  ShardWiring wiring_;
  Doorbell bell_;
  ShardCounters counters_;

  // The shard's state: touched by this thread only. Accounts are never
  // erased: a snapshot walk keeps an iterator across inserts and restarts
  // only when the map grows (engine/DESIGN.md "Snapshots").
  absl::flat_hash_map<uint64_t, AccountState> accounts_;
  absl::flat_hash_map<uint64_t, AccountLimits> limits_;  // rare: see account.h
  absl::flat_hash_map<uint64_t, HoldState> holds_;
  // Open holds with an expiry, by (account, expires_at, hold id).
  absl::btree_set<std::tuple<uint64_t, uint64_t, uint64_t>> expiring_;
  // Closed holds in closing order: (hold id, closed_seq).
  std::deque<std::pair<uint64_t, uint64_t>> closed_holds_;
  HistoryRing history_;
  // The history store (null: none; entries beyond memory are dropped).
  HistoryReader* history_reader_ = nullptr;
  HistoryStoreWriter* history_writer_ = nullptr;
  const DurabilityGate* durability_ = nullptr;
  uint64_t history_handed_pos_ = 0;  // ring positions handed to the writer
  uint64_t history_stored_pos_ = 0;  // the writer's last stored_pos seen
  uint64_t history_stored_through_seq_ = 0;  // AttachHistoryStore's
  // The highest seq appended to the ring, and the last position where an
  // entry came in below it (a ring restored from a snapshot of more shards,
  // or the threaded layout): claims of the store's covered_seq start after
  // it (HistoryThroughSeq).
  uint64_t history_max_seq_ = 0;
  uint64_t history_unordered_through_pos_ = 0;
  HistoryFeedPause feed_pause_;

  // In-process snapshots.
  SnapshotAnnouncement announcement_;
  uint64_t begun_generation_ = 0;
  uint32_t saved_mark_ = 0;  // kAccountFlagSnapshotMark or 0
  ShardSnapshotWalk walk_;

  // Lock manager and transactions in progress.
  LockManager locks_;
  absl::flat_hash_map<Key, PeerWait> peer_waits_;  // multi-shard txns only
  std::vector<Key> ready_;  // acquired all locks, to be started
  bool draining_ready_ = false;
  std::vector<std::deque<PeerMsg>>
      backlog_;  // per peer, when its queue is full

  // The request being admitted (its txns for this shard are taken in order).
  Request* current_ = nullptr;
  uint32_t cursor_ = 0;
  uint32_t current_count_ = 0;

  View view_;
  std::vector<OpResult> scratch_results_;
};

}  // namespace coffer::internal
