// Encoding and decoding of every Coffer message (net/PROTOCOL.md). The
// server uses the span-based encoders directly on engine Requests; the
// client and tests use the Message variant.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "engine/stats.h"
#include "engine/types.h"
#include "net/protocol.h"

namespace coffer::net {

struct Hello {
  uint16_t min_version = kVersionMin;
  uint16_t max_version = kVersionMax;
  std::string auth_token;  // at most kAuthTokenBytesMax bytes
  bool operator==(const Hello&) const = default;
};

// The server's answer to HELLO: the chosen version and the limits this
// connection must respect.
struct HelloOk {
  uint16_t version = kVersionMax;
  uint32_t shard_count = 0;
  uint32_t max_body_bytes = 0;
  uint32_t max_ops_per_request = 0;  // also the most ids in one LOOKUP
  uint32_t max_requests_in_flight = 0;
  uint32_t max_history_limit = 0;
  bool operator==(const HelloOk&) const = default;
};

struct OpsRequest {
  OpsRequest() = default;
  OpsRequest(std::vector<Op> o, uint64_t issued = 0)
      : ops(std::move(o)), issued_ns(issued) {}
  std::vector<Op> ops;
  // When the client first issued these ops, ns since the Unix epoch by its
  // clock; a retry sends the same value. 0: unknown. Carried from version 2
  // on (version 1 frames drop it); the Client stamps it when it is 0.
  uint64_t issued_ns = 0;
};
struct OpsReply {
  std::vector<OpResult> results;
};
struct LookupRequest {
  std::vector<uint64_t> account_ids;
  bool operator==(const LookupRequest&) const = default;
};
struct LookupReply {
  uint64_t seq = 0;
  std::vector<AccountInfo> accounts;
};
struct HistoryRequest {
  HistoryRequest() = default;
  HistoryRequest(uint64_t account, uint32_t before_number, uint32_t limit_max,
                 HistoryFilter f = {})
      : account_id(account),
        before(before_number),
        limit(limit_max),
        filter(f) {}
  uint64_t account_id = 0;
  uint32_t before = 0;  // entry numbers below this one; 0: from the newest
  uint32_t limit = 100;
  // From version 2 on; a version 1 frame cannot carry a filter (the
  // client refuses to send one there).
  HistoryFilter filter;
  bool operator==(const HistoryRequest&) const = default;
};
struct HistoryReply {
  uint64_t seq = 0;
  uint32_t next_before = 0;  // cursor for the next page; 0: no more
  bool found = false;
  std::vector<HistoryEntry> entries;
};
struct StatsRequest {
  bool operator==(const StatsRequest&) const = default;
};
// Server counters since start.
struct ServerCounters {
  uint64_t connections_open = 0;
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;
  uint64_t frames_received = 0;
  uint64_t replies_sent = 0;
  uint64_t protocol_errors = 0;
  uint64_t submit_retries = 0;  // TrySubmit answered kQueueFull
  uint64_t busy_replies = 0;    // requests answered with ERROR busy
  bool operator==(const ServerCounters&) const = default;
};
struct StatsReply {
  // The engine's own struct (engine/stats.h), so that the server sends
  // Engine::Stats() as it is; its shards are the reply's shard records.
  EngineStats engine;
  ServerCounters server;
  bool operator==(const StatsReply&) const = default;
};
struct DigestRequest {
  bool operator==(const DigestRequest&) const = default;
};
struct DigestReply {
  uint64_t seq = 0;
  StateDigest digest;
  // The engine's own type (engine/types.h), so that a Request's
  // currency_totals encode as they are. Sorted by currency.
  std::vector<CurrencyTotal> totals;
  bool operator==(const DigestReply&) const = default;
};
// One stage of the latency breakdown (engine/latency_histogram.h: Stage
// numbers and names). Times in ns; for log_batch_ops the values are ops.
struct StageRecord {
  uint16_t stage = 0;
  uint64_t count = 0;
  uint64_t p50_ns = 0;
  uint64_t p99_ns = 0;
  uint64_t p999_ns = 0;
  uint64_t max_ns = 0;
  bool operator==(const StageRecord&) const = default;
};
struct StagesRequest {
  bool operator==(const StagesRequest&) const = default;
};
struct StagesReply {
  std::vector<StageRecord> stages;  // sorted by stage
  bool operator==(const StagesReply&) const = default;
};
struct DiskRequest {
  bool operator==(const DiskRequest&) const = default;
};
struct DiskReply {
  // One record per area (engine/stats.h DiskArea); empty without a
  // data_dir. A client ignores areas it does not know.
  std::vector<DiskAreaUsage> areas;
  bool operator==(const DiskReply&) const = default;
};
// BACKUP: a consistent copy of the server's data directory into `dir`, an
// absolute path on the server's host (engine/backup.h).
struct BackupRequest {
  std::string dir;  // 1..kBackupPathBytesMax bytes, no NUL
  bool operator==(const BackupRequest&) const = default;
};
struct BackupReply {
  uint64_t seq = 0;           // the copy holds the state after ops 1..seq
  uint64_t snapshot_seq = 0;  // its snapshot's seq; 0: none
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t duration_us = 0;  // how long the server took
  bool operator==(const BackupReply&) const = default;
};
struct Ping {
  bool operator==(const Ping&) const = default;
};
struct Pong {
  bool operator==(const Pong&) const = default;
};
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  uint16_t flags = 0;  // kErrorFlagClosing
  std::string message;
  bool operator==(const Error&) const = default;
};

using Message =
    std::variant<Hello, HelloOk, OpsRequest, OpsReply, LookupRequest,
                 LookupReply, HistoryRequest, HistoryReply, StatsRequest,
                 StatsReply, DigestRequest, DigestReply, Ping, Pong, Error,
                 StagesRequest, StagesReply, DiskRequest, DiskReply,
                 BackupRequest, BackupReply>;

MessageKind KindOf(const Message& m);

// Appends one complete frame (header and body) to `out`.
void EncodeFrame(uint64_t request_id, const Message& m,
                 std::vector<uint8_t>& out, uint16_t version = kVersionMax);

// Encoders the server uses on engine data without copying it into a
// Message first. Each appends one complete frame.
void EncodeOpsReply(uint64_t request_id, std::span<const OpResult> results,
                    std::vector<uint8_t>& out, uint16_t version = kVersionMax);
void EncodeLookupReply(uint64_t request_id, uint64_t seq,
                       std::span<const AccountInfo> accounts,
                       std::vector<uint8_t>& out,
                       uint16_t version = kVersionMax);
void EncodeHistoryReply(uint64_t request_id, uint64_t seq, uint32_t next_before,
                        bool found, std::span<const HistoryEntry> entries,
                        std::vector<uint8_t>& out,
                        uint16_t version = kVersionMax);
void EncodeDigestReply(uint64_t request_id, uint64_t seq,
                       const StateDigest& digest,
                       std::span<const CurrencyTotal> totals,
                       std::vector<uint8_t>& out,
                       uint16_t version = kVersionMax);
void EncodeError(uint64_t request_id, ErrorCode code, uint16_t flags,
                 std::string_view message, std::vector<uint8_t>& out,
                 uint16_t version = kVersionMax);

// Why a frame was refused.
struct Problem {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

// Checks that the header's count and body_bytes fit the layout of its
// kind (for HELLO and ERROR, whose bodies carry their own length, only the
// fixed part). False with `problem` set when they do not.
bool CheckLayout(const FrameHeader& h, Problem* problem);

// Decodes a body whose header passed CheckLayout (and whose checksum the
// caller verified). Checks the field ranges the protocol itself defines
// (reserved fields zero, lengths, versions); limits a server announces are
// the server's to check.
bool DecodeBody(const FrameHeader& h, std::span<const uint8_t> body,
                Message* out, Problem* problem);

// Record-level decoders (the server decodes OPS and LOOKUP bodies straight
// into an engine Request). `body` holds exactly `count` records.
void DecodeOps(std::span<const uint8_t> body, std::vector<Op>* out);
// The whole body of an OPS frame of `version`: the issue time (0 in
// version 1) and the ops.
void DecodeOpsBody(uint16_t version, std::span<const uint8_t> body,
                   std::vector<Op>* ops, uint64_t* issued_ns);
void DecodeAccountIds(std::span<const uint8_t> body,
                      std::vector<uint64_t>* out);

}  // namespace coffer::net
