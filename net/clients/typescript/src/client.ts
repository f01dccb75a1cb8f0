// A Promise-based client of cofferd: one TCP connection, many requests in
// flight on it (replies matched by request id), concurrent ops calls
// coalesced into shared OPS frames, and reconnects that resend every
// unanswered request byte for byte (same request bodies, same op ids, same
// issue time), so the server's exactly-once answers a request that had been
// applied as a duplicate instead of applying it twice.
//
// Coalescing (the C++ client's coalesce_ops): every call is queued; a pump
// that runs once the current turn of the event loop has finished (setImmediate)
// and again whenever replies free slots, fills every free slot (at most the
// server's max_requests_in_flight frames in flight), taking as many queued
// ops calls into one frame as fit the server's limits. So calls made while
// earlier frames are on the wire are merged into the next frame. A call's
// ops stay contiguous and in order; a call whose last op is linked (an open
// chain), one too large for a frame, and one that brings its own issuedNs (a
// retry) go alone; a merged frame carries its oldest call's issue time.
// Every request leaves in the order it was made; only ops calls merge.

import * as net from "node:net";
import {
  decodeReply,
  encodeRequest,
  FrameHeader,
  Op,
  OpsRequest,
  OpResult,
  Reply,
  Request,
  splitFrame,
  HelloOk,
  LookupReply,
  HistoryReply,
  StatsReply,
  DigestReply,
  StagesReply,
  DiskReply,
  BackupReply,
  Account,
  ErrorReply,
} from "./codec";
import {
  AuthError,
  BusyError,
  ClosedError,
  CofferError,
  ConnectionError,
  ProtocolError,
  QueueFullError,
  ServerError,
  TimeoutError,
  VersionError,
} from "./errors";
import {
  ErrorCode,
  errorCodeName,
  HISTORY_FILTER_REASON,
  MessageKind,
  OP_BYTES,
  OP_FLAG_LINKED,
  REPLY_BODY_BYTES_MAX,
  replyKindOf,
  VERSION_ISSUE_TIME,
  VERSION_MAX,
  VERSION_MIN,
} from "./protocol";
import { initChecksum } from "./xxh3";

export interface ClientOptions {
  /** Default "127.0.0.1". */
  host?: string;
  /** Default 7300. */
  port?: number;
  /** The server's shared secret (HELLO). Default none. */
  authToken?: string | Buffer;
  /** TCP connect plus HELLO, per attempt. Default 5000 ms. */
  connectTimeoutMs?: number;
  /**
   * After a lost connection, attempts to reconnect before every unanswered
   * call fails with ConnectionError. Default 10. The first connect
   * (Client.connect) is tried once.
   */
  reconnectAttempts?: number;
  /** Wait before the first reconnect attempt, doubling up to reconnectBackoffMaxMs. Default 20 ms. */
  reconnectBackoffMs?: number;
  /** Default 1000 ms. */
  reconnectBackoffMaxMs?: number;
  /** ERROR busy: resends (after busyBackoffMs, doubling up to 1 s) before BusyError. Default 20. */
  busyRetries?: number;
  /** Default 5 ms. */
  busyBackoffMs?: number;
  /**
   * How long a call waits for its answer before it rejects with
   * TimeoutError (the request may still apply). 0: no limit. Default 30000 ms.
   */
  callTimeoutMs?: number;
  /** Merge concurrent ops calls into shared OPS frames. Default true. */
  coalesceOps?: boolean;
  /** Frames in flight before calls queue: at most the server's max_requests_in_flight; lower if set (0: the server's). */
  framesInFlightMax?: number;
  /** Ops waiting for a slot (a non-ops request counts as one) before calls are refused with QueueFullError. Default 65536. */
  queuedOpsMax?: number;
  /** Highest protocol version to ask for (1 or 2). Default 2. */
  versionMax?: number;
  /** Clock that stamps ops requests (ns since the Unix epoch). Default the system clock. */
  clockNs?: () => bigint;
}

export interface CallOptions {
  /** Overrides ClientOptions.callTimeoutMs for this call. */
  timeoutMs?: number;
}

export interface ApplyOptions extends CallOptions {
  /**
   * When these ops were first issued (ns since the Unix epoch): pass the
   * original call's value when retrying it yourself (after a TimeoutError or
   * a restart of your process), with the same op ids. Default: now.
   * Such a call goes in a frame of its own.
   */
  issuedNs?: bigint;
}

export interface HistoryOptions extends CallOptions {
  /** Only entries numbered below this (the cursor: a page's nextBefore); 0 or absent: from the newest. */
  before?: number;
  /** Entries per page, 1..server's max_history_limit. Default 100. */
  limit?: number;
  /** Version 2: only entries stamped at or after this (ns since the epoch). */
  timestampMinNs?: bigint;
  /** Version 2: only entries stamped at or before this. */
  timestampMaxNs?: bigint;
  /** Version 2: only entries with this reason. */
  reason?: number;
}

/** The limits the server announced in HELLO_OK. */
export type ServerInfo = Omit<HelloOk, "kind">;

type Settle = (err: Error | null, reply?: Reply) => void;

/** One caller waiting for its answer. */
interface Call {
  request: Request;
  weight: number;
  alone: boolean;
  settle: Settle;
  queued: boolean;
}

interface Pending {
  replyKind: MessageKind;
  request: Request;
  frame?: Buffer;
  frameVersion: number;
  settle: Settle;
  busyRetries: number;
  sends: number;
}

interface Conn {
  socket: net.Socket;
  ready: boolean;
  helloId: number;
  version: number;
  rbuf: Buffer;
}

const EMPTY = Buffer.alloc(0);
const BUSY_BACKOFF_MAX_MS = 1000;

function systemClockNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

export class Client {
  private readonly o: Required<Omit<ClientOptions, "authToken">> & { authToken: Buffer };
  private conn: Conn | undefined;
  private readonly pending = new Map<number, Pending>(); // insertion order = resend order
  private queue: Call[] = [];
  private queueHead = 0;
  private queuedWeight = 0;
  private pumpScheduled = false;
  private nextId = 1;
  private closed = false;
  private everConnected = false;
  private attemptsLeft = 0;
  private backoffMs: number;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private readonly busyTimers = new Set<NodeJS.Timeout>();
  private lastError = "";
  private firstConnect: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private info: ServerInfo | undefined;
  private reconnectCount = 0;
  private framesMadeCount = 0;
  private callsFramedCount = 0;

  private constructor(options: ClientOptions) {
    const versionMax = options.versionMax ?? VERSION_MAX;
    if (!Number.isInteger(versionMax) || versionMax < VERSION_MIN || versionMax > VERSION_MAX) {
      throw new RangeError(`versionMax ${versionMax}: this client speaks ${VERSION_MIN}..${VERSION_MAX}`);
    }
    const token = options.authToken ?? "";
    this.o = {
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 7300,
      authToken: typeof token === "string" ? Buffer.from(token, "utf8") : token,
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      reconnectAttempts: options.reconnectAttempts ?? 10,
      reconnectBackoffMs: options.reconnectBackoffMs ?? 20,
      reconnectBackoffMaxMs: options.reconnectBackoffMaxMs ?? 1000,
      busyRetries: options.busyRetries ?? 20,
      busyBackoffMs: options.busyBackoffMs ?? 5,
      callTimeoutMs: options.callTimeoutMs ?? 30_000,
      coalesceOps: options.coalesceOps ?? true,
      framesInFlightMax: options.framesInFlightMax ?? 0,
      queuedOpsMax: options.queuedOpsMax ?? 65_536,
      versionMax,
      clockNs: options.clockNs ?? systemClockNs,
    };
    this.backoffMs = this.o.reconnectBackoffMs;
  }

  /**
   * Connects and completes the handshake (one attempt). Rejects with
   * ConnectionError (cannot connect, or refused: too_many_connections),
   * AuthError, VersionError, TimeoutError.
   */
  static async connect(options: ClientOptions = {}): Promise<Client> {
    await initChecksum();
    const c = new Client(options);
    await new Promise<void>((resolve, reject) => {
      c.firstConnect = { resolve, reject };
      c.attemptsLeft = 0;
      c.startConnect();
    });
    return c;
  }

  // ---- Public calls ----

  /** Applies ops as one request (in order; linked chains all or nothing); one result per op. */
  async apply(ops: Op[], options: ApplyOptions = {}): Promise<OpResult[]> {
    if (ops.length === 0) throw new RangeError("apply: no ops");
    const own = options.issuedNs !== undefined && options.issuedNs !== 0n;
    const req: OpsRequest = { kind: MessageKind.Ops, issuedNs: own ? options.issuedNs! : this.o.clockNs(), ops };
    const results = ((await this.call(req, options, own)) as { results: OpResult[] }).results;
    if (results.length !== ops.length) {
      throw new ProtocolError(`the server answered ${results.length} results to ${ops.length} ops`);
    }
    return results;
  }

  /** One op; its result. */
  async applyOne(op: Op, options: ApplyOptions = {}): Promise<OpResult> {
    return (await this.apply([op], options))[0];
  }

  async lookup(accountIds: bigint[], options: CallOptions = {}): Promise<LookupReply> {
    if (accountIds.length === 0) throw new RangeError("lookup: no account ids");
    return (await this.call({ kind: MessageKind.Lookup, accountIds }, options)) as LookupReply;
  }

  /** One account (exists false if there is none). */
  async account(accountId: bigint, options: CallOptions = {}): Promise<Account> {
    return (await this.lookup([accountId], options)).accounts[0];
  }

  /**
   * One page of an account's history, newest first. Filters need protocol
   * version 2 (VersionError on a version 1 connection).
   */
  async history(accountId: bigint, options: HistoryOptions = {}): Promise<HistoryReply> {
    return (await this.call(
      {
        kind: MessageKind.History,
        accountId,
        before: options.before ?? 0,
        limit: options.limit ?? 100,
        timestampMinNs: options.timestampMinNs ?? 0n,
        timestampMaxNs: options.timestampMaxNs ?? 0n,
        reason: options.reason ?? 0,
        filterFlags: options.reason !== undefined ? HISTORY_FILTER_REASON : 0,
      },
      options,
    )) as HistoryReply;
  }

  /** Every page of an account's history, newest first, following the cursor until it is 0. */
  async *historyPages(accountId: bigint, options: HistoryOptions = {}): AsyncGenerator<HistoryReply> {
    let before = options.before ?? 0;
    for (;;) {
      const page = await this.history(accountId, { ...options, before });
      yield page;
      if (page.nextBefore === 0) return;
      before = page.nextBefore;
    }
  }

  async stats(options: CallOptions = {}): Promise<StatsReply> {
    return (await this.call({ kind: MessageKind.Stats }, options)) as StatsReply;
  }

  async digest(options: CallOptions = {}): Promise<DigestReply> {
    return (await this.call({ kind: MessageKind.Digest }, options)) as DigestReply;
  }

  async ping(options: CallOptions = {}): Promise<void> {
    await this.call({ kind: MessageKind.Ping }, options);
  }

  /** Latency by stage. A server older than STAGES answers unknown_kind (ServerError) and closes. */
  async stages(options: CallOptions = {}): Promise<StagesReply> {
    return (await this.call({ kind: MessageKind.Stages }, options)) as StagesReply;
  }

  async disk(options: CallOptions = {}): Promise<DiskReply> {
    return (await this.call({ kind: MessageKind.Disk }, options)) as DiskReply;
  }

  /**
   * A consistent copy of the server's data directory into `path` (absolute,
   * on the server's host). Waits up to timeoutMs (default 1 h). A refusal is
   * ServerError with errorCode backup_failed.
   */
  async backup(path: string, options: CallOptions = {}): Promise<BackupReply> {
    return (await this.call(
      { kind: MessageKind.Backup, path },
      { timeoutMs: options.timeoutMs ?? 3_600_000 },
    )) as BackupReply;
  }

  /** The limits of the last HELLO_OK. */
  get serverInfo(): ServerInfo | undefined {
    return this.info;
  }
  /** The protocol version of the current (or last) connection. */
  get version(): number | undefined {
    return this.info?.version;
  }
  /** Connections re-established after a loss. */
  get reconnects(): number {
    return this.reconnectCount;
  }
  /** Frames made from the queue (a merged frame once, resends not again) and the calls in them. */
  get framesMade(): number {
    return this.framesMadeCount;
  }
  get callsFramed(): number {
    return this.callsFramedCount;
  }
  /** Ops (and non-ops requests, one each) waiting for a slot. */
  get queuedOps(): number {
    return this.queuedWeight;
  }
  /** Frames sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Closes the connection; calls not yet answered reject with ClosedError. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.connectTimer);
    for (const t of this.busyTimers) clearTimeout(t);
    this.busyTimers.clear();
    const c = this.conn;
    this.conn = undefined;
    const why = new ClosedError("client closed");
    this.failAll(why);
    this.failQueued(why);
    if (c && !c.socket.destroyed) {
      await new Promise<void>((resolve) => {
        c.socket.once("close", () => resolve());
        c.socket.destroy();
      });
    }
  }

  // ---- Calls and the queue ----

  private call(request: Request, options: CallOptions, alone = false): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      if (this.closed) {
        reject(new ClosedError("client closed"));
        return;
      }
      const timeoutMs = options.timeoutMs ?? this.o.callTimeoutMs;
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const call: Call = {
        request,
        weight: request.kind === MessageKind.Ops ? Math.max(1, request.ops.length) : 1,
        alone,
        queued: false,
        settle: (err, reply) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          if (err) reject(err);
          else resolve(reply!);
        },
      };
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          if (call.queued) this.unqueue(call); // never sent: it will not be
          call.settle(
            new TimeoutError(
              `no reply within ${timeoutMs} ms` +
                (request.kind === MessageKind.Ops
                  ? "; the ops may still apply (retry with the same op ids and issuedNs to learn their outcome)"
                  : ""),
            ),
          );
        }, timeoutMs);
      }
      if (!this.o.coalesceOps) {
        this.submit(request, call.settle);
        return;
      }
      if (this.queuedWeight > 0 && this.queuedWeight + call.weight > this.o.queuedOpsMax) {
        call.settle(
          new QueueFullError(
            `client queue full: ${this.queuedWeight} ops waiting, at most ${this.o.queuedOpsMax} (queuedOpsMax); not sent`,
          ),
        );
        return;
      }
      call.queued = true;
      this.queue.push(call);
      this.queuedWeight += call.weight;
      this.schedulePump();
    });
  }

  private unqueue(call: Call): void {
    const i = this.queue.indexOf(call, this.queueHead);
    if (i >= 0) {
      this.queue.splice(i, 1);
      this.queuedWeight -= call.weight;
      call.queued = false;
    }
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private queueLength(): number {
    return this.queue.length - this.queueHead;
  }

  private shiftQueue(): Call {
    const c = this.queue[this.queueHead++];
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    c.queued = false;
    this.queuedWeight -= c.weight;
    return c;
  }

  private frameSlots(): number {
    let slots = Math.max(1, this.info?.maxRequestsInFlight ?? 1);
    if (this.o.framesInFlightMax > 0) slots = Math.min(slots, this.o.framesInFlightMax);
    return slots;
  }

  /** Most ops one frame may carry under the server's two limits (a v2 body starts with 8 bytes). */
  private frameOpsMax(): number {
    const i = this.info;
    if (!i) return 1;
    return Math.max(1, Math.min(i.maxOpsPerRequest, Math.floor(Math.max(0, i.maxBodyBytes - 8) / OP_BYTES)));
  }

  private static mergeable(c: Call, frameOpsMax: number): boolean {
    const r = c.request;
    return (
      r.kind === MessageKind.Ops &&
      !c.alone &&
      r.ops.length > 0 &&
      r.ops.length <= frameOpsMax &&
      ((r.ops[r.ops.length - 1].flags ?? 0) & OP_FLAG_LINKED) === 0
    );
  }

  /** Fills every free slot from the queue, oldest call first. */
  private pump(): void {
    if (this.closed || !this.o.coalesceOps) return;
    if (!this.conn) {
      if (!this.reconnectTimer && (this.queueLength() > 0 || this.pending.size > 0)) {
        this.attemptsLeft = this.o.reconnectAttempts;
        this.startConnect();
      }
      return;
    }
    if (!this.conn.ready) return;
    const slots = this.frameSlots();
    const opsMax = this.frameOpsMax();
    const out: Buffer[] = [];
    while (this.queueLength() > 0 && this.pending.size < slots) {
      const calls = [this.shiftQueue()];
      let ops = calls[0].weight;
      if (Client.mergeable(calls[0], opsMax)) {
        while (this.queueLength() > 0) {
          const next = this.queue[this.queueHead];
          if (!Client.mergeable(next, opsMax) || ops + next.weight > opsMax) break;
          ops += next.weight;
          calls.push(this.shiftQueue());
        }
      }
      const f = this.submitFrame(calls);
      if (f) out.push(f);
    }
    this.write(out);
  }

  /** One frame for `calls`: a lone call as it is, several merged. Returns its bytes if sendable now. */
  private submitFrame(calls: Call[]): Buffer | undefined {
    this.framesMadeCount++;
    this.callsFramedCount += calls.length;
    if (calls.length === 1) return this.addPending(calls[0].request, calls[0].settle);
    let issuedNs: bigint | undefined;
    const ops: Op[] = [];
    const parts: { n: number; settle: Settle }[] = [];
    for (const c of calls) {
      const r = c.request as OpsRequest;
      // The oldest call's time is true of every op in the frame: each was
      // first issued at or after it.
      if (issuedNs === undefined || r.issuedNs < issuedNs) issuedNs = r.issuedNs;
      for (const op of r.ops) ops.push(op);
      parts.push({ n: r.ops.length, settle: c.settle });
    }
    const total = ops.length;
    return this.addPending({ kind: MessageKind.Ops, issuedNs: issuedNs!, ops }, (err, reply) => {
      if (!err && (reply as { results: OpResult[] }).results.length !== total) {
        err = new ProtocolError(
          `the server answered ${(reply as { results: OpResult[] }).results.length} results to ${total} ops`,
        );
      }
      if (err) {
        for (const p of parts) p.settle(err);
        return;
      }
      const all = (reply as { results: OpResult[] }).results;
      let at = 0;
      for (const p of parts) {
        p.settle(null, { kind: MessageKind.OpsReply, results: all.slice(at, at + p.n) });
        at += p.n;
      }
    });
  }

  /** Unqueued path (coalesceOps false): a frame of its own, written at once. */
  private submit(request: Request, settle: Settle): void {
    const f = this.addPending(request, settle);
    if (f) this.write([f]);
    else if (!this.conn && !this.reconnectTimer) {
      this.attemptsLeft = this.o.reconnectAttempts;
      this.startConnect();
    }
  }

  /** Registers a request in flight; returns its frame when the connection is ready to carry it. */
  private addPending(request: Request, settle: Settle): Buffer | undefined {
    const id = this.nextId++;
    const p: Pending = {
      replyKind: replyKindOf(request.kind),
      request,
      frameVersion: 0,
      settle,
      busyRetries: 0,
      sends: 0,
    };
    this.pending.set(id, p);
    if (!this.conn?.ready) return undefined;
    if (this.failUnsendable(id, p)) return undefined;
    return this.frameOf(id, p);
  }

  /** The frame to send (again): encoded once per connection version, then resent verbatim. */
  private frameOf(id: number, p: Pending): Buffer {
    const version = this.conn!.version;
    if (!p.frame || p.frameVersion !== version) {
      p.frame = encodeRequest(BigInt(id), p.request, version);
      p.frameVersion = version;
    }
    p.sends++;
    return p.frame;
  }

  /** A filtered history cannot go on version 1: it fails rather than go without its filter. */
  private failUnsendable(id: number, p: Pending): boolean {
    const r = p.request;
    if (r.kind !== MessageKind.History || this.conn!.version >= VERSION_ISSUE_TIME) return false;
    if (r.filterFlags === 0 && r.timestampMinNs === 0n && r.timestampMaxNs === 0n && r.reason === 0) return false;
    this.take(id)?.(
      new VersionError(
        `history filters need protocol version ${VERSION_ISSUE_TIME}; the server speaks ${this.conn!.version}`,
      ),
    );
    return true;
  }

  private write(frames: Buffer[]): void {
    if (frames.length === 0 || !this.conn) return;
    this.conn.socket.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
  }

  /** Removes an answered request (freeing its slot); returns its settle. */
  private take(id: number): Settle | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    return p.settle;
  }

  // ---- The connection ----

  private startConnect(): void {
    const socket = new net.Socket();
    const c: Conn = { socket, ready: false, helloId: 0, version: VERSION_MIN, rbuf: EMPTY };
    this.conn = c;
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => {
      if (c === this.conn && !c.ready) {
        this.lost(c, new TimeoutError(`connecting to ${this.o.host}:${this.o.port} timed out`));
      }
    }, this.o.connectTimeoutMs);
    socket.on("connect", () => {
      if (c !== this.conn) return;
      socket.setNoDelay(true);
      c.helloId = this.nextId++;
      socket.write(
        encodeRequest(
          BigInt(c.helloId),
          { kind: MessageKind.Hello, minVersion: VERSION_MIN, maxVersion: this.o.versionMax, authToken: this.o.authToken },
          VERSION_MIN,
        ),
      );
    });
    socket.on("data", (chunk: Buffer) => this.onData(c, chunk));
    socket.on("error", (e: NodeJS.ErrnoException) => {
      const what = c.ready ? "connection" : `connect ${this.o.host}:${this.o.port}`;
      this.lost(c, new ConnectionError(`${what}: ${e.code ?? e.message}`));
    });
    socket.on("close", () => this.lost(c, new ConnectionError("server closed the connection")));
    socket.connect({ host: this.o.host, port: this.o.port });
  }

  private onData(c: Conn, chunk: Buffer): void {
    if (c !== this.conn) return;
    let b = c.rbuf.length === 0 ? chunk : Buffer.concat([c.rbuf, chunk]);
    let at = 0;
    try {
      for (;;) {
        const f = splitFrame(b, at, REPLY_BODY_BYTES_MAX);
        if (!f) break;
        at += 32 + f.header.bodyBytes;
        if (!this.dispatch(c, f.header, f.body)) return;
      }
    } catch (e) {
      this.lost(c, e instanceof CofferError ? e : new ProtocolError(String(e)));
      return;
    }
    // Keep only the unparsed tail (copied, so the big chunk can be freed).
    c.rbuf = at === b.length ? EMPTY : Buffer.from(b.subarray(at));
    b = EMPTY;
    // Once per read, not per reply: the slots these replies freed take
    // everything queued meanwhile, in as few frames as fit.
    this.pump();
  }

  /** False when the connection was dropped. */
  private dispatch(c: Conn, h: FrameHeader, body: Buffer): boolean {
    const m = decodeReply(h, body);
    const id = Number(h.requestId);
    if (m.kind === MessageKind.Error) return this.onError(c, id, m);
    if (!c.ready) {
      if (m.kind !== MessageKind.HelloOk || id !== c.helloId) {
        this.lost(c, new ProtocolError(`expected hello_ok, got kind 0x${h.kind.toString(16)}`));
        return false;
      }
      return this.onReady(c, m);
    }
    if (h.version !== c.version) {
      this.lost(c, new ProtocolError(`a frame of version ${h.version} on a version ${c.version} connection`));
      return false;
    }
    const p = this.pending.get(id);
    if (!p) return true; // the answer to a request given up
    if (m.kind !== p.replyKind) {
      this.lost(
        c,
        new ProtocolError(`reply of kind ${MessageKind[m.kind]} to a request expecting ${MessageKind[p.replyKind]}`),
      );
      return false;
    }
    this.take(id)!(null, m);
    return true;
  }

  private onReady(c: Conn, ok: HelloOk): boolean {
    if (ok.version < VERSION_MIN || ok.version > this.o.versionMax) {
      this.attemptsLeft = 0;
      this.lost(
        c,
        new VersionError(
          `the server chose protocol version ${ok.version}; this client asked for ${VERSION_MIN}..${this.o.versionMax}`,
        ),
      );
      return false;
    }
    c.ready = true;
    c.version = ok.version;
    clearTimeout(this.connectTimer);
    const { kind: _kind, ...info } = ok;
    this.info = info;
    if (this.everConnected) this.reconnectCount++;
    this.everConnected = true;
    this.attemptsLeft = this.o.reconnectAttempts;
    this.backoffMs = this.o.reconnectBackoffMs;
    const first = this.firstConnect;
    this.firstConnect = undefined;
    first?.resolve();
    // Everything unanswered goes again, oldest first, with the same bytes
    // (re-encoded only for a server of another version).
    const out: Buffer[] = [];
    for (const [id, p] of [...this.pending]) {
      if (!this.failUnsendable(id, p)) out.push(this.frameOf(id, p));
    }
    this.write(out);
    this.pump();
    return c === this.conn;
  }

  private onError(c: Conn, id: number, e: ErrorReply): boolean {
    const text = `${errorCodeName(e.code)}: ${e.message}`;
    if (!c.ready) {
      let err: Error;
      if (e.code === ErrorCode.AuthFailed) err = new AuthError(text);
      else if (e.code === ErrorCode.UnsupportedVersion) err = new VersionError(text);
      else err = new ConnectionError(`handshake refused: ${text}`); // too_many_connections, shutting_down: retry
      // Auth and version refusals will not change on retry.
      if (!(err instanceof ConnectionError)) this.attemptsLeft = 0;
      this.lost(c, err);
      return false;
    }
    const p = id === 0 ? undefined : this.pending.get(id);
    if (!p) {
      // About the connection (idle_timeout, shutting_down): it closes next;
      // what is unanswered is resent after reconnecting.
      this.lastError = text;
      return true;
    }
    switch (e.code) {
      case ErrorCode.Busy:
        if (p.busyRetries < this.o.busyRetries) {
          this.scheduleBusyRetry(id, p);
        } else {
          this.take(id)!(new BusyError(`${text} (after ${p.busyRetries} resends); not applied`));
        }
        return true;
      case ErrorCode.ShuttingDown:
        this.lastError = text;
        return true; // resent after reconnecting
      default:
        // The server refused this frame (internal, backup_failed, invalid_field, ...);
        // sending it again would not help.
        this.take(id)!(new ServerError(e.code, e.message, e.closing));
        return true;
    }
  }

  private scheduleBusyRetry(id: number, p: Pending): void {
    const delay = Math.min(BUSY_BACKOFF_MAX_MS, this.o.busyBackoffMs * 2 ** Math.min(p.busyRetries, 10));
    p.busyRetries++;
    const sends = p.sends;
    const t = setTimeout(() => {
      this.busyTimers.delete(t);
      if (this.closed) return;
      const now = this.pending.get(id);
      // A reconnect in between has resent it already.
      if (now !== p || p.sends !== sends || !this.conn?.ready) return;
      this.write([this.frameOf(id, p)]);
    }, delay);
    this.busyTimers.add(t);
  }

  private lost(c: Conn, why: Error): void {
    if (c !== this.conn) return;
    this.conn = undefined;
    c.socket.destroy();
    clearTimeout(this.connectTimer);
    if (this.lastError && why instanceof ConnectionError) {
      why = new ConnectionError(`${why.message} (${this.lastError})`);
    }
    this.lastError = "";
    const first = this.firstConnect;
    if (first) {
      this.firstConnect = undefined;
      this.failAll(why);
      first.reject(why);
      return;
    }
    if (this.closed || (this.pending.size === 0 && this.queueLength() === 0)) return; // reconnect when next needed
    if (this.attemptsLeft <= 0) {
      // Calls still queued would only start another round of attempts
      // against a server that stayed away: they fail with the rest.
      this.failAll(why);
      this.failQueued(why);
      return;
    }
    this.attemptsLeft--;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.o.reconnectBackoffMaxMs);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed || this.conn) return;
      if (this.pending.size === 0 && this.queueLength() === 0) return;
      this.startConnect();
    }, delay);
  }

  private failAll(why: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.settle(why);
  }

  private failQueued(why: Error): void {
    const calls = this.queue.slice(this.queueHead);
    this.queue = [];
    this.queueHead = 0;
    this.queuedWeight = 0;
    for (const c of calls) {
      c.queued = false;
      c.settle(why);
    }
  }
}
