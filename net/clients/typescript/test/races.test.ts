// Conformance 2b and 2c against a real cofferd: the negative-balance race and
// the double-charge race, from many concurrent callers on several connections.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Client, ResultCode, createAccount, credit, debit, newOpId } from "../src/index";
import { Server } from "./harness";

let server: Server;
const clients: Client[] = [];

before(async () => {
  server = await Server.start();
  // Four connections, two coalescing concurrent calls into shared frames
  // and two sending a frame per call.
  for (let i = 0; i < 4; i++) clients.push(await Client.connect({ port: server.port, coalesceOps: i % 2 === 0 }));
});

after(async () => {
  for (const c of clients) await c.close();
  await server?.cleanup();
});

async function account(id: bigint, balance: bigint): Promise<void> {
  const rs = await clients[0].apply([
    createAccount({ opId: newOpId(), accountId: id, currency: 1 }),
    credit({ opId: newOpId(), accountId: id, amount: balance }),
  ]);
  assert.ok(rs.every((r) => r.ok));
}

test("negative-balance race: 128 concurrent debits of 1 against 100", async () => {
  const id = 501n;
  await account(id, 100n);
  const results = await Promise.all(
    Array.from({ length: 128 }, (_, i) => clients[i % clients.length].applyOne(debit({ opId: newOpId(), accountId: id, amount: 1n }))),
  );
  const ok = results.filter((r) => r.code === ResultCode.Ok).length;
  const refused = results.filter((r) => r.code === ResultCode.InsufficientFunds).length;
  assert.equal(ok, 100, "exactly 100 debits applied");
  assert.equal(refused, 28, "exactly 28 insufficient_funds");
  assert.ok(results.every((r) => r.balanceAfter >= 0n && !r.duplicate), "never negative");
  // Every applied debit saw a distinct balance 99..0.
  const seen = results.filter((r) => r.ok).map((r) => Number(r.balanceAfter)).sort((a, b) => a - b);
  assert.deepEqual(seen, Array.from({ length: 100 }, (_, i) => i));
  const acc = await clients[1].account(id);
  assert.equal(acc.balance, 0n, "final balance exactly 0");
  assert.equal(acc.historyCount, 102, "create, credit and 100 debits: refusals write no history");
});

test("double-charge race: 32 concurrent calls of one op", async () => {
  const id = 502n;
  await account(id, 1000n);
  const charge = debit({ opId: newOpId(), accountId: id, amount: 250n, userData: 77n });
  const results = await Promise.all(
    Array.from({ length: 32 }, (_, i) => clients[i % clients.length].applyOne(charge)),
  );
  assert.ok(results.every((r) => r.code === ResultCode.Ok), "every answer is ok");
  assert.equal(new Set(results.map((r) => r.seq)).size, 1, "every answer has the same seq");
  assert.ok(results.every((r) => r.balanceAfter === 750n), "every answer has the same balance");
  assert.equal(results.filter((r) => !r.duplicate).length, 1, "all but one marked duplicate");
  const acc = await clients[2].account(id);
  assert.equal(acc.balance, 750n, "charged exactly once");
  assert.equal(acc.historyCount, 3);
});
