"""Conformance 2a: against a real cofferd, every op kind, every result code
a client can provoke, lookups, a history walk with the cursor (and the v2
filters), stats, digest, stages, disk, backup, and the errors a real server
gives (auth, version, a refused frame)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import unittest

import coffer
from coffer import (AsyncClient, OpKind, ResultCode as RC, capture, chain,
                    create_account, credit, debit, hold, release, transfer)
from coffer.protocol import Op

from .support import AsyncTestCase, Cofferd, fresh_account_ids

HOUR_NS = 3600 * 10**9
INT64_MAX = 2**63 - 1


class ServerTestCase(AsyncTestCase):
    server: Cofferd
    server_args: tuple[str, ...] = ()

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = Cofferd(*cls.server_args).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.close()

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        self.client = await AsyncClient.connect("127.0.0.1", self.server.port,
                                                call_timeout=20.0)

    async def asyncTearDown(self) -> None:
        await self.client.close()


class OpsTest(ServerTestCase):
    async def one(self, op: Op, **kw: int) -> coffer.OpResult:
        return await self.client.apply_one(op, **kw)

    async def test_every_op_kind(self) -> None:
        a, b, od, cap = fresh_account_ids(4)
        c = self.client
        r = await c.apply([create_account(a, 1), create_account(b, 1),
                           create_account(od, 1, overdraft_limit=50),
                           create_account(cap, 1, balance_cap=100)])
        self.assertEqual([x.code for x in r], [RC.OK] * 4)
        self.assertTrue(all(x.seq > 0 and not x.duplicate for x in r))

        self.assertEqual((await self.one(credit(a, 1000, reason=3, user_data=77))
                          ).balance_after, 1000)
        self.assertEqual((await self.one(debit(a, 100))).balance_after, 900)
        r1 = await self.one(transfer(a, b, 200, currency=1))
        self.assertEqual((r1.code, r1.balance_after), (RC.OK, 700))

        h = hold(a, 300)
        self.assertEqual((await self.one(h)).code, RC.OK)
        acct = await c.account(a)
        assert acct is not None
        self.assertEqual((acct.balance, acct.held, acct.available), (700, 300, 400))
        rc = await self.one(capture(a, h.op_id, b, 100))
        self.assertEqual(rc.code, RC.OK)
        acct = await c.account(a)
        assert acct is not None
        self.assertEqual((acct.balance, acct.held), (600, 0))  # the hold closed

        h2 = hold(a, 50, timeout_ms=600_000)
        self.assertEqual((await self.one(h2)).code, RC.OK)
        self.assertEqual((await self.one(release(a, h2.op_id))).code, RC.OK)
        acct = await c.account(a)
        assert acct is not None
        self.assertEqual((acct.balance, acct.held), (600, 0))

        # Overdraft: down to -50, not below.
        self.assertEqual((await self.one(debit(od, 30))).balance_after, -30)
        r2 = await self.one(debit(od, 30))
        self.assertEqual((r2.code, r2.balance_after), (RC.INSUFFICIENT_FUNDS, -30))
        # Cap: up to 100.
        self.assertEqual((await self.one(credit(cap, 100))).code, RC.OK)
        self.assertEqual((await self.one(credit(cap, 1))).code, RC.BALANCE_CAP_EXCEEDED)

        lk = await c.lookup([a, b, od, cap, fresh_account_ids(1)[0]])
        self.assertEqual([x.balance for x in lk.accounts], [600, 300, -30, 100, 0])
        self.assertEqual(lk.accounts[4].id, 0)
        self.assertFalse(lk.accounts[4].exists)
        self.assertEqual((lk.accounts[2].overdraft_limit, lk.accounts[2].flags),
                         (50, coffer.ACCOUNT_FLAG_OVERDRAFT))
        self.assertEqual((lk.accounts[3].balance_cap, lk.accounts[3].flags),
                         (100, coffer.ACCOUNT_FLAG_CAP))
        self.assertEqual(lk.accounts[0].currency, 1)
        self.assertGreater(lk.seq, 0)

        # History of a: reason and user_data stored; kinds in order.
        entries = [e for page in [await c.history(a, limit=100)] for e in page.entries]
        kinds = [e.kind for e in reversed(entries)]
        E = coffer.EntryKind
        self.assertEqual(kinds, [E.CREATE, E.CREDIT, E.DEBIT, E.TRANSFER_OUT,
                                 E.HOLD, E.CAPTURE_OUT, E.HOLD, E.RELEASE])
        cr = entries[-2]
        self.assertEqual((cr.amount, cr.reason, cr.user_data, cr.balance_after),
                         (1000, 3, 77, 1000))
        hb = await c.history(b, limit=10)
        self.assertEqual([e.kind for e in reversed(hb.entries)],
                         [E.CREATE, E.TRANSFER_IN, E.CAPTURE_IN])
        self.assertEqual(hb.entries[0].other_account_id, a)

    async def test_duplicates_answer_the_original(self) -> None:
        (a,) = fresh_account_ids(1)
        await self.client.apply([create_account(a, 1), credit(a, 10)])
        op = debit(a, 4)
        first = await self.one(op)
        again = await self.one(op)
        self.assertEqual((first.code, first.duplicate), (RC.OK, False))
        self.assertEqual((again.code, again.seq, again.balance_after, again.duplicate),
                         (RC.OK, first.seq, 6, True))
        # A refusal is remembered too.
        big = debit(a, 100)
        self.assertEqual((await self.one(big)).code, RC.INSUFFICIENT_FUNDS)
        await self.one(credit(a, 1000))
        r = await self.one(big)
        self.assertEqual((r.code, r.duplicate), (RC.INSUFFICIENT_FUNDS, True))

    async def test_every_result_code(self) -> None:
        c = self.client
        a, b, other_cur, cap, ghost = fresh_account_ids(5)
        seen: dict[RC, int] = {}

        def see(results: list[coffer.OpResult]) -> list[RC]:
            for r in results:
                seen[r.code] = seen.get(r.code, 0) + 1
            return [r.code for r in results]

        async def one(op: Op, **kw: int) -> RC:
            return see([await c.apply_one(op, **kw)])[0]

        self.assertEqual(see(await c.apply([
            create_account(a, 1), create_account(b, 1),
            create_account(other_cur, 2), create_account(cap, 1, balance_cap=10),
            credit(a, 100)])), [RC.OK] * 5)

        # Chains.
        self.assertEqual(see(await c.apply(chain([credit(a, 5), debit(b, 10**9)]))),
                         [RC.LINKED_OP_FAILED, RC.INSUFFICIENT_FUNDS])
        open_chain = credit(a, 1)
        open_chain.flags = coffer.OP_FLAG_LINKED
        self.assertEqual(see(await c.apply([open_chain])), [RC.LINKED_CHAIN_OPEN])
        long = see(await c.apply(chain([credit(a, 1) for _ in range(65)])))
        self.assertEqual(long, [RC.LINKED_CHAIN_TOO_LONG] + [RC.LINKED_OP_FAILED] * 64)
        twice = credit(a, 1)
        twice.flags = coffer.OP_FLAG_LINKED  # both copies identical, linked
        self.assertEqual(see(await c.apply([twice, twice, credit(a, 1)])),
                         [RC.LINKED_OP_FAILED, RC.OP_ID_REPEATED_IN_CHAIN,
                          RC.LINKED_OP_FAILED])
        acct = await c.account(a)
        assert acct is not None
        self.assertEqual(acct.balance, 100)  # nothing of those chains applied

        # Field validation.
        self.assertEqual(await one(credit(a, 1, op_id=0)), RC.OP_ID_ZERO)
        self.assertEqual(await one(credit(0, 1)), RC.ACCOUNT_ID_ZERO)
        self.assertEqual(await one(Op(9, coffer.new_op_id(), a, amount=1)),
                         RC.INVALID_KIND)
        bad_flags = credit(a, 1)
        bad_flags.flags = 0x8
        self.assertEqual(await one(bad_flags), RC.INVALID_FLAGS)
        bad_field = credit(a, 1)
        bad_field.aux = 5  # must be 0 for a credit
        self.assertEqual(await one(bad_field), RC.INVALID_FIELD)
        reserved = credit(a, 1)
        reserved.reserved = 1
        self.assertEqual(await one(reserved), RC.INVALID_FIELD)
        self.assertEqual(await one(debit(a, 0)), RC.AMOUNT_ZERO)
        self.assertEqual(await one(transfer(a, a, 1)), RC.SAME_ACCOUNT)
        self.assertEqual(await one(create_account(fresh_account_ids(1)[0], 0)),
                         RC.CURRENCY_ZERO)
        self.assertEqual(await one(credit(ghost, 1)), RC.ACCOUNT_NOT_FOUND)
        self.assertEqual(await one(create_account(a, 1)), RC.ACCOUNT_EXISTS)
        self.assertEqual(await one(create_account(a, 2)),
                         RC.ACCOUNT_EXISTS_WITH_DIFFERENT_FIELDS)
        self.assertEqual(await one(credit(a, 1, currency=2)), RC.CURRENCY_MISMATCH)
        self.assertEqual(await one(transfer(a, other_cur, 1)), RC.CURRENCY_MISMATCH)
        self.assertEqual(await one(debit(b, 1)), RC.INSUFFICIENT_FUNDS)
        self.assertEqual(await one(credit(cap, 11)), RC.BALANCE_CAP_EXCEEDED)
        self.assertEqual(await one(credit(a, 2**63)), RC.OVERFLOW)
        self.assertEqual(await one(credit(a, INT64_MAX)), RC.OVERFLOW)  # 100 + max
        reused = debit(a, 1)
        self.assertEqual(await one(reused), RC.OK)
        self.assertEqual(await one(debit(a, 2, op_id=reused.op_id)),
                         RC.OP_ID_REUSED_WITH_DIFFERENT_FIELDS)
        self.assertEqual(await one(create_account(fresh_account_ids(1)[0], 1,
                                                  overdraft_limit=2**63)),
                         RC.OVERDRAFT_LIMIT_TOO_LARGE)

        # Holds.
        self.assertEqual(await one(release(a, coffer.new_op_id())), RC.HOLD_NOT_FOUND)
        h = hold(a, 10)
        self.assertEqual(await one(h), RC.OK)
        self.assertEqual(await one(capture(a, h.op_id, b, 20)), RC.CAPTURE_EXCEEDS_HOLD)
        self.assertEqual(await one(release(a, h.op_id)), RC.OK)
        self.assertEqual(await one(release(a, h.op_id)), RC.HOLD_ALREADY_CLOSED)
        short = hold(a, 10, timeout_ms=1)
        self.assertEqual(await one(short), RC.OK)
        # Wait (bounded) until a lookup shows the hold freed: expiry is judged
        # at the engine time of each read, so this is an event, not a sleep.
        deadline = time.monotonic() + 10
        while True:
            acct = await c.account(a)
            assert acct is not None
            if acct.held == 0:
                break
            self.assertLess(time.monotonic(), deadline, "the 1 ms hold never expired")
            await asyncio.sleep(0.001)
        self.assertEqual(await one(capture(a, short.op_id, b)), RC.HOLD_EXPIRED)

        # Issue times (version 2, a server with an op-id index).
        now = c.now_ns()
        self.assertEqual(await one(credit(a, 1), issued_ns=now + HOUR_NS),
                         RC.OP_ISSUED_IN_FUTURE)
        self.assertEqual(await one(credit(a, 1), issued_ns=now - 48 * HOUR_NS),
                         RC.OP_EXPIRED)

        self.assertEqual(set(seen), set(RC), f"codes not provoked: {set(RC) - set(seen)}")

    async def test_issued_ns_is_sent_and_kept(self) -> None:
        # A call that brings its own (recent) issue time applies normally.
        (a,) = fresh_account_ids(1)
        r = await self.client.apply([create_account(a, 1)],
                                    issued_ns=self.client.now_ns() - 10**9)
        self.assertEqual(r[0].code, RC.OK)


class ReadsTest(ServerTestCase):
    async def test_history_walk_with_cursor(self) -> None:
        c = self.client
        a, b = fresh_account_ids(2)
        await c.apply([create_account(a, 5), create_account(b, 5)])
        ops = [credit(a, i + 1, reason=9 if i % 3 == 0 else 4, user_data=i)
               for i in range(30)]
        await c.apply(ops)
        before = c.now_ns()
        await c.apply([credit(a, 1000, reason=9)])
        acct = await c.account(a)
        assert acct is not None
        self.assertEqual(acct.history_count, 32)

        numbers: list[int] = []
        pages = 0
        cursor = 0
        while True:
            page = await c.history(a, before=cursor, limit=7)
            self.assertTrue(page.found)
            self.assertLessEqual(len(page.entries), 7)
            numbers += [e.number for e in page.entries]
            pages += 1
            if page.next_before == 0:
                break
            cursor = page.next_before
        self.assertEqual(numbers, list(range(32, 0, -1)))
        self.assertEqual(pages, 5)
        # The same walk through the iterator.
        walked = [e.number async for page in c.history_pages(a, limit=10)
                  for e in page.entries]
        self.assertEqual(walked, numbers)

        # v2 filters: by reason, by time.
        by_reason = [e async for page in c.history_pages(a, limit=4, reason=9)
                     for e in page.entries]
        self.assertEqual(len(by_reason), 11)
        self.assertTrue(all(e.reason == 9 for e in by_reason))
        recent = [e async for page in c.history_pages(a, timestamp_min_ns=before)
                  for e in page.entries]
        self.assertEqual([e.amount for e in recent], [1000])
        old = [e async for page in c.history_pages(a, timestamp_max_ns=before - 1)
               for e in page.entries]
        self.assertEqual(len(old), 31)

        missing = await c.history(fresh_account_ids(1)[0])
        self.assertEqual((missing.found, missing.entries, missing.next_before),
                         (False, [], 0))

    async def test_stats_digest_stages_disk_ping(self) -> None:
        c = self.client
        a, b = fresh_account_ids(2)
        cur = 0x7000 + (a & 0xFFF)
        await c.apply([create_account(a, cur), create_account(b, cur),
                       credit(a, 500), transfer(a, b, 120)])
        h = hold(b, 20)
        await c.apply_one(h)
        await c.ping()
        s = await c.stats()
        self.assertEqual(len(s.shards), 2)
        self.assertGreaterEqual(s.ops_sequenced, 5)
        self.assertGreaterEqual(s.last_seq, 5)
        self.assertGreaterEqual(s.connections_open, 1)
        self.assertEqual(s.durable_seq, s.last_seq)
        self.assertGreaterEqual(sum(x.accounts for x in s.shards), 2)

        d = await c.digest()
        self.assertGreaterEqual(d.seq, s.last_seq)
        self.assertGreaterEqual(d.accounts, 2)
        self.assertGreaterEqual(d.holds, 1)
        mine = [t for t in d.currencies if t.currency == cur]
        self.assertEqual(len(mine), 1)
        self.assertEqual((mine[0].accounts, mine[0].balance, mine[0].held),
                         (2, 500, 20))
        self.assertEqual(d.currencies, sorted(d.currencies, key=lambda t: t.currency))
        self.assertEqual(d.digest, (d.digest_hi << 64) | d.digest_lo)
        # Nothing changed: the same digest.
        self.assertEqual((await c.digest()).digest, d.digest)

        st = await c.stages()
        names = {r.stage for r in st.stages}
        self.assertIn(coffer.Stage.TOTAL, names)
        for r in st.stages:
            self.assertLessEqual(r.p50_ns, r.p99_ns)
            self.assertLessEqual(r.p999_ns, r.max_ns)
        disk = await c.disk()
        areas = {x.area: x for x in disk.areas}
        self.assertIn(coffer.DiskArea.LOG, areas)
        self.assertGreater(areas[coffer.DiskArea.LOG].bytes, 0)

    async def test_backup(self) -> None:
        (a,) = fresh_account_ids(1)
        await self.client.apply([create_account(a, 1), credit(a, 5)])
        parent = tempfile.mkdtemp(prefix="coffer-py-backup-")
        try:
            dest = os.path.join(parent, "copy")
            r = await self.client.backup(dest)
            self.assertGreaterEqual(r.seq, 2)
            self.assertGreater(r.files, 0)
            self.assertTrue(os.path.isdir(dest))
            with self.assertRaises(coffer.BackupFailedError) as cm:
                await self.client.backup(dest)  # not empty now
            self.assertEqual(cm.exception.code, coffer.ErrorCode.BACKUP_FAILED)
            with self.assertRaises(coffer.BackupFailedError):
                await self.client.backup("relative/path")
            await self.client.ping()  # not closing
        finally:
            shutil.rmtree(parent, ignore_errors=True)

    async def test_refused_frame_then_reconnect(self) -> None:
        # limit 0 is ERROR invalid_field (closing): that call fails, the
        # client reconnects for the next one.
        with self.assertRaises(coffer.RequestRefusedError) as cm:
            await self.client.history(1, limit=0)
        self.assertEqual(cm.exception.code, coffer.ErrorCode.INVALID_FIELD)
        self.assertTrue(cm.exception.closing)
        await self.client.ping()
        self.assertEqual(self.client.reconnects, 1)

    async def test_lookup_limits(self) -> None:
        with self.assertRaises(ValueError):
            await self.client.lookup([])


class AuthTest(ServerTestCase):
    server_args = ("--auth_token=s3cret",)

    async def asyncSetUp(self) -> None:
        await AsyncTestCase.asyncSetUp(self)  # not ServerTestCase's: no token
        self.client = await AsyncClient.connect("127.0.0.1", self.server.port,
                                                auth_token="s3cret")

    async def test_token(self) -> None:
        await self.client.ping()
        for token in (b"", b"wrong"):
            with self.subTest(token=token):
                with self.assertRaises(coffer.AuthFailedError) as cm:
                    await AsyncClient.connect("127.0.0.1", self.server.port,
                                              auth_token=token)
                self.assertEqual(cm.exception.code, coffer.ErrorCode.AUTH_FAILED)

    async def test_blocking_client_token(self) -> None:
        def run() -> None:
            with coffer.Client.connect("127.0.0.1", self.server.port,
                                       auth_token=b"s3cret") as c:
                c.ping()
            with self.assertRaises(coffer.AuthFailedError):
                coffer.Client.connect("127.0.0.1", self.server.port,
                                      auth_token=b"nope")
        await asyncio.to_thread(run)


class VersionTest(ServerTestCase):
    server_args = ("--protocol_version_min=2",)

    async def test_no_common_version(self) -> None:
        with self.assertRaises(coffer.UnsupportedVersionError) as cm:
            await AsyncClient.connect("127.0.0.1", self.server.port, version_max=1)
        self.assertEqual(cm.exception.code, coffer.ErrorCode.UNSUPPORTED_VERSION)
        self.assertEqual(self.client.version, 2)


class Version1Test(ServerTestCase):
    async def test_version_1_session(self) -> None:
        c = await AsyncClient.connect("127.0.0.1", self.server.port, version_max=1)
        try:
            self.assertEqual(c.version, 1)
            (a,) = fresh_account_ids(1)
            r = await c.apply([create_account(a, 1), credit(a, 3)])
            self.assertEqual([x.code for x in r], [RC.OK, RC.OK])
            # No issue time in v1: an old one is not sent, so no op_expired.
            old = await c.apply_one(credit(a, 1), issued_ns=c.now_ns() - 48 * HOUR_NS)
            self.assertEqual(old.code, RC.OK)
            page = await c.history(a, limit=10)
            self.assertEqual(len(page.entries), 3)
            with self.assertRaises(coffer.UnsupportedFeatureError):
                await c.history(a, reason=1)
            await c.ping()
        finally:
            await c.close()


class ConnectErrorsTest(AsyncTestCase):
    async def test_nothing_listening(self) -> None:
        srv = Cofferd()
        await asyncio.to_thread(srv.start)
        port = srv.port
        await asyncio.to_thread(srv.close)
        with self.assertRaises(coffer.ConnectionError_):
            await AsyncClient.connect("127.0.0.1", port, connect_timeout=5)


if __name__ == "__main__":
    unittest.main()
