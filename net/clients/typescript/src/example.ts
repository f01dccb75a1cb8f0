// A short tour: two accounts, a purchase as a linked chain, a refused debit
// and its retry, a lookup and a history page.
//
//   node dist/src/example.js [HOST:PORT]   (default 127.0.0.1:7300)

import { Client, chain, createAccount, credit, debit, newOpId, transfer } from "./index";

async function main(): Promise<void> {
  const [host, port] = (process.argv[2] ?? "127.0.0.1:7300").split(":");
  const client = await Client.connect({ host, port: Number(port) });
  try {
    const GEMS = 2;
    const player = newOpId(); // any non-zero 64-bit id; random here so reruns do not collide
    const shop = newOpId();
    const created = await client.apply([
      createAccount({ opId: newOpId(), accountId: player, currency: GEMS }),
      createAccount({ opId: newOpId(), accountId: shop, currency: GEMS }),
      credit({ opId: newOpId(), accountId: player, amount: 500n, reason: 1 }),
    ]);
    console.log("setup:", created.map((r) => r.codeName).join(", "));

    // Pay 120 gems to the shop and take a note of it, all or nothing.
    const purchase = await client.apply(
      chain([
        transfer({ opId: newOpId(), from: player, to: shop, amount: 120n, reason: 7, userData: 0xabcdn, currency: GEMS }),
        debit({ opId: newOpId(), accountId: player, amount: 1n, reason: 7 }),
      ]),
    );
    console.log("purchase:", purchase.map((r) => `${r.codeName} balance ${r.balanceAfter} seq ${r.seq}`).join("; "));

    // A debit the balance cannot cover, then its retry (same op id): the same
    // answer, marked duplicate.
    const tooMuch = debit({ opId: newOpId(), accountId: player, amount: 1000n });
    const first = await client.applyOne(tooMuch);
    const retry = await client.applyOne(tooMuch);
    console.log(`refused: ${first.codeName} (seq ${first.seq}); retry: ${retry.codeName}, duplicate=${retry.duplicate}, seq ${retry.seq}`);

    const acc = await client.account(player);
    console.log(`player: balance ${acc.balance}, held ${acc.held}, ${acc.historyCount} history entries`);
    for await (const page of client.historyPages(player, { limit: 2 })) {
      for (const e of page.entries) console.log(`  #${e.number} kind ${e.kind} amount ${e.amount} -> ${e.balanceAfter}`);
    }
  } finally {
    await client.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
