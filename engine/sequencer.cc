#include "engine/sequencer.h"

#include <algorithm>
#include <bit>
#include <map>

#include "common/assert.h"
#include "common/cpu_relax.h"
#include "engine/executor.h"
#include "engine/partition.h"

namespace coffer::internal {
namespace {

// Ops ahead whose op-id table lines are prefetched (SequenceOps): enough
// to cover a memory miss with the work of the ones in between.
constexpr uint32_t kOpIdPrefetchDistance = 16;
constexpr uint64_t kNsPerS = 1'000'000'000;
// Requests ordered per pass at most (AdmitRequests), so that answers keep
// flowing under a flood of requests.
constexpr int kPassRequestsMax = 256;
// The inline layout: a pass of more ops than this hands its log records to
// the log thread before it applies them, so that the fdatasync runs while
// this thread applies (measured on 2 cores, 8 x 8 x 512 debits without the
// stores: median 1.01M against 0.73M ops/s, bench/RESULTS.md "The sync
// beside the apply"); a smaller pass applies, then syncs here, without the
// wake-ups of a hand-off (C=1 p50 unchanged).
constexpr uint64_t kInlineSyncOpsMax = 64;

template <typename T>
void Bump(std::atomic<T>& counter, T by = 1) {
  // Single writer: a plain load and store, no read-modify-write.
  counter.store(counter.load(std::memory_order_relaxed) + by,
                std::memory_order_relaxed);
}

}  // namespace

Sequencer::Sequencer(const EngineConfig& config, uint32_t shard_count)
    : config_(config),
      shard_count_(shard_count),
      remembered_(config.op_ids_remembered_max, config.on_fatal) {
  inline_ordered_.reserve(kPassRequestsMax);
}

void Sequencer::Run() {
  uint32_t idle = 0;
  for (;;) {
    bool progress = DrainDone();
    progress |= AdmitRequests();
    ApplyInlineOrdered();
    gate_.Flush(/*hand_over=*/false);
    progress |= gate_.Release([this](Request* r) { Complete(r); });
    progress |=
        remembered_.Feed(gate_.durable_seq(), next_seq_, last_timestamp_ns_);
    progress |= StepSnapshots();
    progress |= op_id_walk_.Step(remembered_.table());
    if (wiring_.inline_shard != nullptr) {
      progress |= wiring_.inline_shard->FeedHistory();
      progress |= wiring_.inline_shard->StepSnapshot();
    }
    if (progress) {
      idle = 0;
      continue;
    }
    if (wiring_.stop->load(std::memory_order_acquire) &&
        requests_in_flight_ == 0 && held_ == nullptr &&
        wiring_.submit->empty() && !snapshots_.writing()) {
      snapshots_.Join();
      return;
    }
    if (++idle < config_.idle_spin_iterations) {
      CpuRelax();
      continue;
    }
    if (held_ != nullptr) NudgeHistoryBacklogs();
    const uint32_t token = bell_.PrepareSleep();
    // Stopping, it sleeps only while a snapshot is written: the writer rings
    // when it is done (and so does each shard's Finish).
    if (!HaveWork() && (!wiring_.stop->load(std::memory_order_acquire) ||
                        snapshots_.writing())) {
      bell_.Sleep(token);
    }
    bell_.Awake();
    idle = 0;
  }
}

bool Sequencer::StepSnapshots() {
  const bool fork_due = snapshots_.draining() && requests_at_shards_ == 0;
  // The shards are idle, but their history feeding may still change the
  // ring: hold it still across the fork.
  if (fork_due) {
    for (HistoryFeedPause* p : wiring_.feed_pauses) p->Pause();
  }
  const bool progress = snapshots_.Step(requests_at_shards_ == 0, next_seq_ - 1,
                                        last_timestamp_ns_);
  if (fork_due) {
    for (HistoryFeedPause* p : wiring_.feed_pauses) p->Resume();
    for (Doorbell* bell : wiring_.shard_bells) bell->Ring();
  }
  return progress;
}

void Sequencer::SetSnapshotWriter(SnapshotScheduler::Writer fork_writer,
                                  uint64_t last_snapshot_seq) {
  // The writer's producers: each shard, then this thread's op-id walk. The
  // inline layout's one shard runs here, so both ring this thread's bell.
  std::vector<Doorbell*> bells;
  if (wiring_.inline_shard != nullptr) {
    bells = {&bell_, &bell_};
  } else {
    bells = wiring_.shard_bells;
    bells.push_back(&bell_);
  }
  snapshots_.SetWriter(
      std::move(fork_writer),
      [this](SnapshotWriter* writer, uint64_t seq) {
        BeginSnapshot(writer, seq);
      },
      std::move(bells), last_snapshot_seq);
}

void Sequencer::BeginSnapshot(SnapshotWriter* writer, uint64_t seq) {
  op_id_walk_.Begin(remembered_.table(), seq, writer, shard_count_);
  if (wiring_.inline_shard != nullptr) {
    // Between passes: every request ordered so far is applied.
    COFFER_ASSERT(inline_ordered_.empty());
    wiring_.inline_shard->BeginSnapshot(writer);
    return;
  }
  // Every request ordered so far is in its shard's queue (Dispatch pushes
  // at once), and none after: the announcement marks the cut.
  COFFER_ASSERT(wiring_.snapshot_announcements.size() == shard_count_);
  for (uint32_t s = 0; s < shard_count_; ++s) {
    wiring_.snapshot_announcements[s]->Announce(seq, writer);
    wiring_.shard_bells[s]->Ring();
  }
}

bool Sequencer::HistoryHasRoom() const {
  for (const ShardCounters* c : wiring_.shard_counters) {
    if (c->history_backlog.load(std::memory_order_relaxed) >=
        config_.history_backlog_entries_max) {
      return false;
    }
  }
  return true;
}

void Sequencer::NudgeHistoryBacklogs() {
  if (wiring_.inline_shard != nullptr) return;  // fed by this loop
  for (size_t s = 0; s < wiring_.shard_counters.size(); ++s) {
    if (wiring_.shard_counters[s]->history_backlog.load(
            std::memory_order_relaxed) >= config_.history_backlog_entries_max) {
      wiring_.shard_bells[s]->Ring();
    }
  }
}

bool Sequencer::HaveWork() const {
  for (RequestQueue* q : wiring_.from_shard) {
    if (q->read_available() > 0) return true;
  }
  if (gate_.HaveWork() || snapshots_.HaveWork()) return true;
  if (op_id_walk_.HaveWork(remembered_.table())) return true;
  if (wiring_.inline_shard != nullptr &&
      wiring_.inline_shard->SnapshotHaveWork()) {
    return true;
  }
  if (remembered_.CanFeed(gate_.durable_seq(), next_seq_)) return true;
  if (wiring_.inline_shard != nullptr &&
      wiring_.inline_shard->HistoryHaveWork()) {
    return true;
  }
  // A request held at a bound is work only once it fits: until then what
  // makes room rings this bell (a shard's answer for the in-flight bounds;
  // for op-id ring slots, the shards and the log when records become done
  // and durable, then the index writer when they are written).
  if (held_ != nullptr) return Fits(CostOf(*held_));
  return requests_in_flight_ < config_.requests_in_flight_max &&
         !wiring_.submit->empty();
}

bool Sequencer::DrainDone() {
  bool progress = false;
  for (RequestQueue* q : wiring_.from_shard) {
    Request* r;
    while (q->pop(r)) {
      progress = true;
      COFFER_ASSERT(r->internal.shards_outstanding > 0);
      if (--r->internal.shards_outstanding == 0) {
        COFFER_ASSERT(requests_at_shards_ > 0);
        --requests_at_shards_;
        OnShardsDone(r);
      }
    }
  }
  return progress;
}

bool Sequencer::Fits(uint32_t cost) const {
  // The op-id ring bound: the slots this request's seqs would take must
  // hold records already in the index (cost >= the seqs it takes).
  return requests_in_flight_ < config_.requests_in_flight_max &&
         ops_in_flight_ + cost <= config_.ops_in_flight_max &&
         remembered_.HasRoom(next_seq_ + cost - 1) &&
         op_id_walk_.HasRoom(remembered_.table(), next_seq_ + cost - 1) &&
         HistoryHasRoom();
}

uint32_t Sequencer::CostOf(const Request& r) {
  switch (r.kind) {
    case RequestKind::kOps:
    case RequestKind::kReplay:
      return std::max<uint32_t>(1, static_cast<uint32_t>(r.ops.size()));
    case RequestKind::kLookup:
      return std::max<uint32_t>(1, static_cast<uint32_t>(r.lookup_ids.size()));
    default:
      return 1;
  }
}

bool Sequencer::AdmitRequests() {
  // While a snapshot drains the shards, nothing new is ordered.
  if (snapshots_.draining()) return false;
  bool progress = false;
  // Bounded per pass so that answers keep flowing under a flood of requests.
  for (int i = 0; i < kPassRequestsMax; ++i) {
    Request* r = held_;
    if (r == nullptr && !wiring_.submit->pop(r)) break;
    const uint32_t cost = CostOf(*r);
    // A snapshot's op-id walk writes the records this request would push
    // out of the ring first.
    op_id_walk_.MakeRoom(remembered_.table(), next_seq_ + cost - 1);
    if (!Fits(cost)) {
      held_ = r;  // wait for room; the submit queue fills up behind it
      // Whatever the batch size, the records whose slots it needs are
      // written next.
      remembered_.WantRoom(next_seq_ + cost - 1);
      break;
    }
    held_ = nullptr;
    Sequence(r);
    progress = true;
  }
  return progress;
}

uint64_t Sequencer::NextTimestamp() {
  uint64_t now = config_.clock_ns();
  // Strictly increasing, whatever the wall clock does.
  last_timestamp_ns_ = std::max(now, last_timestamp_ns_ + 1);
  return last_timestamp_ns_;
}

void Sequencer::Sequence(Request* r) {
  RequestState& in = r->internal;
  // Replayed requests (submitted_ns 0) skip the clock reads.
  in.ordered_ns = in.submitted_ns != 0 ? SteadyNowNs() : 0;
  in.txns.clear();
  in.snaps.clear();
  in.shard_txns.resize(shard_count_);
  for (auto& list : in.shard_txns) list.clear();
  in.shard_pending.assign(shard_count_, 0);
  in.shards_mask = 0;
  in.shards_outstanding = 0;
  in.duplicates_waiting = 0;
  in.completed = false;
  in.cost = CostOf(*r);
  ++requests_in_flight_;
  ops_in_flight_ += in.cost;
  Bump(counters_.requests, uint64_t{1});

  switch (r->kind) {
    case RequestKind::kOps:
      SequenceOps(r);
      snapshots_.AddLogBytes(gate_.Append(*r, next_seq_));
      AddRefusalReads(r);
      break;
    case RequestKind::kReplay:
      SequenceReplay(r);
      break;
    case RequestKind::kLookup: {
      r->accounts.assign(r->lookup_ids.size(), AccountInfo{});
      const uint64_t ts = NextTimestamp();
      for (uint32_t i = 0; i < r->lookup_ids.size(); ++i) {
        Txn x;
        x.kind = TxnKind::kLookup;
        x.seq = next_seq_;  // the next op: reads see everything before it
        x.timestamp_ns = ts;
        x.op_begin = i;
        x.op_count = 1;
        x.participants = uint64_t{1} << ShardOf(r->lookup_ids[i], shard_count_);
        x.coordinator = static_cast<uint16_t>(std::countr_zero(x.participants));
        AddTxn(r, x);
      }
      break;
    }
    case RequestKind::kHistory: {
      r->history.clear();
      r->history_next_before = 0;
      r->history_found = false;
      r->history_limit = std::min(r->history_limit, config_.request_ops_max);
      Txn x;
      x.kind = TxnKind::kHistory;
      x.seq = next_seq_;
      x.timestamp_ns = NextTimestamp();
      x.participants = uint64_t{1} << ShardOf(r->history_account, shard_count_);
      x.coordinator = static_cast<uint16_t>(std::countr_zero(x.participants));
      AddTxn(r, x);
      break;
    }
    case RequestKind::kDigest: {
      in.digest_parts.assign(shard_count_, StateDigest{});
      in.digest_totals.resize(shard_count_);
      Txn x;
      x.kind = TxnKind::kDigest;
      x.seq = next_seq_;
      x.timestamp_ns = NextTimestamp();
      x.participants =
          shard_count_ == 64 ? ~uint64_t{0} : (uint64_t{1} << shard_count_) - 1;
      AddTxn(r, x);
      break;
    }
  }
  // A read reflects exactly the ops with a smaller seq; an ops request
  // reports the seq of its last ordered op.
  r->seq = next_seq_ - 1;
  Dispatch(r);
}

void Sequencer::SequenceOps(Request* r) {
  RequestState& in = r->internal;
  const uint32_t n = static_cast<uint32_t>(r->ops.size());
  r->results.assign(n, OpResult{});
  in.dispositions.assign(n, OpDisposition::kFinal);
  in.fingerprints.assign(n, 0);
  // The exactly-once lookups miss the cache (millions of remembered ids at
  // random places): ask for the lines of the ops ahead while this one is
  // sequenced (perf: OpIdTable::Insert and Find were 45% of engine_bench).
  if (!JudgeIssueTime(r)) return;
  remembered_.LookUp(r->ops, last_timestamp_ns_, memory_only_);
  uint32_t prefetched = 0;
  uint32_t i = 0;
  while (i < n) {
    const uint32_t ahead = std::min(n, i + kOpIdPrefetchDistance);
    for (; prefetched < ahead; ++prefetched) {
      remembered_.Prefetch(r->ops[prefetched].op_id,
                           next_seq_ + prefetched - i);
    }
    uint32_t j = i;
    while (j < n && (r->ops[j].flags & kOpFlagLinked) != 0) ++j;
    if (j == n) {
      // The batch ends inside a chain: nothing of it can be applied.
      for (uint32_t k = i; k < n; ++k) {
        r->results[k].code = ResultCode::kLinkedChainOpen;
      }
      Bump(counters_.refused_before_ordering, uint64_t{n - i});
      break;
    }
    const uint32_t len = j + 1 - i;
    if (len > kChainOpsMax) {
      FailChain(r, i, len, i, ResultCode::kLinkedChainTooLong);
    } else {
      SequenceChain(r, i, len);
    }
    i = j + 1;
  }
}

bool Sequencer::JudgeIssueTime(Request* r) {
  request_expired_ = false;
  memory_only_ = false;
  const uint64_t issued = r->issued_ns;
  // Without an index nothing is remembered by time: the issue time is not
  // used (engine/DESIGN.md "Exactly once").
  if (issued == 0 || !remembered_.has_index()) return true;
  const uint64_t now = std::max(config_.clock_ns(), last_timestamp_ns_);
  // Whatever the wall clock does next, this request's ops are stamped
  // after `now`: the reasoning below depends on it.
  last_timestamp_ns_ = now;
  const uint64_t future_ns = config_.op_issued_future_max_ms * 1'000'000;
  if (issued > now + future_ns) {
    for (uint32_t k = 0; k < r->ops.size(); ++k) {
      r->results[k].code = ResultCode::kOpIssuedInFuture;
    }
    Bump(counters_.refused_before_ordering, uint64_t{r->ops.size()});
    return false;
  }
  // The first attempt was ordered, if at all, no earlier than
  // issued - future (it was refused otherwise). If memory holds every op
  // since then, the index has nothing more to say.
  memory_only_ =
      issued > future_ns && remembered_.HoldsEverySince(issued - future_ns);
  // And the index keeps ops for the retention from then on: a request
  // issued more than retention - future ago may repeat an op the index no
  // longer has. It may still be answered from memory or the index; if not,
  // it is refused, never applied (SequenceChain).
  const uint64_t retention_ns = config_.op_id_retention_s * kNsPerS;
  request_expired_ =
      retention_ns != 0 && issued + (retention_ns - future_ns) < now;
  return true;
}

void Sequencer::AddRefusalReads(Request* r) {
  // An op refused before ordering reports its account's current balance,
  // like any other refusal; only the account's shard can read it. Each read
  // is ordered after everything this request ordered (x.seq is the next
  // seq), so it sees the state a client would see right after the reply.
  // Refusals of this kind are rare: the common path adds nothing here.
  RequestState& in = r->internal;
  const uint32_t n = static_cast<uint32_t>(r->ops.size());
  for (uint32_t k = 0; k < n; ++k) {
    if (in.dispositions[k] != OpDisposition::kFinal) continue;
    const uint64_t account = r->ops[k].account_id;
    if (account == 0) continue;  // no such account: balance_after stays 0
    Txn x;
    x.kind = TxnKind::kRefusalBalance;
    x.seq = next_seq_;
    x.timestamp_ns = last_timestamp_ns_;
    x.op_begin = k;
    x.op_count = 1;
    x.participants = uint64_t{1} << ShardOf(account, shard_count_);
    x.coordinator = static_cast<uint16_t>(std::countr_zero(x.participants));
    AddTxn(r, x);
  }
}

void Sequencer::FailChain(Request* r, uint32_t begin, uint32_t len,
                          uint32_t bad, ResultCode code) {
  for (uint32_t k = begin; k < begin + len; ++k) {
    r->results[k] = OpResult{};
    r->results[k].code = k == bad ? code : ResultCode::kLinkedOpFailed;
    r->internal.dispositions[k] = OpDisposition::kFinal;
  }
  Bump(counters_.refused_before_ordering, uint64_t{len});
}

void Sequencer::SequenceChain(Request* r, uint32_t begin, uint32_t len) {
  RequestState& in = r->internal;
  const Op* ops = &r->ops[begin];
  for (uint32_t k = 0; k < len; ++k) {
    if (ops[k].op_id == 0) {
      FailChain(r, begin, len, begin + k, ResultCode::kOpIdZero);
      return;
    }
  }
  // Exactly once: every op of the chain must be new, or every op must be an
  // exact copy of a remembered one (a retry of the whole chain).
  uint32_t known = 0;
  for (uint32_t k = 0; k < len; ++k) {
    const uint64_t fp = OpFingerprint(ops[k]);
    in.fingerprints[begin + k] = fp;
    for (uint32_t m = 0; m < k; ++m) {
      if (ops[m].op_id != ops[k].op_id) continue;
      // Applying the chain would apply that op twice. An exact copy is not
      // a reuse with other fields, and a client must be able to tell.
      FailChain(r, begin, len, begin + k,
                in.fingerprints[begin + m] == fp
                    ? ResultCode::kOpIdRepeatedInChain
                    : ResultCode::kOpIdReusedWithDifferentFields);
      return;
    }
    const OpIdTable::Record* rec = remembered_.Find(ops[k].op_id);
    if (rec == nullptr) continue;
    if (rec->fingerprint != fp) {
      FailChain(r, begin, len, begin + k,
                ResultCode::kOpIdReusedWithDifferentFields);
      return;
    }
    ++known;
  }
  if (known > 0 && known < len) {
    // Part of this chain was applied under other company: not a retry.
    uint32_t bad = 0;
    while (remembered_.Find(ops[bad].op_id) == nullptr) ++bad;
    FailChain(r, begin, len, begin + bad,
              ResultCode::kOpIdReusedWithDifferentFields);
    return;
  }
  if (known == 0 && request_expired_) {
    FailChain(r, begin, len, begin, ResultCode::kOpExpired);
    return;
  }
  if (known == len) {
    for (uint32_t k = 0; k < len; ++k) {
      const OpIdTable::Record* rec = remembered_.Find(ops[k].op_id);
      in.dispositions[begin + k] = OpDisposition::kDuplicate;
      Bump(counters_.duplicates, uint64_t{1});
      if (rec->done) {
        r->results[begin + k] = rec->result;
        r->results[begin + k].flags |= kResultFlagDuplicate;
      } else {
        waiters_[ops[k].op_id].emplace_back(r, begin + k);
        ++in.duplicates_waiting;
      }
    }
    return;
  }
  OrderTxn(r, begin, len, next_seq_, NextTimestamp());
}

void Sequencer::SequenceReplay(Request* r) {
  RequestState& in = r->internal;
  const uint32_t n = static_cast<uint32_t>(r->ops.size());
  r->results.assign(n, OpResult{});
  in.dispositions.assign(n, OpDisposition::kFinal);
  in.fingerprints.assign(n, 0);
  for (const LoggedTxn& t : in.replay) {
    // The recovery code checked continuity before handing records over.
    COFFER_ASSERT_MSG(t.seq == next_seq_, "replayed seqs not contiguous");
    for (uint32_t k = t.op_begin; k < t.op_begin + t.op_count; ++k) {
      in.fingerprints[k] = OpFingerprint(r->ops[k]);
    }
    last_timestamp_ns_ = std::max(last_timestamp_ns_, t.timestamp_ns);
    OrderTxn(r, t.op_begin, t.op_count, t.seq, t.timestamp_ns);
  }
}

void Sequencer::OrderTxn(Request* r, uint32_t begin, uint32_t len, uint64_t seq,
                         uint64_t timestamp_ns) {
  RequestState& in = r->internal;
  const Op* ops = &r->ops[begin];
  Txn x;
  x.kind = TxnKind::kOps;
  x.seq = seq;
  x.timestamp_ns = timestamp_ns;
  x.op_begin = begin;
  x.op_count = len;
  next_seq_ = seq + len;
  for (uint32_t k = 0; k < len; ++k) {
    remembered_.Insert(ops[k].op_id, in.fingerprints[begin + k], x.seq + k,
                       timestamp_ns);
    in.dispositions[begin + k] = OpDisposition::kSequenced;
  }
  Bump(counters_.ops_sequenced, uint64_t{len});
  counters_.last_seq.store(next_seq_ - 1, std::memory_order_relaxed);
  uint64_t mask = 0;
  ForEachRecord(ops, len, [&](uint64_t, bool, uint64_t owner) {
    mask |= uint64_t{1} << ShardOf(owner, shard_count_);
  });
  if (mask == 0) mask = 1;  // names no valid record: any shard refuses it
  x.participants = mask;
  x.coordinator = static_cast<uint16_t>(std::countr_zero(mask));
  if (x.multi_shard()) {
    x.snap_begin = static_cast<uint32_t>(in.snaps.size());
    ForEachRecord(ops, len, [&](uint64_t id, bool is_hold, uint64_t owner) {
      SnapRecord rec;
      rec.id = id;
      rec.is_hold = is_hold;
      rec.owner_shard = static_cast<uint16_t>(ShardOf(owner, shard_count_));
      in.snaps.push_back(rec);
    });
    x.snap_count = static_cast<uint32_t>(in.snaps.size()) - x.snap_begin;
  }
  AddTxn(r, x);
}

void Sequencer::AddTxn(Request* r, const Txn& x) {
  RequestState& in = r->internal;
  const auto index = static_cast<uint32_t>(in.txns.size());
  in.txns.push_back(x);
  for (uint64_t m = x.participants; m != 0; m &= m - 1) {
    in.shard_txns[std::countr_zero(m)].push_back(index);
  }
}

void Sequencer::ApplyInlineOrdered() {
  if (inline_ordered_.empty()) return;
  COFFER_ASSERT(inline_ordered_.size() <= kPassRequestsMax);
  // A large pass hands its records to the log thread now, so that the
  // fdatasync runs while this thread applies; a small one is synced after
  // the apply, here (Run's Flush), with no thread to wake.
  if (gate_.gathered_ops() > kInlineSyncOpsMax) gate_.Flush(/*hand_over=*/true);
  for (Request* r : inline_ordered_) {
    RequestState& in = r->internal;
    COFFER_ASSERT(in.shards_outstanding == 1);
    if (!in.txns.empty()) wiring_.inline_shard->ExecuteRequest(r);
    if (in.history_store_below != 0) {
      // Its page goes on in the store: the history reader hands it back
      // (DrainDone), as a shard would; shards_outstanding stays 1.
      ++requests_at_shards_;
      wiring_.inline_shard->HandToHistoryReader(r);
      continue;
    }
    in.shards_outstanding = 0;
    OnShardsDone(r);
  }
  inline_ordered_.clear();
}

void Sequencer::Dispatch(Request* r) {
  RequestState& in = r->internal;
  if (wiring_.inline_shard != nullptr) {
    // No hand-off: applied later in this pass (ApplyInlineOrdered). Until
    // then it counts as at its shard, so that an op it waits on, applied
    // earlier in the pass, cannot complete it before its own ops are
    // applied (MaybeComplete).
    in.shards_outstanding = 1;
    inline_ordered_.push_back(r);
    return;
  }
  // Fill every shard's count before the first hand-off: a shard may finish
  // and answer while later shards are still being handed the request.
  for (uint32_t s = 0; s < shard_count_; ++s) {
    if (in.shard_txns[s].empty()) continue;
    in.shard_pending[s] = static_cast<uint32_t>(in.shard_txns[s].size());
    in.shards_mask |= uint64_t{1} << s;
    ++in.shards_outstanding;
  }
  if (in.shards_outstanding == 0) {
    OnShardsDone(r);
    return;
  }
  ++requests_at_shards_;
  for (uint64_t m = in.shards_mask; m != 0; m &= m - 1) {
    const int s = std::countr_zero(m);
    // Capacity is requests_in_flight_max, which admission respects.
    const bool pushed = wiring_.to_shard[s]->push(r);
    COFFER_ASSERT_MSG(pushed, "shard queue over requests_in_flight_max");
    wiring_.shard_bells[s]->Ring();
  }
}

void Sequencer::OnShardsDone(Request* r) {
  RequestState& in = r->internal;
  in.applied_ns = in.submitted_ns != 0 ? SteadyNowNs() : 0;
  // Replayed ops are remembered with their results like live ones, so a
  // retry after a restart gets the original answer.
  if (r->kind == RequestKind::kOps || r->kind == RequestKind::kReplay) {
    for (uint32_t k = 0; k < r->ops.size(); ++k) {
      if (in.dispositions[k] != OpDisposition::kSequenced) continue;
      const OpResult& result = r->results[k];
      remembered_.SetResult(result.seq, result);
      auto it = waiters_.find(r->ops[k].op_id);
      if (it == waiters_.end()) continue;
      auto waiting = std::move(it->second);
      waiters_.erase(it);
      for (auto& [other, index] : waiting) {
        other->results[index] = result;
        other->results[index].flags |= kResultFlagDuplicate;
        COFFER_ASSERT(other->internal.duplicates_waiting > 0);
        --other->internal.duplicates_waiting;
        // `r` itself completes below, after its own loop is done with it.
        if (other != r) MaybeComplete(other);
      }
    }
  } else if (r->kind == RequestKind::kDigest) {
    StateDigest total;
    for (const StateDigest& part : in.digest_parts) {
      const uint64_t lo = total.lo + part.lo;
      total.hi += part.hi + (lo < total.lo ? 1 : 0);
      total.lo = lo;
      total.accounts += part.accounts;
      total.holds += part.holds;
    }
    r->digest = total;
    std::map<uint32_t, CurrencyTotal> by_currency;
    for (const auto& part : in.digest_totals) {
      for (const auto& t : part) {
        auto& c = by_currency[t.currency];
        c.currency = t.currency;
        c.accounts += t.accounts;
        c.balance += t.balance;
        c.held += t.held;
      }
    }
    r->currency_totals.clear();
    for (const auto& [currency, t] : by_currency) {
      r->currency_totals.push_back(t);
    }
  }
  MaybeComplete(r);
}

void Sequencer::MaybeComplete(Request* r) {
  RequestState& in = r->internal;
  if (in.completed || in.shards_outstanding != 0 ||
      in.duplicates_waiting != 0) {
    return;
  }
  in.completed = true;
  if (!gate_.Hold(r)) Complete(r);
}

void Sequencer::Complete(Request* r) {
  RequestState& in = r->internal;
  COFFER_ASSERT(requests_in_flight_ > 0);
  COFFER_ASSERT(ops_in_flight_ >= in.cost);
  --requests_in_flight_;
  ops_in_flight_ -= in.cost;
  r->released_ns = 0;
  if (in.submitted_ns != 0) RecordStages(r);
  // The owner may free or reuse the request from here on.
  if (r->on_complete) r->on_complete(*r);
}

void Sequencer::RecordStages(Request* r) {
  const RequestState& in = r->internal;
  r->released_ns = SteadyNowNs();
  if (r->received_ns != 0) {
    stages_.received_submitted_ns.RecordInterval(r->received_ns,
                                                 in.submitted_ns);
  }
  stages_.submitted_ordered_ns.RecordInterval(in.submitted_ns, in.ordered_ns);
  stages_.ordered_applied_ns.RecordInterval(in.ordered_ns, in.applied_ns);
  stages_.applied_released_ns.RecordInterval(in.applied_ns, r->released_ns);
}

}  // namespace coffer::internal
