// The constants and code tables of net/PROTOCOL.md.

export const MAGIC = 0x52464f43; // "COFR" little-endian
export const HEADER_BYTES = 32;
export const VERSION_MIN = 1;
export const VERSION_MAX = 2;
/** The first version whose OPS carry issued_ns and whose HISTORY has filters. */
export const VERSION_ISSUE_TIME = 2;
/** HELLO's header version is always 1. */
export const HELLO_HEADER_VERSION = 1;

export const OP_BYTES = 64;
export const RESULT_BYTES = 24;
export const ACCOUNT_BYTES = 56;
export const HISTORY_ENTRY_BYTES = 96;
export const SHARD_STATS_BYTES = 32;
export const CURRENCY_DIGEST_BYTES = 48;
export const STAGE_BYTES = 48;
export const DISK_AREA_BYTES = 24;
export const TOKEN_BYTES_MAX = 256;
export const ERROR_MESSAGE_BYTES_MAX = 1024;
export const BACKUP_PATH_BYTES_MAX = 4095;
/** Longest chain of linked ops. */
export const CHAIN_OPS_MAX = 64;
/** A bound on reply bodies this client accepts (a sanity check on the header). */
export const REPLY_BODY_BYTES_MAX = 64 * 1024 * 1024;

export const OP_FLAG_LINKED = 1;
export const RESULT_FLAG_DUPLICATE = 1;
export const ERROR_FLAG_CLOSING = 1;
export const ACCOUNT_FLAG_OVERDRAFT = 1;
export const ACCOUNT_FLAG_CAP = 2;
export const HISTORY_FILTER_REASON = 1;
export const REPLY_BIT = 0x80;

export enum MessageKind {
  Hello = 0x01,
  Ops = 0x02,
  Lookup = 0x03,
  History = 0x04,
  Stats = 0x05,
  Digest = 0x06,
  Ping = 0x07,
  Stages = 0x08,
  Disk = 0x09,
  Backup = 0x0a,
  HelloOk = 0x81,
  OpsReply = 0x82,
  LookupReply = 0x83,
  HistoryReply = 0x84,
  StatsReply = 0x85,
  DigestReply = 0x86,
  Pong = 0x87,
  StagesReply = 0x88,
  DiskReply = 0x89,
  BackupReply = 0x8a,
  Error = 0xff,
}

export enum OpKind {
  CreateAccount = 1,
  Credit = 2,
  Debit = 3,
  Transfer = 4,
  Hold = 5,
  Capture = 6,
  Release = 7,
}

/** Result codes of ops (PROTOCOL.md, table result_codes). 0 is success. */
export enum ResultCode {
  Ok = 0,
  LinkedOpFailed = 1,
  LinkedChainOpen = 2,
  LinkedChainTooLong = 3,
  OpIdZero = 4,
  AccountIdZero = 5,
  InvalidKind = 6,
  InvalidFlags = 7,
  InvalidField = 8,
  AmountZero = 9,
  SameAccount = 10,
  CurrencyZero = 11,
  AccountNotFound = 12,
  AccountExists = 13,
  AccountExistsWithDifferentFields = 14,
  CurrencyMismatch = 15,
  InsufficientFunds = 16,
  BalanceCapExceeded = 17,
  Overflow = 18,
  OpIdReusedWithDifferentFields = 19,
  HoldNotFound = 20,
  HoldAlreadyClosed = 21,
  HoldExpired = 22,
  CaptureExceedsHold = 23,
  OverdraftLimitTooLarge = 24,
  OpIdRepeatedInChain = 25,
  OpIssuedInFuture = 26,
  OpExpired = 27,
}

const RESULT_CODE_NAMES: readonly string[] = [
  "ok",
  "linked_op_failed",
  "linked_chain_open",
  "linked_chain_too_long",
  "op_id_zero",
  "account_id_zero",
  "invalid_kind",
  "invalid_flags",
  "invalid_field",
  "amount_zero",
  "same_account",
  "currency_zero",
  "account_not_found",
  "account_exists",
  "account_exists_with_different_fields",
  "currency_mismatch",
  "insufficient_funds",
  "balance_cap_exceeded",
  "overflow",
  "op_id_reused_with_different_fields",
  "hold_not_found",
  "hold_already_closed",
  "hold_expired",
  "capture_exceeds_hold",
  "overdraft_limit_too_large",
  "op_id_repeated_in_chain",
  "op_issued_in_future",
  "op_expired",
];

/** The protocol's name of a result code; unknown codes (a later server) as "code_N". */
export function resultCodeName(code: number): string {
  return RESULT_CODE_NAMES[code] ?? `code_${code}`;
}

/** ERROR frame codes (PROTOCOL.md, table error_codes). */
export enum ErrorCode {
  BadMagic = 1,
  UnsupportedVersion = 2,
  UnknownKind = 3,
  FrameTooLarge = 4,
  BadChecksum = 5,
  BadLength = 6,
  InvalidField = 7,
  HandshakeRequired = 8,
  AuthFailed = 9,
  Busy = 10,
  ShuttingDown = 11,
  DuplicateRequestId = 12,
  TooManyConnections = 13,
  IdleTimeout = 14,
  TruncatedFrame = 15,
  UnexpectedKind = 16,
  Internal = 17,
  BackupFailed = 18,
}

const ERROR_CODE_NAMES: readonly string[] = [
  "none",
  "bad_magic",
  "unsupported_version",
  "unknown_kind",
  "frame_too_large",
  "bad_checksum",
  "bad_length",
  "invalid_field",
  "handshake_required",
  "auth_failed",
  "busy",
  "shutting_down",
  "duplicate_request_id",
  "too_many_connections",
  "idle_timeout",
  "truncated_frame",
  "unexpected_kind",
  "internal",
  "backup_failed",
];

export function errorCodeName(code: number): string {
  return (code > 0 && ERROR_CODE_NAMES[code]) || `error_${code}`;
}

/** History entry kinds (PROTOCOL.md, table entry_kinds). */
export enum EntryKind {
  Create = 1,
  Credit = 2,
  Debit = 3,
  TransferOut = 4,
  TransferIn = 5,
  Hold = 6,
  CaptureOut = 7,
  CaptureIn = 8,
  Release = 9,
  HoldExpired = 10,
}

/** STAGES stages (PROTOCOL.md, table stages). */
export enum Stage {
  ReceivedSubmitted = 1,
  SubmittedOrdered = 2,
  OrderedApplied = 3,
  AppliedReleased = 4,
  ReleasedWritten = 5,
  Total = 6,
  LogFsync = 7,
  LogBatchOps = 8,
  Recovery = 9,
}

/** DISK areas. */
export enum DiskArea {
  Log = 1,
  Archive = 2,
  Snapshots = 3,
  OpIdIndex = 4,
  HistoryStore = 5,
}

/** The reply kind of a request kind. */
export function replyKindOf(kind: MessageKind): MessageKind {
  return (kind | REPLY_BIT) as MessageKind;
}
