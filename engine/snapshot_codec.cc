#include "engine/snapshot_codec.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace coffer::internal {
namespace {

constexpr uint32_t kVersion = 1;

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

}  // namespace

template <typename T>
void SnapshotEncoder::Put(const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  out_.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

SnapshotEncoder::SnapshotEncoder(uint64_t seq, uint64_t last_timestamp_ns) {
  Put(kVersion);
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
  AccountRecord r{};
  r.id = a.id;
  r.balance = a.account.state.balance;
  r.held = a.account.state.held;
  r.currency = a.account.state.currency;
  r.flags = a.account.state.flags;
  r.history_count = a.account.state.history_count;
  r.expiring_holds = a.account.state.expiring_holds;
  r.overdraft_limit = a.account.limits.overdraft_limit;
  r.balance_cap = a.account.limits.balance_cap;
  Put(r);
  ++count_;
}

void SnapshotEncoder::Hold(const SnapshotHold& h) {
  HoldRecord r{};
  r.id = h.id;
  r.account_id = h.hold.account_id;
  r.amount = h.hold.amount;
  r.expires_at_ns = h.hold.expires_at_ns;
  r.closed_seq = h.hold.closed_seq;
  r.status = static_cast<uint8_t>(h.hold.status);
  Put(r);
  ++count_;
}

void SnapshotEncoder::History(const HistoryEntry& e) {
  Put(e);
  ++count_;
}

void SnapshotEncoder::OpId(const OpIdTable::Record& rec) {
  OpIdRecord r{};
  r.op_id = rec.op_id;
  r.fingerprint = rec.fingerprint;
  r.seq = rec.seq;
  r.result = rec.result;
  r.done = rec.done ? 1 : 0;
  Put(r);
  ++count_;
}

absl::Status DecodeSnapshot(std::string_view payload,
                            const SnapshotVisitor& visitor) {
  size_t pos = 0;
  auto need = [&](size_t bytes, const char* what) -> absl::Status {
    if (payload.size() - pos < bytes) {
      return absl::DataLossError(absl::StrCat("snapshot payload ends inside ",
                                              what, " at byte ", pos));
    }
    return absl::OkStatus();
  };
  auto get = [&](auto* v) {
    std::memcpy(v, payload.data() + pos, sizeof(*v));
    pos += sizeof(*v);
  };
  if (absl::Status s = need(24, "the header"); !s.ok()) return s;
  uint32_t version, reserved;
  uint64_t seq, ts;
  get(&version);
  get(&reserved);
  get(&seq);
  get(&ts);
  if (version != kVersion) {
    return absl::DataLossError(absl::StrCat("snapshot payload version ",
                                            version, " is not ", kVersion));
  }
  visitor.header(seq, ts);
  auto section = [&](const char* what, size_t record_bytes,
                     auto&& each) -> absl::Status {
    if (absl::Status s = need(8, what); !s.ok()) return s;
    uint64_t n;
    get(&n);
    if ((payload.size() - pos) / record_bytes < n) {
      return absl::DataLossError(absl::StrCat("snapshot ", what, " section of ",
                                              n, " records runs past the end"));
    }
    for (uint64_t i = 0; i < n; ++i) each();
    return absl::OkStatus();
  };
  absl::Status s = section("accounts", sizeof(AccountRecord), [&] {
    AccountRecord r;
    get(&r);
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
    visitor.account(a);
  });
  if (!s.ok()) return s;
  s = section("holds", sizeof(HoldRecord), [&] {
    HoldRecord r;
    get(&r);
    SnapshotHold h{};
    h.id = r.id;
    h.hold.account_id = r.account_id;
    h.hold.amount = r.amount;
    h.hold.expires_at_ns = r.expires_at_ns;
    h.hold.closed_seq = r.closed_seq;
    h.hold.status = static_cast<HoldStatus>(r.status);
    visitor.hold(h);
  });
  if (!s.ok()) return s;
  s = section("history", sizeof(HistoryEntry), [&] {
    HistoryEntry e;
    get(&e);
    visitor.history(e);
  });
  if (!s.ok()) return s;
  s = section("op ids", sizeof(OpIdRecord), [&] {
    OpIdRecord r;
    get(&r);
    OpIdTable::Record rec;
    rec.op_id = r.op_id;
    rec.fingerprint = r.fingerprint;
    rec.seq = r.seq;
    rec.result = r.result;
    rec.done = r.done != 0;
    visitor.op_id(rec);
  });
  if (!s.ok()) return s;
  if (pos != payload.size()) {
    return absl::DataLossError("trailing bytes after the snapshot's op ids");
  }
  return absl::OkStatus();
}

}  // namespace coffer::internal
