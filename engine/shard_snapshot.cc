// A shard's snapshots: the forked child's Save* (the state is frozen), the
// in-process walk (the shard goes on applying), and the Restore* of
// recovery. engine/DESIGN.md "Snapshots" has the design.
#include <algorithm>
#include <utility>

#include "common/assert.h"
#include "engine/partition.h"
#include "engine/shard.h"

namespace coffer::internal {
namespace {

// Records a walk step saves at most: about 50-100 us of the shard's time,
// so that transactions keep flowing between steps.
constexpr uint32_t kWalkRecordsPerStep = 4096;
// Finished blocks the writer has not taken yet beyond which the walk waits
// (saves before a change go on, into the block being filled).
constexpr size_t kUnsentBlocksMax = 2;

}  // namespace

void Shard::SaveAccounts(SnapshotEncoder& out) const {
  for (const auto& [id, a] : accounts_) {
    SnapshotAccount rec{};
    rec.id = id;
    rec.account.state = a;
    if ((a.flags & (kAccountFlagOverdraft | kAccountFlagCap)) != 0) {
      rec.account.limits = limits_.at(id);
    }
    out.Account(rec);
  }
}

void Shard::SaveHolds(SnapshotEncoder& out) const {
  for (const auto& [id, h] : holds_) out.Hold(SnapshotHold{id, h});
}

void Shard::SaveHistory(SnapshotEncoder& out) const {
  history_.ForEach([&](const HistoryEntry& e) { out.History(e); });
}

void Shard::RestoreAccount(const SnapshotAccount& a) {
  AccountState state = a.account.state;
  state.history_head = 0;  // ring positions are rebuilt by RestoreHistory
  state.flags = WithSavedMark(state.flags & ~kAccountFlagInternalMask);
  accounts_.insert_or_assign(a.id, state);
  if ((state.flags & (kAccountFlagOverdraft | kAccountFlagCap)) != 0) {
    limits_.insert_or_assign(a.id, a.account.limits);
  }
  counters_.accounts.store(accounts_.size(), std::memory_order_relaxed);
}

void Shard::RestoreHold(const SnapshotHold& h) {
  holds_.insert_or_assign(h.id, h.hold);
  if (h.hold.status == HoldStatus::kOpen) {
    if (h.hold.expires_at_ns != 0) {
      expiring_.insert({h.hold.account_id, h.hold.expires_at_ns, h.id});
    }
  } else {
    closed_holds_.emplace_back(h.id, h.hold.closed_seq);
  }
}

bool Shard::RestoreHistory(const HistoryEntry& e) {
  auto it = accounts_.find(e.account_id);
  if (it == accounts_.end()) return false;  // not a valid snapshot
  // Entries of one account arrive oldest first, keeping their numbers.
  const uint64_t pos = history_.Append(e, it->second.history_head);
  if (pos != 0) {
    it->second.history_head = pos;
    NoteHistoryOrder(pos, e.seq);
  }
  return true;
}

SnapshotRestoreCounts Shard::RestoreSnapshot(const SnapshotLayout& layout) {
  const bool own_blocks_only = layout.shard_count == shard_count_;
  auto mine = [&](const SnapshotBlockRef& b, SnapshotBlockKind kind) {
    return b.kind == kind && (!own_blocks_only || b.source == index_);
  };
  // Reserved up front: growing a map of millions of accounts rehashes it
  // several times over, which cost about a third of a load (perf).
  uint64_t expected = 0;
  for (const SnapshotBlockRef& b : layout.blocks) {
    if (mine(b, SnapshotBlockKind::kAccounts)) expected += b.n;
  }
  if (!own_blocks_only) expected = expected / shard_count_ * 51 / 50 + 64;
  accounts_.reserve(expected);
  SnapshotRestoreCounts counts;
  auto owned = [&](uint64_t account_id) {
    if (ShardOf(account_id, shard_count_) == index_) return true;
    if (own_blocks_only) ++counts.misplaced;
    return false;
  };
  SnapshotVisitor v;
  v.account = [&](const SnapshotAccount& a) {
    if (owned(a.id)) RestoreAccount(a);
  };
  v.hold = [&](const SnapshotHold& h) {
    if (owned(h.hold.account_id)) RestoreHold(h);
  };
  v.history = [&](const HistoryEntry& e) {
    if (owned(e.account_id) && !RestoreHistory(e)) ++counts.orphan_history;
  };
  // History last: an entry needs its account.
  for (SnapshotBlockKind kind :
       {SnapshotBlockKind::kAccounts, SnapshotBlockKind::kHolds,
        SnapshotBlockKind::kHistory}) {
    for (const SnapshotBlockRef& b : layout.blocks) {
      if (mine(b, kind)) VisitBlock(b, v);
    }
  }
  std::sort(closed_holds_.begin(), closed_holds_.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  return counts;
}

// --- the in-process walk ----------------------------------------------------

void Shard::BeginSnapshot(SnapshotWriter* writer) {
  COFFER_ASSERT(walk_.phase == ShardSnapshotWalk::Phase::kNone);
  COFFER_ASSERT(locks_.empty());
  walk_ = ShardSnapshotWalk{};
  // History first: its entries are pinned in memory until walked, and the
  // ring's growth meanwhile counts against the history backlog.
  walk_.phase = ShardSnapshotWalk::Phase::kHistory;
  walk_.writer = writer;
  // Every record is unsaved from now on, and every new one saved.
  saved_mark_ ^= kAccountFlagSnapshotMark;
  walk_.accounts_total = accounts_.size();
  walk_.it = accounts_.begin();
  walk_.pass_capacity = accounts_.capacity();
  walk_.history_pos = history_.first_pos();
  walk_.history_end = history_.next_pos();
  if (walk_.history_pos < walk_.history_end) history_.Pin(walk_.history_pos);
  walk_.accounts.emplace(SnapshotBlockKind::kAccounts, index_);
  walk_.history.emplace(SnapshotBlockKind::kHistory, index_);
  // Holds are copied now, whole: they are few next to accounts (open ones
  // plus the closed ones remembered for closed_hold_memory_ops), and they
  // change and go in ways a walk would have to track one by one.
  SnapshotBlockBuilder holds(SnapshotBlockKind::kHolds, index_);
  for (const auto& [id, h] : holds_) {
    holds.Hold(SnapshotHold{id, h});
    if (holds.bytes() >= kSnapshotBlockBytes)
      walk_.unsent.push_back(holds.Take());
  }
  if (holds.records() > 0) walk_.unsent.push_back(holds.Take());
}

bool Shard::SnapshotDueBefore(uint64_t seq) const {
  return announcement_.generation() != begun_generation_ &&
         seq > announcement_.seq();
}

void Shard::BeginAnnounced() {
  begun_generation_ = announcement_.generation();
  BeginSnapshot(announcement_.writer());
}

bool Shard::MaybeBeginAnnounced() {
  if (announcement_.generation() == begun_generation_) return false;
  // The announcement came after every request ordered up to its seq was
  // pushed to this shard (acquire above): with the queue empty and nothing
  // in progress, every one of them is applied here.
  if (current_ != nullptr || wiring_.in->read_available() > 0 ||
      !locks_.empty()) {
    return false;
  }
  BeginAnnounced();
  return true;
}

void Shard::SaveAccount(uint64_t id, AccountState& live) {
  SnapshotAccount rec{};
  rec.id = id;
  rec.account.state = live;
  if ((live.flags & (kAccountFlagOverdraft | kAccountFlagCap)) != 0) {
    rec.account.limits = limits_.at(id);  // set at creation, never changed
  }
  walk_.accounts->Account(rec);
  live.flags ^= kAccountFlagSnapshotMark;
  ++walk_.accounts_saved;
  COFFER_ASSERT(walk_.accounts_saved <= walk_.accounts_total);
  if (walk_.accounts->bytes() >= kSnapshotBlockBytes) {
    walk_.unsent.push_back(walk_.accounts->Take());
  }
}

void Shard::SaveBeforeWrite(uint64_t id, AccountState& live) {
  if (IsSaved(live)) return;
  COFFER_ASSERT_MSG(walk_.phase == ShardSnapshotWalk::Phase::kHistory ||
                        walk_.phase == ShardSnapshotWalk::Phase::kAccounts,
                    "an account left unsaved by a snapshot walk");
  SaveAccount(id, live);
}

bool Shard::WalkAccounts() {
  if (accounts_.capacity() != walk_.pass_capacity) {
    walk_.it = accounts_.begin();
    walk_.pass_capacity = accounts_.capacity();
  }
  for (uint32_t n = 0;
       n < kWalkRecordsPerStep && walk_.accounts_saved < walk_.accounts_total &&
       walk_.it != accounts_.end();
       ++n, ++walk_.it) {
    auto& [id, account] = *walk_.it;
    if (!IsSaved(account)) SaveAccount(id, account);
  }
  if (walk_.accounts_saved < walk_.accounts_total) {
    // The map did not grow during this pass (checked at each step), so a
    // pass that ends with records unsaved has lost some.
    COFFER_ASSERT_MSG(walk_.it != accounts_.end(),
                      "a snapshot walk passed accounts it did not save");
    return true;
  }
  if (walk_.accounts->records() > 0) {
    walk_.unsent.push_back(walk_.accounts->Take());
  }
  walk_.phase = ShardSnapshotWalk::Phase::kSending;
  return true;
}

bool Shard::WalkHistory() {
  const uint64_t last =
      std::min(walk_.history_end, walk_.history_pos + kWalkRecordsPerStep);
  for (uint64_t pos = walk_.history_pos; pos < last; ++pos) {
    const HistoryRing::Slot* slot = history_.At(pos);
    COFFER_ASSERT_MSG(slot != nullptr, "a pinned history entry left memory");
    walk_.history->History(slot->entry);
    if (walk_.history->bytes() >= kSnapshotBlockBytes) {
      walk_.unsent.push_back(walk_.history->Take());
    }
  }
  walk_.history_pos = last;
  if (last < walk_.history_end) {
    history_.Pin(last);
  } else {
    history_.Pin(0);
    if (walk_.history->records() > 0) {
      walk_.unsent.push_back(walk_.history->Take());
    }
    walk_.phase = ShardSnapshotWalk::Phase::kAccounts;
  }
  // Entries held for the walk may leave now: admission may wait on them.
  counters_.history_backlog.store(history_.backlog(),
                                  std::memory_order_relaxed);
  wiring_.sequencer_bell->Ring();
  return true;
}

bool Shard::SendSnapshotBlocks() {
  bool progress = false;
  while (!walk_.unsent.empty() &&
         walk_.writer->TryPush(index_, std::move(walk_.unsent.front()))) {
    walk_.unsent.pop_front();
    progress = true;
  }
  return progress;
}

bool Shard::StepSnapshot() {
  bool progress = MaybeBeginAnnounced();
  if (walk_.phase == ShardSnapshotWalk::Phase::kNone) return progress;
  progress |= SendSnapshotBlocks();
  switch (walk_.phase) {
    case ShardSnapshotWalk::Phase::kNone:
      return progress;
    case ShardSnapshotWalk::Phase::kSending:
      if (!walk_.unsent.empty()) return progress;
      walk_.writer->Finish(index_);
      walk_ = ShardSnapshotWalk{};
      return true;
    case ShardSnapshotWalk::Phase::kAccounts:
    case ShardSnapshotWalk::Phase::kHistory:
      if (walk_.unsent.size() >= kUnsentBlocksMax) return progress;
      return walk_.phase == ShardSnapshotWalk::Phase::kAccounts ? WalkAccounts()
                                                                : WalkHistory();
  }
  return progress;
}

bool Shard::SnapshotHaveWork() const {
  if (announcement_.generation() != begun_generation_) {
    return current_ == nullptr && wiring_.in->read_available() == 0 &&
           locks_.empty();
  }
  if (walk_.phase == ShardSnapshotWalk::Phase::kNone) return false;
  if (!walk_.unsent.empty() && walk_.writer->HasRoom(index_)) return true;
  if (walk_.phase == ShardSnapshotWalk::Phase::kSending) {
    return walk_.unsent.empty();
  }
  return walk_.unsent.size() < kUnsentBlocksMax;
}

bool Shard::snapshot_pending() const {
  return walk_.phase != ShardSnapshotWalk::Phase::kNone ||
         announcement_.generation() != begun_generation_;
}

}  // namespace coffer::internal
