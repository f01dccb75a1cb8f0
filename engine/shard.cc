#include "engine/shard.h"

#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <thread>

#include "common/assert.h"
#include "common/cpu_relax.h"
#include "common/prefetch.h"
#include "engine/history_page.h"
#include "engine/partition.h"

namespace coffer::internal {
namespace {

// How many transactions ahead the shard prefetches account records: enough
// to cover a memory miss (~100 ns) with the work of the ones in between.
constexpr uint32_t kPrefetchDistance = 8;

// Adds a record's 128-bit hash into the order-independent digest sum.
template <typename T>
void DigestAdd(StateDigest& d, const T& record) {
  XXH128_hash_t h = XXH3_128bits(&record, sizeof(record));
  const uint64_t lo = d.lo + h.low64;
  d.hi += h.high64 + (lo < d.lo ? 1 : 0);
  d.lo = lo;
}

struct DigestAccount {
  uint64_t id;
  int64_t balance;
  uint64_t held;
  uint64_t overdraft_limit;
  uint64_t balance_cap;
  uint32_t currency;
  uint32_t flags;
};
struct DigestHold {
  uint64_t id;
  uint64_t account_id;
  uint64_t amount;
  uint64_t expires_at_ns;
};

}  // namespace

Shard::Shard(uint32_t index, uint32_t shard_count, const EngineConfig& config)
    : index_(index),
      shard_count_(shard_count),
      config_(config),
      history_(config.history_entries_per_shard_max),
      backlog_(shard_count),
      scratch_results_(kChainOpsMax) {}

// --- the worker loop ------------------------------------------------------

void Shard::Loop() {
  uint32_t idle = 0;
  for (;;) {
    bool progress = DrainPeers();
    progress |= FlushBacklogs();
    progress |= AdmitWork();
    progress |= FeedHistory();
    progress |= StepSnapshot();
    if (progress) {
      idle = 0;
      continue;
    }
    if (wiring_.stop->load(std::memory_order_acquire) && !HaveWork() &&
        locks_.admitted() == 0 && peer_waits_.empty() && current_ == nullptr &&
        !snapshot_pending()) {
      return;
    }
    if (++idle < config_.idle_spin_iterations) {
      CpuRelax();
      continue;
    }
    const uint32_t token = bell_.PrepareSleep();
    if (!HaveWork() && !wiring_.stop->load(std::memory_order_acquire)) {
      bell_.Sleep(token);
    }
    bell_.Awake();
    idle = 0;
  }
}

bool Shard::HaveWork() const {
  if (wiring_.in->read_available() > 0) return true;
  for (uint32_t p = 0; p < shard_count_; ++p) {
    if (p == index_) continue;
    if (wiring_.peer_in[p]->read_available() > 0) return true;
    if (!backlog_[p].empty()) return true;  // retry until the peer has room
  }
  // A request whose admission paused at a digest barrier resumes when the
  // lock queues empty, which only a peer message can cause: no work here.
  // History entries to let go or hand over: the store's writer rings this
  // bell after each batch, the sequencer while it waits on the backlog.
  // A snapshot's blocks: its writer rings this bell when it takes one.
  return HistoryHaveWork() || SnapshotHaveWork();
}

bool Shard::DrainPeers() {
  bool progress = false;
  for (uint32_t p = 0; p < shard_count_; ++p) {
    if (p == index_) continue;
    PeerMsg msg;
    // Bounded per pass so that one busy peer cannot starve admission.
    for (int i = 0; i < 1024 && wiring_.peer_in[p]->pop(msg); ++i) {
      OnPeerReady(Key{msg.request, msg.txn});
      progress = true;
    }
  }
  DrainReady();
  return progress;
}

bool Shard::FlushBacklogs() {
  bool progress = false;
  for (uint32_t p = 0; p < shard_count_; ++p) {
    auto& q = backlog_[p];
    bool sent = false;
    while (!q.empty() && wiring_.peer_out[p]->push(q.front())) {
      q.pop_front();
      sent = true;
    }
    if (sent) {
      wiring_.peer_bells[p]->Ring();
      progress = true;
    }
  }
  return progress;
}

bool Shard::AdmitWork() {
  if (current_ == nullptr) {
    if (!wiring_.in->pop(current_)) return false;
    cursor_ = 0;
    current_count_ =
        static_cast<uint32_t>(current_->internal.shard_txns[index_].size());
    // The sequencer hands a shard only requests with work for it.
    COFFER_ASSERT(current_count_ > 0);
  }
  bool progress = false;
  while (cursor_ < current_count_) {
    const uint32_t t = current_->internal.shard_txns[index_][cursor_];
    const Txn& x = current_->internal.txns[t];
    if (SnapshotDueBefore(x.seq)) {
      // A barrier like a digest: the snapshot begins once every earlier
      // transaction here is done.
      if (!locks_.empty()) return progress;
      BeginAnnounced();
      progress = true;
    }
    if (x.kind == TxnKind::kDigest) {
      // A barrier: it reflects exactly the transactions before it, so it
      // waits until none is in progress here, and admits nothing after it
      // until it is done.
      if (!locks_.empty()) return progress;
      const bool last = cursor_ + 1 == current_count_;
      Request* r = current_;
      ++cursor_;
      if (last) current_ = nullptr;
      RunDigest(r, x);
      Finish(r);
      if (last) return true;
      progress = true;
      continue;
    }
    if (cursor_ + kPrefetchDistance < current_count_) {
      const Txn& ahead =
          current_->internal
              .txns[current_->internal
                        .shard_txns[index_][cursor_ + kPrefetchDistance]];
      if (ahead.kind == TxnKind::kOps) {
        Prefetch(&current_->ops[ahead.op_begin], ahead.op_count);
      }
    }
    // After the last Admit the request may complete and be freed by its
    // owner: read nothing from it afterwards.
    const bool last = cursor_ + 1 == current_count_;
    Request* r = current_;
    ++cursor_;
    if (last) current_ = nullptr;
    Admit(r, t);
    DrainReady();
    if (last) return true;
    progress = true;
  }
  return progress;
}

// --- lock manager ---------------------------------------------------------

void Shard::LocalAccounts(const Request& r, const Txn& x, Accounts* out) const {
  out->clear();
  switch (x.kind) {
    case TxnKind::kOps:
      ForEachRecord(&r.ops[x.op_begin], x.op_count,
                    [&](uint64_t, bool, uint64_t owner) {
                      if (ShardOf(owner, shard_count_) != index_) return;
                      for (uint64_t a : *out) {
                        if (a == owner) return;
                      }
                      out->push_back(owner);
                    });
      break;
    case TxnKind::kLookup:
      out->push_back(r.lookup_ids[x.op_begin]);
      break;
    case TxnKind::kRefusalBalance:
      out->push_back(r.ops[x.op_begin].account_id);
      break;
    case TxnKind::kHistory:
      out->push_back(r.history_account);
      break;
    case TxnKind::kDigest:
      break;
  }
}

void Shard::Admit(Request* r, uint32_t t) {
  const Txn& x = r->internal.txns[t];
  Accounts local;
  LocalAccounts(*r, x, &local);
  if (!x.multi_shard() && locks_.Uncontended(local)) {
    // The common case: nothing earlier holds these accounts.
    RunTxn(r, t);
    Finish(r);
    return;
  }
  const Key key{r, t};
  if (locks_.Enqueue(key, local)) {
    ready_.push_back(key);
  } else {
    counters_.deferred_txns.store(counters_.deferred_txns.load() + 1,
                                  std::memory_order_relaxed);
  }
}

void Shard::DrainReady() {
  if (draining_ready_) return;  // the outer loop will get to them
  draining_ready_ = true;
  while (!ready_.empty()) {
    const Key key = ready_.back();
    ready_.pop_back();
    OnAcquired(key);
  }
  draining_ready_ = false;
}

void Shard::OnAcquired(const Key& key) {
  Request* r = key.request;
  const Txn& x = r->internal.txns[key.txn];
  if (!x.multi_shard()) {
    RunTxn(r, key.txn);
    Release(key);
    return;
  }
  // Expire this side's holds at the transaction's time before taking the
  // snapshot, so every participant sees the same, current records.
  Accounts local;
  LocalAccounts(*r, x, &local);
  for (uint64_t a : local) {
    auto it = accounts_.find(a);
    if (it != accounts_.end()) {
      ExpireHolds(a, it->second, x.timestamp_ns, x.seq);
    }
  }
  FillSnapshots(r, x);
  for (uint32_t p = 0; p < shard_count_; ++p) {
    if (p != index_ && (x.participants >> p & 1) != 0) {
      Send(p, PeerMsg{r, key.txn});
    }
  }
  PeerWait& pend = peer_waits_[key];  // may exist: a peer's records came first
  pend.acquired = true;
  const uint32_t needed = std::popcount(x.participants) - 1;
  if (pend.readies == needed) {
    RunTxn(r, key.txn);
    Release(key);
  }
}

void Shard::OnPeerReady(const Key& key) {
  PeerWait& p = peer_waits_[key];  // may be before this side admits it
  ++p.readies;
  if (!p.acquired) return;  // not yet our turn on this side
  const Txn& x = key.request->internal.txns[key.txn];
  const uint32_t needed = std::popcount(x.participants) - 1;
  COFFER_ASSERT_MSG(p.readies <= needed, "more peer readies than peers");
  if (p.readies == needed) {
    RunTxn(key.request, key.txn);
    Release(key);
  }
}

void Shard::Release(const Key& key) {
  Request* r = key.request;
  const Txn& x = r->internal.txns[key.txn];
  Accounts local;
  LocalAccounts(*r, x, &local);
  // Successors whose last wait this was join ready_, which DrainReady runs.
  locks_.Release(key, local, &ready_);
  if (x.multi_shard()) {
    const size_t erased = peer_waits_.erase(key);
    COFFER_ASSERT_MSG(erased == 1, "released txn had no peer entry");
  }
  Finish(r);
}

void Shard::Finish(Request* r) {
  uint32_t& left = r->internal.shard_pending[index_];
  COFFER_ASSERT_MSG(left > 0, "shard finished more txns than it was given");
  if (--left > 0) return;
  // Every transaction of this request on this shard is done: hand it back,
  // or to the history reader if its page goes on in the store (which hands
  // it back itself). Either is the last touch of it here. The queues hold
  // requests_in_flight_max entries, so this cannot fail.
  if (r->internal.history_store_below != 0) {
    HandToHistoryReader(r);
    return;
  }
  const bool pushed = wiring_.done->push(r);
  COFFER_ASSERT_MSG(pushed, "done queue over requests_in_flight_max");
  wiring_.sequencer_bell->Ring();
}

void Shard::Send(uint32_t peer, const PeerMsg& msg) {
  if (backlog_[peer].empty() && wiring_.peer_out[peer]->push(msg)) {
    wiring_.peer_bells[peer]->Ring();
    return;
  }
  // Never block on a peer (it may be waiting on us): keep the message until
  // its queue has room. Bounded by the transactions in flight.
  backlog_[peer].push_back(msg);
}

// --- running transactions -------------------------------------------------

void Shard::ExecuteRequest(Request* r) {
  COFFER_ASSERT(shard_count_ == 1 && locks_.empty());
  const std::vector<uint32_t>& mine = r->internal.shard_txns[index_];
  const auto n = static_cast<uint32_t>(mine.size());
  for (uint32_t i = 0; i < n; ++i) {
    if (i + kPrefetchDistance < n) {
      const Txn& ahead = r->internal.txns[mine[i + kPrefetchDistance]];
      if (ahead.kind == TxnKind::kOps) {
        Prefetch(&r->ops[ahead.op_begin], ahead.op_count);
      }
    }
    const Txn& x = r->internal.txns[mine[i]];
    if (x.kind == TxnKind::kDigest) {
      RunDigest(r, x);
    } else {
      RunTxn(r, mine[i]);
    }
  }
}

void Shard::ApplyInline(Request* r, uint64_t first_seq, uint64_t timestamp_ns) {
  r->results.resize(r->ops.size());
  Txn x;
  x.kind = TxnKind::kOps;
  x.op_count = 1;
  x.participants = uint64_t{1} << index_;
  x.coordinator = static_cast<uint16_t>(index_);
  x.timestamp_ns = timestamp_ns;
  const auto n = static_cast<uint32_t>(r->ops.size());
  for (uint32_t i = 0; i < n; ++i) {
    if (i + kPrefetchDistance < n) Prefetch(&r->ops[i + kPrefetchDistance], 1);
    x.seq = first_seq + i;
    x.op_begin = i;
    RunOps(r, x);
  }
}

void Shard::RunTxn(Request* r, uint32_t t) {
  const Txn& x = r->internal.txns[t];
  switch (x.kind) {
    case TxnKind::kOps:
      RunOps(r, x);
      break;
    case TxnKind::kLookup:
      RunLookup(r, x);
      break;
    case TxnKind::kRefusalBalance: {
      auto it = accounts_.find(r->ops[x.op_begin].account_id);
      r->results[x.op_begin].balance_after =
          it == accounts_.end() ? 0 : it->second.balance;
      break;
    }
    case TxnKind::kHistory:
      RunHistory(r, x);
      break;
    case TxnKind::kDigest:
      COFFER_ASSERT_MSG(false, "digests run at admission");
      break;
  }
  counters_.txns_applied.store(counters_.txns_applied.load() + 1,
                               std::memory_order_relaxed);
}

void Shard::RunOps(Request* r, const Txn& x) {
  if (x.multi_shard()) {
    LoadSnapshotView(*r, x);
    counters_.multi_shard_txns.store(counters_.multi_shard_txns.load() + 1,
                                     std::memory_order_relaxed);
  } else {
    LoadLocalView(*r, x);
  }
  // Every participant computes the same results; the coordinator's copy is
  // the one the client gets, the others are scratch.
  OpResult* results = x.coordinator == index_ ? &r->results[x.op_begin]
                                              : scratch_results_.data();
  ExecuteTxn(view_, &r->ops[x.op_begin], x.op_count, x.seq, x.timestamp_ns,
             results);
  Commit(x.seq);
}

// At -O3 (common/prefetch.h): GCC -O2 would drop the prefetches.
COFFER_PREFETCH_OPTIMIZE void Shard::Prefetch(const Op* ops,
                                              uint32_t count) const {
  // A few ops are enough: long chains are rare and would only evict.
  count = std::min<uint32_t>(count, 4);
  for (uint32_t i = 0; i < count; ++i) {
    accounts_.prefetch(ops[i].account_id);
    if (ops[i].other_account_id != 0) {
      accounts_.prefetch(ops[i].other_account_id);
    }
  }
}

void Shard::LoadLocalView(const Request& r, const Txn& x) {
  view_.Clear();
  const Op* ops = &r.ops[x.op_begin];
  // First bring every account up to the transaction's time (expiring holds
  // may change hold records), then load the records.
  ForEachRecord(ops, x.op_count, [&](uint64_t id, bool is_hold, uint64_t) {
    if (is_hold) return;
    auto it = accounts_.find(id);
    if (it != accounts_.end()) {
      ExpireHolds(id, it->second, x.timestamp_ns, x.seq);
    }
  });
  ForEachRecord(ops, x.op_count, [&](uint64_t id, bool is_hold, uint64_t) {
    if (is_hold) {
      HoldSlot s;
      s.id = id;
      s.local = true;
      if (VisibleHold(id, x.seq) != nullptr) {
        s.exists = true;
        s.live = &holds_.find(id)->second;
        s.hold = *s.live;
      }
      view_.holds.push_back(s);
      return;
    }
    AccountSlot s;
    s.id = id;
    s.local = true;
    auto it = accounts_.find(id);
    if (it != accounts_.end()) {
      s.exists = true;
      s.live = &it->second;
      s.account.state = it->second;
      if ((it->second.flags & (kAccountFlagOverdraft | kAccountFlagCap)) != 0) {
        s.account.limits = limits_.at(id);
      }
    }
    view_.accounts.push_back(s);
  });
}

void Shard::FillSnapshots(Request* r, const Txn& x) {
  for (uint32_t i = 0; i < x.snap_count; ++i) {
    SnapRecord& rec = r->internal.snaps[x.snap_begin + i];
    if (rec.owner_shard != index_) continue;
    if (rec.is_hold) {
      const HoldState* h = VisibleHold(rec.id, x.seq);
      rec.exists = h != nullptr;
      if (h != nullptr) rec.hold = *h;
      continue;
    }
    auto it = accounts_.find(rec.id);
    rec.exists = it != accounts_.end();
    if (!rec.exists) continue;
    rec.account.state = it->second;
    if ((it->second.flags & (kAccountFlagOverdraft | kAccountFlagCap)) != 0) {
      rec.account.limits = limits_.at(rec.id);
    }
  }
}

void Shard::LoadSnapshotView(const Request& r, const Txn& x) {
  view_.Clear();
  for (uint32_t i = 0; i < x.snap_count; ++i) {
    const SnapRecord& rec = r.internal.snaps[x.snap_begin + i];
    const bool local = rec.owner_shard == index_;
    if (rec.is_hold) {
      HoldSlot s;
      s.id = rec.id;
      s.local = local;
      s.exists = rec.exists;
      s.hold = rec.hold;
      if (local && rec.exists) {
        auto it = holds_.find(rec.id);
        s.live = it != holds_.end() ? &it->second : nullptr;
      }
      view_.holds.push_back(s);
      continue;
    }
    AccountSlot s;
    s.id = rec.id;
    s.local = local;
    s.exists = rec.exists;
    s.account = rec.account;
    if (local && rec.exists) s.live = &accounts_.find(rec.id)->second;
    view_.accounts.push_back(s);
  }
}

void Shard::AppendHistory(AccountState& account, HistoryEntry entry) {
  entry.number = ++account.history_count;
  const uint64_t pos = history_.Append(entry, account.history_head);
  if (pos != 0) {
    account.history_head = pos;
    NoteHistoryOrder(pos, entry.seq);
  }
  counters_.history_backlog.store(history_.backlog(),
                                  std::memory_order_relaxed);
}

// --- the history store ----------------------------------------------------

void Shard::AttachHistoryStore(HistoryStoreWriter* writer,
                               HistoryReader* reader,
                               const DurabilityGate* gate,
                               uint64_t stored_through_seq) {
  history_writer_ = writer;
  history_reader_ = reader;
  durability_ = gate;
  history_stored_through_seq_ = stored_through_seq;
  history_.KeepUntilStored();
}

std::unique_ptr<HistoryStoreWriter::Batch> Shard::CutHistoryBatch() const {
  const uint64_t from = FirstUnhandedPos();
  const uint64_t end = history_.next_pos();
  // Only entries that must leave memory (beyond the capacity) are cut; a
  // batch takes a few more so that batches stay large.
  if (end - from <= history_.capacity() || history_writer_->full(index_)) {
    return nullptr;
  }
  const uint64_t durable = durability_->durable_seq();
  const uint64_t last = std::min<uint64_t>(end, from + kHistoryFeedEntriesMax);
  auto batch = std::make_unique<HistoryStoreWriter::Batch>();
  bool cut = false;
  for (uint64_t pos = from; pos < last; ++pos) {
    const HistoryEntry& e = history_.At(pos)->entry;
    // Never an entry the log could still lose: its op could be replayed
    // differently, or not at all.
    if (e.seq > durable) break;
    // One the store had before a restart (replay put it back in memory)
    // leaves memory without being written again.
    if (e.seq > history_stored_through_seq_) batch->entries.push_back(e);
    batch->last_pos = pos;
    cut = true;
  }
  if (!cut) return nullptr;
  batch->through_seq = HistoryThroughSeq(from, batch->last_pos, end);
  return batch;
}

void Shard::NoteHistoryOrder(uint64_t pos, uint64_t seq) {
  if (seq < history_max_seq_) {
    history_unordered_through_pos_ = pos;
  } else {
    history_max_seq_ = seq;
  }
}

uint64_t Shard::HistoryThroughSeq(uint64_t from, uint64_t last_pos,
                                  uint64_t end) const {
  // Past the last entry appended out of seq order, every entry's seq is at
  // least every earlier one's: the entries of ops up to the batch's last
  // seq are in it or in earlier batches, unless that op's entries (a
  // transfer's two, expired holds) go on past the batch.
  if (shard_count_ != 1 || from <= history_unordered_through_pos_) return 0;
  const uint64_t last_seq = history_.At(last_pos)->entry.seq;
  if (last_pos + 1 < end && history_.At(last_pos + 1)->entry.seq == last_seq) {
    return last_seq - 1;
  }
  return last_seq;
}

void HistoryFeedPause::CpuRelaxForPause() { CpuRelax(); }

bool Shard::FeedHistory() {
  if (history_writer_ == nullptr || !feed_pause_.Enter()) return false;
  bool progress = false;
  const uint64_t stored = history_writer_->stored_pos(index_);
  if (stored > history_stored_pos_) {
    history_stored_pos_ = stored;
    history_.MarkStored(stored);
    counters_.history_backlog.store(history_.backlog(),
                                    std::memory_order_relaxed);
    // The backlog shrank: admission may wait on it. Rung from here, after
    // the store, not by the writer: a sequencer woken before this point
    // would see the old backlog and sleep again.
    wiring_.sequencer_bell->Ring();
    progress = true;
  }
  if (std::unique_ptr<HistoryStoreWriter::Batch> batch = CutHistoryBatch()) {
    const uint64_t last_pos = batch->last_pos;
    if (history_writer_->TryHand(index_, batch)) {
      history_handed_pos_ = last_pos;
      progress = true;
    }
  }
  feed_pause_.Exit();
  return progress;
}

bool Shard::HistoryHaveWork() const {
  if (history_writer_ == nullptr || feed_pause_.paused()) return false;
  if (history_writer_->stored_pos(index_) > history_stored_pos_) return true;
  const uint64_t from = FirstUnhandedPos();
  return history_.next_pos() - from > history_.capacity() &&
         !history_writer_->full(index_) &&
         history_.At(from)->entry.seq <= durability_->durable_seq();
}

void Shard::Commit(uint64_t seq) {
  // Money first: nothing reaches the shard's records, the history or a
  // reply unless every account the transaction changed is sound.
  for (const AccountSlot& s : view_.accounts) {
    if (s.dirty) CheckAccountInvariant(s.account);
  }
  // History first: it advances each account's entry count and head.
  for (PendingEntry& pe : view_.entries) {
    AccountSlot& slot = view_.accounts[pe.slot];
    if (slot.local) AppendHistory(slot.account.state, pe.entry);
  }
  // Update existing records in place before inserting new ones: an insert
  // may move the map's storage and invalidate the `live` pointers.
  for (AccountSlot& s : view_.accounts) {
    if (!s.local || !s.dirty || s.live == nullptr) continue;
    // A snapshot walk may have saved the record since the view was loaded:
    // the mark comes from the record, not from the view.
    SaveBeforeWrite(s.id, *s.live);
    s.account.state.flags = WithSavedMark(s.account.state.flags);
    *s.live = s.account.state;
  }
  for (HoldSlot& s : view_.holds) {
    if (!s.local || !s.dirty || s.live == nullptr) continue;
    const bool was_open = s.live->status == HoldStatus::kOpen;
    *s.live = s.hold;
    if (was_open && s.hold.status != HoldStatus::kOpen) {
      if (s.hold.expires_at_ns != 0) {
        expiring_.erase({s.hold.account_id, s.hold.expires_at_ns, s.id});
      }
      closed_holds_.emplace_back(s.id, s.hold.closed_seq);
    }
  }
  for (AccountSlot& s : view_.accounts) {
    if (!s.local || !s.dirty || s.live != nullptr) continue;
    // New since any snapshot in progress: not part of it.
    s.account.state.flags = WithSavedMark(s.account.state.flags);
    accounts_.emplace(s.id, s.account.state);
    if ((s.account.state.flags & (kAccountFlagOverdraft | kAccountFlagCap)) !=
        0) {
      limits_.emplace(s.id, s.account.limits);
    }
    counters_.accounts.store(accounts_.size(), std::memory_order_relaxed);
  }
  for (HoldSlot& s : view_.holds) {
    if (!s.local || !s.dirty || s.live != nullptr) continue;
    holds_.insert_or_assign(s.id, s.hold);  // replaces a forgotten closed one
    if (s.hold.status == HoldStatus::kOpen) {
      if (s.hold.expires_at_ns != 0) {
        expiring_.insert({s.hold.account_id, s.hold.expires_at_ns, s.id});
      }
    } else {
      closed_holds_.emplace_back(s.id, s.hold.closed_seq);
    }
  }
  ForgetClosedHolds(seq);
}

// --- holds ----------------------------------------------------------------

void Shard::ExpireHolds(uint64_t account_id, AccountState& account,
                        uint64_t ts_ns, uint64_t seq) {
  if (account.expiring_holds == 0) return;
  auto it = expiring_.lower_bound({account_id, 0, 0});
  if (it != expiring_.end() && std::get<0>(*it) == account_id &&
      std::get<1>(*it) <= ts_ns) {
    SaveBeforeWrite(account_id, account);  // about to change
  }
  while (it != expiring_.end() && std::get<0>(*it) == account_id &&
         std::get<1>(*it) <= ts_ns) {
    const uint64_t hold_id = std::get<2>(*it);
    HoldState& h = holds_.at(hold_id);
    COFFER_ASSERT(h.status == HoldStatus::kOpen);
    COFFER_ASSERT_MSG(account.held >= h.amount, "held below an open hold");
    COFFER_ASSERT(account.expiring_holds > 0);
    account.held -= h.amount;
    --account.expiring_holds;
    h.status = HoldStatus::kExpired;
    h.closed_seq = seq;
    HistoryEntry e;
    e.seq = seq;
    e.op_id = hold_id;
    e.account_id = account_id;
    e.held_delta = -static_cast<int64_t>(h.amount);
    e.balance_after = account.balance;
    e.held_after = account.held;
    e.timestamp_ns = ts_ns;
    e.kind = EntryKind::kHoldExpired;
    AppendHistory(account, e);
    closed_holds_.emplace_back(hold_id, seq);
    it = expiring_.erase(it);
  }
}

const HoldState* Shard::VisibleHold(uint64_t hold_id, uint64_t seq) const {
  auto it = holds_.find(hold_id);
  if (it == holds_.end()) return nullptr;
  const HoldState& h = it->second;
  if (h.status != HoldStatus::kOpen &&
      h.closed_seq + config_.closed_hold_memory_ops < seq) {
    return nullptr;  // forgotten, whether or not memory was reclaimed yet
  }
  return &h;
}

void Shard::ForgetClosedHolds(uint64_t seq) {
  // Entries are in roughly increasing closed_seq order (deferred transactions
  // may close slightly out of order); VisibleHold is the exact rule, this
  // only reclaims memory.
  while (!closed_holds_.empty() &&
         closed_holds_.front().second + config_.closed_hold_memory_ops < seq) {
    auto it = holds_.find(closed_holds_.front().first);
    if (it != holds_.end() && it->second.status != HoldStatus::kOpen &&
        it->second.closed_seq == closed_holds_.front().second) {
      holds_.erase(it);
    }
    closed_holds_.pop_front();
  }
}

uint64_t Shard::EffectiveHeld(uint64_t account_id, const AccountState& a,
                              uint64_t ts_ns) const {
  uint64_t held = a.held;
  if (a.expiring_holds == 0) return held;
  for (auto it = expiring_.lower_bound({account_id, 0, 0});
       it != expiring_.end() && std::get<0>(*it) == account_id &&
       std::get<1>(*it) <= ts_ns;
       ++it) {
    held -= holds_.at(std::get<2>(*it)).amount;
  }
  return held;
}

// --- reads ----------------------------------------------------------------

void Shard::RunLookup(Request* r, const Txn& x) {
  const uint64_t id = r->lookup_ids[x.op_begin];
  AccountInfo info;
  auto it = accounts_.find(id);
  if (it != accounts_.end()) {
    const AccountState& a = it->second;
    info.id = id;
    info.balance = a.balance;
    info.held = EffectiveHeld(id, a, x.timestamp_ns);
    info.currency = a.currency;
    info.flags = a.flags & ~kAccountFlagInternalMask;
    info.history_count = a.history_count;
    if ((a.flags & (kAccountFlagOverdraft | kAccountFlagCap)) != 0) {
      const AccountLimits& l = limits_.at(id);
      info.overdraft_limit = l.overdraft_limit;
      info.balance_cap = l.balance_cap;
    }
  }
  r->accounts[x.op_begin] = info;
}

void Shard::RunHistory(Request* r, const Txn& x) {
  (void)x;
  r->history.clear();
  r->history_next_before = 0;
  auto it = accounts_.find(r->history_account);
  r->history_found = it != accounts_.end();
  if (!r->history_found || r->history_limit == 0) return;
  const AccountState& a = it->second;
  // Entries numbered below `below` are wanted.
  const uint32_t below =
      r->history_before == 0 || r->history_before > a.history_count
          ? a.history_count + 1
          : r->history_before;
  HistoryPage page(r);
  // The account's entries in memory are its newest, fewer than the ring
  // holds: one this far below its newest cannot be there.
  uint32_t lowest = a.history_count + 1;  // lowest number seen in memory
  if (a.history_count - (below - 1) < history_.size()) {
    for (const HistoryRing::Slot* slot = history_.At(a.history_head);
         slot != nullptr; slot = history_.At(slot->prev_pos)) {
      const HistoryEntry& e = slot->entry;
      lowest = e.number;
      if (e.number >= below) continue;
      if (!page.Offer(e)) return;
    }
  }
  // Every entry not in memory is in the store (engine/history_ring.h): the
  // history reader reads on from there once this shard is done with the
  // request (Finish; the sequencer in the inline layout), off this thread.
  const uint32_t store_below = std::min(lowest, below);
  if (history_reader_ == nullptr || store_below <= 1) return;
  r->internal.history_store_below = store_below;
  r->internal.history_examined = page.examined();
}

void Shard::HandToHistoryReader(Request* r) {
  COFFER_ASSERT(history_reader_ != nullptr);
  history_reader_->Hand(index_, r);
}

void Shard::RunDigest(Request* r, const Txn& x) {
  StateDigest d;
  absl::flat_hash_map<uint32_t, CurrencyTotal> totals;
  for (const auto& [id, a] : accounts_) {
    DigestAccount rec{};
    rec.id = id;
    rec.balance = a.balance;
    rec.held = EffectiveHeld(id, a, x.timestamp_ns);
    rec.currency = a.currency;
    rec.flags = a.flags & ~kAccountFlagInternalMask;
    if ((a.flags & (kAccountFlagOverdraft | kAccountFlagCap)) != 0) {
      const AccountLimits& l = limits_.at(id);
      rec.overdraft_limit = l.overdraft_limit;
      rec.balance_cap = l.balance_cap;
    }
    DigestAdd(d, rec);
    ++d.accounts;
    auto& t = totals[a.currency];
    t.currency = a.currency;
    ++t.accounts;
    t.balance += a.balance;
    t.held += rec.held;
  }
  auto& out = r->internal.digest_totals[index_];
  out.clear();
  for (const auto& [currency, t] : totals) out.push_back(t);
  // Only holds that are open at the digest's time: which closed holds are
  // still remembered is a memory matter, not ledger state.
  for (const auto& [id, h] : holds_) {
    if (h.status != HoldStatus::kOpen) continue;
    if (h.expires_at_ns != 0 && h.expires_at_ns <= x.timestamp_ns) continue;
    DigestHold rec{};
    rec.id = id;
    rec.account_id = h.account_id;
    rec.amount = h.amount;
    rec.expires_at_ns = h.expires_at_ns;
    DigestAdd(d, rec);
    ++d.holds;
  }
  r->internal.digest_parts[index_] = d;
}

}  // namespace coffer::internal
