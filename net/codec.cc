#include "net/codec.h"

#include <algorithm>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "net/wire.h"

namespace coffer::net {
namespace {

using wire::Get128;
using wire::Get16;
using wire::Get32;
using wire::Get64;
using wire::Put128;
using wire::Put16;
using wire::Put32;
using wire::Put64;

// Reserves a frame at the end of `out`; returns the offset of its header.
// The body follows it, zeroed, so reserved fields need no writes.
size_t BeginFrame(std::vector<uint8_t>& out, size_t body_bytes) {
  const size_t at = out.size();
  wire::Append(out, kHeaderBytes + body_bytes);
  return at;
}

// Fills in the header of the frame begun at `at` (body already written).
void FinishFrame(std::vector<uint8_t>& out, size_t at, MessageKind kind,
                 uint64_t request_id, uint32_t count, uint16_t version) {
  FrameHeader h;
  h.version = version;
  h.kind = static_cast<uint16_t>(kind);
  h.request_id = request_id;
  h.count = count;
  h.body_bytes = static_cast<uint32_t>(out.size() - at - kHeaderBytes);
  h.body_xxh3 = BodyChecksum(
      std::span<const uint8_t>(out.data() + at + kHeaderBytes, h.body_bytes));
  EncodeHeader(h, out.data() + at);
}

uint8_t* Body(std::vector<uint8_t>& out, size_t at) {
  return out.data() + at + kHeaderBytes;
}

void PutOp(uint8_t* p, const Op& op) {
  Put64(p + 0, op.op_id);
  Put64(p + 8, op.account_id);
  Put64(p + 16, op.other_account_id);
  Put64(p + 24, op.amount);
  Put64(p + 32, op.aux);
  Put64(p + 40, op.user_data);
  Put32(p + 48, op.reason);
  Put32(p + 52, op.currency);
  Put32(p + 56, op.account_flags);
  p[60] = static_cast<uint8_t>(op.kind);
  p[61] = op.reserved;
  Put16(p + 62, op.flags);
}

Op GetOp(const uint8_t* p) {
  Op op;
  op.op_id = Get64(p + 0);
  op.account_id = Get64(p + 8);
  op.other_account_id = Get64(p + 16);
  op.amount = Get64(p + 24);
  op.aux = Get64(p + 32);
  op.user_data = Get64(p + 40);
  op.reason = Get32(p + 48);
  op.currency = Get32(p + 52);
  op.account_flags = Get32(p + 56);
  // Any byte is carried as is: the engine answers invalid_kind for unknown
  // kinds, ordered and remembered like every other refusal.
  op.kind = static_cast<OpKind>(p[60]);
  op.reserved = p[61];
  op.flags = Get16(p + 62);
  return op;
}

void PutResult(uint8_t* p, const OpResult& r) {
  Put16(p + 0, static_cast<uint16_t>(r.code));
  Put16(p + 2, r.flags);
  Put32(p + 4, r.reserved);
  Put64(p + 8, static_cast<uint64_t>(r.balance_after));
  Put64(p + 16, r.seq);
}

OpResult GetResult(const uint8_t* p) {
  OpResult r;
  r.code = static_cast<ResultCode>(Get16(p + 0));
  r.flags = Get16(p + 2);
  r.reserved = Get32(p + 4);
  r.balance_after = static_cast<int64_t>(Get64(p + 8));
  r.seq = Get64(p + 16);
  return r;
}

void PutAccount(uint8_t* p, const AccountInfo& a) {
  Put64(p + 0, a.id);
  Put64(p + 8, static_cast<uint64_t>(a.balance));
  Put64(p + 16, a.held);
  Put64(p + 24, a.overdraft_limit);
  Put64(p + 32, a.balance_cap);
  Put32(p + 40, a.currency);
  Put32(p + 44, a.flags);
  Put32(p + 48, a.history_count);
  Put32(p + 52, a.reserved);
}

AccountInfo GetAccount(const uint8_t* p) {
  AccountInfo a;
  a.id = Get64(p + 0);
  a.balance = static_cast<int64_t>(Get64(p + 8));
  a.held = Get64(p + 16);
  a.overdraft_limit = Get64(p + 24);
  a.balance_cap = Get64(p + 32);
  a.currency = Get32(p + 40);
  a.flags = Get32(p + 44);
  a.history_count = Get32(p + 48);
  a.reserved = Get32(p + 52);
  return a;
}

void PutEntry(uint8_t* p, const HistoryEntry& e) {
  Put64(p + 0, e.seq);
  Put64(p + 8, e.op_id);
  Put64(p + 16, e.account_id);
  Put64(p + 24, e.other_account_id);
  Put64(p + 32, static_cast<uint64_t>(e.amount));
  Put64(p + 40, static_cast<uint64_t>(e.held_delta));
  Put64(p + 48, static_cast<uint64_t>(e.balance_after));
  Put64(p + 56, e.held_after);
  Put64(p + 64, e.user_data);
  Put64(p + 72, e.timestamp_ns);
  Put32(p + 80, e.reason);
  Put32(p + 84, e.number);
  p[88] = static_cast<uint8_t>(e.kind);
  // 89..95 reserved, zero.
}

HistoryEntry GetEntry(const uint8_t* p) {
  HistoryEntry e;
  e.seq = Get64(p + 0);
  e.op_id = Get64(p + 8);
  e.account_id = Get64(p + 16);
  e.other_account_id = Get64(p + 24);
  e.amount = static_cast<int64_t>(Get64(p + 32));
  e.held_delta = static_cast<int64_t>(Get64(p + 40));
  e.balance_after = static_cast<int64_t>(Get64(p + 48));
  e.held_after = Get64(p + 56);
  e.user_data = Get64(p + 64);
  e.timestamp_ns = Get64(p + 72);
  e.reason = Get32(p + 80);
  e.number = Get32(p + 84);
  e.kind = static_cast<EntryKind>(p[88]);
  return e;
}

void PutU64s(uint8_t* p, std::initializer_list<uint64_t> values) {
  for (uint64_t v : values) {
    Put64(p, v);
    p += 8;
  }
}

void EncodeHello(uint64_t id, const Hello& m, std::vector<uint8_t>& out) {
  const size_t at = BeginFrame(out, kHelloFixedBytes + m.auth_token.size());
  uint8_t* p = Body(out, at);
  Put16(p + 0, m.min_version);
  Put16(p + 2, m.max_version);
  Put16(p + 4, static_cast<uint16_t>(m.auth_token.size()));
  std::copy(m.auth_token.begin(), m.auth_token.end(), p + kHelloFixedBytes);
  // HELLO is parsed before any version is agreed: its header version is
  // fixed.
  FinishFrame(out, at, MessageKind::kHello, id, 0, kHelloHeaderVersion);
}

void EncodeHelloOk(uint64_t id, const HelloOk& m, std::vector<uint8_t>& out,
                   uint16_t version) {
  const size_t at = BeginFrame(out, kHelloOkBytes);
  uint8_t* p = Body(out, at);
  Put16(p + 0, m.version);
  Put32(p + 4, m.shard_count);
  Put32(p + 8, m.max_body_bytes);
  Put32(p + 12, m.max_ops_per_request);
  Put32(p + 16, m.max_requests_in_flight);
  Put32(p + 20, m.max_history_limit);
  FinishFrame(out, at, MessageKind::kHelloOk, id, 0, version);
}

size_t OpsFixedBytes(uint16_t version) {
  return version >= kVersionIssueTime ? kOpsFixedBytesV2 : 0;
}

size_t HistoryRequestBytes(uint16_t version) {
  return version >= kVersionIssueTime ? kHistoryRequestBytesV2
                                      : kHistoryRequestBytes;
}

void EncodeOps(uint64_t id, const OpsRequest& m, std::vector<uint8_t>& out,
               uint16_t version) {
  const size_t fixed = OpsFixedBytes(version);
  const size_t at = BeginFrame(out, fixed + m.ops.size() * kOpBytes);
  uint8_t* p = Body(out, at);
  if (fixed != 0) Put64(p, m.issued_ns);
  p += fixed;
  for (const Op& op : m.ops) {
    PutOp(p, op);
    p += kOpBytes;
  }
  FinishFrame(out, at, MessageKind::kOps, id,
              static_cast<uint32_t>(m.ops.size()), version);
}

void EncodeLookup(uint64_t id, const LookupRequest& m,
                  std::vector<uint8_t>& out, uint16_t version) {
  const size_t at = BeginFrame(out, m.account_ids.size() * kAccountIdBytes);
  uint8_t* p = Body(out, at);
  for (uint64_t account : m.account_ids) {
    Put64(p, account);
    p += kAccountIdBytes;
  }
  FinishFrame(out, at, MessageKind::kLookup, id,
              static_cast<uint32_t>(m.account_ids.size()), version);
}

void EncodeHistory(uint64_t id, const HistoryRequest& m,
                   std::vector<uint8_t>& out, uint16_t version) {
  const size_t at = BeginFrame(out, HistoryRequestBytes(version));
  uint8_t* p = Body(out, at);
  Put64(p + 0, m.account_id);
  Put32(p + 8, m.before);
  Put32(p + 12, m.limit);
  if (version >= kVersionIssueTime) {
    Put64(p + 16, m.filter.timestamp_min_ns);
    Put64(p + 24, m.filter.timestamp_max_ns);
    Put32(p + 32, m.filter.reason);
    Put32(p + 36, m.filter.has_reason ? kHistoryFilterReason : 0);
  }
  FinishFrame(out, at, MessageKind::kHistory, id, 0, version);
}

void EncodeEmpty(uint64_t id, MessageKind kind, std::vector<uint8_t>& out,
                 uint16_t version) {
  const size_t at = BeginFrame(out, 0);
  FinishFrame(out, at, kind, id, 0, version);
}

void EncodeStatsReply(uint64_t id, const StatsReply& m,
                      std::vector<uint8_t>& out, uint16_t version) {
  const size_t at = BeginFrame(
      out, kStatsReplyFixedBytes + m.engine.shards.size() * kShardStatsBytes);
  uint8_t* p = Body(out, at);
  const EngineStats& e = m.engine;
  PutU64s(p,
          {e.requests, e.ops_sequenced, e.duplicates, e.refused_before_ordering,
           e.last_seq, e.durable_seq, e.log_syncs, e.log_records, e.snapshots,
           e.snapshot_failures, e.snapshot_seq, e.snapshot_pause_us});
  const ServerCounters& s = m.server;
  PutU64s(p + 96, {s.connections_open, s.connections_accepted,
                   s.connections_refused, s.frames_received, s.replies_sent,
                   s.protocol_errors, s.submit_retries, s.busy_replies});
  p += kStatsReplyFixedBytes;
  for (const ShardStats& sh : e.shards) {
    PutU64s(p, {sh.txns_applied, sh.multi_shard_txns, sh.deferred_txns,
                sh.accounts});
    p += kShardStatsBytes;
  }
  FinishFrame(out, at, MessageKind::kStatsReply, id,
              static_cast<uint32_t>(e.shards.size()), version);
}

void EncodeStagesReply(uint64_t id, const StagesReply& m,
                       std::vector<uint8_t>& out, uint16_t version) {
  const size_t at = BeginFrame(out, m.stages.size() * kStageRecordBytes);
  uint8_t* p = Body(out, at);
  for (const StageRecord& r : m.stages) {
    Put16(p + 0, r.stage);
    Put16(p + 2, 0);
    Put32(p + 4, 0);
    PutU64s(p + 8, {r.count, r.p50_ns, r.p99_ns, r.p999_ns, r.max_ns});
    p += kStageRecordBytes;
  }
  FinishFrame(out, at, MessageKind::kStagesReply, id,
              static_cast<uint32_t>(m.stages.size()), version);
}

void EncodeDiskReply(uint64_t id, const DiskReply& m, std::vector<uint8_t>& out,
                     uint16_t version) {
  const size_t at = BeginFrame(out, m.areas.size() * kDiskRecordBytes);
  uint8_t* p = Body(out, at);
  for (const DiskAreaUsage& a : m.areas) {
    Put16(p + 0, static_cast<uint16_t>(a.area));
    Put16(p + 2, 0);
    Put32(p + 4, 0);
    PutU64s(p + 8, {a.files, a.bytes});
    p += kDiskRecordBytes;
  }
  FinishFrame(out, at, MessageKind::kDiskReply, id,
              static_cast<uint32_t>(m.areas.size()), version);
}

void EncodeBackup(uint64_t id, const BackupRequest& m,
                  std::vector<uint8_t>& out, uint16_t version) {
  const size_t at = BeginFrame(out, kBackupFixedBytes + m.dir.size());
  uint8_t* p = Body(out, at);
  Put32(p + 0, static_cast<uint32_t>(m.dir.size()));
  std::copy(m.dir.begin(), m.dir.end(), p + kBackupFixedBytes);
  FinishFrame(out, at, MessageKind::kBackup, id, 0, version);
}

void EncodeBackupReply(uint64_t id, const BackupReply& m,
                       std::vector<uint8_t>& out, uint16_t version) {
  const size_t at = BeginFrame(out, kBackupReplyBytes);
  PutU64s(Body(out, at),
          {m.seq, m.snapshot_seq, m.files, m.bytes, m.duration_us});
  FinishFrame(out, at, MessageKind::kBackupReply, id, 0, version);
}

// Fails with kBadLength unless `body_bytes == fixed + count * record`.
bool Expect(const FrameHeader& h, uint64_t fixed, uint64_t record,
            Problem* problem) {
  const uint64_t want = fixed + uint64_t{h.count} * record;
  if (h.body_bytes == want) return true;
  problem->code = ErrorCode::kBadLength;
  problem->message = absl::StrCat(
      std::string(MessageKindName(static_cast<MessageKind>(h.kind))),
      " with count ", h.count, " needs body_bytes ", want, ", got ",
      h.body_bytes);
  return false;
}

bool Fail(ErrorCode code, std::string message, Problem* problem) {
  problem->code = code;
  problem->message = std::move(message);
  return false;
}

// BACKUP's body: path_bytes (u32), reserved (u32, checked 0), the path.
// Only its shape is checked here; whether the path is usable (absolute,
// absent or empty) is the server's to say, with backup_failed.
bool DecodeBackup(std::span<const uint8_t> body, Message* out,
                  Problem* problem) {
  const uint8_t* p = body.data();
  const uint32_t path_bytes = Get32(p + 0);
  if (Get32(p + 4) != 0) {
    return Fail(ErrorCode::kInvalidField, "backup reserved field not 0",
                problem);
  }
  if (body.size() != kBackupFixedBytes + uint64_t{path_bytes}) {
    return Fail(ErrorCode::kBadLength,
                absl::StrCat("backup with path_bytes ", path_bytes,
                             " needs body_bytes ",
                             kBackupFixedBytes + uint64_t{path_bytes}),
                problem);
  }
  if (path_bytes == 0 || path_bytes > kBackupPathBytesMax) {
    return Fail(ErrorCode::kInvalidField,
                absl::StrCat("backup path of ", path_bytes, " bytes (1 to ",
                             kBackupPathBytesMax, ")"),
                problem);
  }
  BackupRequest m;
  m.dir.assign(reinterpret_cast<const char*>(p) + kBackupFixedBytes,
               path_bytes);
  if (m.dir.find('\0') != std::string::npos) {
    return Fail(ErrorCode::kInvalidField, "backup path holds a NUL byte",
                problem);
  }
  *out = std::move(m);
  return true;
}

// The filter part of a version 2 HISTORY body (offsets 16..39).
bool DecodeHistoryFilter(const uint8_t* p, HistoryFilter* f, Problem* problem) {
  f->timestamp_min_ns = Get64(p + 16);
  f->timestamp_max_ns = Get64(p + 24);
  f->reason = Get32(p + 32);
  const uint32_t flags = Get32(p + 36);
  if ((flags & ~kHistoryFilterReason) != 0) {
    return Fail(ErrorCode::kInvalidField,
                absl::StrCat("history filter flags 0x", absl::Hex(flags),
                             ": only bit 0 (reason) is defined"),
                problem);
  }
  f->has_reason = (flags & kHistoryFilterReason) != 0;
  if (f->timestamp_max_ns != 0 && f->timestamp_min_ns > f->timestamp_max_ns) {
    return Fail(ErrorCode::kInvalidField,
                absl::StrCat("history timestamp_min_ns ", f->timestamp_min_ns,
                             " above timestamp_max_ns ", f->timestamp_max_ns),
                problem);
  }
  if (!f->has_reason && f->reason != 0) {
    return Fail(ErrorCode::kInvalidField,
                "history reason set without filter flag bit 0", problem);
  }
  return true;
}

}  // namespace

MessageKind KindOf(const Message& m) {
  static constexpr MessageKind kKinds[] = {
      MessageKind::kHello,       MessageKind::kHelloOk,
      MessageKind::kOps,         MessageKind::kOpsReply,
      MessageKind::kLookup,      MessageKind::kLookupReply,
      MessageKind::kHistory,     MessageKind::kHistoryReply,
      MessageKind::kStats,       MessageKind::kStatsReply,
      MessageKind::kDigest,      MessageKind::kDigestReply,
      MessageKind::kPing,        MessageKind::kPong,
      MessageKind::kError,       MessageKind::kStages,
      MessageKind::kStagesReply, MessageKind::kDisk,
      MessageKind::kDiskReply,   MessageKind::kBackup,
      MessageKind::kBackupReply};
  static_assert(std::size(kKinds) == std::variant_size_v<Message>);
  return kKinds[m.index()];
}

void EncodeOpsReply(uint64_t request_id, std::span<const OpResult> results,
                    std::vector<uint8_t>& out, uint16_t version) {
  const size_t at = BeginFrame(out, results.size() * kOpResultBytes);
  uint8_t* p = Body(out, at);
  for (const OpResult& r : results) {
    PutResult(p, r);
    p += kOpResultBytes;
  }
  FinishFrame(out, at, MessageKind::kOpsReply, request_id,
              static_cast<uint32_t>(results.size()), version);
}

void EncodeLookupReply(uint64_t request_id, uint64_t seq,
                       std::span<const AccountInfo> accounts,
                       std::vector<uint8_t>& out, uint16_t version) {
  const size_t at = BeginFrame(
      out, kLookupReplyFixedBytes + accounts.size() * kAccountInfoBytes);
  uint8_t* p = Body(out, at);
  Put64(p, seq);
  p += kLookupReplyFixedBytes;
  for (const AccountInfo& a : accounts) {
    PutAccount(p, a);
    p += kAccountInfoBytes;
  }
  FinishFrame(out, at, MessageKind::kLookupReply, request_id,
              static_cast<uint32_t>(accounts.size()), version);
}

void EncodeHistoryReply(uint64_t request_id, uint64_t seq, uint32_t next_before,
                        bool found, std::span<const HistoryEntry> entries,
                        std::vector<uint8_t>& out, uint16_t version) {
  const size_t at = BeginFrame(
      out, kHistoryReplyFixedBytes + entries.size() * kHistoryEntryBytes);
  uint8_t* p = Body(out, at);
  Put64(p + 0, seq);
  Put32(p + 8, next_before);
  p[12] = found ? 1 : 0;
  p += kHistoryReplyFixedBytes;
  for (const HistoryEntry& e : entries) {
    PutEntry(p, e);
    p += kHistoryEntryBytes;
  }
  FinishFrame(out, at, MessageKind::kHistoryReply, request_id,
              static_cast<uint32_t>(entries.size()), version);
}

void EncodeDigestReply(uint64_t request_id, uint64_t seq,
                       const StateDigest& digest,
                       std::span<const CurrencyTotal> totals,
                       std::vector<uint8_t>& out, uint16_t version) {
  const size_t at = BeginFrame(
      out, kDigestReplyFixedBytes + totals.size() * kCurrencyTotalBytes);
  uint8_t* p = Body(out, at);
  PutU64s(p, {seq, digest.lo, digest.hi, digest.accounts, digest.holds});
  p += kDigestReplyFixedBytes;
  for (const CurrencyTotal& t : totals) {
    Put32(p + 0, t.currency);
    Put64(p + 8, t.accounts);
    Put128(p + 16, t.balance);
    Put128(p + 32, t.held);
    p += kCurrencyTotalBytes;
  }
  FinishFrame(out, at, MessageKind::kDigestReply, request_id,
              static_cast<uint32_t>(totals.size()), version);
}

void EncodeError(uint64_t request_id, ErrorCode code, uint16_t flags,
                 std::string_view message, std::vector<uint8_t>& out,
                 uint16_t version) {
  message = message.substr(0, kErrorMessageBytesMax);
  const size_t at = BeginFrame(out, kErrorFixedBytes + message.size());
  uint8_t* p = Body(out, at);
  Put16(p + 0, static_cast<uint16_t>(code));
  Put16(p + 2, flags);
  Put32(p + 4, static_cast<uint32_t>(message.size()));
  std::copy(message.begin(), message.end(), p + kErrorFixedBytes);
  FinishFrame(out, at, MessageKind::kError, request_id, 0, version);
}

void EncodeFrame(uint64_t request_id, const Message& m,
                 std::vector<uint8_t>& out, uint16_t version) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Hello>) {
          EncodeHello(request_id, x, out);
        } else if constexpr (std::is_same_v<T, HelloOk>) {
          EncodeHelloOk(request_id, x, out, version);
        } else if constexpr (std::is_same_v<T, OpsRequest>) {
          EncodeOps(request_id, x, out, version);
        } else if constexpr (std::is_same_v<T, OpsReply>) {
          EncodeOpsReply(request_id, x.results, out, version);
        } else if constexpr (std::is_same_v<T, LookupRequest>) {
          EncodeLookup(request_id, x, out, version);
        } else if constexpr (std::is_same_v<T, LookupReply>) {
          EncodeLookupReply(request_id, x.seq, x.accounts, out, version);
        } else if constexpr (std::is_same_v<T, HistoryRequest>) {
          EncodeHistory(request_id, x, out, version);
        } else if constexpr (std::is_same_v<T, HistoryReply>) {
          EncodeHistoryReply(request_id, x.seq, x.next_before, x.found,
                             x.entries, out, version);
        } else if constexpr (std::is_same_v<T, StatsRequest>) {
          EncodeEmpty(request_id, MessageKind::kStats, out, version);
        } else if constexpr (std::is_same_v<T, StatsReply>) {
          EncodeStatsReply(request_id, x, out, version);
        } else if constexpr (std::is_same_v<T, DigestRequest>) {
          EncodeEmpty(request_id, MessageKind::kDigest, out, version);
        } else if constexpr (std::is_same_v<T, DigestReply>) {
          EncodeDigestReply(request_id, x.seq, x.digest, x.totals, out,
                            version);
        } else if constexpr (std::is_same_v<T, Ping>) {
          EncodeEmpty(request_id, MessageKind::kPing, out, version);
        } else if constexpr (std::is_same_v<T, Pong>) {
          EncodeEmpty(request_id, MessageKind::kPong, out, version);
        } else if constexpr (std::is_same_v<T, StagesRequest>) {
          EncodeEmpty(request_id, MessageKind::kStages, out, version);
        } else if constexpr (std::is_same_v<T, StagesReply>) {
          EncodeStagesReply(request_id, x, out, version);
        } else if constexpr (std::is_same_v<T, DiskRequest>) {
          EncodeEmpty(request_id, MessageKind::kDisk, out, version);
        } else if constexpr (std::is_same_v<T, DiskReply>) {
          EncodeDiskReply(request_id, x, out, version);
        } else if constexpr (std::is_same_v<T, BackupRequest>) {
          EncodeBackup(request_id, x, out, version);
        } else if constexpr (std::is_same_v<T, BackupReply>) {
          EncodeBackupReply(request_id, x, out, version);
        } else {
          static_assert(std::is_same_v<T, Error>);
          EncodeError(request_id, x.code, x.flags, x.message, out, version);
        }
      },
      m);
}

bool CheckLayout(const FrameHeader& h, Problem* problem) {
  if (!IsKnownKind(h.kind)) {
    return Fail(ErrorCode::kUnknownKind,
                absl::StrCat("unknown message kind ", h.kind), problem);
  }
  const auto kind = static_cast<MessageKind>(h.kind);
  // Kinds with a count of records require at least one, except replies
  // (an empty history page, an engine with no currencies).
  if ((kind == MessageKind::kOps || kind == MessageKind::kLookup) &&
      h.count == 0) {
    return Fail(
        ErrorCode::kBadLength,
        absl::StrCat(std::string(MessageKindName(kind)), " with count 0"),
        problem);
  }
  switch (kind) {
    case MessageKind::kHello:
    case MessageKind::kBackup:
    case MessageKind::kError: {
      const uint64_t fixed = kind == MessageKind::kHello    ? kHelloFixedBytes
                             : kind == MessageKind::kBackup ? kBackupFixedBytes
                                                            : kErrorFixedBytes;
      if (h.count != 0 || h.body_bytes < fixed) {
        return Fail(ErrorCode::kBadLength,
                    absl::StrCat(std::string(MessageKindName(kind)),
                                 " needs count 0 and ", fixed, "+ body bytes"),
                    problem);
      }
      return true;
    }
    case MessageKind::kHelloOk:
      return h.count == 0 ? Expect(h, kHelloOkBytes, 0, problem)
                          : Fail(ErrorCode::kBadLength,
                                 "hello_ok needs count 0", problem);
    case MessageKind::kOps:
      return Expect(h, OpsFixedBytes(h.version), kOpBytes, problem);
    case MessageKind::kOpsReply:
      return Expect(h, 0, kOpResultBytes, problem);
    case MessageKind::kLookup:
      return Expect(h, 0, kAccountIdBytes, problem);
    case MessageKind::kLookupReply:
      return Expect(h, kLookupReplyFixedBytes, kAccountInfoBytes, problem);
    case MessageKind::kHistory:
      return h.count == 0
                 ? Expect(h, HistoryRequestBytes(h.version), 0, problem)
                 : Fail(ErrorCode::kBadLength, "history needs count 0",
                        problem);
    case MessageKind::kHistoryReply:
      return Expect(h, kHistoryReplyFixedBytes, kHistoryEntryBytes, problem);
    case MessageKind::kStatsReply:
      return Expect(h, kStatsReplyFixedBytes, kShardStatsBytes, problem);
    case MessageKind::kDigestReply:
      return Expect(h, kDigestReplyFixedBytes, kCurrencyTotalBytes, problem);
    case MessageKind::kStagesReply:
      return Expect(h, 0, kStageRecordBytes, problem);
    case MessageKind::kDiskReply:
      return Expect(h, 0, kDiskRecordBytes, problem);
    case MessageKind::kBackupReply:
      return h.count == 0 ? Expect(h, kBackupReplyBytes, 0, problem)
                          : Fail(ErrorCode::kBadLength,
                                 "backup_reply needs count 0", problem);
    case MessageKind::kStats:
    case MessageKind::kDigest:
    case MessageKind::kPing:
    case MessageKind::kPong:
    case MessageKind::kStages:
    case MessageKind::kDisk:
      return h.count == 0
                 ? Expect(h, 0, 0, problem)
                 : Fail(ErrorCode::kBadLength,
                        absl::StrCat(std::string(MessageKindName(kind)),
                                     " needs count 0"),
                        problem);
  }
  return Fail(ErrorCode::kUnknownKind, "unknown message kind", problem);
}

void DecodeOps(std::span<const uint8_t> body, std::vector<Op>* out) {
  const size_t n = body.size() / kOpBytes;
  out->resize(n);
  for (size_t i = 0; i < n; ++i) (*out)[i] = GetOp(body.data() + i * kOpBytes);
}

void DecodeOpsBody(uint16_t version, std::span<const uint8_t> body,
                   std::vector<Op>* ops, uint64_t* issued_ns) {
  const size_t fixed = OpsFixedBytes(version);
  *issued_ns = fixed == 0 ? 0 : Get64(body.data());
  DecodeOps(body.subspan(fixed), ops);
}

void DecodeAccountIds(std::span<const uint8_t> body,
                      std::vector<uint64_t>* out) {
  const size_t n = body.size() / kAccountIdBytes;
  out->resize(n);
  for (size_t i = 0; i < n; ++i) {
    (*out)[i] = Get64(body.data() + i * kAccountIdBytes);
  }
}

bool DecodeBody(const FrameHeader& h, std::span<const uint8_t> body,
                Message* out, Problem* problem) {
  if (!CheckLayout(h, problem)) return false;
  if (body.size() != h.body_bytes) {
    return Fail(ErrorCode::kBadLength, "body size differs from body_bytes",
                problem);
  }
  const uint8_t* p = body.data();
  const size_t n = h.count;
  switch (static_cast<MessageKind>(h.kind)) {
    case MessageKind::kHello: {
      Hello m;
      m.min_version = Get16(p + 0);
      m.max_version = Get16(p + 2);
      const uint16_t token_bytes = Get16(p + 4);
      if (Get16(p + 6) != 0) {
        return Fail(ErrorCode::kInvalidField, "hello reserved field not 0",
                    problem);
      }
      if (token_bytes > kAuthTokenBytesMax) {
        return Fail(ErrorCode::kInvalidField,
                    absl::StrCat("auth token longer than ", kAuthTokenBytesMax,
                                 " bytes"),
                    problem);
      }
      if (body.size() != kHelloFixedBytes + token_bytes) {
        return Fail(
            ErrorCode::kBadLength,
            absl::StrCat("hello with token_bytes ", token_bytes,
                         " needs body_bytes ", kHelloFixedBytes + token_bytes),
            problem);
      }
      if (m.min_version == 0 || m.min_version > m.max_version) {
        return Fail(ErrorCode::kInvalidField,
                    absl::StrCat("bad version range ", m.min_version, "..",
                                 m.max_version),
                    problem);
      }
      m.auth_token.assign(reinterpret_cast<const char*>(p) + kHelloFixedBytes,
                          token_bytes);
      *out = std::move(m);
      return true;
    }
    case MessageKind::kHelloOk: {
      HelloOk m;
      m.version = Get16(p + 0);
      m.shard_count = Get32(p + 4);
      m.max_body_bytes = Get32(p + 8);
      m.max_ops_per_request = Get32(p + 12);
      m.max_requests_in_flight = Get32(p + 16);
      m.max_history_limit = Get32(p + 20);
      *out = m;
      return true;
    }
    case MessageKind::kOps: {
      OpsRequest m;
      DecodeOpsBody(h.version, body, &m.ops, &m.issued_ns);
      *out = std::move(m);
      return true;
    }
    case MessageKind::kOpsReply: {
      OpsReply m;
      m.results.resize(n);
      for (size_t i = 0; i < n; ++i) {
        m.results[i] = GetResult(p + i * kOpResultBytes);
      }
      *out = std::move(m);
      return true;
    }
    case MessageKind::kLookup: {
      LookupRequest m;
      DecodeAccountIds(body, &m.account_ids);
      *out = std::move(m);
      return true;
    }
    case MessageKind::kLookupReply: {
      LookupReply m;
      m.seq = Get64(p);
      p += kLookupReplyFixedBytes;
      m.accounts.resize(n);
      for (size_t i = 0; i < n; ++i) {
        m.accounts[i] = GetAccount(p + i * kAccountInfoBytes);
      }
      *out = std::move(m);
      return true;
    }
    case MessageKind::kHistory: {
      HistoryRequest m;
      m.account_id = Get64(p + 0);
      m.before = Get32(p + 8);
      m.limit = Get32(p + 12);
      if (m.limit == 0) {
        return Fail(ErrorCode::kInvalidField, "history limit 0", problem);
      }
      if (h.version >= kVersionIssueTime &&
          !DecodeHistoryFilter(p, &m.filter, problem)) {
        return false;
      }
      *out = m;
      return true;
    }
    case MessageKind::kHistoryReply: {
      HistoryReply m;
      m.seq = Get64(p + 0);
      m.next_before = Get32(p + 8);
      m.found = p[12] != 0;
      p += kHistoryReplyFixedBytes;
      m.entries.resize(n);
      for (size_t i = 0; i < n; ++i) {
        m.entries[i] = GetEntry(p + i * kHistoryEntryBytes);
      }
      *out = std::move(m);
      return true;
    }
    case MessageKind::kStats:
      *out = StatsRequest{};
      return true;
    case MessageKind::kStatsReply: {
      StatsReply m;
      uint64_t v[20];
      for (int i = 0; i < 20; ++i) v[i] = Get64(p + 8 * i);
      // The op-id index counters are not in version 1's reply: they stay 0.
      EngineStats& e = m.engine;
      e.requests = v[0];
      e.ops_sequenced = v[1];
      e.duplicates = v[2];
      e.refused_before_ordering = v[3];
      e.last_seq = v[4];
      e.durable_seq = v[5];
      e.log_syncs = v[6];
      e.log_records = v[7];
      e.snapshots = v[8];
      e.snapshot_failures = v[9];
      e.snapshot_seq = v[10];
      e.snapshot_pause_us = v[11];
      m.server = {v[12], v[13], v[14], v[15], v[16], v[17], v[18], v[19]};
      p += kStatsReplyFixedBytes;
      m.engine.shards.resize(n);
      for (size_t i = 0; i < n; ++i, p += kShardStatsBytes) {
        m.engine.shards[i] = {Get64(p), Get64(p + 8), Get64(p + 16),
                              Get64(p + 24)};
      }
      *out = std::move(m);
      return true;
    }
    case MessageKind::kDigest:
      *out = DigestRequest{};
      return true;
    case MessageKind::kDigestReply: {
      DigestReply m;
      m.seq = Get64(p + 0);
      m.digest.lo = Get64(p + 8);
      m.digest.hi = Get64(p + 16);
      m.digest.accounts = Get64(p + 24);
      m.digest.holds = Get64(p + 32);
      p += kDigestReplyFixedBytes;
      m.totals.resize(n);
      for (size_t i = 0; i < n; ++i, p += kCurrencyTotalBytes) {
        m.totals[i].currency = Get32(p + 0);
        m.totals[i].accounts = Get64(p + 8);
        m.totals[i].balance = Get128(p + 16);
        m.totals[i].held = Get128(p + 32);
      }
      *out = std::move(m);
      return true;
    }
    case MessageKind::kPing:
      *out = Ping{};
      return true;
    case MessageKind::kStages:
      *out = StagesRequest{};
      return true;
    case MessageKind::kStagesReply: {
      // Reserved fields are ignored: a later version may use them.
      StagesReply m;
      m.stages.resize(n);
      for (size_t i = 0; i < n; ++i, p += kStageRecordBytes) {
        m.stages[i] = {Get16(p),      Get64(p + 8),  Get64(p + 16),
                       Get64(p + 24), Get64(p + 32), Get64(p + 40)};
      }
      *out = std::move(m);
      return true;
    }
    case MessageKind::kPong:
      *out = Pong{};
      return true;
    case MessageKind::kDisk:
      *out = DiskRequest{};
      return true;
    case MessageKind::kDiskReply: {
      // Reserved fields are ignored: a later version may use them.
      DiskReply m;
      m.areas.resize(n);
      for (size_t i = 0; i < n; ++i, p += kDiskRecordBytes) {
        m.areas[i] = {static_cast<DiskArea>(Get16(p)), Get64(p + 8),
                      Get64(p + 16)};
      }
      *out = std::move(m);
      return true;
    }
    case MessageKind::kBackup:
      return DecodeBackup(body, out, problem);
    case MessageKind::kBackupReply:
      *out = BackupReply{Get64(p), Get64(p + 8), Get64(p + 16), Get64(p + 24),
                         Get64(p + 32)};
      return true;
    case MessageKind::kError: {
      Error m;
      m.code = static_cast<ErrorCode>(Get16(p + 0));
      m.flags = Get16(p + 2);
      const uint32_t message_bytes = Get32(p + 4);
      if (body.size() != kErrorFixedBytes + uint64_t{message_bytes}) {
        return Fail(ErrorCode::kBadLength,
                    "error message_bytes disagrees with body_bytes", problem);
      }
      m.message.assign(reinterpret_cast<const char*>(p) + kErrorFixedBytes,
                       message_bytes);
      *out = std::move(m);
      return true;
    }
  }
  return Fail(ErrorCode::kUnknownKind, "unknown message kind", problem);
}

}  // namespace coffer::net
