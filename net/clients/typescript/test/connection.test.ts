// The client's connection behaviour, against a scripted fake server (so
// each case is deterministic) and, for the token, a real cofferd: resends
// byte for byte after a lost connection, busy retries, timeouts, protocol
// errors, refused handshakes, version 1 fallback, close.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import {
  AuthError,
  BusyError,
  Client,
  ClosedError,
  ConnectionError,
  ErrorCode,
  FrameHeader,
  MessageKind,
  ProtocolError,
  TimeoutError,
  VersionError,
  credit,
  decodeRequest,
  initChecksum,
  splitFrame,
  xxh3,
  OpsRequest,
} from "../src/index";
import { Server } from "./harness";

// ---- A scripted server ----

function replyFrame(version: number, kind: number, id: bigint, count: number, body: Buffer): Buffer {
  const h = Buffer.alloc(32);
  h.writeUInt32LE(0x52464f43, 0);
  h.writeUInt16LE(version, 4);
  h.writeUInt16LE(kind, 6);
  h.writeBigUInt64LE(id, 8);
  h.writeUInt32LE(count, 16);
  h.writeUInt32LE(body.length, 20);
  h.writeBigUInt64LE(xxh3(body), 24);
  return Buffer.concat([h, body]);
}

function helloOk(id: bigint, version = 2): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt16LE(version, 0);
  b.writeUInt32LE(1, 4);
  b.writeUInt32LE(1 << 20, 8);
  b.writeUInt32LE(8192, 12);
  b.writeUInt32LE(128, 16);
  b.writeUInt32LE(1000, 20);
  return replyFrame(version, MessageKind.HelloOk, id, 0, b);
}

function errorFrame(id: bigint, code: ErrorCode, closing: boolean, message: string, version = 2): Buffer {
  const m = Buffer.from(message);
  const b = Buffer.alloc(8 + m.length);
  b.writeUInt16LE(code, 0);
  b.writeUInt16LE(closing ? 1 : 0, 2);
  b.writeUInt32LE(m.length, 4);
  m.copy(b, 8);
  return replyFrame(version, MessageKind.Error, id, 0, b);
}

/** ok results, balance_after i+1, seq 100+i. */
function opsReply(id: bigint, n: number, version = 2): Buffer {
  const b = Buffer.alloc(24 * n);
  for (let i = 0; i < n; i++) {
    b.writeBigInt64LE(BigInt(i + 1), i * 24 + 8);
    b.writeBigUInt64LE(BigInt(100 + i), i * 24 + 16);
  }
  return replyFrame(version, MessageKind.OpsReply, id, n, b);
}

interface Received {
  h: FrameHeader;
  body: Buffer;
  raw: Buffer;
}

type Handler = (conn: number, sock: net.Socket, f: Received) => void;

/** A TCP server that answers HELLO with HELLO_OK (unless the handler does otherwise) and hands every other frame to `handler`. */
class FakeServer {
  readonly server: net.Server;
  connections = 0;
  readonly sockets = new Set<net.Socket>();
  constructor(handler: Handler, onHello?: (conn: number, sock: net.Socket, f: Received) => boolean) {
    this.server = net.createServer((sock) => {
      const conn = ++this.connections;
      this.sockets.add(sock);
      sock.on("close", () => this.sockets.delete(sock));
      sock.on("error", () => {});
      let buf = Buffer.alloc(0);
      sock.on("data", (d) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const f = splitFrame(buf);
          if (!f) break;
          const n = 32 + f.header.bodyBytes;
          const r = { h: f.header, body: Buffer.from(f.body), raw: Buffer.from(buf.subarray(0, n)) };
          buf = buf.subarray(n);
          if (r.h.kind === MessageKind.Hello) {
            if (!onHello || !onHello(conn, sock, r)) sock.write(helloOk(r.h.requestId));
          } else {
            handler(conn, sock, r);
          }
        }
      });
    });
  }
  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    return (this.server.address() as net.AddressInfo).port;
  }
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function fake(handler: Handler, onHello?: (conn: number, sock: net.Socket, f: Received) => boolean) {
  await initChecksum();
  const s = new FakeServer(handler, onHello);
  const port = await s.listen();
  cleanups.push(() => s.close());
  return { s, port };
}

async function connect(port: number, o: Parameters<typeof Client.connect>[0] = {}): Promise<Client> {
  const c = await Client.connect({ port, ...o });
  cleanups.push(() => c.close());
  return c;
}

// ---- Cases ----

test("a lost connection: unanswered frames are resent byte for byte on the next", async () => {
  const seen: Buffer[][] = [[], [], []];
  const { port } = await fake((conn, sock, f) => {
    seen[conn].push(f.raw);
    if (conn === 1 && seen[1].length === 2) sock.destroy(); // drop with both unanswered
    if (conn === 2 && seen[2].length === 2) {
      for (const raw of seen[2]) {
        const h = splitFrame(raw)!.header;
        sock.write(opsReply(h.requestId, h.count));
      }
    }
  });
  const c = await connect(port, { reconnectBackoffMs: 1 });
  // Two frames: a merged one of two calls, then (made later) one more call.
  const p1 = c.apply([credit({ opId: 0x11n, accountId: 5n, amount: 1n })]);
  const p2 = c.apply([credit({ opId: 0x12n, accountId: 6n, amount: 2n }), credit({ opId: 0x13n, accountId: 6n, amount: 3n })]);
  await new Promise((r) => setImmediate(r));
  const p3 = c.apply([credit({ opId: 0x14n, accountId: 7n, amount: 4n })], { issuedNs: 12345n });
  const [r1, r2, r3] = await Promise.all([p1, p2, p3]);
  assert.equal(seen[1].length, 2);
  assert.deepEqual(seen[2].map((b) => b.toString("hex")), seen[1].map((b) => b.toString("hex")), "identical bytes");
  const first = decodeRequest(splitFrame(seen[1][0])!.header, splitFrame(seen[1][0])!.body, 2) as OpsRequest;
  assert.deepEqual(first.ops.map((o) => o.opId), [0x11n, 0x12n, 0x13n], "the first frame merged two calls");
  const second = decodeRequest(splitFrame(seen[1][1])!.header, splitFrame(seen[1][1])!.body, 2) as OpsRequest;
  assert.equal(second.issuedNs, 12345n, "a call's own issuedNs is carried");
  // Each caller got its own slice.
  assert.deepEqual(r1.map((r) => r.seq), [100n]);
  assert.deepEqual(r2.map((r) => r.seq), [101n, 102n]);
  assert.deepEqual(r3.map((r) => r.seq), [100n]);
  assert.equal(c.reconnects, 1);
});

test("ERROR busy: the same frame is resent after a backoff, then BusyError after busyRetries", async () => {
  const frames: Buffer[] = [];
  const { port } = await fake((_conn, sock, f) => {
    frames.push(f.raw);
    const opId = (decodeRequest(f.h, f.body, 2) as OpsRequest).ops[0].opId;
    if (opId === 1n && frames.length <= 2) sock.write(errorFrame(f.h.requestId, ErrorCode.Busy, false, "queue full"));
    else if (opId === 1n) sock.write(opsReply(f.h.requestId, 1));
    else sock.write(errorFrame(f.h.requestId, ErrorCode.Busy, false, "queue full"));
  });
  const c = await connect(port, { busyRetries: 3, busyBackoffMs: 1 });
  const r = await c.applyOne(credit({ opId: 1n, accountId: 5n, amount: 1n }));
  assert.equal(r.seq, 100n);
  assert.equal(frames.length, 3);
  assert.ok(frames.every((f) => f.equals(frames[0])), "resent unchanged");
  frames.length = 0;
  await assert.rejects(c.applyOne(credit({ opId: 2n, accountId: 5n, amount: 1n })), BusyError);
  assert.equal(frames.length, 4, "the first send and 3 retries");
});

test("a call timeout: TimeoutError; the connection stays usable", async () => {
  const { port } = await fake((_conn, sock, f) => {
    if (f.h.kind === MessageKind.Ping) sock.write(replyFrame(2, MessageKind.Pong, f.h.requestId, 0, Buffer.alloc(0)));
    // ops: never answered
  });
  const c = await connect(port, { callTimeoutMs: 50 });
  await assert.rejects(c.applyOne(credit({ opId: 1n, accountId: 5n, amount: 1n })), TimeoutError);
  await assert.rejects(c.applyOne(credit({ opId: 2n, accountId: 5n, amount: 1n }), { timeoutMs: 20 }), TimeoutError);
  await c.ping({ timeoutMs: 5000 });
});

test("a corrupt reply is a ProtocolError once reconnecting gives up", async () => {
  const { port } = await fake((_conn, sock, f) => {
    const bad = opsReply(f.h.requestId, 1);
    bad[40] ^= 0xff; // the checksum no longer matches
    sock.write(bad);
  });
  const c = await connect(port, { reconnectAttempts: 0 });
  await assert.rejects(c.applyOne(credit({ opId: 1n, accountId: 5n, amount: 1n })), (e: unknown) => {
    assert.ok(e instanceof ProtocolError);
    assert.match((e as Error).message, /bad checksum/);
    return true;
  });
  // A reply of the wrong kind.
  const w = await fake((_conn, sock, f) => sock.write(replyFrame(2, MessageKind.Pong, f.h.requestId, 0, Buffer.alloc(0))));
  const c2 = await connect(w.port, { reconnectAttempts: 0 });
  await assert.rejects(c2.applyOne(credit({ opId: 1n, accountId: 5n, amount: 1n })), ProtocolError);
});

test("refused handshakes: unsupported_version, a version not offered, too_many_connections", async () => {
  const v = await fake(
    () => {},
    (_c, sock, f) => {
      sock.end(errorFrame(f.h.requestId, ErrorCode.UnsupportedVersion, true, "client speaks versions 1..2, server 3..3"));
      return true;
    },
  );
  await assert.rejects(Client.connect({ port: v.port }), VersionError);
  const v3 = await fake(
    () => {},
    (_c, sock, f) => {
      sock.write(helloOk(f.h.requestId, 3));
      return true;
    },
  );
  await assert.rejects(Client.connect({ port: v3.port }), VersionError);
  const full = await fake(
    () => {},
    (_c, sock) => {
      sock.end(errorFrame(0n, ErrorCode.TooManyConnections, true, "at the connection limit"));
      return true;
    },
  );
  await assert.rejects(Client.connect({ port: full.port }), (e: unknown) => {
    assert.ok(e instanceof ConnectionError);
    assert.match((e as Error).message, /too_many_connections/);
    return true;
  });
});

test("version 1 fallback: a server that picks 1 gets version 1 frames", async () => {
  const got: Received[] = [];
  const { port } = await fake(
    (_conn, sock, f) => {
      got.push(f);
      sock.write(opsReply(f.h.requestId, f.h.count, 1));
    },
    (_c, sock, f) => {
      sock.write(helloOk(f.h.requestId, 1));
      return true;
    },
  );
  const c = await connect(port);
  assert.equal(c.version, 1);
  const r = await c.applyOne(credit({ opId: 9n, accountId: 5n, amount: 1n }));
  assert.equal(r.seq, 100n);
  assert.equal(got[0].h.version, 1);
  assert.equal(got[0].body.length, 64, "no issued_ns in version 1");
  await assert.rejects(c.history(5n, { reason: 1 }), VersionError);
});

test("connection errors: nothing listening, a server that went away", async () => {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  await assert.rejects(Client.connect({ port }), ConnectionError);

  const gone = await fake((_conn, sock) => sock.destroy());
  const c = await connect(gone.port, { reconnectAttempts: 2, reconnectBackoffMs: 1 });
  await gone.s.close();
  await assert.rejects(c.applyOne(credit({ opId: 1n, accountId: 5n, amount: 1n })), ConnectionError);
});

test("close(): unanswered calls reject with ClosedError; later calls too", async () => {
  const { port } = await fake(() => {});
  const c = await Client.connect({ port });
  const p = assert.rejects(c.applyOne(credit({ opId: 1n, accountId: 5n, amount: 1n })), ClosedError);
  await new Promise((r) => setImmediate(r));
  assert.equal(c.inFlight, 1);
  await c.close();
  await p;
  await assert.rejects(c.ping(), ClosedError);
});

test("auth token against a real cofferd: right, wrong, missing", async () => {
  const server = await Server.start({ authToken: "s3cret" });
  cleanups.push(() => server.cleanup());
  const ok = await connect(server.port, { authToken: "s3cret" });
  await ok.ping();
  await assert.rejects(Client.connect({ port: server.port, authToken: "wrong" }), AuthError);
  await assert.rejects(Client.connect({ port: server.port }), AuthError);
});
