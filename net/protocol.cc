#include "net/protocol.h"

#include <xxhash.h>

#include "net/wire.h"

namespace coffer::net {

bool IsKnownKind(uint16_t kind) {
  switch (static_cast<MessageKind>(kind)) {
    case MessageKind::kHello:
    case MessageKind::kOps:
    case MessageKind::kLookup:
    case MessageKind::kHistory:
    case MessageKind::kStats:
    case MessageKind::kDigest:
    case MessageKind::kPing:
    case MessageKind::kStages:
    case MessageKind::kDisk:
    case MessageKind::kBackup:
    case MessageKind::kHelloOk:
    case MessageKind::kOpsReply:
    case MessageKind::kLookupReply:
    case MessageKind::kHistoryReply:
    case MessageKind::kStatsReply:
    case MessageKind::kDigestReply:
    case MessageKind::kPong:
    case MessageKind::kStagesReply:
    case MessageKind::kDiskReply:
    case MessageKind::kBackupReply:
    case MessageKind::kError:
      return true;
  }
  return false;
}

bool IsRequestKind(MessageKind kind) {
  return IsKnownKind(static_cast<uint16_t>(kind)) &&
         (static_cast<uint16_t>(kind) & kReplyBit) == 0;
}

std::string_view MessageKindName(MessageKind kind) {
  switch (kind) {
    case MessageKind::kHello:
      return "hello";
    case MessageKind::kOps:
      return "ops";
    case MessageKind::kLookup:
      return "lookup";
    case MessageKind::kHistory:
      return "history";
    case MessageKind::kStats:
      return "stats";
    case MessageKind::kDigest:
      return "digest";
    case MessageKind::kPing:
      return "ping";
    case MessageKind::kStages:
      return "stages";
    case MessageKind::kDisk:
      return "disk";
    case MessageKind::kBackup:
      return "backup";
    case MessageKind::kHelloOk:
      return "hello_ok";
    case MessageKind::kOpsReply:
      return "ops_reply";
    case MessageKind::kLookupReply:
      return "lookup_reply";
    case MessageKind::kHistoryReply:
      return "history_reply";
    case MessageKind::kStatsReply:
      return "stats_reply";
    case MessageKind::kDigestReply:
      return "digest_reply";
    case MessageKind::kPong:
      return "pong";
    case MessageKind::kStagesReply:
      return "stages_reply";
    case MessageKind::kDiskReply:
      return "disk_reply";
    case MessageKind::kBackupReply:
      return "backup_reply";
    case MessageKind::kError:
      return "error";
  }
  return "unknown";
}

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBadMagic:
      return "bad_magic";
    case ErrorCode::kUnsupportedVersion:
      return "unsupported_version";
    case ErrorCode::kUnknownKind:
      return "unknown_kind";
    case ErrorCode::kFrameTooLarge:
      return "frame_too_large";
    case ErrorCode::kBadChecksum:
      return "bad_checksum";
    case ErrorCode::kBadLength:
      return "bad_length";
    case ErrorCode::kInvalidField:
      return "invalid_field";
    case ErrorCode::kHandshakeRequired:
      return "handshake_required";
    case ErrorCode::kAuthFailed:
      return "auth_failed";
    case ErrorCode::kBusy:
      return "busy";
    case ErrorCode::kShuttingDown:
      return "shutting_down";
    case ErrorCode::kDuplicateRequestId:
      return "duplicate_request_id";
    case ErrorCode::kTooManyConnections:
      return "too_many_connections";
    case ErrorCode::kIdleTimeout:
      return "idle_timeout";
    case ErrorCode::kTruncatedFrame:
      return "truncated_frame";
    case ErrorCode::kUnexpectedKind:
      return "unexpected_kind";
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kBackupFailed:
      return "backup_failed";
  }
  return "unknown";
}

void EncodeHeader(const FrameHeader& h, uint8_t* out) {
  wire::Put32(out + 0, h.magic);
  wire::Put16(out + 4, h.version);
  wire::Put16(out + 6, h.kind);
  wire::Put64(out + 8, h.request_id);
  wire::Put32(out + 16, h.count);
  wire::Put32(out + 20, h.body_bytes);
  wire::Put64(out + 24, h.body_xxh3);
}

FrameHeader DecodeHeader(const uint8_t* in) {
  FrameHeader h;
  h.magic = wire::Get32(in + 0);
  h.version = wire::Get16(in + 4);
  h.kind = wire::Get16(in + 6);
  h.request_id = wire::Get64(in + 8);
  h.count = wire::Get32(in + 16);
  h.body_bytes = wire::Get32(in + 20);
  h.body_xxh3 = wire::Get64(in + 24);
  return h;
}

uint64_t BodyChecksum(std::span<const uint8_t> body) {
  return XXH3_64bits(body.data(), body.size());
}

}  // namespace coffer::net
