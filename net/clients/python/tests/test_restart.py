"""Conformance 2d: the server dies in the middle of a pipelined run (SIGKILL,
and for comparison SIGTERM), restarts on the same data directory and port;
the client reconnects and resends what was unanswered. Every op ends up
applied exactly once, and every op has an answer."""

from __future__ import annotations

import asyncio
import signal
import unittest

import coffer
from coffer import AsyncClient, ResultCode as RC, create_account, credit

from .support import AsyncTestCase, Cofferd, fresh_account_ids

N = 3000
CALLERS = 64
ACCOUNTS = 8


class RestartTest(AsyncTestCase):
    async def run_with_restart(self, sig: signal.Signals, coalesce: bool) -> None:
        srv = Cofferd()
        self.addCleanup(srv.close)
        await asyncio.to_thread(srv.start)
        c = await AsyncClient.connect("127.0.0.1", srv.port, call_timeout=60.0,
                                      reconnect_attempts=40,
                                      coalesce_ops=coalesce)
        self.addAsyncCleanup(c.close)
        accounts = fresh_account_ids(ACCOUNTS)
        cur = 0x300 + 2 * sig + coalesce
        r = await c.apply([create_account(a, cur) for a in accounts])
        self.assertEqual({x.code for x in r}, {RC.OK})

        gen = coffer.OpIdGenerator()
        ops = [credit(accounts[i % ACCOUNTS], i % 5 + 1, op_id=gen.next(),
                      user_data=i) for i in range(N)]
        expected = {a: 0 for a in accounts}
        for op in ops:
            expected[op.account_id] += op.amount
        results: list[coffer.OpResult | None] = [None] * N
        answered = 0
        trigger = asyncio.Event()
        next_op = iter(range(N))
        at_kill: dict[str, int] = {}

        async def caller() -> None:
            nonlocal answered
            for i in next_op:
                results[i] = await c.apply_one(ops[i])
                answered += 1
                if answered == N // 4:
                    trigger.set()

        async def killer() -> None:
            await trigger.wait()
            at_kill["answered"] = answered
            at_kill["in_flight"] = c.in_flight
            if sig == signal.SIGKILL:
                srv.kill()  # at once, on the loop: nothing is answered meanwhile
            else:
                await asyncio.to_thread(srv.stop)
            await asyncio.to_thread(srv.start)  # the same data dir and port

        await asyncio.wait_for(
            asyncio.gather(killer(), *[caller() for _ in range(CALLERS)]), 90)

        # It really was mid-run: requests were in flight at the kill.
        self.assertLess(at_kill["answered"], N)
        self.assertGreater(at_kill["in_flight"], 0)
        self.assertGreaterEqual(c.reconnects, 1)
        # Every op has an answer, and it is ok.
        self.assertTrue(all(r is not None for r in results))
        done = [r for r in results if r is not None]
        self.assertEqual({r.code for r in done}, {RC.OK})
        # Each op was ordered exactly once: distinct seqs (a duplicate answer
        # carries its original seq).
        self.assertEqual(len({r.seq for r in done}), N)
        # And applied exactly once: the balances and history counts.
        lk = await c.lookup(accounts)
        self.assertEqual({a.id: a.balance for a in lk.accounts}, expected)
        self.assertEqual([a.history_count for a in lk.accounts],
                         [1 + N // ACCOUNTS] * ACCOUNTS)
        d = await c.digest()
        mine = [t for t in d.currencies if t.currency == cur]
        self.assertEqual((mine[0].accounts, mine[0].balance),
                         (ACCOUNTS, sum(expected.values())))
        # A retry after the restart still gets the original answers.
        again = await c.apply(ops[:50])
        self.assertTrue(all(x.duplicate for x in again))
        self.assertEqual([x.seq for x in again], [r.seq for r in done[:50]])

    async def test_sigkill_mid_run_coalesced(self) -> None:
        # 64 callers' ops merged into shared frames.
        await self.run_with_restart(signal.SIGKILL, coalesce=True)

    async def test_sigkill_mid_run_pipelined(self) -> None:
        # One frame per call: up to 64 frames in flight at the kill.
        await self.run_with_restart(signal.SIGKILL, coalesce=False)

    async def test_sigterm_mid_run(self) -> None:
        await self.run_with_restart(signal.SIGTERM, coalesce=False)


if __name__ == "__main__":
    unittest.main()
