#!/usr/bin/env python3
"""Table of a bench/shard_scaling run: one row per (mode, load, shards).

Usage: shard_scaling_report.py RUN_DIR

Reads RUN_DIR/s{N}-{mode}-{load}.json (coffer-bench) and .cpu (the
server's CPU ticks before and after the load, and the wall times), and
prints a Markdown table with the speed-up over the run of the fewest
shards of the same mode and load.
"""
import json
import pathlib
import re
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: shard_scaling_report.py RUN_DIR")
    run = pathlib.Path(sys.argv[1])
    rows = []
    for path in run.glob("s*-*-*.json"):
        m = re.fullmatch(r"s(\d+)-(\w+)-(\w+)\.json", path.name)
        if not m:
            continue
        shards, mode, load = int(m.group(1)), m.group(2), m.group(3)
        r = json.loads(path.read_text())["results"]
        before, after, t0, t1, hz = (
            float(x) for x in path.with_suffix(".cpu").read_text().split())
        cpu_s = (after - before) / hz
        wall_s = t1 - t0
        rows.append(dict(shards=shards, mode=mode, load=load,
                         ops=r["ops_per_s"], p50=r["latency_us"]["p50"],
                         p99=r["latency_us"]["p99"],
                         cores=cpu_s / wall_s if wall_s > 0 else 0.0,
                         # CPU per op over the whole run (setup and
                         # warm-up included), so an upper bound.
                         cpu_us_per_op=(cpu_s * 1e6 / (r["ops_per_s"] * wall_s)
                                        if r["ops_per_s"] > 0 else 0.0),
                         errors=r["errors"] + r["unexpected_codes"]))
    if not rows:
        sys.exit(f"no results in {run}")
    rows.sort(key=lambda x: (x["mode"], x["load"], x["shards"]))
    base = {}
    for x in rows:
        base.setdefault((x["mode"], x["load"]), x["ops"])
    print(
        "| mode | load | shards | ops/s | × fewest shards | p50 µs | p99 µs "
        "| server cores busy | server CPU µs/op | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for x in rows:
        b = base[(x["mode"], x["load"])]
        print(f"| {x['mode']} | {x['load']} | {x['shards']} | {x['ops']:,.0f} "
              f"| {x['ops'] / b if b else 0:.2f} | {x['p50']:.0f} "
              f"| {x['p99']:.0f} | {x['cores']:.2f} "
              f"| {x['cpu_us_per_op']:.2f} | {x['errors']} |")


if __name__ == "__main__":
    main()
