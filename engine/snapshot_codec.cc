#include "engine/snapshot_codec.h"

#include <cstring>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/assert.h"

namespace coffer::internal {
namespace {

constexpr uint32_t kVersion1 = 1;
constexpr uint32_t kVersion2 = 2;

struct AccountRecord {
  uint64_t id;
  int64_t balance;
  uint64_t held;
  uint32_t currency;
  uint32_t flags;
  uint32_t history_count;
  uint32_t expiring_holds;
  uint64_t overdraft_limit;
  uint64_t balance_cap;
};
static_assert(sizeof(AccountRecord) == 56);

struct HoldRecord {
  uint64_t id;
  uint64_t account_id;
  uint64_t amount;
  uint64_t expires_at_ns;
  uint64_t closed_seq;
  uint8_t status;
  uint8_t reserved[7];
};
static_assert(sizeof(HoldRecord) == 48);

struct OpIdRecord {
  uint64_t op_id;
  uint64_t fingerprint;
  uint64_t seq;
  OpResult result;
  uint8_t done;
  uint8_t reserved[7];
};
static_assert(sizeof(OpIdRecord) == 56);

template <typename T>
void PutRaw(std::string* out, const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}

AccountRecord ToRecord(const SnapshotAccount& a) {
  AccountRecord r{};
  r.id = a.id;
  r.balance = a.account.state.balance;
  r.held = a.account.state.held;
  r.currency = a.account.state.currency;
  // Internal bits (a shard's snapshot mark) are the shard's business only.
  r.flags = a.account.state.flags & ~kAccountFlagInternalMask;
  r.history_count = a.account.state.history_count;
  r.expiring_holds = a.account.state.expiring_holds;
  r.overdraft_limit = a.account.limits.overdraft_limit;
  r.balance_cap = a.account.limits.balance_cap;
  return r;
}

SnapshotAccount FromRecord(const AccountRecord& r) {
  SnapshotAccount a{};
  a.id = r.id;
  a.account.state.balance = r.balance;
  a.account.state.held = r.held;
  a.account.state.currency = r.currency;
  a.account.state.flags = r.flags;
  a.account.state.history_count = r.history_count;
  a.account.state.expiring_holds = r.expiring_holds;
  a.account.limits.overdraft_limit = r.overdraft_limit;
  a.account.limits.balance_cap = r.balance_cap;
  return a;
}

HoldRecord ToRecord(const SnapshotHold& h) {
  HoldRecord r{};
  r.id = h.id;
  r.account_id = h.hold.account_id;
  r.amount = h.hold.amount;
  r.expires_at_ns = h.hold.expires_at_ns;
  r.closed_seq = h.hold.closed_seq;
  r.status = static_cast<uint8_t>(h.hold.status);
  return r;
}

SnapshotHold FromRecord(const HoldRecord& r) {
  SnapshotHold h{};
  h.id = r.id;
  h.hold.account_id = r.account_id;
  h.hold.amount = r.amount;
  h.hold.expires_at_ns = r.expires_at_ns;
  h.hold.closed_seq = r.closed_seq;
  h.hold.status = static_cast<HoldStatus>(r.status);
  return h;
}

OpIdRecord ToRecord(const OpIdTable::Record& rec) {
  OpIdRecord r{};
  r.op_id = rec.op_id;
  r.fingerprint = rec.fingerprint;
  r.seq = rec.seq;
  r.result = rec.result;
  r.done = rec.done ? 1 : 0;
  return r;
}

OpIdTable::Record FromRecord(const OpIdRecord& r) {
  OpIdTable::Record rec;
  rec.op_id = r.op_id;
  rec.fingerprint = r.fingerprint;
  rec.seq = r.seq;
  rec.result = r.result;
  rec.done = r.done != 0;
  return rec;
}

// Reads a payload front to back; every read is checked against its end.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view payload) : payload_(payload) {}
  absl::Status Need(size_t bytes, const char* what) const {
    if (payload_.size() - pos_ < bytes) {
      return absl::DataLossError(absl::StrCat("snapshot payload ends inside ",
                                              what, " at byte ", pos_));
    }
    return absl::OkStatus();
  }
  // n records of `record_bytes` fit in what is left.
  absl::Status NeedRecords(uint64_t n, size_t record_bytes,
                           const char* what) const {
    if ((payload_.size() - pos_) / record_bytes < n) {
      return absl::DataLossError(absl::StrCat("snapshot ", what, " of ", n,
                                              " records at byte ", pos_,
                                              " runs past the end"));
    }
    return absl::OkStatus();
  }
  template <typename T>
  void Get(T* v) {
    std::memcpy(v, payload_.data() + pos_, sizeof(*v));
    pos_ += sizeof(*v);
  }
  // The next `bytes` (checked by NeedRecords), skipped over.
  std::string_view Take(size_t bytes) {
    std::string_view out = payload_.substr(pos_, bytes);
    pos_ += bytes;
    return out;
  }
  bool at_end() const { return pos_ == payload_.size(); }
  size_t pos() const { return pos_; }

 private:
  std::string_view payload_;
  size_t pos_ = 0;
};

size_t RecordBytes(SnapshotBlockKind kind) {
  switch (kind) {
    case SnapshotBlockKind::kAccounts:
      return sizeof(AccountRecord);
    case SnapshotBlockKind::kHolds:
      return sizeof(HoldRecord);
    case SnapshotBlockKind::kHistory:
      return sizeof(HistoryEntry);
    case SnapshotBlockKind::kOpIds:
      return sizeof(OpIdRecord);
    case SnapshotBlockKind::kEnd:
      return 1;
  }
  return 1;
}

// n records of `kind` from the reader's position, sizes checked.
absl::StatusOr<SnapshotBlockRef> TakeRecords(PayloadReader& in,
                                             SnapshotBlockKind kind,
                                             uint32_t source, uint64_t n,
                                             const char* what) {
  if (absl::Status s = in.NeedRecords(n, RecordBytes(kind), what); !s.ok()) {
    return s;
  }
  SnapshotBlockRef block{kind, source, n, in.Take(n * RecordBytes(kind))};
  return block;
}

absl::Status IndexSectionsV1(PayloadReader& in, SnapshotLayout* layout) {
  constexpr std::pair<SnapshotBlockKind, const char*> kSections[] = {
      {SnapshotBlockKind::kAccounts, "accounts section"},
      {SnapshotBlockKind::kHolds, "holds section"},
      {SnapshotBlockKind::kHistory, "history section"},
      {SnapshotBlockKind::kOpIds, "op ids section"},
  };
  for (const auto& [kind, what] : kSections) {
    if (absl::Status s = in.Need(8, what); !s.ok()) return s;
    uint64_t n;
    in.Get(&n);
    auto block = TakeRecords(in, kind, kSnapshotSourceSequencer, n, what);
    if (!block.ok()) return block.status();
    layout->blocks.push_back(*block);
  }
  if (!in.at_end()) {
    return absl::DataLossError("trailing bytes after the snapshot's op ids");
  }
  return absl::OkStatus();
}

// Every block header and size is checked; the records are not read.
absl::Status IndexBlocksV2(PayloadReader& in, SnapshotLayout* layout) {
  for (;;) {
    if (absl::Status s = in.Need(16, "a block header"); !s.ok()) return s;
    const size_t at = in.pos();
    uint32_t kind_number, source;
    uint64_t n;
    in.Get(&kind_number);
    in.Get(&source);
    in.Get(&n);
    if (kind_number < 1 || kind_number > 5) {
      return absl::DataLossError(absl::StrCat(
          "snapshot block at byte ", at, " has unknown kind ", kind_number));
    }
    const auto kind = static_cast<SnapshotBlockKind>(kind_number);
    if (kind == SnapshotBlockKind::kEnd) {
      if (n != 0 || !in.at_end()) {
        return absl::DataLossError(absl::StrCat("snapshot end block at byte ",
                                                at, " is not empty and last"));
      }
      return absl::OkStatus();
    }
    auto block = TakeRecords(in, kind, source, n, "block");
    if (!block.ok()) return block.status();
    layout->blocks.push_back(*block);
  }
}

}  // namespace

template <typename T>
void SnapshotEncoder::Put(const T& v) {
  PutRaw(&out_, v);
}

SnapshotEncoder::SnapshotEncoder(uint64_t seq, uint64_t last_timestamp_ns) {
  Put(kVersion1);
  Put(uint32_t{0});
  Put(seq);
  Put(last_timestamp_ns);
}

void SnapshotEncoder::BeginSection() {
  count_offset_ = out_.size();
  count_ = 0;
  Put(uint64_t{0});
}

void SnapshotEncoder::EndSection() {
  std::memcpy(&out_[count_offset_], &count_, sizeof(count_));
}

void SnapshotEncoder::Account(const SnapshotAccount& a) {
  Put(ToRecord(a));
  ++count_;
}

void SnapshotEncoder::Hold(const SnapshotHold& h) {
  Put(ToRecord(h));
  ++count_;
}

void SnapshotEncoder::History(const HistoryEntry& e) {
  Put(e);
  ++count_;
}

void SnapshotEncoder::OpId(const OpIdTable::Record& rec) {
  Put(ToRecord(rec));
  ++count_;
}

std::string SnapshotHeaderV2(uint64_t seq, uint64_t last_timestamp_ns,
                             uint32_t shard_count) {
  std::string out;
  PutRaw(&out, kVersion2);
  PutRaw(&out, shard_count);
  PutRaw(&out, seq);
  PutRaw(&out, last_timestamp_ns);
  return out;
}

SnapshotBlockBuilder::SnapshotBlockBuilder(SnapshotBlockKind kind,
                                           uint32_t source)
    : kind_(kind), source_(source) {
  Start();
}

void SnapshotBlockBuilder::Start() {
  out_.clear();
  count_ = 0;
  PutRaw(&out_, static_cast<uint32_t>(kind_));
  PutRaw(&out_, source_);
  PutRaw(&out_, uint64_t{0});
}

void SnapshotBlockBuilder::Account(const SnapshotAccount& a) {
  COFFER_ASSERT(kind_ == SnapshotBlockKind::kAccounts);
  PutRaw(&out_, ToRecord(a));
  ++count_;
}

void SnapshotBlockBuilder::Hold(const SnapshotHold& h) {
  COFFER_ASSERT(kind_ == SnapshotBlockKind::kHolds);
  PutRaw(&out_, ToRecord(h));
  ++count_;
}

void SnapshotBlockBuilder::History(const HistoryEntry& e) {
  COFFER_ASSERT(kind_ == SnapshotBlockKind::kHistory);
  PutRaw(&out_, e);
  ++count_;
}

void SnapshotBlockBuilder::OpId(const OpIdTable::Record& r) {
  COFFER_ASSERT(kind_ == SnapshotBlockKind::kOpIds);
  PutRaw(&out_, ToRecord(r));
  ++count_;
}

std::string SnapshotBlockBuilder::Take() {
  std::memcpy(&out_[8], &count_, sizeof(count_));
  std::string block = std::move(out_);
  out_ = std::string();
  Start();
  return block;
}

uint64_t SnapshotLayout::Records(SnapshotBlockKind kind) const {
  uint64_t n = 0;
  for (const SnapshotBlockRef& b : blocks) {
    if (b.kind == kind) n += b.n;
  }
  return n;
}

absl::StatusOr<SnapshotLayout> IndexSnapshot(std::string_view payload) {
  PayloadReader in(payload);
  if (absl::Status s = in.Need(24, "the header"); !s.ok()) return s;
  uint32_t version;
  SnapshotLayout layout;
  in.Get(&version);
  in.Get(&layout.shard_count);
  in.Get(&layout.seq);
  in.Get(&layout.last_timestamp_ns);
  if (version != kVersion1 && version != kVersion2) {
    return absl::DataLossError(
        absl::StrCat("snapshot payload version ", version, " is not 1 or 2"));
  }
  if (version == kVersion1) layout.shard_count = 0;  // reserved, never set
  absl::Status s = version == kVersion1 ? IndexSectionsV1(in, &layout)
                                        : IndexBlocksV2(in, &layout);
  if (!s.ok()) return s;
  return layout;
}

void VisitBlock(const SnapshotBlockRef& block, const SnapshotVisitor& visitor) {
  PayloadReader in(block.records);
  for (uint64_t i = 0; i < block.n; ++i) {
    switch (block.kind) {
      case SnapshotBlockKind::kAccounts: {
        AccountRecord r;
        in.Get(&r);
        visitor.account(FromRecord(r));
        break;
      }
      case SnapshotBlockKind::kHolds: {
        HoldRecord r;
        in.Get(&r);
        visitor.hold(FromRecord(r));
        break;
      }
      case SnapshotBlockKind::kHistory: {
        HistoryEntry e;
        in.Get(&e);
        visitor.history(e);
        break;
      }
      case SnapshotBlockKind::kOpIds: {
        OpIdRecord r;
        in.Get(&r);
        visitor.op_id(FromRecord(r));
        break;
      }
      case SnapshotBlockKind::kEnd:
        return;
    }
  }
}

absl::Status DecodeSnapshot(std::string_view payload,
                            const SnapshotVisitor& visitor) {
  absl::StatusOr<SnapshotLayout> layout = IndexSnapshot(payload);
  if (!layout.ok()) return layout.status();
  visitor.header(layout->seq, layout->last_timestamp_ns);
  // Accounts, holds and op ids first, then history: a history entry needs
  // its account restored, and version 2's blocks come in any order.
  for (const SnapshotBlockRef& b : layout->blocks) {
    if (b.kind != SnapshotBlockKind::kHistory) VisitBlock(b, visitor);
  }
  for (const SnapshotBlockRef& b : layout->blocks) {
    if (b.kind == SnapshotBlockKind::kHistory) VisitBlock(b, visitor);
  }
  return absl::OkStatus();
}

}  // namespace coffer::internal
