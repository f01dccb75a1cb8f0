"""Conformance 2b and 2c: the negative-balance race and the double-charge
race, from concurrent asyncio tasks (one coalescing connection, and several
connections) and from OS threads on the blocking client."""

from __future__ import annotations

import asyncio
import threading
import unittest
from concurrent.futures import ThreadPoolExecutor

import coffer
from coffer import AsyncClient, ResultCode as RC, create_account, credit, debit

from .support import AsyncTestCase, Cofferd, fresh_account_ids

DEBITS = 128
BALANCE = 100
COPIES = 32


class RaceTest(AsyncTestCase):
    server: Cofferd

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = Cofferd().start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.close()

    async def connect(self, **kw: object) -> AsyncClient:
        c = await AsyncClient.connect("127.0.0.1", self.server.port,
                                      call_timeout=20.0, **kw)  # type: ignore[arg-type]
        self.addAsyncCleanup(c.close)
        return c

    async def funded(self, c: AsyncClient, amount: int) -> int:
        (a,) = fresh_account_ids(1)
        r = await c.apply([create_account(a, 1), credit(a, amount)])
        self.assertEqual([x.code for x in r], [RC.OK, RC.OK])
        return a

    # ---- 2b: 128 concurrent debits of 1 against a balance of 100 ----

    async def check_debits(self, c: AsyncClient, a: int,
                           results: list[coffer.OpResult]) -> None:
        codes = [r.code for r in results]
        self.assertEqual(len(results), DEBITS)
        self.assertEqual(codes.count(RC.OK), BALANCE)
        self.assertEqual(codes.count(RC.INSUFFICIENT_FUNDS), DEBITS - BALANCE)
        self.assertTrue(all(r.balance_after >= 0 for r in results))
        self.assertFalse(any(r.duplicate for r in results))
        self.assertEqual(len({r.seq for r in results}), DEBITS)  # each ordered once
        acct = await c.account(a)
        assert acct is not None
        self.assertEqual(acct.balance, 0)
        # Never negative at any point: every entry of the history.
        entries = [e async for page in c.history_pages(a, limit=1000)
                   for e in page.entries]
        self.assertEqual(len(entries), 2 + BALANCE)
        self.assertTrue(all(e.balance_after >= 0 for e in entries))

    async def test_debit_race_tasks_one_connection(self) -> None:
        c = await self.connect()
        a = await self.funded(c, BALANCE)
        results = await asyncio.gather(*[c.apply_one(debit(a, 1))
                                         for _ in range(DEBITS)])
        await self.check_debits(c, a, results)

    async def test_debit_race_tasks_many_connections(self) -> None:
        clients = [await self.connect(coalesce_ops=False) for _ in range(8)]
        a = await self.funded(clients[0], BALANCE)
        results = await asyncio.gather(*[clients[i % 8].apply_one(debit(a, 1))
                                         for i in range(DEBITS)])
        await self.check_debits(clients[0], a, results)

    async def test_debit_race_threads(self) -> None:
        c = await self.connect()
        a = await self.funded(c, BALANCE)

        def run() -> list[coffer.OpResult]:
            with coffer.Client.connect("127.0.0.1", self.server.port,
                                       coalesce_ops=False) as bc:
                start = threading.Barrier(DEBITS)

                def one(_: int) -> coffer.OpResult:
                    start.wait(20)
                    return bc.apply_one(debit(a, 1))

                with ThreadPoolExecutor(DEBITS) as pool:
                    return list(pool.map(one, range(DEBITS)))

        results = await asyncio.to_thread(run)
        await self.check_debits(c, a, results)

    # ---- 2c: 32 concurrent copies of one charge ----

    async def check_copies(self, c: AsyncClient, a: int,
                           results: list[coffer.OpResult]) -> None:
        self.assertEqual(len(results), COPIES)
        self.assertEqual({(r.code, r.seq, r.balance_after) for r in results},
                         {(RC.OK, results[0].seq, 1000 - 25)})
        self.assertEqual(sum(not r.duplicate for r in results), 1)
        acct = await c.account(a)
        assert acct is not None
        self.assertEqual(acct.balance, 1000 - 25)
        self.assertEqual(acct.history_count, 3)  # create, credit, one debit

    async def test_double_charge_tasks_one_connection(self) -> None:
        c = await self.connect()
        a = await self.funded(c, 1000)
        charge = debit(a, 25, reason=1, user_data=42)
        results = await asyncio.gather(*[c.apply_one(charge) for _ in range(COPIES)])
        await self.check_copies(c, a, results)

    async def test_double_charge_many_connections(self) -> None:
        clients = [await self.connect(coalesce_ops=False) for _ in range(COPIES)]
        a = await self.funded(clients[0], 1000)
        charge = debit(a, 25, reason=1, user_data=42)
        results = await asyncio.gather(*[cl.apply_one(charge) for cl in clients])
        await self.check_copies(clients[0], a, results)

    async def test_double_charge_threads(self) -> None:
        c = await self.connect()
        a = await self.funded(c, 1000)
        charge = debit(a, 25, reason=1, user_data=42)

        def run() -> list[coffer.OpResult]:
            with coffer.Client.connect("127.0.0.1", self.server.port) as bc:
                start = threading.Barrier(COPIES)

                def one(_: int) -> coffer.OpResult:
                    start.wait(20)
                    return bc.apply_one(charge)

                with ThreadPoolExecutor(COPIES) as pool:
                    return list(pool.map(one, range(COPIES)))

        results = await asyncio.to_thread(run)
        await self.check_copies(c, a, results)


if __name__ == "__main__":
    unittest.main()
