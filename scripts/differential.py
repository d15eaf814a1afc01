#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Differential check of the rsbinder scenarios: stock module vs ours.

    differential.py KERNEL STOCK_LOG RUST_LOG OUT_LOG

Both guest logs hold the output of `rsb_alloc test`, where every scenario
printed the binder debugfs state of its service process (and its own facts)
as one line per capture point:

    # state LABEL buffers=0 pages=0:1:253 pages_high=1 free_async=520192 ...

For every LABEL the two modules must report the same values. A value may
differ only where INTENDED below says so, with the reason. The result is
written to OUT_LOG as KTAP (one case per LABEL) for ktap_report.py.
"""
import re
import sys

# (label or "*", key) -> why the value may differ between the two modules
# (or between two runs of the same module). Everything else must match.
#  - pool_threads: how many pool threads the driver asked a service to
#    start depends on how often a call found no idle thread, which is
#    scheduling, not the allocator (concurrent_clients asserts that the
#    pool reached its maximum on both modules).
#  - concurrent_clients pages / pages_high: 12 client threads of 3
#    processes call at once; how many buffers overlap, and so how many
#    pages were ever installed and the peak, is timing.
INTENDED = {
    ("*", "pool_threads"): "thread spawning is scheduling",
    ("concurrent_clients", "pages"): "buffer overlap is timing",
    ("concurrent_clients", "pages_high"): "buffer overlap is timing",
}

STATE = re.compile(r"^\s*# state (\S+) (.*)$")


def states(path):
    """LABEL -> {key: value} from one guest log, in order of appearance."""
    found = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = STATE.match(line)
                if m:
                    found[m.group(1)] = dict(kv.split("=", 1) for kv in m.group(2).split())
    except OSError:
        pass
    return found


def intended(label, key):
    return INTENDED.get((label, key)) or INTENDED.get(("*", key))


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    kernel, stock_log, rust_log, out = sys.argv[1:]
    stock, rust = states(stock_log), states(rust_log)
    labels = list(stock) + [label for label in rust if label not in stock]
    cases = []
    if not stock or not rust:
        missing = " and ".join(name for name, s in (("stock", stock), ("rust", rust)) if not s)
        cases.append((False, "state_lines_present", [f"no '# state' lines in the {missing} log"]))
    for label in labels:
        notes, ok = [], True
        if label not in stock or label not in rust:
            ok = False
            notes.append(f"captured only on {'stock' if label in stock else 'rust'}")
        else:
            a, b = stock[label], rust[label]
            for key in list(a) + [k for k in b if k not in a]:
                va, vb = a.get(key, "(missing)"), b.get(key, "(missing)")
                if va == vb:
                    notes.append(f"{key}={va}")
                elif intended(label, key):
                    notes.append(f"{key}: stock {va}, rust {vb} (intended: {intended(label, key)})")
                else:
                    ok = False
                    notes.append(f"{key}: stock {va} != rust {vb}")
        cases.append((ok, label, notes))

    lines = ["=== KTAP BEGIN ===", "KTAP version 1", "1..1", "    KTAP version 1", f"    1..{len(cases)}"]
    for i, (ok, label, notes) in enumerate(cases, 1):
        lines += [f"    # {label} ({kernel}): " + "; ".join(notes)]
        lines += [f"    {'ok' if ok else 'not ok'} {i} {label}"]
    all_ok = all(ok for ok, _, _ in cases)
    lines += [f"{'ok' if all_ok else 'not ok'} 1 rsbinder_stock_vs_rust", "=== KTAP END ==="]
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
