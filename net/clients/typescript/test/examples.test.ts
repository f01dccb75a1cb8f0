// Conformance 1: every frame of net/PROTOCOL.md "Worked examples" (copied
// into test/data/protocol_examples.txt) decodes to the documented fields,
// and every request frame re-encodes byte for byte.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import {
  decodeReply,
  decodeRequest,
  encodeRequest,
  initChecksum,
  splitFrame,
  xxh3,
  MessageKind,
  OpKind,
  ResultCode,
  ErrorCode,
  Request,
  Reply,
  FrameHeader,
  chain,
  transfer,
  credit,
  ProtocolError,
} from "../src/index";

function loadExamples(): Map<string, Buffer> {
  const file = path.join(__dirname, "..", "..", "test", "data", "protocol_examples.txt");
  const out = new Map<string, Buffer>();
  let name = "";
  let hex = "";
  const flush = () => {
    if (name) out.set(name, Buffer.from(hex.replace(/\s+/g, ""), "hex"));
  };
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^\[(\w+)\]$/.exec(line.trim());
    if (m) {
      flush();
      name = m[1];
      hex = "";
    } else {
      hex += line;
    }
  }
  flush();
  return out;
}

const examples = loadExamples();
before(() => initChecksum());

function frame(name: string): { h: FrameHeader; body: Buffer; bytes: Buffer } {
  const bytes = examples.get(name);
  assert.ok(bytes, `example ${name} missing from the data file`);
  const f = splitFrame(bytes, 0);
  assert.ok(f, `${name}: incomplete frame`);
  assert.equal(32 + f.header.bodyBytes, bytes.length, `${name}: trailing bytes`);
  return { h: f.header, body: f.body, bytes };
}

function checkRequest(name: string, id: bigint, version: number, headerVersion: number, expected: Request): void {
  const { h, body, bytes } = frame(name);
  assert.equal(h.requestId, id);
  assert.equal(h.version, headerVersion);
  assert.equal(h.kind, expected.kind);
  assert.deepEqual(decodeRequest(h, body, version), expected);
  assert.equal(encodeRequest(id, expected, version).toString("hex"), bytes.toString("hex"), `${name}: re-encoded`);
}

function checkReply(name: string, id: bigint, version: number, expected: Reply): Reply {
  const { h, body } = frame(name);
  assert.equal(h.requestId, id);
  assert.equal(h.version, version);
  assert.equal(h.kind, expected.kind);
  const got = decodeReply(h, body);
  assert.deepEqual(got, expected);
  return got;
}

test("the data file holds all 13 worked examples", () => {
  assert.deepEqual(
    [...examples.keys()],
    [
      "hello",
      "hello_ok",
      "ops",
      "ops_v1",
      "ops_reply",
      "ops_reply_refused",
      "lookup",
      "lookup_reply",
      "history",
      "history_filtered",
      "ping",
      "stages_reply",
      "error",
    ],
  );
});

test("checksums: empty body and the documented body_xxh3 values", () => {
  assert.equal(xxh3(Buffer.alloc(0)), 0x2d06800538d394c2n);
  for (const [name, bytes] of examples) {
    assert.equal(xxh3(bytes.subarray(32)), bytes.readBigUInt64LE(24), name);
  }
  assert.equal(frame("ops").h.bodyXxh3, 0x6b6d9fa7042d9930n);
  assert.equal(frame("ops_v1").h.bodyXxh3, 0x5890ddfc2d353c47n);
});

test("hello (token s3cret)", () => {
  checkRequest("hello", 1n, 1, 1, {
    kind: MessageKind.Hello,
    minVersion: 1,
    maxVersion: 2,
    authToken: Buffer.from("s3cret"),
  });
});

test("hello_ok", () => {
  checkReply("hello_ok", 1n, 2, {
    kind: MessageKind.HelloOk,
    version: 2,
    shardCount: 4,
    maxBodyBytes: 1048576,
    maxOpsPerRequest: 8192,
    maxRequestsInFlight: 128,
    maxHistoryLimit: 1000,
  });
});

const purchase = [
  {
    opId: 20481n,
    accountId: 2001n,
    otherAccountId: 2002n,
    amount: 120n,
    aux: 0n,
    userData: 43981n,
    reason: 7,
    currency: 0,
    accountFlags: 0,
    kind: OpKind.Transfer,
    reserved: 0,
    flags: 1,
  },
  {
    opId: 20482n,
    accountId: 2003n,
    otherAccountId: 0n,
    amount: 1n,
    aux: 0n,
    userData: 0n,
    reason: 7,
    currency: 0,
    accountFlags: 0,
    kind: OpKind.Credit,
    reserved: 0,
    flags: 0,
  },
];

test("ops (version 2, a linked purchase)", () => {
  checkRequest("ops", 2n, 2, 2, { kind: MessageKind.Ops, issuedNs: 1796155200000000000n, ops: purchase });
  // The builders make the same bytes.
  const built = chain([
    transfer({ opId: 0x5001n, from: 2001n, to: 2002n, amount: 120n, userData: 0xabcdn, reason: 7 }),
    credit({ opId: 0x5002n, accountId: 2003n, amount: 1n, reason: 7 }),
  ]);
  assert.equal(
    encodeRequest(2n, { kind: MessageKind.Ops, issuedNs: 1796155200000000000n, ops: built }, 2).toString("hex"),
    examples.get("ops")!.toString("hex"),
  );
});

test("ops_v1 (the same request in version 1)", () => {
  checkRequest("ops_v1", 2n, 1, 1, { kind: MessageKind.Ops, issuedNs: 0n, ops: purchase });
  // Version 1 drops issued_ns whatever it holds.
  assert.equal(
    encodeRequest(2n, { kind: MessageKind.Ops, issuedNs: 1796155200000000000n, ops: purchase }, 1).toString("hex"),
    examples.get("ops_v1")!.toString("hex"),
  );
});

test("ops_reply (both applied at seq 41, 42)", () => {
  checkReply("ops_reply", 2n, 2, {
    kind: MessageKind.OpsReply,
    results: [
      { code: ResultCode.Ok, codeName: "ok", ok: true, duplicate: false, flags: 0, balanceAfter: 380n, seq: 41n },
      { code: ResultCode.Ok, codeName: "ok", ok: true, duplicate: false, flags: 0, balanceAfter: 1n, seq: 42n },
    ],
  });
});

test("ops_reply_refused (insufficient_funds, duplicate)", () => {
  checkReply("ops_reply_refused", 3n, 2, {
    kind: MessageKind.OpsReply,
    results: [
      {
        code: ResultCode.InsufficientFunds,
        codeName: "insufficient_funds",
        ok: false,
        duplicate: true,
        flags: 1,
        balanceAfter: 380n,
        seq: 43n,
      },
    ],
  });
});

test("lookup", () => {
  checkRequest("lookup", 4n, 2, 2, { kind: MessageKind.Lookup, accountIds: [2001n] });
});

test("lookup_reply", () => {
  checkReply("lookup_reply", 4n, 2, {
    kind: MessageKind.LookupReply,
    seq: 43n,
    accounts: [
      {
        id: 2001n,
        exists: true,
        balance: 380n,
        held: 0n,
        overdraftLimit: 0n,
        balanceCap: 0n,
        currency: 2,
        flags: 0,
        historyCount: 3,
      },
    ],
  });
});

test("history (newest 20)", () => {
  checkRequest("history", 5n, 2, 2, {
    kind: MessageKind.History,
    accountId: 2001n,
    before: 0,
    limit: 20,
    timestampMinNs: 0n,
    timestampMaxNs: 0n,
    reason: 0,
    filterFlags: 0,
  });
});

test("history_filtered (reason 7 on 2026-12-01)", () => {
  checkRequest("history_filtered", 8n, 2, 2, {
    kind: MessageKind.History,
    accountId: 2001n,
    before: 0,
    limit: 20,
    timestampMinNs: 1796083200000000000n,
    timestampMaxNs: 1796169599999999999n,
    reason: 7,
    filterFlags: 1,
  });
});

test("ping", () => {
  checkRequest("ping", 6n, 2, 2, { kind: MessageKind.Ping });
});

test("stages_reply", () => {
  checkReply("stages_reply", 7n, 2, {
    kind: MessageKind.StagesReply,
    stages: [
      { stage: 1, count: 1n, p50Ns: 2150n, p99Ns: 2150n, p999Ns: 2150n, maxNs: 2150n },
      { stage: 6, count: 1n, p50Ns: 812000n, p99Ns: 812000n, p999Ns: 812000n, maxNs: 812000n },
    ],
  });
});

test("error (bad_magic, closing)", () => {
  checkReply("error", 0n, 2, {
    kind: MessageKind.Error,
    code: ErrorCode.BadMagic,
    flags: 1,
    closing: true,
    message: "bad magic 0x4f4c4c45, expected 0x52464f43",
  });
});

test("a corrupted byte is a checksum error, a truncated frame is incomplete", () => {
  const bytes = Buffer.from(examples.get("ops_reply")!);
  assert.equal(splitFrame(bytes.subarray(0, bytes.length - 1)), null);
  bytes[40] ^= 1;
  assert.throws(() => splitFrame(bytes), ProtocolError);
  const bad = Buffer.from(examples.get("ping")!);
  bad[0] = 0x45;
  assert.throws(() => splitFrame(bad), /bad magic/);
  // A body that disagrees with count.
  const { h, body } = frame("ops_reply");
  assert.throws(() => decodeReply({ ...h, count: 3 }, body), ProtocolError);
});
