// Coffer's wire protocol: constants and the fixed frame header. Every frame
// is a 32-byte header followed by a body of body_bytes bytes; all integers
// are little-endian. net/PROTOCOL.md is the specification; this file and
// codec.h implement it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace coffer::net {

// "COFR" as bytes 43 4F 46 52, read as a little-endian uint32.
inline constexpr uint32_t kMagic = 0x52464F43;
// The frame format of HELLO never changes, so a peer of any version can
// parse it; HELLO is always written with this header version.
inline constexpr uint16_t kHelloHeaderVersion = 1;
// Versions this build speaks. Version 2 adds the issue time of an OPS
// request and the filters of HISTORY (net/PROTOCOL.md "Versions").
inline constexpr uint16_t kVersionMin = 1;
inline constexpr uint16_t kVersionMax = 2;
// The first version with OPS issued_ns and HISTORY filters.
inline constexpr uint16_t kVersionIssueTime = 2;

inline constexpr size_t kHeaderBytes = 32;

// Fixed record sizes in bodies.
inline constexpr size_t kOpBytes = 64;
inline constexpr size_t kOpResultBytes = 24;
inline constexpr size_t kAccountIdBytes = 8;
inline constexpr size_t kAccountInfoBytes = 56;
inline constexpr size_t kHistoryEntryBytes = 96;
inline constexpr size_t kShardStatsBytes = 32;
inline constexpr size_t kCurrencyTotalBytes = 48;
inline constexpr size_t kStageRecordBytes = 48;
inline constexpr size_t kDiskRecordBytes = 24;

// Fixed parts of bodies (before their repeated records).
inline constexpr size_t kHelloFixedBytes = 8;
inline constexpr size_t kBackupFixedBytes = 8;  // then the path
inline constexpr size_t kBackupReplyBytes = 40;
inline constexpr size_t kHelloOkBytes = 24;
inline constexpr size_t kHistoryRequestBytes = 16;    // version 1
inline constexpr size_t kHistoryRequestBytesV2 = 40;  // with filters
inline constexpr size_t kOpsFixedBytesV2 = 8;         // issued_ns
// HISTORY (version 2) filter_flags: bit 0, the reason filter is on.
inline constexpr uint32_t kHistoryFilterReason = 1u << 0;
inline constexpr size_t kLookupReplyFixedBytes = 8;
inline constexpr size_t kHistoryReplyFixedBytes = 16;
inline constexpr size_t kStatsReplyFixedBytes = 160;
inline constexpr size_t kDigestReplyFixedBytes = 40;
inline constexpr size_t kErrorFixedBytes = 8;

// Protocol limits that are not configurable (the configurable ones are in
// ServerConfig and announced in HELLO_OK).
inline constexpr size_t kAuthTokenBytesMax = 256;
inline constexpr size_t kErrorMessageBytesMax = 1024;
// A BACKUP destination path (Linux's PATH_MAX, its NUL excluded).
inline constexpr size_t kBackupPathBytesMax = 4095;
// The largest reply body a client accepts: a lookup of 8,192 accounts is
// 448 KiB; digests list one record per currency.
inline constexpr size_t kReplyBodyBytesMax = 64u << 20;

// Message kinds. A reply's kind is its request's kind | 0x80.
enum class MessageKind : uint16_t {
  kHello = 0x01,
  kOps = 0x02,
  kLookup = 0x03,
  kHistory = 0x04,
  kStats = 0x05,
  kDigest = 0x06,
  kPing = 0x07,
  kStages = 0x08,
  kDisk = 0x09,
  kBackup = 0x0A,
  kHelloOk = 0x81,
  kOpsReply = 0x82,
  kLookupReply = 0x83,
  kHistoryReply = 0x84,
  kStatsReply = 0x85,
  kDigestReply = 0x86,
  kPong = 0x87,
  kStagesReply = 0x88,
  kDiskReply = 0x89,
  kBackupReply = 0x8A,
  kError = 0xFF,
};
inline constexpr uint16_t kReplyBit = 0x80;

bool IsKnownKind(uint16_t kind);
bool IsRequestKind(MessageKind kind);
std::string_view MessageKindName(MessageKind kind);

// ERROR codes. The numbers are wire format: never renumber, only append.
enum class ErrorCode : uint16_t {
  kBadMagic = 1,             // the first 4 bytes of a frame are not kMagic
  kUnsupportedVersion = 2,   // no common version, or a frame of another one
  kUnknownKind = 3,          // not a request kind this server knows
  kFrameTooLarge = 4,        // body_bytes above the announced maximum
  kBadChecksum = 5,          // body checksum does not match
  kBadLength = 6,            // count and body_bytes disagree for the kind
  kInvalidField = 7,         // a field value outside its documented range
  kHandshakeRequired = 8,    // the first frame was not HELLO
  kAuthFailed = 9,           // wrong or missing auth token
  kBusy = 10,                // the engine stayed full: not applied, retry
  kShuttingDown = 11,        // the server is stopping
  kDuplicateRequestId = 12,  // request id already in flight on this connection
  kTooManyConnections = 13,  // connection limit reached
  kIdleTimeout = 14,         // nothing happened for idle_timeout_ms
  kTruncatedFrame = 15,      // the peer closed in the middle of a frame
  kUnexpectedKind = 16,      // a known kind at the wrong time (second HELLO)
  kInternal = 17,            // the engine refused the request; not applied
  kBackupFailed = 18,        // BACKUP refused or failed; nothing published
};
inline constexpr uint16_t kErrorCodeMax = 18;
std::string_view ErrorCodeName(ErrorCode code);

// ERROR flags.
inline constexpr uint16_t kErrorFlagClosing = 1u << 0;  // connection closes

struct FrameHeader {
  uint32_t magic = kMagic;
  uint16_t version = kVersionMax;
  uint16_t kind = 0;  // a MessageKind
  uint64_t request_id = 0;
  uint32_t count = 0;       // records in the body (meaning depends on kind)
  uint32_t body_bytes = 0;  // bytes after the header
  uint64_t body_xxh3 = 0;   // XXH3_64bits(body), seed 0
};

void EncodeHeader(const FrameHeader& h, uint8_t* out);  // writes kHeaderBytes
FrameHeader DecodeHeader(const uint8_t* in);            // reads kHeaderBytes

uint64_t BodyChecksum(std::span<const uint8_t> body);

}  // namespace coffer::net
