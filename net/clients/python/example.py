#!/usr/bin/python3
"""A short tour of the Python client against a running cofferd:

    PYTHONPATH=net/clients/python /usr/bin/python3 net/clients/python/example.py 127.0.0.1:7300

A player buys an item (a linked chain: pay the shop, get the item token),
retries the purchase (answered as a duplicate, charged once), fails to
overspend, and reads its history; then the same with the blocking API.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import coffer  # noqa: E402
from coffer import (ResultCode, chain, create_account, credit, debit,  # noqa: E402
                    transfer)

GEMS, ITEMS = 2, 3  # currencies


async def tour(host: str, port: int) -> None:
    base = secrets.randbits(40) << 8
    player, shop, tokens = base + 1, base + 2, base + 3
    async with await coffer.AsyncClient.connect(host, port) as c:
        print(f"connected: protocol v{c.version}, {c.server_info.shard_count} shards")
        setup = await c.apply([create_account(player, GEMS),
                               create_account(shop, GEMS),
                               create_account(tokens, ITEMS),
                               credit(player, 500, reason=1)])
        assert all(r.ok for r in setup), setup

        # Keep the op ids and the issue time: a retry must reuse both.
        purchase = chain([transfer(player, shop, 120, currency=GEMS, reason=7),
                          credit(tokens, 1, currency=ITEMS, reason=7)])
        issued = c.now_ns()
        first = await c.apply(purchase, issued_ns=issued)
        print("purchase:", [(r.code.name, r.balance_after, r.seq) for r in first])
        retry = await c.apply(purchase, issued_ns=issued)
        print("retry:   ", [(r.code.name, r.duplicate, r.seq) for r in retry])

        overspend = await c.apply_one(debit(player, 10_000))
        assert overspend.code == ResultCode.INSUFFICIENT_FUNDS
        print("overspend:", overspend.code.name, "balance", overspend.balance_after)

        async for page in c.history_pages(player, limit=2):
            for e in page.entries:
                print(f"  #{e.number} {e.kind.name:<12} {e.amount:+} -> {e.balance_after}"
                      f" (reason {e.reason})")

    # The blocking API: the same calls, from any thread.
    with coffer.Client.connect(host, port) as bc:
        acct = bc.account(player)
        assert acct is not None
        print(f"blocking: player has {acct.balance} gems, {acct.held} held")
        print("digest:", hex(bc.digest().digest))


def main() -> None:
    addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:7300"
    host, _, port = addr.rpartition(":")
    asyncio.run(tour(host or "127.0.0.1", int(port)))


if __name__ == "__main__":
    main()
