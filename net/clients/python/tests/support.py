"""Test support: a real cofferd started per test class, and a scripted fake
server for behaviour a real one cannot be made to show on demand."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import unittest
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from coffer import protocol as p

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0

_LISTENING = re.compile(r"cofferd listening on 127\.0\.0\.1:(\d+)")


def cofferd_path() -> str:
    path = os.environ.get("COFFERD")
    if not path:
        raise RuntimeError(
            "COFFERD is not set: point it at the cofferd binary, e.g. "
            "COFFERD=/work/bin/cofferd net/clients/python/test.sh")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"COFFERD={path} is not an executable file")
    return path


class Cofferd:
    """A cofferd on 127.0.0.1 with a fresh data directory (kept across
    restart(), removed by close())."""

    def __init__(self, *extra: str, shards: int = 2) -> None:
        self.binary = cofferd_path()
        self.extra = list(extra)
        self.shards = shards
        self.data_dir = tempfile.mkdtemp(prefix="coffer-py-test-")
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._drains: dict[int, threading.Thread] = {}

    def start(self, port: int | None = None) -> "Cofferd":
        """Starts the server (on `port`, else the last one, else any) and
        waits, bounded, for its "listening" line."""
        listen_port = self.port if port is None else port
        cmd = [self.binary, f"--listen=127.0.0.1:{listen_port}",
               f"--data_dir={self.data_dir}", f"--shards={self.shards}",
               *self.extra]
        # cofferd prints its "listening" line on stdout and its progress
        # on stderr: read both, in one stream.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        self.proc = proc
        ready = threading.Event()
        found: list[int] = []
        lines = self.lines

        def drain() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                m = _LISTENING.search(line)
                if m and not found:
                    found.append(int(m.group(1)))
                    ready.set()
            ready.set()  # exited

        t = threading.Thread(target=drain, daemon=True)
        self._drains[proc.pid] = t
        t.start()
        if not ready.wait(START_TIMEOUT_S) or not found:
            self.kill()
            raise RuntimeError(
                f"cofferd did not report listening within {START_TIMEOUT_S} s "
                f"({' '.join(cmd)}); its output:\n" + "\n".join(lines))
        self.port = found[0]
        return self

    def stop(self) -> int:
        """SIGTERM and wait: the exit status."""
        if self.proc is None:
            return 0
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError("cofferd did not stop within "
                               f"{STOP_TIMEOUT_S} s of SIGTERM")
        finally:
            self._reap(proc)

    def kill(self) -> None:
        """SIGKILL and wait (a crash)."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        self._reap(proc)

    def _reap(self, proc: "subprocess.Popen[str]") -> None:
        # The drain thread reads until EOF, which the exit brought.
        t = self._drains.pop(proc.pid, None)
        if t is not None:
            t.join(5)
        if proc.stdout is not None:
            proc.stdout.close()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def output(self) -> str:
        return "\n".join(self.lines)


_ids = itertools.count(1)


def fresh_account_ids(n: int) -> list[int]:
    """Account ids no other test of this process uses."""
    base = (os.getpid() << 32) | (next(_ids) << 16)
    return [base + i for i in range(1, n + 1)]


# ---- A scripted fake server ------------------------------------------------


@dataclass
class Frame:
    raw: bytes
    header: p.FrameHeader
    message: p.Message


@dataclass
class FakeConn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    index: int  # 0 for the first connection the server accepted
    received: list[Frame] = field(default_factory=list)

    async def read_frame(self) -> Frame | None:
        try:
            head = await self.reader.readexactly(p.HEADER_BYTES)
            h = p.decode_header(head)
            body = await self.reader.readexactly(h.body_bytes)
        except asyncio.IncompleteReadError:
            return None
        assert h.magic == p.MAGIC, f"bad magic from the client: {head.hex()}"
        assert p.body_checksum(body) == h.body_xxh3, "bad checksum from the client"
        f = Frame(head + body, h, p.decode_body(h, body))
        self.received.append(f)
        return f

    def send(self, request_id: int, message: p.Message, version: int = 2) -> None:
        self.writer.write(p.encode_frame(request_id, message, version))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def hello(self, version: int = 2) -> Frame:
        """Reads HELLO and answers HELLO_OK (default limits)."""
        f = await self.read_frame()
        assert f is not None and isinstance(f.message, p.Hello), f
        self.send(f.header.request_id, p.HelloOk(version, 1, 1 << 20, 8192, 128,
                                                 1000), version)
        await self.writer.drain()
        return f

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


Handler = Callable[[FakeConn], Awaitable[None]]


class FakeServer:
    """Accepts connections on 127.0.0.1 and runs `handler` on each."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.conns: list[FakeConn] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> "FakeServer":
        self.server = await asyncio.start_server(self._on_conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for c in self.conns:
            c.writer.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_conn(self, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        conn = FakeConn(reader, writer, len(self.conns))
        self.conns.append(conn)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self.handler(conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]


def u64(value: int) -> bytes:
    return struct.pack("<Q", value)


class AsyncTestCase(unittest.IsolatedAsyncioTestCase):
    """IsolatedAsyncioTestCase runs its loop in debug mode, which records a
    traceback for every future and logs every callback slower than 0.1 s
    (all of them on a loaded 2-core machine): off, for speed and quiet."""

    async def asyncSetUp(self) -> None:
        asyncio.get_running_loop().set_debug(False)
