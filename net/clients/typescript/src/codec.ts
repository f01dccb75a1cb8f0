// Frames of net/PROTOCOL.md: encoding and decoding of every request and
// reply kind. Pure functions over Buffers; 64-bit fields are BigInts.

import { ProtocolError } from "./errors";
import {
  ACCOUNT_BYTES,
  BACKUP_PATH_BYTES_MAX,
  CURRENCY_DIGEST_BYTES,
  DISK_AREA_BYTES,
  ERROR_FLAG_CLOSING,
  ERROR_MESSAGE_BYTES_MAX,
  EntryKind,
  ErrorCode,
  HEADER_BYTES,
  HELLO_HEADER_VERSION,
  HISTORY_ENTRY_BYTES,
  MAGIC,
  MessageKind,
  OP_BYTES,
  OpKind,
  RESULT_BYTES,
  RESULT_FLAG_DUPLICATE,
  ResultCode,
  SHARD_STATS_BYTES,
  STAGE_BYTES,
  TOKEN_BYTES_MAX,
  VERSION_ISSUE_TIME,
  resultCodeName,
} from "./protocol";
import { xxh3 } from "./xxh3";

// ---- Records ----

/**
 * One operation (64 bytes on the wire). Fields left out are 0. See
 * PROTOCOL.md "Operations" for what amount/aux/otherAccountId mean per kind;
 * the builders in ops.ts fill them in by name.
 */
export interface Op {
  opId: bigint;
  accountId: bigint;
  otherAccountId?: bigint;
  amount?: bigint;
  aux?: bigint;
  userData?: bigint;
  reason?: number;
  /** create_account: the currency. Others: 0, or the currency guard. */
  currency?: number;
  /** create_account only: bit 0 overdraft, bit 1 cap. */
  accountFlags?: number;
  kind: OpKind | number;
  /** Must be 0; settable only to provoke invalid_field. */
  reserved?: number;
  /** Bit 0: linked (chained with the next op). */
  flags?: number;
}

/** An Op with every field present, as decoded. */
export type FullOp = Required<Op>;

export interface OpResult {
  code: ResultCode | number;
  /** The protocol's name of the code ("insufficient_funds"). */
  codeName: string;
  /** code === ResultCode.Ok. */
  ok: boolean;
  /** The answer to a retry of an op already applied (or refused). */
  duplicate: boolean;
  flags: number;
  /** Balance of account_id after the op, or its current balance if refused. */
  balanceAfter: bigint;
  /** Ledger sequence number; 0 if refused before ordering. */
  seq: bigint;
}

export interface Account {
  /** The account id, or 0n if it does not exist. */
  id: bigint;
  exists: boolean;
  balance: bigint;
  held: bigint;
  overdraftLimit: bigint;
  balanceCap: bigint;
  currency: number;
  flags: number;
  historyCount: number;
}

export interface HistoryEntry {
  seq: bigint;
  opId: bigint;
  accountId: bigint;
  otherAccountId: bigint;
  amount: bigint;
  heldDelta: bigint;
  balanceAfter: bigint;
  heldAfter: bigint;
  userData: bigint;
  timestampNs: bigint;
  reason: number;
  number: number;
  kind: EntryKind | number;
}

export interface ShardStats {
  txnsApplied: bigint;
  multiShardTxns: bigint;
  deferredTxns: bigint;
  accounts: bigint;
}

export interface CurrencyDigest {
  currency: number;
  accounts: bigint;
  /** Sum of balances (i128). */
  balance: bigint;
  /** Sum of held amounts (i128). */
  held: bigint;
}

export interface StageLatency {
  stage: number;
  count: bigint;
  p50Ns: bigint;
  p99Ns: bigint;
  p999Ns: bigint;
  maxNs: bigint;
}

export interface DiskAreaUsage {
  area: number;
  files: bigint;
  bytes: bigint;
}

// ---- Messages ----

export interface HelloRequest {
  kind: MessageKind.Hello;
  minVersion: number;
  maxVersion: number;
  authToken: Buffer;
}
export interface OpsRequest {
  kind: MessageKind.Ops;
  /** Version 2: ns since the Unix epoch when first issued; 0n unknown. */
  issuedNs: bigint;
  ops: Op[];
}
export interface LookupRequest {
  kind: MessageKind.Lookup;
  accountIds: bigint[];
}
export interface HistoryRequest {
  kind: MessageKind.History;
  accountId: bigint;
  before: number;
  limit: number;
  timestampMinNs: bigint;
  timestampMaxNs: bigint;
  reason: number;
  filterFlags: number;
}
export interface EmptyRequest {
  kind:
    | MessageKind.Stats
    | MessageKind.Digest
    | MessageKind.Ping
    | MessageKind.Stages
    | MessageKind.Disk;
}
export interface BackupRequest {
  kind: MessageKind.Backup;
  path: string;
}
export type Request =
  | HelloRequest
  | OpsRequest
  | LookupRequest
  | HistoryRequest
  | EmptyRequest
  | BackupRequest;

export interface HelloOk {
  kind: MessageKind.HelloOk;
  version: number;
  shardCount: number;
  maxBodyBytes: number;
  maxOpsPerRequest: number;
  maxRequestsInFlight: number;
  maxHistoryLimit: number;
}
export interface OpsReply {
  kind: MessageKind.OpsReply;
  results: OpResult[];
}
export interface LookupReply {
  kind: MessageKind.LookupReply;
  /** The read reflects exactly the ops ordered at seq 1..seq. */
  seq: bigint;
  accounts: Account[];
}
export interface HistoryReply {
  kind: MessageKind.HistoryReply;
  seq: bigint;
  /** Pass as `before` for the next page; 0: no more entries. */
  nextBefore: number;
  found: boolean;
  entries: HistoryEntry[];
}
export interface StatsReply {
  kind: MessageKind.StatsReply;
  requests: bigint;
  opsSequenced: bigint;
  duplicates: bigint;
  refusedBeforeOrdering: bigint;
  lastSeq: bigint;
  durableSeq: bigint;
  logSyncs: bigint;
  logRecords: bigint;
  snapshots: bigint;
  snapshotFailures: bigint;
  snapshotSeq: bigint;
  snapshotPauseUs: bigint;
  connectionsOpen: bigint;
  connectionsAccepted: bigint;
  connectionsRefused: bigint;
  framesReceived: bigint;
  repliesSent: bigint;
  protocolErrors: bigint;
  submitRetries: bigint;
  busyReplies: bigint;
  shards: ShardStats[];
}
export interface DigestReply {
  kind: MessageKind.DigestReply;
  seq: bigint;
  digestLo: bigint;
  digestHi: bigint;
  /** The 128-bit digest hi:lo. */
  digest: bigint;
  accounts: bigint;
  holds: bigint;
  currencies: CurrencyDigest[];
}
export interface Pong {
  kind: MessageKind.Pong;
}
export interface StagesReply {
  kind: MessageKind.StagesReply;
  stages: StageLatency[];
}
export interface DiskReply {
  kind: MessageKind.DiskReply;
  areas: DiskAreaUsage[];
}
export interface BackupReply {
  kind: MessageKind.BackupReply;
  seq: bigint;
  snapshotSeq: bigint;
  files: bigint;
  bytes: bigint;
  durationUs: bigint;
}
export interface ErrorReply {
  kind: MessageKind.Error;
  code: ErrorCode | number;
  flags: number;
  closing: boolean;
  message: string;
}
export type Reply =
  | HelloOk
  | OpsReply
  | LookupReply
  | HistoryReply
  | StatsReply
  | DigestReply
  | Pong
  | StagesReply
  | DiskReply
  | BackupReply
  | ErrorReply;

export type Message = Request | Reply;

// ---- Header ----

export interface FrameHeader {
  magic: number;
  version: number;
  kind: number;
  requestId: bigint;
  count: number;
  bodyBytes: number;
  bodyXxh3: bigint;
}

export function decodeHeader(b: Buffer, at = 0): FrameHeader {
  return {
    magic: b.readUInt32LE(at),
    version: b.readUInt16LE(at + 4),
    kind: b.readUInt16LE(at + 6),
    requestId: b.readBigUInt64LE(at + 8),
    count: b.readUInt32LE(at + 16),
    bodyBytes: b.readUInt32LE(at + 20),
    bodyXxh3: b.readBigUInt64LE(at + 24),
  };
}

function frame(version: number, kind: number, requestId: bigint, count: number, body: Buffer): Buffer {
  const f = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  f.writeUInt32LE(MAGIC, 0);
  f.writeUInt16LE(version, 4);
  f.writeUInt16LE(kind, 6);
  f.writeBigUInt64LE(requestId, 8);
  f.writeUInt32LE(count, 16);
  f.writeUInt32LE(body.length, 20);
  f.writeBigUInt64LE(xxh3(body), 24);
  body.copy(f, HEADER_BYTES);
  return f;
}

// ---- Requests ----

function writeOp(b: Buffer, at: number, op: Op): void {
  b.writeBigUInt64LE(op.opId, at);
  b.writeBigUInt64LE(op.accountId, at + 8);
  b.writeBigUInt64LE(op.otherAccountId ?? 0n, at + 16);
  b.writeBigUInt64LE(op.amount ?? 0n, at + 24);
  b.writeBigUInt64LE(op.aux ?? 0n, at + 32);
  b.writeBigUInt64LE(op.userData ?? 0n, at + 40);
  b.writeUInt32LE(op.reason ?? 0, at + 48);
  b.writeUInt32LE(op.currency ?? 0, at + 52);
  b.writeUInt32LE(op.accountFlags ?? 0, at + 56);
  b.writeUInt8(op.kind, at + 60);
  b.writeUInt8(op.reserved ?? 0, at + 61);
  b.writeUInt16LE(op.flags ?? 0, at + 62);
}

function readOp(b: Buffer, at: number): FullOp {
  return {
    opId: b.readBigUInt64LE(at),
    accountId: b.readBigUInt64LE(at + 8),
    otherAccountId: b.readBigUInt64LE(at + 16),
    amount: b.readBigUInt64LE(at + 24),
    aux: b.readBigUInt64LE(at + 32),
    userData: b.readBigUInt64LE(at + 40),
    reason: b.readUInt32LE(at + 48),
    currency: b.readUInt32LE(at + 52),
    accountFlags: b.readUInt32LE(at + 56),
    kind: b.readUInt8(at + 60),
    reserved: b.readUInt8(at + 61),
    flags: b.readUInt16LE(at + 62),
  };
}

/** The count and body of a request for a connection of `version`. */
export function encodeRequestBody(req: Request, version: number): { count: number; body: Buffer } {
  switch (req.kind) {
    case MessageKind.Hello: {
      if (req.authToken.length > TOKEN_BYTES_MAX) {
        throw new RangeError(`auth token of ${req.authToken.length} bytes; at most ${TOKEN_BYTES_MAX}`);
      }
      const b = Buffer.alloc(8 + req.authToken.length);
      b.writeUInt16LE(req.minVersion, 0);
      b.writeUInt16LE(req.maxVersion, 2);
      b.writeUInt16LE(req.authToken.length, 4);
      req.authToken.copy(b, 8);
      return { count: 0, body: b };
    }
    case MessageKind.Ops: {
      const fixed = version >= VERSION_ISSUE_TIME ? 8 : 0;
      const b = Buffer.alloc(fixed + req.ops.length * OP_BYTES);
      if (fixed) b.writeBigUInt64LE(req.issuedNs, 0);
      req.ops.forEach((op, i) => writeOp(b, fixed + i * OP_BYTES, op));
      return { count: req.ops.length, body: b };
    }
    case MessageKind.Lookup: {
      const b = Buffer.alloc(req.accountIds.length * 8);
      req.accountIds.forEach((id, i) => b.writeBigUInt64LE(id, i * 8));
      return { count: req.accountIds.length, body: b };
    }
    case MessageKind.History: {
      const b = Buffer.alloc(version >= VERSION_ISSUE_TIME ? 40 : 16);
      b.writeBigUInt64LE(req.accountId, 0);
      b.writeUInt32LE(req.before, 8);
      b.writeUInt32LE(req.limit, 12);
      if (b.length === 40) {
        b.writeBigUInt64LE(req.timestampMinNs, 16);
        b.writeBigUInt64LE(req.timestampMaxNs, 24);
        b.writeUInt32LE(req.reason, 32);
        b.writeUInt32LE(req.filterFlags, 36);
      }
      return { count: 0, body: b };
    }
    case MessageKind.Backup: {
      const path = Buffer.from(req.path, "utf8");
      const b = Buffer.alloc(8 + path.length);
      b.writeUInt32LE(path.length, 0);
      path.copy(b, 8);
      return { count: 0, body: b };
    }
    case MessageKind.Stats:
    case MessageKind.Digest:
    case MessageKind.Ping:
    case MessageKind.Stages:
    case MessageKind.Disk:
      return { count: 0, body: Buffer.alloc(0) };
  }
}

/** One whole request frame (header + body) for a connection of `version`. */
export function encodeRequest(requestId: bigint, req: Request, version: number): Buffer {
  const { count, body } = encodeRequestBody(req, version);
  const headerVersion = req.kind === MessageKind.Hello ? HELLO_HEADER_VERSION : version;
  return frame(headerVersion, req.kind, requestId, count, body);
}

// ---- Decoding ----

function need(cond: boolean, what: string): void {
  if (!cond) throw new ProtocolError(what);
}

function records(h: FrameHeader, fixed: number, each: number, name: string): void {
  need(
    h.bodyBytes === fixed + h.count * each,
    `${name}: body of ${h.bodyBytes} bytes for count ${h.count} (expected ${fixed} + ${h.count} x ${each})`,
  );
}

function decodeResult(b: Buffer, at: number): OpResult {
  const code = b.readUInt16LE(at);
  const flags = b.readUInt16LE(at + 2);
  return {
    code,
    codeName: resultCodeName(code),
    ok: code === ResultCode.Ok,
    duplicate: (flags & RESULT_FLAG_DUPLICATE) !== 0,
    flags,
    balanceAfter: b.readBigInt64LE(at + 8),
    seq: b.readBigUInt64LE(at + 16),
  };
}

function decodeAccount(b: Buffer, at: number): Account {
  const id = b.readBigUInt64LE(at);
  return {
    id,
    exists: id !== 0n,
    balance: b.readBigInt64LE(at + 8),
    held: b.readBigUInt64LE(at + 16),
    overdraftLimit: b.readBigUInt64LE(at + 24),
    balanceCap: b.readBigUInt64LE(at + 32),
    currency: b.readUInt32LE(at + 40),
    flags: b.readUInt32LE(at + 44),
    historyCount: b.readUInt32LE(at + 48),
  };
}

function decodeEntry(b: Buffer, at: number): HistoryEntry {
  return {
    seq: b.readBigUInt64LE(at),
    opId: b.readBigUInt64LE(at + 8),
    accountId: b.readBigUInt64LE(at + 16),
    otherAccountId: b.readBigUInt64LE(at + 24),
    amount: b.readBigInt64LE(at + 32),
    heldDelta: b.readBigInt64LE(at + 40),
    balanceAfter: b.readBigInt64LE(at + 48),
    heldAfter: b.readBigUInt64LE(at + 56),
    userData: b.readBigUInt64LE(at + 64),
    timestampNs: b.readBigUInt64LE(at + 72),
    reason: b.readUInt32LE(at + 80),
    number: b.readUInt32LE(at + 84),
    kind: b.readUInt8(at + 88),
  };
}

function readI128(b: Buffer, at: number): bigint {
  return (b.readBigInt64LE(at + 8) << 64n) | b.readBigUInt64LE(at);
}

const STATS_FIELDS = [
  "requests",
  "opsSequenced",
  "duplicates",
  "refusedBeforeOrdering",
  "lastSeq",
  "durableSeq",
  "logSyncs",
  "logRecords",
  "snapshots",
  "snapshotFailures",
  "snapshotSeq",
  "snapshotPauseUs",
  "connectionsOpen",
  "connectionsAccepted",
  "connectionsRefused",
  "framesReceived",
  "repliesSent",
  "protocolErrors",
  "submitRetries",
  "busyReplies",
] as const;
const STATS_FIXED_BYTES = STATS_FIELDS.length * 8; // 160

/**
 * Decodes the body of a reply frame (server to client). Throws
 * ProtocolError when the body disagrees with the kind's layout.
 */
export function decodeReply(h: FrameHeader, b: Buffer): Reply {
  switch (h.kind) {
    case MessageKind.HelloOk:
      records(h, 24, 0, "hello_ok");
      return {
        kind: MessageKind.HelloOk,
        version: b.readUInt16LE(0),
        shardCount: b.readUInt32LE(4),
        maxBodyBytes: b.readUInt32LE(8),
        maxOpsPerRequest: b.readUInt32LE(12),
        maxRequestsInFlight: b.readUInt32LE(16),
        maxHistoryLimit: b.readUInt32LE(20),
      };
    case MessageKind.OpsReply: {
      records(h, 0, RESULT_BYTES, "ops_reply");
      const results: OpResult[] = new Array(h.count);
      for (let i = 0; i < h.count; i++) results[i] = decodeResult(b, i * RESULT_BYTES);
      return { kind: MessageKind.OpsReply, results };
    }
    case MessageKind.LookupReply: {
      records(h, 8, ACCOUNT_BYTES, "lookup_reply");
      const accounts: Account[] = [];
      for (let i = 0; i < h.count; i++) accounts.push(decodeAccount(b, 8 + i * ACCOUNT_BYTES));
      return { kind: MessageKind.LookupReply, seq: b.readBigUInt64LE(0), accounts };
    }
    case MessageKind.HistoryReply: {
      records(h, 16, HISTORY_ENTRY_BYTES, "history_reply");
      const entries: HistoryEntry[] = [];
      for (let i = 0; i < h.count; i++) entries.push(decodeEntry(b, 16 + i * HISTORY_ENTRY_BYTES));
      return {
        kind: MessageKind.HistoryReply,
        seq: b.readBigUInt64LE(0),
        nextBefore: b.readUInt32LE(8),
        found: b.readUInt8(12) !== 0,
        entries,
      };
    }
    case MessageKind.StatsReply: {
      records(h, STATS_FIXED_BYTES, SHARD_STATS_BYTES, "stats_reply");
      const r: Record<string, unknown> = { kind: MessageKind.StatsReply };
      STATS_FIELDS.forEach((f, i) => (r[f] = b.readBigUInt64LE(i * 8)));
      const shards: ShardStats[] = [];
      for (let i = 0; i < h.count; i++) {
        const at = STATS_FIXED_BYTES + i * SHARD_STATS_BYTES;
        shards.push({
          txnsApplied: b.readBigUInt64LE(at),
          multiShardTxns: b.readBigUInt64LE(at + 8),
          deferredTxns: b.readBigUInt64LE(at + 16),
          accounts: b.readBigUInt64LE(at + 24),
        });
      }
      r.shards = shards;
      return r as unknown as StatsReply;
    }
    case MessageKind.DigestReply: {
      records(h, 40, CURRENCY_DIGEST_BYTES, "digest_reply");
      const currencies: CurrencyDigest[] = [];
      for (let i = 0; i < h.count; i++) {
        const at = 40 + i * CURRENCY_DIGEST_BYTES;
        currencies.push({
          currency: b.readUInt32LE(at),
          accounts: b.readBigUInt64LE(at + 8),
          balance: readI128(b, at + 16),
          held: readI128(b, at + 32),
        });
      }
      const digestLo = b.readBigUInt64LE(8);
      const digestHi = b.readBigUInt64LE(16);
      return {
        kind: MessageKind.DigestReply,
        seq: b.readBigUInt64LE(0),
        digestLo,
        digestHi,
        digest: (digestHi << 64n) | digestLo,
        accounts: b.readBigUInt64LE(24),
        holds: b.readBigUInt64LE(32),
        currencies,
      };
    }
    case MessageKind.Pong:
      records(h, 0, 0, "pong");
      return { kind: MessageKind.Pong };
    case MessageKind.StagesReply: {
      records(h, 0, STAGE_BYTES, "stages_reply");
      const stages: StageLatency[] = [];
      for (let i = 0; i < h.count; i++) {
        const at = i * STAGE_BYTES;
        stages.push({
          stage: b.readUInt16LE(at),
          count: b.readBigUInt64LE(at + 8),
          p50Ns: b.readBigUInt64LE(at + 16),
          p99Ns: b.readBigUInt64LE(at + 24),
          p999Ns: b.readBigUInt64LE(at + 32),
          maxNs: b.readBigUInt64LE(at + 40),
        });
      }
      return { kind: MessageKind.StagesReply, stages };
    }
    case MessageKind.DiskReply: {
      records(h, 0, DISK_AREA_BYTES, "disk_reply");
      const areas: DiskAreaUsage[] = [];
      for (let i = 0; i < h.count; i++) {
        const at = i * DISK_AREA_BYTES;
        areas.push({ area: b.readUInt16LE(at), files: b.readBigUInt64LE(at + 8), bytes: b.readBigUInt64LE(at + 16) });
      }
      return { kind: MessageKind.DiskReply, areas };
    }
    case MessageKind.BackupReply:
      records(h, 40, 0, "backup_reply");
      return {
        kind: MessageKind.BackupReply,
        seq: b.readBigUInt64LE(0),
        snapshotSeq: b.readBigUInt64LE(8),
        files: b.readBigUInt64LE(16),
        bytes: b.readBigUInt64LE(24),
        durationUs: b.readBigUInt64LE(32),
      };
    case MessageKind.Error: {
      need(b.length >= 8, `error: body of ${b.length} bytes, at least 8`);
      const n = b.readUInt32LE(4);
      need(n <= ERROR_MESSAGE_BYTES_MAX && b.length === 8 + n, `error: message_bytes ${n} in a body of ${b.length}`);
      const flags = b.readUInt16LE(2);
      return {
        kind: MessageKind.Error,
        code: b.readUInt16LE(0),
        flags,
        closing: (flags & ERROR_FLAG_CLOSING) !== 0,
        message: b.toString("utf8", 8, 8 + n),
      };
    }
    default:
      throw new ProtocolError(`unknown reply kind 0x${h.kind.toString(16)}`);
  }
}

/**
 * Decodes the body of a request frame (client to server) of a connection of
 * `version` (for tests and tools; the client itself only encodes them).
 */
export function decodeRequest(h: FrameHeader, b: Buffer, version: number): Request {
  switch (h.kind) {
    case MessageKind.Hello: {
      need(b.length >= 8, "hello: body under 8 bytes");
      const n = b.readUInt16LE(4);
      need(b.length === 8 + n, `hello: token_bytes ${n} in a body of ${b.length}`);
      return {
        kind: MessageKind.Hello,
        minVersion: b.readUInt16LE(0),
        maxVersion: b.readUInt16LE(2),
        authToken: Buffer.from(b.subarray(8, 8 + n)),
      };
    }
    case MessageKind.Ops: {
      const fixed = version >= VERSION_ISSUE_TIME ? 8 : 0;
      records(h, fixed, OP_BYTES, "ops");
      const ops: FullOp[] = [];
      for (let i = 0; i < h.count; i++) ops.push(readOp(b, fixed + i * OP_BYTES));
      return { kind: MessageKind.Ops, issuedNs: fixed ? b.readBigUInt64LE(0) : 0n, ops };
    }
    case MessageKind.Lookup: {
      records(h, 0, 8, "lookup");
      const accountIds: bigint[] = [];
      for (let i = 0; i < h.count; i++) accountIds.push(b.readBigUInt64LE(i * 8));
      return { kind: MessageKind.Lookup, accountIds };
    }
    case MessageKind.History: {
      const v2 = version >= VERSION_ISSUE_TIME;
      records(h, v2 ? 40 : 16, 0, "history");
      return {
        kind: MessageKind.History,
        accountId: b.readBigUInt64LE(0),
        before: b.readUInt32LE(8),
        limit: b.readUInt32LE(12),
        timestampMinNs: v2 ? b.readBigUInt64LE(16) : 0n,
        timestampMaxNs: v2 ? b.readBigUInt64LE(24) : 0n,
        reason: v2 ? b.readUInt32LE(32) : 0,
        filterFlags: v2 ? b.readUInt32LE(36) : 0,
      };
    }
    case MessageKind.Backup: {
      need(b.length >= 8, "backup: body under 8 bytes");
      const n = b.readUInt32LE(0);
      need(n <= BACKUP_PATH_BYTES_MAX && b.length === 8 + n, `backup: path_bytes ${n} in a body of ${b.length}`);
      return { kind: MessageKind.Backup, path: b.toString("utf8", 8) };
    }
    case MessageKind.Stats:
    case MessageKind.Digest:
    case MessageKind.Ping:
    case MessageKind.Stages:
    case MessageKind.Disk:
      records(h, 0, 0, MessageKind[h.kind]);
      return { kind: h.kind };
    default:
      throw new ProtocolError(`unknown request kind 0x${h.kind.toString(16)}`);
  }
}

/** A whole frame split and checked: magic, length, checksum. */
export interface DecodedFrame {
  header: FrameHeader;
  body: Buffer;
}

/**
 * Splits one whole frame from `b` at `at`: null if fewer bytes than the
 * frame are there yet. Throws ProtocolError on bad magic, a body above
 * `bodyBytesMax` or a wrong checksum.
 */
export function splitFrame(b: Buffer, at = 0, bodyBytesMax = Number.MAX_SAFE_INTEGER): DecodedFrame | null {
  if (b.length - at < HEADER_BYTES) return null;
  const header = decodeHeader(b, at);
  need(header.magic === MAGIC, `bad magic 0x${header.magic.toString(16)}`);
  need(header.bodyBytes <= bodyBytesMax, `frame body of ${header.bodyBytes} bytes, above ${bodyBytesMax}`);
  if (b.length - at < HEADER_BYTES + header.bodyBytes) return null;
  const body = b.subarray(at + HEADER_BYTES, at + HEADER_BYTES + header.bodyBytes);
  const sum = xxh3(body);
  need(
    sum === header.bodyXxh3,
    `bad checksum: body hashes to 0x${sum.toString(16)}, header says 0x${header.bodyXxh3.toString(16)}`,
  );
  return { header, body };
}
