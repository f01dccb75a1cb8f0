#!/usr/bin/python3
"""Throughput driver: C concurrent callers (default 64), each making one
call at a time of one op (a debit of 1 with a fresh op id), for N seconds,
against a cofferd at HOST:PORT. Prints ops/s and the p50/p99/p999 latency
of a call.

    PYTHONPATH=net/clients/python /usr/bin/python3 net/clients/python/bench.py \\
        127.0.0.1:7300 --seconds 10

--mode async (default): asyncio tasks on one AsyncClient (coalescing).
--mode threads: OS threads on one blocking Client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import coffer  # noqa: E402
from coffer import ResultCode, create_account, credit, debit  # noqa: E402

FUNDS = 10**15


def percentile(sorted_ns: list[int], q: float) -> float:
    if not sorted_ns:
        return 0.0
    i = min(len(sorted_ns) - 1, int(q * len(sorted_ns)))
    return sorted_ns[i] / 1000.0  # us


def report(args: argparse.Namespace, lat: list[int], elapsed: float,
           refused: int, frames: int, calls: int) -> None:
    lat.sort()
    n = len(lat)
    print(f"python client ({args.mode}, coalesce_ops={not args.no_coalesce}): "
          f"{args.callers} callers, {n} ops in {elapsed:.2f} s: "
          f"{n / elapsed:,.0f} ops/s; latency p50 {percentile(lat, 0.50):.0f} us, "
          f"p99 {percentile(lat, 0.99):.0f} us, p999 {percentile(lat, 0.999):.0f} us; "
          f"{refused} not ok; "
          + (f"{calls / frames:.1f} calls per frame" if frames else "one frame per call"))


def setup_ops(n: int) -> tuple[list[int], list[coffer.Op]]:
    """n fresh accounts, each funded: one per caller."""
    base = (int(time.time()) << 20) | (os.getpid() & 0xFFFF) << 4
    ids = [base + i * 7919 for i in range(1, n + 1)]
    return ids, [create_account(a, 1) for a in ids] + [credit(a, FUNDS) for a in ids]


def check_setup(res: list[coffer.OpResult]) -> None:
    if any(r.code != ResultCode.OK for r in res):
        raise SystemExit(f"setup failed: {[r.code.name for r in res]}")


async def run_async(args: argparse.Namespace, host: str, port: int) -> None:
    c = await coffer.AsyncClient.connect(host, port,
                                         coalesce_ops=not args.no_coalesce)
    ids, ops = setup_ops(args.callers)
    check_setup(await c.apply(ops))
    gen = coffer.OpIdGenerator()
    lat: list[int] = []
    refused = 0
    stop_at = 0.0
    clock = time.perf_counter_ns

    async def caller(account: int) -> None:
        nonlocal refused
        while time.monotonic() < stop_at:
            op = debit(account, 1, op_id=gen.next())
            t0 = clock()
            r = await c.apply_one(op)
            lat.append(clock() - t0)
            if r.code != ResultCode.OK:
                refused += 1

    f0, k0 = c.frames_made, c.calls_framed
    start = time.monotonic()
    stop_at = start + args.seconds
    await asyncio.gather(*[caller(a) for a in ids])
    elapsed = time.monotonic() - start
    report(args, lat, elapsed, refused, c.frames_made - f0, c.calls_framed - k0)
    await c.close()


def run_threads(args: argparse.Namespace, host: str, port: int) -> None:
    c = coffer.Client.connect(host, port, coalesce_ops=not args.no_coalesce)
    ids, ops = setup_ops(args.callers)
    check_setup(c.apply(ops))
    gen = coffer.OpIdGenerator()
    lats: list[list[int]] = [[] for _ in ids]
    refused = [0] * len(ids)
    start_line = threading.Barrier(len(ids) + 1)
    stop_at = [0.0]

    def caller(k: int) -> None:
        start_line.wait()
        lat = lats[k]
        while time.monotonic() < stop_at[0]:
            op = debit(ids[k], 1, op_id=gen.next())
            t0 = time.perf_counter_ns()
            r = c.apply_one(op)
            lat.append(time.perf_counter_ns() - t0)
            if r.code != ResultCode.OK:
                refused[k] += 1

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(len(ids))]
    for t in threads:
        t.start()
    f0, k0 = c.frames_made, c.calls_framed
    start = time.monotonic()
    stop_at[0] = start + args.seconds
    start_line.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    report(args, [x for lat in lats for x in lat], elapsed, sum(refused),
           c.frames_made - f0, c.calls_framed - k0)
    c.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("address", help="HOST:PORT of a running cofferd")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--callers", type=int, default=64)
    ap.add_argument("--mode", choices=("async", "threads"), default="async")
    ap.add_argument("--no-coalesce", action="store_true",
                    help="one frame per call (coalesce_ops=False)")
    args = ap.parse_args()
    host, _, port = args.address.rpartition(":")
    if args.mode == "async":
        asyncio.run(run_async(args, host or "127.0.0.1", int(port)))
    else:
        run_threads(args, host or "127.0.0.1", int(port))


if __name__ == "__main__":
    main()
