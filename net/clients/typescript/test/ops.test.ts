// Conformance 2a against a real cofferd: every op kind, every result code a
// client can provoke, lookups, a history walk with the cursor and the v2
// filters, stats, digest, ping, stages, disk; pipelining and coalescing;
// a server ERROR for one request; version 1.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  Client,
  Op,
  OpResult,
  ResultCode,
  ServerError,
  VersionError,
  ErrorCode,
  EntryKind,
  capture,
  chain,
  createAccount,
  credit,
  debit,
  hold,
  newOpId,
  release,
  transfer,
  resultCodeName,
} from "../src/index";
import { Server, waitFor } from "./harness";

let server: Server;
let client: Client;
let nextAccount = 1000n;
const acct = () => nextAccount++;

before(async () => {
  server = await Server.start();
  client = await Client.connect({ port: server.port });
});

after(async () => {
  await client?.close();
  await server?.cleanup();
});

function expectCode(r: OpResult, code: ResultCode, what: string): void {
  assert.equal(r.codeName, resultCodeName(code), `${what}: ${r.codeName}, expected ${resultCodeName(code)}`);
  assert.equal(r.code, code);
}

async function one(op: Op, code: ResultCode, what: string): Promise<OpResult> {
  const r = await client.applyOne(op);
  expectCode(r, code, what);
  return r;
}

async function newAccount(currency = 1, balance = 0n, extra: Partial<Parameters<typeof createAccount>[0]> = {}): Promise<bigint> {
  const id = acct();
  await one(createAccount({ opId: newOpId(), accountId: id, currency, ...extra }), ResultCode.Ok, "create");
  if (balance > 0n) await one(credit({ opId: newOpId(), accountId: id, amount: balance }), ResultCode.Ok, "credit");
  return id;
}

test("handshake: version 2 and the server's limits", () => {
  assert.equal(client.version, 2);
  const info = client.serverInfo!;
  assert.equal(info.shardCount, 2);
  assert.ok(info.maxOpsPerRequest >= 1 && info.maxRequestsInFlight >= 1 && info.maxHistoryLimit >= 1);
});

test("every op kind applies, with its balances", async () => {
  const a = await newAccount(1);
  const b = await newAccount(1);
  let r = await one(credit({ opId: newOpId(), accountId: a, amount: 500n, userData: 42n, reason: 3 }), ResultCode.Ok, "credit");
  assert.equal(r.balanceAfter, 500n);
  assert.ok(r.seq > 0n && !r.duplicate);
  r = await one(debit({ opId: newOpId(), accountId: a, amount: 100n, currency: 1 }), ResultCode.Ok, "debit with guard");
  assert.equal(r.balanceAfter, 400n);
  r = await one(transfer({ opId: newOpId(), from: a, to: b, amount: 150n }), ResultCode.Ok, "transfer");
  assert.equal(r.balanceAfter, 250n);

  const h1 = newOpId();
  await one(hold({ opId: h1, accountId: a, amount: 100n, timeoutMs: 60_000n }), ResultCode.Ok, "hold");
  let acc = await client.account(a);
  assert.equal(acc.balance, 250n);
  assert.equal(acc.held, 100n);
  // Held money is not available.
  await one(debit({ opId: newOpId(), accountId: a, amount: 151n }), ResultCode.InsufficientFunds, "debit of held money");
  r = await one(capture({ opId: newOpId(), accountId: a, holdId: h1, destination: b, amount: 60n }), ResultCode.Ok, "capture part");
  assert.equal(r.balanceAfter, 190n);
  acc = await client.account(a);
  assert.equal(acc.held, 0n, "a capture closes the hold");
  assert.equal((await client.account(b)).balance, 210n);

  const h2 = newOpId();
  await one(hold({ opId: h2, accountId: a, amount: 40n }), ResultCode.Ok, "hold without timeout");
  r = await one(capture({ opId: newOpId(), accountId: a, holdId: h2, destination: b }), ResultCode.Ok, "capture all");
  assert.equal(r.balanceAfter, 150n);
  assert.equal((await client.account(b)).balance, 250n);

  const h3 = newOpId();
  await one(hold({ opId: h3, accountId: a, amount: 50n }), ResultCode.Ok, "hold");
  await one(release({ opId: newOpId(), accountId: a, holdId: h3 }), ResultCode.Ok, "release");
  acc = await client.account(a);
  assert.equal(acc.balance, 150n);
  assert.equal(acc.held, 0n);
  await one(release({ opId: newOpId(), accountId: a, holdId: h3 }), ResultCode.HoldAlreadyClosed, "release twice");
  await one(capture({ opId: newOpId(), accountId: a, holdId: h3, destination: b }), ResultCode.HoldAlreadyClosed, "capture released");
});

test("accounts: overdraft, cap, currency, exists", async () => {
  const o = await newAccount(1, 0n, { overdraftLimit: 50n });
  let acc = await client.account(o);
  assert.equal(acc.overdraftLimit, 50n);
  assert.equal(acc.flags, 1);
  let r = await one(debit({ opId: newOpId(), accountId: o, amount: 50n }), ResultCode.Ok, "overdraft debit");
  assert.equal(r.balanceAfter, -50n);
  await one(debit({ opId: newOpId(), accountId: o, amount: 1n }), ResultCode.InsufficientFunds, "below the overdraft");

  const k = await newAccount(1, 0n, { balanceCap: 100n });
  acc = await client.account(k);
  assert.equal(acc.balanceCap, 100n);
  assert.equal(acc.flags, 2);
  await one(credit({ opId: newOpId(), accountId: k, amount: 100n }), ResultCode.Ok, "up to the cap");
  r = await one(credit({ opId: newOpId(), accountId: k, amount: 1n }), ResultCode.BalanceCapExceeded, "above the cap");
  assert.equal(r.balanceAfter, 100n, "a refusal carries the current balance");

  const c2 = await newAccount(2, 10n);
  acc = await client.account(c2);
  assert.equal(acc.currency, 2);
  await one(createAccount({ opId: newOpId(), accountId: c2, currency: 2 }), ResultCode.AccountExists, "same account again");
  await one(
    createAccount({ opId: newOpId(), accountId: c2, currency: 3 }),
    ResultCode.AccountExistsWithDifferentFields,
    "exists with other fields",
  );
  await one(credit({ opId: newOpId(), accountId: c2, amount: 1n, currency: 1 }), ResultCode.CurrencyMismatch, "guard");
  await one(transfer({ opId: newOpId(), from: c2, to: o, amount: 1n }), ResultCode.CurrencyMismatch, "two currencies");
  await one(createAccount({ opId: newOpId(), accountId: acct(), currency: 0 }), ResultCode.CurrencyZero, "currency 0");
  await one(
    createAccount({ opId: newOpId(), accountId: acct(), currency: 1, overdraftLimit: 1n << 63n }),
    ResultCode.OverdraftLimitTooLarge,
    "overdraft 2^63",
  );
});

test("validation result codes", async () => {
  const a = await newAccount(1, 100n);
  await one(credit({ opId: 0n, accountId: a, amount: 1n }), ResultCode.OpIdZero, "op id 0");
  await one(credit({ opId: newOpId(), accountId: 0n, amount: 1n }), ResultCode.AccountIdZero, "account 0");
  await one({ opId: newOpId(), accountId: a, kind: 9, amount: 1n }, ResultCode.InvalidKind, "kind 9");
  await one({ ...credit({ opId: newOpId(), accountId: a, amount: 1n }), flags: 2 }, ResultCode.InvalidFlags, "flag bit 1");
  await one({ ...credit({ opId: newOpId(), accountId: a, amount: 1n }), reserved: 1 }, ResultCode.InvalidField, "reserved byte");
  await one({ ...credit({ opId: newOpId(), accountId: a, amount: 1n }), aux: 5n }, ResultCode.InvalidField, "aux on credit");
  await one(credit({ opId: newOpId(), accountId: a, amount: 0n }), ResultCode.AmountZero, "amount 0");
  await one(transfer({ opId: newOpId(), from: a, to: a, amount: 1n }), ResultCode.SameAccount, "to itself");
  await one(debit({ opId: newOpId(), accountId: acct(), amount: 1n }), ResultCode.AccountNotFound, "no account");
  await one(transfer({ opId: newOpId(), from: a, to: acct(), amount: 1n }), ResultCode.AccountNotFound, "no destination");
  const r = await one(debit({ opId: newOpId(), accountId: a, amount: 101n }), ResultCode.InsufficientFunds, "too much");
  assert.equal(r.balanceAfter, 100n);
  assert.ok(r.seq > 0n, "an ordered refusal has a seq");
  await one(credit({ opId: newOpId(), accountId: a, amount: 1n << 63n }), ResultCode.Overflow, "amount 2^63");
  const big = await newAccount(1, (1n << 63n) - 1n);
  await one(credit({ opId: newOpId(), accountId: big, amount: 1n }), ResultCode.Overflow, "above INT64_MAX");
});

test("holds: not found, exceeds, expired", async () => {
  const a = await newAccount(1, 100n);
  const b = await newAccount(1);
  await one(release({ opId: newOpId(), accountId: a, holdId: newOpId() }), ResultCode.HoldNotFound, "no hold");
  const h = newOpId();
  await one(hold({ opId: h, accountId: a, amount: 10n }), ResultCode.Ok, "hold");
  await one(capture({ opId: newOpId(), accountId: a, holdId: h, destination: b, amount: 11n }), ResultCode.CaptureExceedsHold, "capture 11 of 10");
  const e = newOpId();
  await one(hold({ opId: e, accountId: a, amount: 20n, timeoutMs: 1n }), ResultCode.Ok, "hold of 1 ms");
  // A lookup shows the held amount freed once the hold expired: wait for that
  // event (bounded), then the capture is judged after the expiry.
  await waitFor(async () => (await client.account(a)).held === 10n, "the 1 ms hold to expire");
  await one(capture({ opId: newOpId(), accountId: a, holdId: e, destination: b }), ResultCode.HoldExpired, "capture expired");
  const entries = (await client.history(a, { limit: 10 })).entries;
  assert.ok(entries.some((x) => x.kind === EntryKind.HoldExpired && x.opId === e), "a hold_expired history entry");
});

test("exactly once: duplicates and reused op ids", async () => {
  const a = await newAccount(1, 100n);
  const op = debit({ opId: newOpId(), accountId: a, amount: 7n });
  const first = await one(op, ResultCode.Ok, "debit");
  const again = await one(op, ResultCode.Ok, "retry");
  assert.equal(again.duplicate, true);
  assert.equal(again.seq, first.seq);
  assert.equal(again.balanceAfter, 93n);
  assert.equal((await client.account(a)).balance, 93n, "applied once");
  await one({ ...op, amount: 8n }, ResultCode.OpIdReusedWithDifferentFields, "same id, other amount");
  // A refusal is remembered too.
  const big = debit({ opId: newOpId(), accountId: a, amount: 1000n });
  await one(big, ResultCode.InsufficientFunds, "too much");
  await one(credit({ opId: newOpId(), accountId: a, amount: 5000n }), ResultCode.Ok, "money arrives");
  const r = await one(big, ResultCode.InsufficientFunds, "retry stays refused");
  assert.equal(r.duplicate, true);
});

test("linked chains", async () => {
  const a = await newAccount(1, 100n);
  const b = await newAccount(1);
  // All applied.
  let rs = await client.apply(
    chain([transfer({ opId: newOpId(), from: a, to: b, amount: 30n }), credit({ opId: newOpId(), accountId: b, amount: 1n })]),
  );
  assert.deepEqual(rs.map((r) => r.code), [ResultCode.Ok, ResultCode.Ok]);
  // One fails: nothing applied.
  rs = await client.apply(
    chain([
      transfer({ opId: newOpId(), from: a, to: b, amount: 10n }),
      debit({ opId: newOpId(), accountId: b, amount: 1000n }),
      credit({ opId: newOpId(), accountId: a, amount: 1n }),
    ]),
  );
  assert.deepEqual(rs.map((r) => r.code), [ResultCode.LinkedOpFailed, ResultCode.InsufficientFunds, ResultCode.LinkedOpFailed]);
  assert.equal((await client.account(a)).balance, 70n);
  assert.equal((await client.account(b)).balance, 31n);
  // Open at the end of the request.
  rs = await client.apply([credit({ opId: newOpId(), accountId: a, amount: 1n, linked: true })]);
  expectCode(rs[0], ResultCode.LinkedChainOpen, "open chain");
  assert.equal(rs[0].seq, 0n);
  // Too long.
  const long = chain(Array.from({ length: 65 }, () => credit({ opId: newOpId(), accountId: a, amount: 1n })));
  rs = await client.apply(long);
  expectCode(rs[0], ResultCode.LinkedChainTooLong, "65 ops");
  assert.ok(rs.slice(1).every((r) => r.code === ResultCode.LinkedOpFailed));
  // The same op twice in a chain.
  // (Identical includes the linked flag, so both copies are linked and a third op closes the chain.)
  const twice = credit({ opId: newOpId(), accountId: a, amount: 2n, linked: true });
  rs = await client.apply([twice, twice, credit({ opId: newOpId(), accountId: a, amount: 1n })]);
  assert.deepEqual(rs.map((r) => r.code), [ResultCode.LinkedOpFailed, ResultCode.OpIdRepeatedInChain, ResultCode.LinkedOpFailed]);
  // The same id with other fields in a chain.
  const id = newOpId();
  rs = await client.apply(chain([credit({ opId: id, accountId: a, amount: 2n }), credit({ opId: id, accountId: a, amount: 3n })]));
  assert.deepEqual(rs.map((r) => r.code), [ResultCode.LinkedOpFailed, ResultCode.OpIdReusedWithDifferentFields]);
  assert.equal((await client.account(a)).balance, 70n, "no refused chain applied anything");
});

test("issue time: op_issued_in_future and op_expired (version 2)", async () => {
  const a = await newAccount(1, 10n);
  const now = BigInt(Date.now()) * 1_000_000n;
  let r = await client.applyOne(credit({ opId: newOpId(), accountId: a, amount: 1n }), { issuedNs: now + 3_600_000_000_000n });
  expectCode(r, ResultCode.OpIssuedInFuture, "an hour ahead");
  r = await client.applyOne(credit({ opId: newOpId(), accountId: a, amount: 1n }), {
    issuedNs: now - 2n * 86_400_000_000_000n,
  });
  expectCode(r, ResultCode.OpExpired, "two days old, beyond the 24 h retention");
  assert.equal((await client.account(a)).balance, 10n);
});

test("every result code 0..27 has been provoked by the tests above (the enum is complete)", () => {
  for (let c = 0; c <= 27; c++) assert.ok(ResultCode[c], `code ${c} in the enum`);
  assert.equal(resultCodeName(28), "code_28", "an unknown code is kept, by number");
});

test("lookup: several ids in order, a missing one", async () => {
  const a = await newAccount(1, 5n);
  const b = await newAccount(2, 6n);
  const missing = acct();
  const r = await client.lookup([b, missing, a]);
  assert.ok(r.seq > 0n);
  assert.deepEqual(r.accounts.map((x) => [x.id, x.exists, x.balance, x.currency]), [
    [b, true, 6n, 2],
    [0n, false, 0n, 0],
    [a, true, 5n, 1],
  ]);
  assert.equal(r.accounts[2].historyCount, 2);
});

test("history: a page walk with the cursor, and the v2 filters", async () => {
  const a = await newAccount(1);
  for (let i = 1; i <= 25; i++) {
    await one(credit({ opId: newOpId(), accountId: a, amount: BigInt(i), reason: i % 2 ? 7 : 8, userData: BigInt(i) }), ResultCode.Ok, "credit");
  }
  const pages = [];
  for await (const page of client.historyPages(a, { limit: 10 })) pages.push(page);
  assert.deepEqual(pages.map((p) => p.entries.length), [10, 10, 6]);
  assert.deepEqual(pages.map((p) => p.nextBefore), [17, 7, 0]);
  const all = pages.flatMap((p) => p.entries);
  assert.deepEqual(all.map((e) => e.number), Array.from({ length: 26 }, (_, i) => 26 - i));
  assert.equal(all[25].kind, EntryKind.Create);
  assert.equal(all[0].kind, EntryKind.Credit);
  assert.equal(all[0].amount, 25n);
  assert.equal(all[0].balanceAfter, 325n);
  assert.equal(all[0].userData, 25n);
  assert.equal(all[0].accountId, a);
  for (let i = 1; i < all.length; i++) assert.ok(all[i].timestampNs < all[i - 1].timestampNs && all[i].seq < all[i - 1].seq);

  const r7 = await client.history(a, { limit: 100, reason: 7 });
  assert.equal(r7.entries.length, 13);
  assert.ok(r7.entries.every((e) => e.reason === 7));
  const byNumber = new Map(all.map((e) => [e.number, e]));
  const window = await client.history(a, {
    limit: 100,
    timestampMinNs: byNumber.get(20)!.timestampNs,
    timestampMaxNs: byNumber.get(22)!.timestampNs,
  });
  assert.deepEqual(window.entries.map((e) => e.number), [22, 21, 20]);
  const none = await client.history(acct(), { limit: 5 });
  assert.equal(none.found, false);
  assert.equal(none.entries.length, 0);
});

test("stats, digest, ping, stages, disk", async () => {
  await client.ping();
  const currency = 77;
  const ids = [await newAccount(currency, 10n), await newAccount(currency, 20n), await newAccount(currency, 30n)];
  await one(hold({ opId: newOpId(), accountId: ids[0], amount: 4n }), ResultCode.Ok, "hold");
  const d = await client.digest();
  assert.ok(d.seq > 0n);
  assert.equal(d.digest, (d.digestHi << 64n) | d.digestLo);
  const c = d.currencies.find((x) => x.currency === currency)!;
  assert.deepEqual([c.accounts, c.balance, c.held], [3n, 60n, 4n]);
  const sorted = d.currencies.map((x) => x.currency);
  assert.deepEqual(sorted, [...sorted].sort((x, y) => x - y));
  assert.ok(d.holds >= 1n);
  const d2 = await client.digest();
  assert.equal(d2.digest, d.digest, "no change, same digest");

  const s = await client.stats();
  assert.equal(s.shards.length, 2);
  assert.ok(s.opsSequenced > 0n && s.lastSeq >= d.seq && s.connectionsOpen >= 1n);
  assert.equal(s.shards.reduce((n, x) => n + x.accounts, 0n), d.accounts);
  const st = await client.stages();
  assert.ok(st.stages.some((x) => x.stage === 6 && x.count > 0n));
  const disk = await client.disk();
  assert.ok(disk.areas.some((x) => x.area === 1 && x.files >= 1n));
});

test("pipelining and coalescing: concurrent calls, each gets its own answer", async () => {
  const n = 64;
  const accounts = await Promise.all(Array.from({ length: n }, () => newAccount(1)));
  const framesBefore = client.framesMade;
  const callsBefore = client.callsFramed;
  // All made in one turn of the event loop: one pump merges them.
  const results = await Promise.all(
    accounts.map((a, i) => client.apply([credit({ opId: newOpId(), accountId: a, amount: BigInt(i + 1) }), credit({ opId: newOpId(), accountId: a, amount: 1000n })])),
  );
  results.forEach((rs, i) => {
    assert.equal(rs.length, 2);
    assert.equal(rs[0].balanceAfter, BigInt(i + 1));
    assert.equal(rs[1].balanceAfter, BigInt(i + 1001));
  });
  assert.equal(client.callsFramed - callsBefore, n);
  assert.equal(client.framesMade - framesBefore, 1, "64 calls made at once went in one frame");

  // Without coalescing, one frame each, more in flight than the server works on at once.
  const plain = await Client.connect({ port: server.port, coalesceOps: false });
  try {
    const a = await newAccount(1);
    const k = 300;
    const rs = await Promise.all(
      Array.from({ length: k }, () => plain.applyOne(credit({ opId: newOpId(), accountId: a, amount: 1n }))),
    );
    assert.ok(rs.every((r) => r.ok));
    // Ordered in the order sent: balances 1..k.
    assert.deepEqual(rs.map((r) => r.balanceAfter), Array.from({ length: k }, (_, i) => BigInt(i + 1)));
    const looks = await Promise.all(Array.from({ length: 200 }, () => plain.account(a)));
    assert.ok(looks.every((x) => x.balance === BigInt(k)));
  } finally {
    await plain.close();
  }
});

test("a server ERROR answers its own request; the client reconnects for the rest", async () => {
  const a = await newAccount(1, 1n);
  const before = client.reconnects;
  await assert.rejects(client.history(a, { limit: 0 }), (e: unknown) => {
    assert.ok(e instanceof ServerError);
    assert.equal(e.errorCode, ErrorCode.InvalidField);
    assert.equal(e.closing, true);
    return true;
  });
  assert.equal((await client.account(a)).balance, 1n);
  assert.equal(client.reconnects, before + 1);
});

test("version 1: negotiated when asked, ops without issue time, no history filters", async () => {
  const v1 = await Client.connect({ port: server.port, versionMax: 1 });
  try {
    assert.equal(v1.version, 1);
    const a = acct();
    const rs = await v1.apply([createAccount({ opId: newOpId(), accountId: a, currency: 1 }), credit({ opId: newOpId(), accountId: a, amount: 9n })]);
    assert.deepEqual(rs.map((r) => r.code), [ResultCode.Ok, ResultCode.Ok]);
    const h = await v1.history(a, { limit: 10 });
    assert.equal(h.entries.length, 2);
    await assert.rejects(v1.history(a, { limit: 10, reason: 7 }), VersionError);
    assert.equal((await v1.account(a)).balance, 9n);
  } finally {
    await v1.close();
  }
  await assert.rejects(Client.connect({ port: server.port, versionMax: 3 }), RangeError);
});

