// Throughput driver: C concurrent callers (default 64) on one Client, each
// making one call at a time of one op (a debit of 1 with a fresh op id),
// for N seconds against a cofferd at host:port. Prints ops/s and the
// p50/p99 latency of a call.
//
//   node dist/src/bench.js 127.0.0.1:7300 [--seconds=10] [--callers=64] [--token=T] [--no-coalesce]

import { Client, createAccount, credit, debit, newOpId, ResultCode } from "./index";

function arg(name: string, def: string): string {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function main(): Promise<void> {
  const target = process.argv.slice(2).find((x) => !x.startsWith("--"));
  if (!target || !/^[^:]+:\d+$/.test(target)) {
    console.error("usage: bench HOST:PORT [--seconds=10] [--callers=64] [--token=T] [--no-coalesce]");
    process.exit(2);
  }
  const [host, portText] = target.split(":");
  const seconds = Number(arg("seconds", "10"));
  const callers = Number(arg("callers", "64"));
  const coalesceOps = !process.argv.includes("--no-coalesce");
  const client = await Client.connect({ host, port: Number(portText), authToken: arg("token", ""), coalesceOps });

  const account = newOpId() & ((1n << 62n) - 1n);
  const setup = await client.apply([
    createAccount({ opId: newOpId(), accountId: account, currency: 1 }),
    credit({ opId: newOpId(), accountId: account, amount: 1n << 61n }),
  ]);
  if (!setup.every((r) => r.ok)) throw new Error(`setup failed: ${setup.map((r) => r.codeName).join(", ")}`);

  const latenciesUs: number[] = [];
  let refused = 0;
  const framesBefore = client.framesMade;
  const callsBefore = client.callsFramed;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (process.hrtime.bigint() < end) {
        const t0 = process.hrtime.bigint();
        const r = await client.applyOne(debit({ opId: newOpId(), accountId: account, amount: 1n }));
        latenciesUs.push(Number(process.hrtime.bigint() - t0) / 1e3);
        if (r.code !== ResultCode.Ok) refused++;
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const sorted = Float64Array.from(latenciesUs).sort();
  const frames = client.framesMade - framesBefore;
  const calls = client.callsFramed - callsBefore;
  await client.close();
  const n = latenciesUs.length;
  console.log(
    `coffer typescript bench: ${callers} callers, ${n} ops in ${elapsed.toFixed(2)} s: ` +
      `${Math.round(n / elapsed)} ops/s, p50 ${(quantile(sorted, 0.5) / 1e3).toFixed(2)} ms, ` +
      `p99 ${(quantile(sorted, 0.99) / 1e3).toFixed(2)} ms` +
      (coalesceOps ? `, ${(calls / Math.max(1, frames)).toFixed(1)} calls per frame` : ", no coalescing") +
      (refused ? `, ${refused} refused` : ""),
  );
  if (refused) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
