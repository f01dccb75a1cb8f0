"""The asyncio client of cofferd: `AsyncClient`.

One TCP connection, any number of requests in flight (pipelining), replies
matched by request id. Everything runs on the event loop the client was
connected on; an `AsyncClient` is not thread-safe (use `coffer.Client`, the
blocking wrapper, from threads).

Coalescing (`coalesce_ops`, the default): every call goes into a queue, and
a pump scheduled with `loop.call_soon` moves the queue into frames. Calls
made in the same turn of the loop (or while every frame slot is taken) are
merged into one OPS frame, up to the server's limits, and each caller gets
exactly the results of its own ops. A slot is a frame in flight;
there are `max_requests_in_flight` of them (HELLO_OK), fewer with
`frames_in_flight_max`. Merging never changes what a call means: a call's
ops stay contiguous and in order; a call whose last op is linked (an open
chain), a call too large for one frame, and a call that brings its own
issue time (a retry's) go alone; a merged frame carries its oldest call's
issue time. Requests leave in the order they were made; only ops merge.

Exactly once across failures: each request's frame is encoded once and kept
until its answer arrives. When the connection drops, the client reconnects
(`reconnect_attempts`, backoff doubling from `reconnect_backoff` up to 1 s)
and resends every unanswered frame byte for byte: the same request id,
op ids, fields and issued_ns, so the server answers ops that had applied
with their original result marked duplicate. A frame is re-encoded only for
a server that agreed on another protocol version. After `ERROR busy` a
request is resent after a backoff (`busy_retries`, `busy_backoff`).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from . import protocol as p
from .errors import (AuthFailedError, CallTimeoutError, ClientClosedError,
                     CofferError, ConnectionClosedError, ConnectionError_,
                     HandshakeError, ProtocolError, QueueFullError,
                     UnsupportedFeatureError, UnsupportedVersionError,
                     server_error)
from .protocol import (Account, BackupReply, DigestReply, DiskReply, ErrorCode,
                       ErrorReply, HelloOk, HistoryReply, LookupReply,
                       MessageKind, Op, OpResult, StagesReply, StatsReply)

__all__ = ["ClientOptions", "AsyncClient"]

_BACKOFF_MAX = 1.0
_SWEEP_S = 0.005  # granularity of call timeouts
_T = TypeVar("_T")
Done = Callable[[Any], None]  # called with the reply message or an exception


@dataclass
class ClientOptions:
    """Settings of a client (both APIs). Times are in seconds."""

    auth_token: bytes | str = b""
    # Connecting plus HELLO, per attempt.
    connect_timeout: float = 5.0
    # A call stops waiting after this (None: never); the request may still
    # apply: retry it with the same op ids and issued_ns to learn how.
    call_timeout: float | None = 30.0
    # After a lost connection: attempts to reconnect, each after a backoff
    # (reconnect_backoff, doubling up to 1 s), before every request in
    # flight fails. The first connect (connect()) is tried once.
    reconnect_attempts: int = 5
    reconnect_backoff: float = 0.02
    # A request resent this many times after reconnects without an answer
    # fails (bounds retries against a server that keeps dropping it).
    resend_max: int = 10
    # ERROR busy: resend after busy_backoff (doubling up to 1 s), at most
    # busy_retries times; then ServerBusyError (not applied).
    busy_retries: int = 20
    busy_backoff: float = 0.005
    # Merge concurrent ops calls into shared OPS frames (module docstring).
    # False: every call is its own frame, written at once.
    coalesce_ops: bool = True
    # Frame slots (0: the server's max_requests_in_flight).
    frames_in_flight_max: int = 0
    # Ops waiting for a slot (a call without ops counts 1); beyond it a
    # call fails at once with QueueFullError (not sent). One call is
    # always accepted into an empty queue.
    queued_ops_max: int = 65_536
    # Highest protocol version to ask for (1 or 2).
    version_max: int = p.VERSION_MAX
    # The clock stamping ops requests (ns since the Unix epoch); None:
    # time.time_ns. Tests inject one.
    clock_ns: Callable[[], int] | None = None

    def token_bytes(self) -> bytes:
        t = self.auth_token
        return t.encode("utf-8") if isinstance(t, str) else bytes(t)


class _Req:
    """A request, encoded as far as the connection's version allows."""

    __slots__ = ("kind", "count", "blob", "issued_ns", "message", "alone",
                 "weight", "open_chain")

    def __init__(self, kind: int, count: int, blob: bytes, issued_ns: int,
                 message: p.Message | None, alone: bool = False,
                 open_chain: bool = False) -> None:
        self.kind = kind
        self.count = count
        self.blob = blob  # ops: the packed op records
        self.issued_ns = issued_ns
        self.message = message  # other kinds
        self.alone = alone
        self.weight = max(1, count if kind == MessageKind.OPS else 0)
        self.open_chain = open_chain

    def frame(self, request_id: int, version: int) -> bytes:
        if self.kind == MessageKind.OPS:
            body = (p.pack_u64(self.issued_ns) + self.blob
                    if version >= p.VERSION_ISSUE_TIME else self.blob)
            return p.encode_raw_frame(request_id, version, self.kind,
                                      self.count, body)
        assert self.message is not None
        return p.encode_frame(request_id, self.message, version)


class _Pending:
    __slots__ = ("req", "reply_kind", "frame", "frame_version", "done",
                 "busy_retries", "sends", "from_queue")

    def __init__(self, req: _Req, done: Done, from_queue: bool) -> None:
        self.req = req
        self.reply_kind = req.kind | p.REPLY_BIT
        self.frame: bytes | None = None
        self.frame_version = 0
        self.done = done
        self.busy_retries = 0
        self.sends = 0
        self.from_queue = from_queue


class _Conn(asyncio.Protocol):
    """One TCP connection; a reconnect makes a new one."""

    def __init__(self, client: "AsyncClient", loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.decoder = p.FrameDecoder()
        self.ready = False
        self.hello_id = 0
        self.version = p.VERSION_MIN
        self.ready_fut: asyncio.Future[None] = loop.create_future()
        # Never leave "exception was never retrieved" behind.
        self.ready_fut.add_done_callback(
            lambda f: f.cancelled() or f.exception())

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.client._on_data(self, data)

    def eof_received(self) -> bool:
        self.client._lost(self, ConnectionClosedError(
            "the server closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        why = f": {exc}" if exc else ""
        self.client._lost(self, ConnectionClosedError(
            f"connection lost{why}"))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


def _resolve(fut: "asyncio.Future[Any]", result: Any) -> None:
    if fut.done():
        return
    if isinstance(result, BaseException):
        fut.set_exception(result)
    else:
        fut.set_result(result)


def _expire(fut: "asyncio.Future[Any]", timeout: float) -> None:
    if not fut.done():
        fut.set_exception(CallTimeoutError(
            f"no reply within {timeout} s; the request may still apply "
            "(retry with the same op ids and issued_ns to learn its outcome)"))


class AsyncClient:
    """A pipelined, coalescing asyncio client. Make one with
    `await AsyncClient.connect(host, port, ...)`; close it with
    `await client.close()` or `async with`."""

    def __init__(self, host: str, port: int, options: ClientOptions) -> None:
        if not p.VERSION_MIN <= options.version_max <= p.VERSION_MAX:
            raise ValueError(f"version_max {options.version_max}: this client "
                             f"speaks {p.VERSION_MIN}..{p.VERSION_MAX}")
        self.host = host
        self.port = port
        self.options = options
        self._loop = asyncio.get_running_loop()
        self._clock = options.clock_ns or time.time_ns
        self._conn: _Conn | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._pending: dict[int, _Pending] = {}  # by request id: resend order
        self._next_id = 1
        self._closed = False
        self._ever_connected = False
        self._last_error: str = ""  # the server's last connection-level ERROR
        self._last_loss: BaseException | None = None
        self._server = HelloOk(p.VERSION_MIN, 0, p.OP_BYTES, 1, 1, 1)
        self._timers: set[asyncio.TimerHandle] = set()
        # Calls waiting with a timeout: future -> (deadline, timeout).
        self._deadlines: dict[asyncio.Future[Any], tuple[float, float]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        # The queue of calls waiting for a slot.
        self._queue: collections.deque[tuple[_Req, Done]] = collections.deque()
        self._queued_weight = 0
        self._pump_due = False
        self._frames_in_flight = 0  # pending requests that came from the queue
        # Counters.
        self.reconnects = 0
        self.frames_made = 0
        self.calls_framed = 0

    # ---- Construction and shutdown ----------------------------------------

    @classmethod
    async def connect(cls, host: str = "127.0.0.1", port: int = 7300,
                      options: ClientOptions | None = None,
                      **kwargs: Any) -> "AsyncClient":
        """Connects and completes HELLO (tried once). Keyword arguments are
        ClientOptions fields. Raises ConnectionError_, AuthFailedError,
        UnsupportedVersionError, HandshakeError, ProtocolError."""
        opts = options or ClientOptions(**kwargs)
        if options is not None and kwargs:
            raise TypeError("pass options or keyword arguments, not both")
        client = cls(host, port, opts)
        await client._connect_once()
        return client

    async def close(self) -> None:
        """Closes the connection; calls in flight fail with ClientClosedError."""
        if self._closed:
            return
        self._closed = True
        for t in self._timers:
            t.cancel()
        self._timers.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        task = self._connect_task
        if task is not None and not task.done():
            task.cancel()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
            if not conn.ready_fut.done():
                conn.ready_fut.cancel()
        self._fail_everything(ClientClosedError("client closed"))
        if task is not None and not task.done():
            try:
                await task
            except BaseException:
                pass

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def server_info(self) -> HelloOk:
        """The limits the server announced in its last HELLO_OK."""
        return self._server

    @property
    def version(self) -> int:
        """The protocol version agreed with the server (last HELLO_OK)."""
        return self._server.version

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def queued_ops(self) -> int:
        return self._queued_weight

    # ---- Public calls -------------------------------------------------------

    def now_ns(self) -> int:
        """The client's clock (what stamps issued_ns)."""
        return self._clock()

    async def apply(self, ops: Sequence[Op], *, issued_ns: int = 0,
                    timeout: float | None = None) -> list[OpResult]:
        """Applies `ops` in order as one request and returns one result per
        op. `issued_ns`: when these ops were first issued, for a call that
        retries an earlier one (keep it beside the op ids); 0: now."""
        return (await self._call(self.ops_request(ops, issued_ns), timeout)).results

    async def apply_one(self, op: Op, *, issued_ns: int = 0,
                        timeout: float | None = None) -> OpResult:
        return (await self.apply((op,), issued_ns=issued_ns, timeout=timeout))[0]

    async def lookup(self, account_ids: Sequence[int], *,
                     timeout: float | None = None) -> LookupReply:
        """Accounts by id (an account that does not exist has id 0)."""
        if not account_ids:
            raise ValueError("lookup of no accounts")
        req = _Req(MessageKind.LOOKUP, len(account_ids), b"", 0,
                   p.LookupRequest(list(account_ids)))
        return await self._call(req, timeout)

    async def account(self, account_id: int, *,
                      timeout: float | None = None) -> Account | None:
        """One account, or None if it does not exist."""
        a = (await self.lookup((account_id,), timeout=timeout)).accounts[0]
        return a if a.exists else None

    async def history(self, account_id: int, *, before: int = 0,
                      limit: int = 100, timestamp_min_ns: int = 0,
                      timestamp_max_ns: int = 0, reason: int | None = None,
                      timeout: float | None = None) -> HistoryReply:
        """One page of history, newest first. Pass the reply's next_before
        as `before` for the next page (0: no more). The filters
        (timestamp_min_ns/max_ns, reason) need protocol version 2."""
        msg = p.HistoryRequest(account_id, before, limit, timestamp_min_ns,
                               timestamp_max_ns, reason or 0,
                               p.HISTORY_FILTER_REASON if reason is not None else 0)
        return await self._call(_Req(MessageKind.HISTORY, 0, b"", 0, msg), timeout)

    async def history_pages(self, account_id: int, *, limit: int = 100,
                            timestamp_min_ns: int = 0, timestamp_max_ns: int = 0,
                            reason: int | None = None) -> AsyncIterator[HistoryReply]:
        """Every page of an account's history, walking the cursor."""
        before = 0
        while True:
            page = await self.history(account_id, before=before, limit=limit,
                                      timestamp_min_ns=timestamp_min_ns,
                                      timestamp_max_ns=timestamp_max_ns,
                                      reason=reason)
            yield page
            if page.next_before == 0:
                return
            before = page.next_before

    async def stats(self, *, timeout: float | None = None) -> StatsReply:
        return await self._simple(p.StatsRequest(), timeout)

    async def digest(self, *, timeout: float | None = None) -> DigestReply:
        return await self._simple(p.DigestRequest(), timeout)

    async def stages(self, *, timeout: float | None = None) -> StagesReply:
        """Latency by stage. A server older than STAGES answers
        unknown_kind (RequestRefusedError) and closes: send it last."""
        return await self._simple(p.StagesRequest(), timeout)

    async def disk(self, *, timeout: float | None = None) -> DiskReply:
        return await self._simple(p.DiskRequest(), timeout)

    async def ping(self, *, timeout: float | None = None) -> None:
        await self._simple(p.Ping(), timeout)

    async def backup(self, path: str | bytes, *,
                     timeout: float | None = 3600.0) -> BackupReply:
        """A consistent copy of the server's data directory into `path`, an
        absolute path on the server's host that is new or empty. Refusals
        and failures: BackupFailedError."""
        raw = path.encode("utf-8") if isinstance(path, str) else bytes(path)
        return await self._simple(p.BackupRequest(raw), timeout)

    # ---- Building and sending requests ---------------------------------------

    def ops_request(self, ops: Sequence[Op], issued_ns: int = 0) -> _Req:
        """An encoded ops request (stamped now unless `issued_ns`)."""
        if not ops:
            raise ValueError("an ops request needs at least one op")
        if len(ops) > self._server.max_ops_per_request > 1:
            raise ValueError(f"{len(ops)} ops in one request; the server takes "
                             f"at most {self._server.max_ops_per_request}")
        own = issued_ns != 0
        return _Req(MessageKind.OPS, len(ops), p.pack_ops(ops),
                    issued_ns if own else self._clock(), None, alone=own,
                    open_chain=bool(ops[-1].flags & p.OP_FLAG_LINKED))

    async def _simple(self, msg: p.Message, timeout: float | None) -> Any:
        return await self._call(_Req(p.kind_of(msg), 0, b"", 0, msg), timeout)

    async def _call(self, req: _Req, timeout: float | None) -> Any:
        fut: asyncio.Future[Any] = self._loop.create_future()
        self.send(req, functools.partial(_resolve, fut))
        t = self.options.call_timeout if timeout is None else timeout
        if not t:
            return await fut
        # One sweeper timer for every call, not one timer each: a timer per
        # call costs a heap insertion and removal on the loop, the largest
        # cost of a call after the socket.
        self._deadlines[fut] = (self._loop.time() + t, t)
        if self._sweeper is None:
            self._sweeper = self._loop.call_later(_SWEEP_S, self._sweep)
        try:
            return await fut
        finally:
            del self._deadlines[fut]

    def _sweep(self) -> None:
        """Expires the calls past their deadline (at most _SWEEP_S late)."""
        now = self._loop.time()
        for fut, (deadline, t) in self._deadlines.items():
            if deadline <= now:
                _expire(fut, t)
        self._sweeper = (self._loop.call_later(_SWEEP_S, self._sweep)
                         if self._deadlines and not self._closed else None)

    def send(self, req: _Req, done: Done) -> None:
        """Low level: queue (or send) a request; `done` is called on the loop
        with the reply message or an exception. Must run on the loop."""
        if self._closed:
            done(ClientClosedError("client closed"))
            return
        if not self.options.coalesce_ops:
            self._submit(req, done, from_queue=False)
            return
        w = req.weight
        limit = self.options.queued_ops_max
        if self._queued_weight > 0 and self._queued_weight + w > limit:
            done(QueueFullError(
                f"client queue full: {self._queued_weight} ops waiting, at most "
                f"{limit} (queued_ops_max); not sent"))
            return
        self._queue.append((req, done))
        self._queued_weight += w
        if not self._pump_due:
            self._pump_due = True
            self._loop.call_soon(self._pump)

    def _frame_slots(self) -> int:
        slots = max(1, self._server.max_requests_in_flight)
        if self.options.frames_in_flight_max:
            slots = min(slots, self.options.frames_in_flight_max)
        return slots

    def _frame_ops_max(self) -> int:
        s = self._server
        record_bytes = max(0, s.max_body_bytes - p.OPS_FIXED_BYTES_V2)
        return max(1, min(s.max_ops_per_request, record_bytes // p.OP_BYTES))

    def _pump(self) -> None:
        """Fills every free slot from the queue, oldest call first."""
        self._pump_due = False
        if self._closed:
            return
        q = self._queue
        slots = self._frame_slots()
        ops_max = self._frame_ops_max()
        while q and self._frames_in_flight < slots:
            req, done = q.popleft()
            self._queued_weight -= req.weight
            if (req.kind != MessageKind.OPS or req.alone or req.open_chain
                    or req.count > ops_max or not q):
                self._frame_one(req, done)
                continue
            calls = [(req, done)]
            n = req.count
            while q:
                nreq = q[0][0]
                if (nreq.kind != MessageKind.OPS or nreq.alone or nreq.open_chain
                        or n + nreq.count > ops_max):
                    break
                calls.append(q.popleft())
                self._queued_weight -= nreq.weight
                n += nreq.count
            if len(calls) == 1:
                self._frame_one(req, done)
            else:
                self._frame_merged(calls, n)

    def _frame_one(self, req: _Req, done: Done) -> None:
        self.frames_made += 1
        self.calls_framed += 1
        self._submit(req, done, from_queue=True)

    def _frame_merged(self, calls: list[tuple[_Req, Done]], total: int) -> None:
        self.frames_made += 1
        self.calls_framed += len(calls)
        # The oldest call's time is true of every op in the frame: each was
        # first issued at or after it.
        issued = min(r.issued_ns for r, _ in calls)
        merged = _Req(MessageKind.OPS, total, b"".join(r.blob for r, _ in calls),
                      issued, None)
        parts = [(r.count, d) for r, d in calls]

        def split(reply: Any) -> None:
            if not isinstance(reply, BaseException) and len(reply.results) != total:
                reply = ProtocolError(f"the server answered {len(reply.results)} "
                                      f"results to {total} ops")
            if isinstance(reply, BaseException):
                for _, d in parts:
                    d(reply)
                return
            results = reply.results
            at = 0
            for n, d in parts:
                d(p.OpsReply(results[at:at + n]))
                at += n

        self._submit(merged, split, from_queue=True)

    def _submit(self, req: _Req, done: Done, from_queue: bool) -> None:
        rid = self._next_id
        self._next_id += 1
        pend = _Pending(req, done, from_queue)
        if from_queue:
            self._frames_in_flight += 1
        self._pending[rid] = pend
        conn = self._conn
        if conn is not None and conn.ready:
            if not self._fail_unsendable(rid, pend, conn):
                self._write(conn, self._frame_for(rid, pend, conn))
        else:
            self._ensure_connecting()

    def _frame_for(self, rid: int, pend: _Pending, conn: _Conn) -> bytes:
        if pend.frame is None or pend.frame_version != conn.version:
            pend.frame = pend.req.frame(rid, conn.version)
            pend.frame_version = conn.version
        pend.sends += 1
        return pend.frame

    def _fail_unsendable(self, rid: int, pend: _Pending, conn: _Conn) -> bool:
        """A request this connection's version cannot carry fails rather
        than go without what it asks: a filtered history on version 1."""
        m = pend.req.message
        if (isinstance(m, p.HistoryRequest) and m.filtered
                and conn.version < p.VERSION_ISSUE_TIME):
            self._finish(rid, UnsupportedFeatureError(
                f"history filters need protocol version {p.VERSION_ISSUE_TIME};"
                f" the server speaks {conn.version}"))
            return True
        return False

    @staticmethod
    def _write(conn: _Conn, data: bytes) -> None:
        t = conn.transport
        assert t is not None
        # A transport that already failed: connection_lost is on its way,
        # and the reconnect resends whatever is unanswered.
        if not t.is_closing():
            t.write(data)

    def _finish(self, rid: int, result: Any) -> None:
        pend = self._pending.pop(rid, None)
        if pend is None:
            return
        if pend.from_queue:
            self._frames_in_flight -= 1
        pend.done(result)

    def _fail_everything(self, why: BaseException) -> None:
        pending, self._pending = self._pending, {}
        self._frames_in_flight = 0
        queue, self._queue = self._queue, collections.deque()
        self._queued_weight = 0
        for pend in pending.values():
            pend.done(why)
        for _, done in queue:
            done(why)

    # ---- Connecting -------------------------------------------------------

    def _ensure_connecting(self, why: BaseException | None = None) -> None:
        """Starts connecting unless that is under way. `why`: the loss that
        makes this a reconnect (each try after a backoff, counted against
        reconnect_attempts); None: a connection needed again after an
        idle close, tried at once."""
        if self._closed or self._conn is not None:
            return
        if self._connect_task is not None and not self._connect_task.done():
            return
        self._connect_task = self._loop.create_task(self._reconnect(why))

    async def _reconnect(self, why: BaseException | None) -> None:
        attempts = self.options.reconnect_attempts
        backoff = self.options.reconnect_backoff
        last: BaseException | None = why
        wait_first = why is not None
        while True:
            if wait_first:
                if attempts <= 0:
                    assert last is not None
                    if self._last_error and not isinstance(last, ProtocolError):
                        last.args = (f"{last} (the server said: {self._last_error})",)
                    self._fail_everything(last)
                    return
                attempts -= 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
            wait_first = True
            if self._closed:
                return
            if not self._pending and not self._queue:
                return  # nothing to send: connect when next needed
            try:
                await self._connect_once()
                return
            except (AuthFailedError, UnsupportedVersionError) as e:
                # Will not change on retry.
                self._fail_everything(e)
                return
            except CofferError as e:
                last = e

    async def _connect_once(self) -> None:
        conn = _Conn(self, self._loop)
        self._conn = conn
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                try:
                    await self._loop.create_connection(
                        lambda: conn, self.host, self.port)
                except OSError as e:
                    raise ConnectionError_(
                        f"connect {self.host}:{self.port}: {e}") from e
                if self._conn is not conn:  # closed meanwhile
                    raise ConnectionClosedError("connection lost while connecting")
                conn.hello_id = self._next_id
                self._next_id += 1
                hello = p.Hello(p.VERSION_MIN, self.options.version_max,
                                self.options.token_bytes())
                self._write(conn, p.encode_frame(conn.hello_id, hello))
                await conn.ready_fut
        except TimeoutError:
            self._drop(conn)
            raise ConnectionError_(f"connecting to {self.host}:{self.port} "
                                   f"timed out after {self.options.connect_timeout} s"
                                   ) from None
        except BaseException:
            self._drop(conn)
            raise

    def _drop(self, conn: _Conn) -> None:
        conn.close()
        if self._conn is conn:
            self._conn = None
        if not conn.ready_fut.done():
            conn.ready_fut.cancel()

    def _lost(self, conn: _Conn, why: BaseException) -> None:
        if conn is not self._conn:
            conn.close()
            return
        self._conn = None
        conn.close()
        if not conn.ready:
            if not conn.ready_fut.done():
                conn.ready_fut.set_exception(why)
            return  # the connecting coroutine decides what follows
        if self._closed:
            return
        self._last_loss = why
        if self._pending:
            self._ensure_connecting(why)

    def _on_ready(self, conn: _Conn, ok: HelloOk) -> None:
        if not p.VERSION_MIN <= ok.version <= self.options.version_max:
            self._lost(conn, ProtocolError(
                f"the server chose protocol version {ok.version}, this client "
                f"asked for {p.VERSION_MIN}..{self.options.version_max}"))
            return
        conn.ready = True
        conn.version = ok.version
        self._server = ok
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        self._last_error = ""
        # Everything unanswered goes again, oldest first, with the same bytes.
        frames: list[bytes] = []
        for rid, pend in list(self._pending.items()):
            if pend.sends > self.options.resend_max:
                self._finish(rid, ConnectionClosedError(
                    f"no answer after {pend.sends} sends (resend_max); the "
                    f"last connection ended with: {self._last_loss}"))
                continue
            if not self._fail_unsendable(rid, pend, conn):
                frames.append(self._frame_for(rid, pend, conn))
        if frames:
            self._write(conn, b"".join(frames))
        conn.ready_fut.set_result(None)
        if self._queue and not self._pump_due:
            self._pump()

    # ---- Reading ----------------------------------------------------------

    def _on_data(self, conn: _Conn, data: bytes) -> None:
        if conn is not self._conn:
            return
        conn.decoder.feed(data)
        frames, error = conn.decoder.frames()
        for h, m in frames:
            if conn is not self._conn:
                return
            self._dispatch(conn, h, m)
        if error is not None and conn is self._conn:
            self._lost(conn, ProtocolError(f"bad frame from the server: {error}"))
            return
        # Once per read: the slots these replies freed take what is queued.
        if self._queue and not self._pump_due:
            self._pump()

    def _dispatch(self, conn: _Conn, h: p.FrameHeader, m: p.Message) -> None:
        if not conn.ready:
            if isinstance(m, ErrorReply):
                text = f"{m.code.name.lower()}: {m.message}"
                exc: HandshakeError
                if m.code == ErrorCode.AUTH_FAILED:
                    exc = AuthFailedError(text, m.code)
                elif m.code == ErrorCode.UNSUPPORTED_VERSION:
                    exc = UnsupportedVersionError(text, m.code)
                else:
                    exc = HandshakeError(text, m.code)
                self._lost(conn, exc)
            elif isinstance(m, HelloOk) and h.request_id == conn.hello_id:
                self._on_ready(conn, m)
            else:
                self._lost(conn, ProtocolError(
                    f"expected hello_ok, got {MessageKind(h.kind).name.lower()}"))
            return
        if isinstance(m, ErrorReply):
            self._on_error(conn, h.request_id, m)
            return
        pend = self._pending.get(h.request_id)
        if pend is None:
            return  # the answer to a request given up
        if h.kind != pend.reply_kind:
            self._lost(conn, ProtocolError(
                f"reply of kind {MessageKind(h.kind).name.lower()} to a request "
                f"expecting {MessageKind(pend.reply_kind).name.lower()}"))
            return
        self._finish(h.request_id, m)

    def _on_error(self, conn: _Conn, rid: int, e: ErrorReply) -> None:
        pend = self._pending.get(rid) if rid else None
        text = f"{e.code.name.lower()}: {e.message}"
        if pend is None or e.code == ErrorCode.SHUTTING_DOWN:
            # About the connection (shutting_down, idle_timeout): it closes
            # next; what is unanswered is resent after reconnecting.
            self._last_error = text
        elif e.code == ErrorCode.BUSY and pend.busy_retries < self.options.busy_retries:
            self._schedule_busy_retry(rid, pend)
        else:
            self._finish(rid, server_error(e.code, e.message, e.closing))
        if e.closing:
            # The server sends nothing more on this connection.
            self._lost(conn, ConnectionClosedError(
                f"the server closed the connection ({text})"))

    def _schedule_busy_retry(self, rid: int, pend: _Pending) -> None:
        delay = min(_BACKOFF_MAX, self.options.busy_backoff * (2 ** pend.busy_retries))
        pend.busy_retries += 1
        sends = pend.sends
        handle: asyncio.TimerHandle

        def resend() -> None:
            self._timers.discard(handle)
            cur = self._pending.get(rid)
            conn = self._conn
            # Resent meanwhile by a reconnect, or not connected (the
            # reconnect will send it).
            if cur is not pend or pend.sends != sends or conn is None or not conn.ready:
                return
            self._write(conn, self._frame_for(rid, pend, conn))

        handle = self._loop.call_later(delay, resend)
        self._timers.add(handle)
