#!/usr/bin/env python3
"""Summarises a bench/snapshot_load run directory as a Markdown table.

For each variant and round: the per-second rate of ops_sequenced over the
load's measured window (from coffer-bench's setup_s and warm-up), its median
and worst second, the worst second against the median of "off" in the same
round, the load's p99, snapshots taken and the largest admission pause in the
window, and cofferd's peak resident memory against "off".
"""
import glob
import json
import os
import statistics
import sys

WARMUP_S = 2


def load_samples(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 5:
                continue  # a sample taken while stats did not answer
            t, ops, snaps, pause, rss = parts
            rows.append((float(t), int(ops), int(snaps), int(pause), int(rss)))
    return rows


def per_second(rows, begin, end):
    """Ops/s between consecutive samples that lie inside [begin, end]."""
    rates = []
    inside = [r for r in rows if begin <= r[0] <= end]
    for a, b in zip(inside, inside[1:]):
        rates.append((b[1] - a[1]) / (b[0] - a[0]))
    return inside, rates


def summarise(work, variant, round_no, duration_s):
    base = os.path.join(work, f"{variant}-{round_no}")
    with open(base + ".json") as f:
        result = json.load(f)["results"]
    with open(base + ".started") as f:
        started = float(f.read())
    with open(base + ".hwm") as f:
        hwm_kb = int(f.read().strip() or 0)
    begin = started + result["setup_s"] + WARMUP_S
    end = begin + duration_s
    inside, rates = per_second(load_samples(base + ".samples"), begin, end)
    snaps = inside[-1][2] - inside[0][2] if inside else 0
    pauses = sorted({r[3] for r in inside})
    return {
        "variant": variant,
        "round": round_no,
        "ops_per_s": result["ops_per_s"],
        "p99_us": result["latency_us"]["p99"],
        "median": statistics.median(rates) if rates else 0.0,
        "worst": min(rates) if rates else 0.0,
        "seconds": len(rates),
        "snapshots": snaps,
        "pause_us": pauses[-1] if pauses else 0,
        "hwm_mb": hwm_kb / 1024.0,
    }


def main():
    work, duration_s = sys.argv[1], float(sys.argv[2])
    runs = []
    for path in sorted(glob.glob(os.path.join(work, "*.json"))):
        name = os.path.basename(path)[: -len(".json")]
        variant, round_no = name.rsplit("-", 1)
        runs.append(summarise(work, variant, int(round_no), duration_s))
    off = {r["round"]: r for r in runs if r["variant"] == "off"}
    print("| variant | round | ops/s (bench) | median s | worst s | worst ÷ off median | p99 ms | p99 ÷ off | snapshots | largest pause µs | peak RSS MB | ÷ off |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(runs, key=lambda r: (r["round"], r["variant"])):
        o = off.get(r["round"])
        ratio = lambda a, b: f"{a / b:.2f}" if o and b else "—"
        print(
            f"| {r['variant']} | {r['round']} | {r['ops_per_s'] / 1e3:.0f}k"
            f" | {r['median'] / 1e3:.0f}k | {r['worst'] / 1e3:.0f}k"
            f" | {ratio(r['worst'], o['median'] if o else 0)}"
            f" | {r['p99_us'] / 1e3:.1f} | {ratio(r['p99_us'], o['p99_us'] if o else 0)}"
            f" | {r['snapshots']} | {r['pause_us']} | {r['hwm_mb']:.0f}"
            f" | {ratio(r['hwm_mb'], o['hwm_mb'] if o else 0)} |"
        )


if __name__ == "__main__":
    main()
