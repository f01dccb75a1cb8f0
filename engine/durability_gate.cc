#include "engine/durability_gate.h"

#include <string>

#include "common/assert.h"
#include "engine/log_codec.h"

namespace coffer::internal {

uint64_t DurabilityGate::Append(const Request& r, uint64_t next_seq) {
  LogThread* log = this->log();
  if (log == nullptr) return 0;
  const RequestState& in = r.internal;
  if (in.txns.empty()) return 0;  // nothing ordered: duplicates, refusals
  if (chunk_ == nullptr) chunk_ = log->TakeFree();
  // All chunks can be with the log thread only while it is still syncing
  // the records they hold; then this chunk stays local and keeps growing
  // (bounded by the ops in flight) until one comes back.
  if (chunk_ == nullptr) chunk_ = &overflow_chunk_;
  std::string& out = chunk_->bytes;
  const size_t offset = out.size();
  const size_t begin = EncodeBegin(out);
  // The log is one unbroken run of seqs: each record starts right after the
  // one before it in this chunk (the log thread checks across chunks), and
  // its transactions are this request's, ordered just now.
  uint64_t expect_seq = in.txns.front().seq;
  if (!chunk_->records.empty()) {
    COFFER_ASSERT_MSG(expect_seq == chunk_->records.back().last_seq + 1,
                      "log record does not follow the previous one");
  }
  for (const Txn& x : in.txns) {
    COFFER_ASSERT_MSG(x.kind == TxnKind::kOps, "a read in a logged request");
    COFFER_ASSERT_MSG(x.seq == expect_seq, "gap in a logged request's seqs");
    expect_seq = x.seq + x.op_count;
    EncodeTxn(out, x.seq, x.timestamp_ns, &r.ops[x.op_begin], x.op_count);
  }
  COFFER_ASSERT_MSG(expect_seq == next_seq, "logged request is not the last");
  EncodeEnd(out, begin, static_cast<uint32_t>(in.txns.size()));
  const Txn& last = in.txns.back();
  chunk_->records.push_back(LogChunk::Span{in.txns.front().seq,
                                           last.seq + last.op_count - 1, offset,
                                           out.size() - offset});
  gathered_ops_ += last.seq + last.op_count - in.txns.front().seq;
  return out.size() - offset;
}

void DurabilityGate::Flush(bool hand_over) {
  LogThread* log = this->log();
  if (log == nullptr || chunk_ == nullptr || chunk_->empty()) return;
  if (sync_inline_ && !hand_over && chunk_ != &overflow_chunk_ && log->idle()) {
    // The inline layout syncs here: everything admitted in this pass (one
    // group commit), while the io threads queue the next requests, with no
    // thread to wake.
    log->SyncNow(chunk_);
    chunk_ = nullptr;
    gathered_ops_ = 0;
    return;
  }
  if (chunk_ == &overflow_chunk_) {
    LogChunk* c = log->TakeFree();
    if (c == nullptr) return;  // still all busy: keep gathering
    std::swap(c->bytes, overflow_chunk_.bytes);
    std::swap(c->records, overflow_chunk_.records);
    overflow_chunk_.Clear();
    chunk_ = c;
  }
  log->Submit(chunk_);
  chunk_ = nullptr;
  gathered_ops_ = 0;
}

bool DurabilityGate::Hold(Request* r) {
  // No answer, write or read, leaves before the log holds everything it
  // reflects: everything ordered up to r->seq.
  LogThread* log = this->log();
  if (log == nullptr || r->seq <= log->durable_seq()) return false;
  durable_wait_.emplace(r->seq, r);
  return true;
}

bool DurabilityGate::Release(absl::FunctionRef<void(Request*)> release) {
  LogThread* log = this->log();
  if (log == nullptr || durable_wait_.empty()) return false;
  const uint64_t durable = log->durable_seq();
  bool progress = false;
  while (!durable_wait_.empty() && durable_wait_.top().first <= durable) {
    Request* r = durable_wait_.top().second;
    durable_wait_.pop();
    release(r);
    progress = true;
  }
  return progress;
}

bool DurabilityGate::HaveWork() const {
  LogThread* log = this->log();
  return log != nullptr && !durable_wait_.empty() &&
         durable_wait_.top().first <= log->durable_seq();
}

}  // namespace coffer::internal
