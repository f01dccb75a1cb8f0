"""The blocking client: `Client`.

A thin wrapper around `AsyncClient`: it owns one background thread that
runs an asyncio event loop, and every call hands its request to that loop
(`loop.call_soon_threadsafe`) and waits on a `concurrent.futures.Future`.
So it is thread-safe, and calls made at the same time from many threads
are pipelined on one connection and coalesced into shared OPS frames
exactly as the asyncio client's are. The `*_async` methods return the
future instead of waiting, for pipelining from a single thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from . import protocol as p
from .client import AsyncClient, ClientOptions, _Req
from .errors import CallTimeoutError, ClientClosedError
from .protocol import (Account, BackupReply, DigestReply, DiskReply, HelloOk,
                       HistoryReply, LookupReply, MessageKind, Op, OpResult,
                       StagesReply, StatsReply)

__all__ = ["Client"]

_T = TypeVar("_T")


class Client:
    """A blocking, thread-safe client. `Client.connect(host, port, ...)`;
    close with `close()` or `with`."""

    def __init__(self, host: str, port: int, options: ClientOptions) -> None:
        self.options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="coffer-client",
                                        daemon=True)
        self._thread.start()
        self._closed = False
        try:
            self._async: AsyncClient = self._run_coro(
                AsyncClient.connect(host, port, options))
        except BaseException:
            self._stop_loop()
            raise

    @classmethod
    def connect(cls, host: str = "127.0.0.1", port: int = 7300,
                options: ClientOptions | None = None, **kwargs: Any) -> "Client":
        """Connects and completes HELLO; keyword arguments are ClientOptions
        fields. Same errors as AsyncClient.connect."""
        if options is not None and kwargs:
            raise TypeError("pass options or keyword arguments, not both")
        return cls(host, port, options or ClientOptions(**kwargs))

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _run_coro(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def close(self) -> None:
        """Closes the connection (calls in flight fail with ClientClosedError)
        and stops the loop thread."""
        if self._closed:
            return
        self._closed = True
        self._run_coro(self._async.close())
        self._stop_loop()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- Plumbing -----------------------------------------------------------

    def _submit(self, make: Any) -> concurrent.futures.Future[Any]:
        """Runs `make()` (which builds a _Req) and sends it on the loop."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def done(result: Any) -> None:
            if fut.done():
                return
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)

        if self._closed:
            fut.set_exception(ClientClosedError("client closed"))
            return fut

        def start() -> None:
            try:
                self._async.send(make(), done)
            except BaseException as e:  # a ValueError from building it
                done(e)

        self._loop.call_soon_threadsafe(start)
        return fut

    def _wait(self, fut: concurrent.futures.Future[_T],
              timeout: float | None) -> _T:
        t = self.options.call_timeout if timeout is None else timeout
        try:
            return fut.result(t or None)
        except concurrent.futures.TimeoutError:
            raise CallTimeoutError(
                f"no reply within {t} s; the request may still apply (retry "
                "with the same op ids and issued_ns to learn its outcome)") from None

    def _simple(self, msg: p.Message, timeout: float | None) -> Any:
        return self._wait(self._submit(
            lambda: _Req(p.kind_of(msg), 0, b"", 0, msg)), timeout)

    # ---- Calls (see AsyncClient for their meaning) --------------------------

    @property
    def server_info(self) -> HelloOk:
        return self._async.server_info

    @property
    def version(self) -> int:
        return self._async.version

    @property
    def reconnects(self) -> int:
        return self._async.reconnects

    @property
    def frames_made(self) -> int:
        return self._async.frames_made

    @property
    def calls_framed(self) -> int:
        return self._async.calls_framed

    def now_ns(self) -> int:
        return self._async.now_ns()

    def apply_async(self, ops: Sequence[Op], *, issued_ns: int = 0
                    ) -> concurrent.futures.Future[list[OpResult]]:
        """Sends the ops and returns a future of their results (no timeout:
        pass one to .result())."""
        ops = list(ops)
        # Stamped here, in the caller's thread, when the call is made.
        stamp = issued_ns or self._async.now_ns()
        own = issued_ns != 0
        inner = self._submit(lambda: self._ops_req(ops, stamp, own))
        outer: concurrent.futures.Future[list[OpResult]] = concurrent.futures.Future()

        def unwrap(f: concurrent.futures.Future[Any]) -> None:
            e = f.exception()
            if e is not None:
                outer.set_exception(e)
            else:
                outer.set_result(f.result().results)

        inner.add_done_callback(unwrap)
        return outer

    def _ops_req(self, ops: list[Op], stamp: int, own: bool) -> _Req:
        req = self._async.ops_request(ops, stamp)
        req.alone = own
        return req

    def apply(self, ops: Sequence[Op], *, issued_ns: int = 0,
              timeout: float | None = None) -> list[OpResult]:
        return self._wait(self.apply_async(ops, issued_ns=issued_ns), timeout)

    def apply_one(self, op: Op, *, issued_ns: int = 0,
                  timeout: float | None = None) -> OpResult:
        return self.apply((op,), issued_ns=issued_ns, timeout=timeout)[0]

    def lookup(self, account_ids: Sequence[int], *,
               timeout: float | None = None) -> LookupReply:
        if not account_ids:
            raise ValueError("lookup of no accounts")
        ids = list(account_ids)
        return self._wait(self._submit(lambda: _Req(
            MessageKind.LOOKUP, len(ids), b"", 0, p.LookupRequest(ids))), timeout)

    def account(self, account_id: int, *,
                timeout: float | None = None) -> Account | None:
        a = self.lookup((account_id,), timeout=timeout).accounts[0]
        return a if a.exists else None

    def history(self, account_id: int, *, before: int = 0, limit: int = 100,
                timestamp_min_ns: int = 0, timestamp_max_ns: int = 0,
                reason: int | None = None,
                timeout: float | None = None) -> HistoryReply:
        msg = p.HistoryRequest(account_id, before, limit, timestamp_min_ns,
                               timestamp_max_ns, reason or 0,
                               p.HISTORY_FILTER_REASON if reason is not None else 0)
        return self._simple(msg, timeout)

    def history_pages(self, account_id: int, *, limit: int = 100,
                      timestamp_min_ns: int = 0, timestamp_max_ns: int = 0,
                      reason: int | None = None) -> Iterator[HistoryReply]:
        before = 0
        while True:
            page = self.history(account_id, before=before, limit=limit,
                                timestamp_min_ns=timestamp_min_ns,
                                timestamp_max_ns=timestamp_max_ns, reason=reason)
            yield page
            if page.next_before == 0:
                return
            before = page.next_before

    def stats(self, *, timeout: float | None = None) -> StatsReply:
        return self._simple(p.StatsRequest(), timeout)

    def digest(self, *, timeout: float | None = None) -> DigestReply:
        return self._simple(p.DigestRequest(), timeout)

    def stages(self, *, timeout: float | None = None) -> StagesReply:
        return self._simple(p.StagesRequest(), timeout)

    def disk(self, *, timeout: float | None = None) -> DiskReply:
        return self._simple(p.DiskRequest(), timeout)

    def ping(self, *, timeout: float | None = None) -> None:
        self._simple(p.Ping(), timeout)

    def backup(self, path: str | bytes, *,
               timeout: float | None = 3600.0) -> BackupReply:
        raw = path.encode("utf-8") if isinstance(path, str) else bytes(path)
        return self._simple(p.BackupRequest(raw), timeout)
