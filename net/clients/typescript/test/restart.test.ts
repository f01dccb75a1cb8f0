// Conformance 2d: a server SIGKILLed in the middle of a pipelined run and
// restarted on the same data dir and port. The client reconnects and resends
// what was unanswered; every op gets an answer and applies exactly once.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Client, OpResult, ResultCode, createAccount, credit, newOpId } from "../src/index";
import { Server, freshDataDir } from "./harness";
import { rmSync } from "node:fs";

const dataDir = freshDataDir();
let server: Server | undefined;
let client: Client | undefined;
let plain: Client | undefined;

after(async () => {
  await client?.close();
  await plain?.close();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test("restart mid-run: every op answered, applied exactly once", async () => {
  server = await Server.start({ dataDir });
  const port = server.port;
  const o = { port, reconnectAttempts: 400, reconnectBackoffMs: 5, reconnectBackoffMaxMs: 50, callTimeoutMs: 60_000 };
  // Half the callers share coalesced frames, half send a frame per call, so
  // that frames are in flight at every moment, the kill included.
  client = await Client.connect(o);
  plain = await Client.connect({ ...o, coalesceOps: false });
  const accounts = [11n, 12n, 13n, 14n];
  const setup = await client.apply(accounts.map((a) => createAccount({ opId: newOpId(), accountId: a, currency: 1 })));
  assert.ok(setup.every((r) => r.ok));

  const N = 4000;
  const callers = 64;
  const ops = Array.from({ length: N }, (_, i) =>
    credit({ opId: newOpId(), accountId: accounts[i % 4], amount: BigInt((i % 7) + 1) }),
  );
  const expected = accounts.map((_, k) => ops.filter((_, i) => i % 4 === k).reduce((s, op) => s + op.amount!, 0n));
  const results: (OpResult | undefined)[] = new Array(N);
  let next = 0;
  let answered = 0;
  let answeredAtKill = -1;
  let restarted: Promise<void> | undefined;
  const killAt = Math.floor(N / 3);

  const restart = async () => {
    answeredAtKill = answered;
    await server!.kill();
    server = await Server.start({ dataDir, port });
  };

  await Promise.all(
    Array.from({ length: callers }, async (_, k) => {
      const via = k % 2 ? plain! : client!;
      while (next < N) {
        const i = next++;
        results[i] = await via.applyOne(ops[i]);
        answered++;
        if (answered === killAt) restarted = restart();
      }
    }),
  );
  await restarted;

  assert.ok(answeredAtKill >= killAt && answeredAtKill < N, `killed mid-run (after ${answeredAtKill} of ${N} answers)`);
  assert.ok(client.reconnects >= 1 && plain.reconnects >= 1, "both clients reconnected");
  assert.equal(results.filter((r) => r !== undefined).length, N, "every op has an answer");
  assert.ok(results.every((r) => r!.code === ResultCode.Ok), "every op ok");
  const dups = results.filter((r) => r!.duplicate).length;
  const look = await client.lookup(accounts);
  assert.deepEqual(look.accounts.map((a) => a.balance), expected, "balances: every op applied exactly once");
  assert.deepEqual(look.accounts.map((a) => a.historyCount), accounts.map(() => 1 + N / 4), "one history entry per op");
  const d = await client.digest();
  assert.equal(d.currencies.find((c) => c.currency === 1)!.balance, expected.reduce((s, x) => s + x, 0n));
  // Every op is remembered: sending them all again changes nothing.
  const again = await client.apply(ops.slice(0, 500));
  assert.ok(again.every((r) => r.ok && r.duplicate));
  assert.deepEqual((await client.lookup(accounts)).accounts.map((a) => a.balance), expected);
  console.log(`# restart: killed after ${answeredAtKill}/${N} answers; ${dups} answers were duplicates of resent ops; ${client.reconnects + plain.reconnects} reconnect(s)`);
});
