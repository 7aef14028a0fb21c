#!/usr/bin/env python3
"""Reads the decode-step timeline of a build with -DSHOOTOUT_CUDA_STEP_TRACE=ON (the file named by
SHOOTOUT_STEP_TRACE; backend/cuda/step_trace.h) and prints where a layer's time goes. Launches are
told apart by their %gridid and time; each is labelled by its neighbours (e.g. matvec[attention>normed] is the
O product), and per label the medians over all its launches of:
  gap    the previous launch's last warp exit -> this launch's first warp past its PDL wait
  span   first warp past the wait -> last warp exit (the launch's own time on the critical path)
  p10    first warp past the wait -> the first 10 % of warp exits
  util   mean warp time (past the wait or from entry, to exit) / span: below 1 the launch's warps
         finish unevenly (a tail) or enter late
  early  first warp entry -> first warp past the wait (resident before the wait, overlapped)
  late   the share of its warps that entered after the previous launch's last exit (their block
         waited for an SM's registers or shared memory to free, so they start behind the release)
  busy   a warp's time past the wait (or from a later entry) to its exit: median / 90th percentile,
         e.g. a second round of rows shows as a busy p90 well over the median
  drain  per SM, its first warp entry minus the previous launch's last warp exit on that SM (median
         over the SMs both used): positive where blocks wait for the SM to empty, not just for
         registers to free (e.g. a change of the L1 / shared memory split)
  warps  records a launch (one a warp)
Only the time every SM's ring covers is read (the rings wrap independently).
    tools/step_trace_summary.py trace.bin [--list 40] [--keep N FILE]
--keep writes the last N records to FILE in the same format (a file small enough to bring back).
"""
import argparse
import statistics
import struct
import sys

KINDS = {1: "matvec", 2: "normed", 3: "attention", 4: "swiglu", 5: "quantize"}
FMT = "<IIQQQQ"  # kind, sm, grid, t_enter, t_waited, t_exit


def read(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        data = f.read(40 * n)
    return [struct.unpack_from(FMT, data, 40 * i) for i in range(n)]


def write(path, recs):
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(recs)))
        for r in recs:
            f.write(struct.pack(FMT, *r))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--list", type=int, default=0, help="also list the last N launches one by one")
    ap.add_argument("--keep", nargs=2, metavar=("N", "FILE"))
    a = ap.parse_args()
    recs = read(a.trace)
    if a.keep:
        write(a.keep[1], sorted(recs, key=lambda r: r[3])[-int(a.keep[0]):])
    first_by_sm = {}
    for r in recs:
        first_by_sm[r[1]] = min(first_by_sm.get(r[1], r[3]), r[3])
    if not first_by_sm:
        sys.exit("step_trace_summary: no records")
    covered = max(first_by_sm.values())
    # A graph replays its nodes with the same %gridid, so a grid id's records are cut into launches where
    # their entries are more than 50 us apart (a node's launches are a decode step apart, its warps'
    # entries a few microseconds).
    grids = {}
    for r in recs:
        if r[5]:  # exited
            grids.setdefault(r[2], []).append(r)
    launches = []
    for rs in grids.values():
        rs.sort(key=lambda r: r[3])
        cur = [rs[0]]
        for r in rs[1:]:
            if r[3] - cur[-1][3] > 50_000:
                launches.append(cur)
                cur = []
            cur.append(r)
        launches.append(cur)
    ls = sorted((rs for rs in launches if min(r[3] for r in rs) >= covered), key=lambda rs: min(r[3] for r in rs))
    rows, prev_end, last_on_sm = [], None, {}
    for i, rs in enumerate(ls):
        enter = min(r[3] for r in rs)
        waited = [r[4] for r in rs if r[4]]
        release = min(waited) if waited else enter
        end = max(r[5] for r in rs)
        exits = sorted(r[5] for r in rs)
        span = max(end - release, 1)
        busy_each = sorted(r[5] - max(r[4] or r[3], r[3]) for r in rs)
        busy = statistics.mean(busy_each)
        late = sum(1 for r in rs if prev_end is not None and r[3] > prev_end) / len(rs)
        first_on_sm = {}
        for r in rs:
            first_on_sm[r[1]] = min(first_on_sm.get(r[1], r[3]), r[3])
        drains = [first_on_sm[sm] - last_on_sm[sm] for sm in first_on_sm if sm in last_on_sm] if i > 0 else []
        last_on_sm = {}
        for r in rs:
            last_on_sm[r[1]] = max(last_on_sm.get(r[1], r[5]), r[5])
        name = KINDS.get(rs[0][0], str(rs[0][0]))
        before = KINDS.get(ls[i - 1][0][0], "?") if i > 0 else "-"
        after = KINDS.get(ls[i + 1][0][0], "?") if i + 1 < len(ls) else "-"
        rows.append(dict(label=f"{name}[{before}>{after}]", warps=len(rs), enter=enter, release=release, end=end,
                         span=span, p10=exits[len(exits) // 10] - release, util=busy / span, early=release - enter,
                         late=late, drain=statistics.median(drains) if drains else 0, busy50=busy_each[len(busy_each) // 2], busy90=busy_each[len(busy_each) * 9 // 10],
                         gap=(release - prev_end) if prev_end is not None else None))
        prev_end = end
    core = rows[1:-1]  # the last launch may be cut by the run's end
    if not core:
        sys.exit("step_trace_summary: too few launches")
    total = core[-1]["end"] - core[0]["release"]
    print(f"{len(recs)} warp records, {len(rows)} whole launches in {total / 1e3:.1f} us")
    print(f"{'launch':34} {'count':>5} {'warps':>6} {'gap us':>7} {'span us':>8} {'p10 us':>7} {'util':>5} "
          f"{'early us':>8} {'late':>5} {'drain':>6} {'busy p50/p90':>12} {'share':>6}")
    labels = {}
    for r in core:
        labels.setdefault(r["label"], []).append(r)
    for label, rs in sorted(labels.items(), key=lambda kv: -sum(r["span"] for r in kv[1])):
        gaps = [r["gap"] for r in rs if r["gap"] is not None]
        share = sum(r["span"] + (r["gap"] or 0) for r in rs) / total
        med = lambda key: statistics.median(r[key] for r in rs)
        print(f"{label:34} {len(rs):5d} {med('warps'):6.0f} {statistics.median(gaps) / 1e3 if gaps else 0:7.2f} "
              f"{med('span') / 1e3:8.2f} {med('p10') / 1e3:7.2f} {med('util'):5.2f} {med('early') / 1e3:8.2f} "
              f"{100 * med('late'):4.0f}% {med('drain') / 1e3:6.2f} {med('busy50') / 1e3:5.2f}/{med('busy90') / 1e3:5.2f} "
              f"{100 * share:5.1f}%")
    # Gaps over 50 us are the host's pause between two tokens (the bench syncs a step's logits), not
    # the pipeline's: counted apart.
    gaps = [r["gap"] for r in core if r["gap"] and r["gap"] > 0]
    pauses = [g for g in gaps if g > 50_000]
    in_steps = sum(g for g in gaps if g <= 50_000)
    print(f"gaps (a launch's release after the previous one's last exit): {100 * in_steps / (total - sum(pauses)):.1f}% "
          f"of the steps' time; {len(pauses)} pauses between steps ({sum(pauses) / 1e3:.0f} us) left out")
    if a.list:
        print(f"\nthe last {a.list} launches (us from the first listed one's release):")
        t0 = rows[-a.list]["release"] if len(rows) >= a.list else rows[0]["release"]
        for r in rows[-a.list:]:
            print(f"  {r['label']:34} warps {r['warps']:5d} enter {(r['enter'] - t0) / 1e3:8.2f} "
                  f"release {(r['release'] - t0) / 1e3:8.2f} end {(r['end'] - t0) / 1e3:8.2f} "
                  f"gap {(r['gap'] or 0) / 1e3:6.2f} util {r['util']:5.2f}")


if __name__ == "__main__":
    main()
