"""Client behaviour a real server cannot be made to show on demand, against
a scripted fake server: byte-for-byte resend after a lost connection, busy
retries, per-call timeouts, bounded reconnects, protocol errors, version 1
fallback, handshake refusals, coalescing limits; and the op-id generator."""

from __future__ import annotations

import asyncio
import struct
import unittest

import coffer
from coffer import AsyncClient, ResultCode as RC, credit, debit
from coffer import protocol as p
from coffer.opid import OpIdGenerator

from .support import AsyncTestCase, FakeConn, FakeServer

OK = p.OpResult(RC.OK, 0, 0, 1)


def results_for(frame_msg: p.Message, seq0: int = 1) -> p.OpsReply:
    assert isinstance(frame_msg, p.OpsRequest)
    return p.OpsReply([p.OpResult(RC.OK, 0, op.amount, seq0 + i)
                       for i, op in enumerate(frame_msg.ops)])


class BehaviourTest(AsyncTestCase):
    async def connect(self, server: FakeServer, **kw: object) -> AsyncClient:
        c = await AsyncClient.connect("127.0.0.1", server.port,
                                      **kw)  # type: ignore[arg-type]
        self.addAsyncCleanup(c.close)
        return c

    async def test_resend_byte_for_byte_after_lost_connection(self) -> None:
        got_first = asyncio.Event()

        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            f = await conn.read_frame()
            assert f is not None
            if conn.index == 0:
                got_first.set()
                await conn.close()  # applied or not, never answered
                return
            conn.send(f.header.request_id, results_for(f.message))
            await conn.writer.drain()
            await conn.read_frame()

        async with FakeServer(handler) as srv:
            c = await self.connect(srv, reconnect_backoff=0.001)
            op = debit(7, 5, reason=2, user_data=9)
            r = await c.apply_one(op, issued_ns=1234567)
            self.assertEqual((r.code, r.balance_after), (RC.OK, 5))
            self.assertTrue(got_first.is_set())
            self.assertEqual(c.reconnects, 1)
            first = srv.conns[0].received[1]
            again = srv.conns[1].received[1]
            self.assertEqual(first.raw, again.raw)  # request id, op ids, issued_ns
            assert isinstance(again.message, p.OpsRequest)
            self.assertEqual(again.message.issued_ns, 1234567)
            self.assertEqual(again.message.ops[0].op_id, op.op_id)

    async def test_busy_is_retried_with_the_same_bytes(self) -> None:
        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            for attempt in range(3):
                f = await conn.read_frame()
                assert f is not None
                if attempt < 2:
                    conn.send(f.header.request_id, p.ErrorReply(
                        p.ErrorCode.BUSY, 0, "engine queue full"))
                else:
                    conn.send(f.header.request_id, results_for(f.message))
            await conn.read_frame()

        async with FakeServer(handler) as srv:
            c = await self.connect(srv, busy_backoff=0.001)
            r = await c.apply_one(credit(1, 3))
            self.assertEqual(r.code, RC.OK)
            raws = {f.raw for f in srv.conns[0].received[1:]}
            self.assertEqual(len(srv.conns[0].received), 4)  # hello + 3 sends
            self.assertEqual(len(raws), 1)
            self.assertEqual(c.reconnects, 0)

    async def test_busy_after_every_retry(self) -> None:
        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            while (f := await conn.read_frame()) is not None:
                conn.send(f.header.request_id,
                          p.ErrorReply(p.ErrorCode.BUSY, 0, "full"))

        async with FakeServer(handler) as srv:
            c = await self.connect(srv, busy_retries=2, busy_backoff=0.001)
            with self.assertRaises(coffer.ServerBusyError) as cm:
                await c.apply_one(credit(1, 3))
            self.assertEqual(cm.exception.code, p.ErrorCode.BUSY)
            self.assertFalse(cm.exception.closing)
            self.assertEqual(len(srv.conns[0].received), 1 + 3)

    async def test_call_timeout(self) -> None:
        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            while await conn.read_frame() is not None:
                pass  # never answers

        async with FakeServer(handler) as srv:
            c = await self.connect(srv, call_timeout=0.05)
            with self.assertRaises(coffer.CallTimeoutError):
                await c.ping()
            with self.assertRaises(TimeoutError):  # also a TimeoutError
                await c.apply_one(credit(1, 1), timeout=0.05)
            self.assertEqual(c.in_flight, 2)  # still in flight, resent on reconnect

    async def test_reconnects_are_bounded(self) -> None:
        async def handler(conn: FakeConn) -> None:
            if conn.index == 0:
                await conn.hello()
                await conn.read_frame()
                await conn.close()  # drop the request
                return
            # Then the server is full: every handshake is refused.
            await conn.read_frame()
            conn.send(0, p.ErrorReply(p.ErrorCode.TOO_MANY_CONNECTIONS,
                                      p.ERROR_FLAG_CLOSING, "full"))
            await conn.writer.drain()
            await conn.close()

        async with FakeServer(handler) as srv:
            c = await self.connect(srv, reconnect_attempts=3,
                                   reconnect_backoff=0.001)
            with self.assertRaises(coffer.HandshakeError) as cm:
                await c.apply_one(credit(1, 1))
            self.assertEqual(cm.exception.code, p.ErrorCode.TOO_MANY_CONNECTIONS)
            self.assertEqual(len(srv.conns), 1 + 3)

    async def test_resend_max(self) -> None:
        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            await conn.read_frame()
            await conn.close()

        async with FakeServer(handler) as srv:
            c = await self.connect(srv, reconnect_attempts=50,
                                   reconnect_backoff=0.001, resend_max=3)
            with self.assertRaises(coffer.ConnectionClosedError):
                await c.apply_one(credit(1, 1))
            # 1 send + 3 resends; the 5th connection fails it unsent.
            self.assertEqual([len(x.received) for x in srv.conns], [2, 2, 2, 2, 1])

    async def test_server_gone_for_good(self) -> None:
        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            await conn.read_frame()
            srv.server.close()  # type: ignore[union-attr]  # stop listening
            await conn.close()

        async with FakeServer(handler) as srv:
            c = await self.connect(srv, reconnect_attempts=2, reconnect_backoff=0.001)
            with self.assertRaises(coffer.ConnectionError_):
                await c.ping()

    async def test_bad_checksum_from_server_is_a_protocol_error(self) -> None:
        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            f = await conn.read_frame()
            assert f is not None
            frame = bytearray(p.encode_frame(f.header.request_id, p.Pong()))
            frame[24] ^= 0xFF  # the checksum
            conn.send_raw(bytes(frame))
            await conn.read_frame()

        async with FakeServer(handler) as srv:
            c = await self.connect(srv, reconnect_attempts=0)
            with self.assertRaises(coffer.ProtocolError) as cm:
                await c.ping()
            self.assertIn("checksum", str(cm.exception))

    async def test_wrong_reply_kind_is_a_protocol_error(self) -> None:
        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            f = await conn.read_frame()
            assert f is not None
            conn.send(f.header.request_id, p.Pong())  # to an ops request
            await conn.read_frame()

        async with FakeServer(handler) as srv:
            c = await self.connect(srv, reconnect_attempts=0)
            with self.assertRaises(coffer.ProtocolError):
                await c.apply_one(credit(1, 1))

    async def test_version_1_fallback(self) -> None:
        async def handler(conn: FakeConn) -> None:
            hello = await conn.hello(version=1)
            assert isinstance(hello.message, p.Hello)
            self.assertEqual((hello.message.min_version, hello.message.max_version),
                             (1, 2))
            self.assertEqual(hello.header.version, 1)
            f = await conn.read_frame()
            assert f is not None
            conn.send(f.header.request_id, results_for(f.message), version=1)
            await conn.read_frame()

        async with FakeServer(handler) as srv:
            c = await self.connect(srv)
            self.assertEqual(c.version, 1)
            r = await c.apply_one(credit(1, 4))
            self.assertEqual(r.balance_after, 4)
            f = srv.conns[0].received[1]
            self.assertEqual(f.header.version, 1)
            self.assertEqual(f.header.body_bytes, 64)  # no issued_ns in v1

    async def test_handshake_refusals(self) -> None:
        cases = [(p.ErrorCode.AUTH_FAILED, coffer.AuthFailedError),
                 (p.ErrorCode.UNSUPPORTED_VERSION, coffer.UnsupportedVersionError),
                 (p.ErrorCode.TOO_MANY_CONNECTIONS, coffer.HandshakeError)]
        for code, exc in cases:
            with self.subTest(code=code.name):
                async def handler(conn: FakeConn) -> None:
                    await conn.read_frame()
                    conn.send(0, p.ErrorReply(code, p.ERROR_FLAG_CLOSING, "no"))
                    await conn.writer.drain()
                    await conn.close()

                async with FakeServer(handler) as srv:
                    with self.assertRaises(exc) as cm:
                        await AsyncClient.connect("127.0.0.1", srv.port)
                    self.assertEqual(cm.exception.code, code)

    async def test_connection_closed_before_hello_ok(self) -> None:
        async def handler(conn: FakeConn) -> None:
            await conn.read_frame()
            await conn.close()

        async with FakeServer(handler) as srv:
            with self.assertRaises(coffer.ConnectionClosedError):
                await AsyncClient.connect("127.0.0.1", srv.port)

    async def test_shutting_down_is_resent_after_reconnect(self) -> None:
        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            f = await conn.read_frame()
            assert f is not None
            if conn.index == 0:
                conn.send(0, p.ErrorReply(p.ErrorCode.SHUTTING_DOWN,
                                          p.ERROR_FLAG_CLOSING, "stopping"))
                await conn.writer.drain()
                await conn.close()
                return
            conn.send(f.header.request_id, results_for(f.message))
            await conn.read_frame()

        async with FakeServer(handler) as srv:
            c = await self.connect(srv, reconnect_backoff=0.001)
            r = await c.apply_one(credit(1, 6))
            self.assertEqual(r.balance_after, 6)
            self.assertEqual(c.reconnects, 1)

    async def test_request_error_fails_only_that_call(self) -> None:
        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            while (f := await conn.read_frame()) is not None:
                if isinstance(f.message, p.LookupRequest):
                    conn.send(f.header.request_id, p.ErrorReply(
                        p.ErrorCode.INTERNAL, 0, "engine refused"))
                else:
                    conn.send(f.header.request_id, p.Pong())

        async with FakeServer(handler) as srv:
            c = await self.connect(srv)
            with self.assertRaises(coffer.ServerInternalError):
                await c.lookup([1])
            await c.ping()

    async def test_coalescing_merges_and_splits(self) -> None:
        frames: list[int] = []

        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            while (f := await conn.read_frame()) is not None:
                assert isinstance(f.message, p.OpsRequest)
                frames.append(len(f.message.ops))
                conn.send(f.header.request_id, results_for(f.message))

        async with FakeServer(handler) as srv:
            c = await self.connect(srv)
            calls = [[credit(1, 1000 * i + j) for j in range(i % 3 + 1)]
                     for i in range(40)]
            open_chain = [credit(1, 5)]
            open_chain[0].flags = p.OP_FLAG_LINKED
            res = await asyncio.gather(*[c.apply(x) for x in calls],
                                       c.apply(open_chain))
            for call, got in zip(calls, res):
                self.assertEqual([r.balance_after for r in got],
                                 [op.amount for op in call])
            # All 40 calls made in one turn share one frame; the open chain
            # goes alone.
            self.assertEqual(frames, [sum(len(x) for x in calls), 1])
            self.assertEqual((c.frames_made, c.calls_framed), (2, 41))

    async def test_coalescing_respects_the_servers_op_limit(self) -> None:
        frames: list[int] = []

        async def handler(conn: FakeConn) -> None:
            f = await conn.read_frame()
            assert f is not None
            conn.send(f.header.request_id, p.HelloOk(2, 1, 1 << 20, 10, 128, 1000))
            while (f := await conn.read_frame()) is not None:
                assert isinstance(f.message, p.OpsRequest)
                frames.append(len(f.message.ops))
                conn.send(f.header.request_id, results_for(f.message))

        async with FakeServer(handler) as srv:
            c = await self.connect(srv)
            await asyncio.gather(*[c.apply([credit(1, 1), credit(1, 2), credit(1, 3)])
                                   for _ in range(7)])
            self.assertEqual(frames, [9, 9, 3])
            with self.assertRaises(ValueError):
                await c.apply([credit(1, 1)] * 11)

    async def test_oldest_issue_time_and_own_issue_time_alone(self) -> None:
        seen: list[tuple[int, int]] = []

        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            while (f := await conn.read_frame()) is not None:
                assert isinstance(f.message, p.OpsRequest)
                seen.append((len(f.message.ops), f.message.issued_ns))
                conn.send(f.header.request_id, results_for(f.message))

        clock = iter(range(1000, 2000))
        async with FakeServer(handler) as srv:
            c = await self.connect(srv, clock_ns=lambda: next(clock))
            await asyncio.gather(c.apply([credit(1, 1)]), c.apply([credit(1, 2)]),
                                 c.apply([credit(1, 3)], issued_ns=5),
                                 c.apply([credit(1, 4)]))
            self.assertEqual(seen, [(2, 1000), (1, 5), (1, 1002)])

    async def test_queue_bound(self) -> None:
        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            while (f := await conn.read_frame()) is not None:
                conn.send(f.header.request_id, results_for(f.message))

        async with FakeServer(handler) as srv:
            c = await self.connect(srv, queued_ops_max=4)
            calls = [c.apply([credit(1, 1), credit(1, 1)]) for _ in range(3)]
            res = await asyncio.gather(*calls, return_exceptions=True)
            self.assertIsInstance(res[2], coffer.QueueFullError)
            self.assertEqual(len(res[0]), 2)  # type: ignore[arg-type]

    async def test_close_fails_calls_in_flight(self) -> None:
        got = asyncio.Event()

        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            while await conn.read_frame() is not None:
                got.set()

        async with FakeServer(handler) as srv:
            c = await AsyncClient.connect("127.0.0.1", srv.port)
            t = asyncio.ensure_future(c.ping())
            await asyncio.wait_for(got.wait(), 10)  # the ping is in flight
            await c.close()
            with self.assertRaises(coffer.ClientClosedError):
                await t
            with self.assertRaises(coffer.ClientClosedError):
                await c.ping()


class BlockingClientTest(AsyncTestCase):
    async def test_blocking_client_pipelines_from_threads(self) -> None:
        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            while (f := await conn.read_frame()) is not None:
                if isinstance(f.message, p.OpsRequest):
                    conn.send(f.header.request_id, results_for(f.message))
                else:
                    conn.send(f.header.request_id, p.Pong())

        async with FakeServer(handler) as srv:
            def run() -> None:
                with coffer.Client.connect("127.0.0.1", srv.port) as c:
                    futs = [c.apply_async([credit(1, i + 1)]) for i in range(50)]
                    got = [f.result(10)[0].balance_after for f in futs]
                    self.assertEqual(got, list(range(1, 51)))
                    self.assertLess(c.frames_made, 50)  # coalesced
                    c.ping()
                    r = c.apply_one(credit(1, 77))
                    self.assertEqual(r.balance_after, 77)
                with self.assertRaises(coffer.ClientClosedError):
                    c.ping()
            await asyncio.to_thread(run)

    async def test_blocking_timeout(self) -> None:
        async def handler(conn: FakeConn) -> None:
            await conn.hello()
            while await conn.read_frame() is not None:
                pass

        async with FakeServer(handler) as srv:
            def run() -> None:
                with coffer.Client.connect("127.0.0.1", srv.port,
                                           call_timeout=0.05) as c:
                    with self.assertRaises(coffer.CallTimeoutError):
                        c.ping()
            await asyncio.to_thread(run)


class OpIdTest(unittest.TestCase):
    def test_unique_non_zero(self) -> None:
        g = OpIdGenerator()
        ids = g.take(100_000)
        self.assertEqual(len(set(ids)), len(ids))
        self.assertNotIn(0, ids)
        self.assertTrue(all(0 < i < 2**64 for i in ids))

    def test_counter_wrap_draws_a_new_prefix(self) -> None:
        g = OpIdGenerator()
        g._counter = (1 << 24) - 1
        last = g.next()
        nxt = g.next()
        self.assertNotEqual(last >> 24, 0)
        self.assertEqual(nxt & 0xFFFFFF, 0)
        self.assertNotEqual(nxt, last)

    def test_generators_are_independent(self) -> None:
        a, b = OpIdGenerator(), OpIdGenerator()
        self.assertNotEqual(a.next() >> 24, b.next() >> 24)

    def test_builders_take_fresh_ids(self) -> None:
        ops = [credit(1, 1) for _ in range(1000)]
        self.assertEqual(len({o.op_id for o in ops}), 1000)
        self.assertEqual(credit(1, 1, op_id=5).op_id, 5)
        chained = coffer.chain([credit(1, 1), debit(2, 1), credit(3, 1)])
        self.assertEqual([o.flags for o in chained], [1, 1, 0])

    def test_struct_layout(self) -> None:
        # The op layout of PROTOCOL.md: 64 bytes, kind at 60, flags at 62.
        op = coffer.Op(p.OpKind.HOLD, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x1, 0)
        raw = p.pack_ops([op])
        self.assertEqual(len(raw), 64)
        self.assertEqual(struct.unpack_from("<6Q3IBBH", raw),
                         (1, 2, 3, 4, 5, 6, 7, 8, 9, 5, 0, 1))


if __name__ == "__main__":
    unittest.main()
