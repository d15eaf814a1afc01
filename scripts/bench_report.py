#!/usr/bin/env python3
"""Summarise make bench: medians, spread and ratios, ours vs stock.

Usage: bench_report.py OUT_DIR KERNEL COMMIT MODULE:REP=LOG...

Reads the "# BENCH {json}" lines of each guest log (and of the instruction
profiles, scripts/insn_profile.py) and writes, in OUT_DIR,
<date>-<commit>.md (a markdown table), .json (every sample and summary)
and .png (a chart of the ratios, if matplotlib is there). Contention
figures are also given relative to the CPU-sharing control measured in
the same run: the same mmap loop in a process binder never maps into.
"""
import datetime
import json
import os
import re
import statistics
import subprocess
import sys

BENCH = re.compile(r"#\s*BENCH\s*(\{.*\})")

# (workload, who, metric, better): what the table shows, and which
# direction is better for the ratio ours/stock.
ROWS = [
    ("contention", "receiver_loop", "rate", "higher"),
    ("contention", "receiver_loop", "p99", "lower"),
    ("contention", "receiver_loop", "max", "lower"),
    ("contention", "receiver/control", "rate_ratio", "higher"),
    ("contention", "calls", "rate", "higher"),
    ("contention", "calls", "p99", "lower"),
    ("profile", "receiver/control", "lock_wait_ratio", "lower"),
    ("profile", "receiver_loop_lock_wait", "total_ms", "lower"),
    ("profile", "receiver_loop_lock_wait", "p99_us", "lower"),
    ("profile", "receiver_mm_others_lock_wait", "total_ms", "lower"),
    ("profile", "receiver_mm_read_held_by_others", "count", "info"),
    ("profile", "receiver_mm_write_held_by_others", "count", "info"),
    ("profile", "receiver_mm_held_by_drop_caches", "total_ms", "lower"),
    ("pressure", "receiver_loop", "max", "lower"),
    ("pressure", "receiver_loop", "p99", "lower"),
    ("pressure", "receiver/control", "max_ratio", "lower"),
    ("pressure", "receiver/control", "p99_ratio", "lower"),
    ("pressure", "receiver/control", "lock_wait_ratio", "lower"),
    ("pressure", "receiver/control", "lock_wait_max_ratio", "lower"),
    ("pressure", "receiver/control", "lock_wait_p99_ratio", "lower"),
    ("pressure", "receiver_loop_lock_wait", "total_ms", "lower"),
    ("pressure", "receiver_loop_lock_wait", "max_us", "lower"),
    ("pressure", "receiver_loop_lock_wait", "p99_us", "lower"),
    ("pressure", "receiver_mm_write_held_by_others", "max_us", "lower"),
    ("pressure", "receiver_mm_read_held_by_others", "max_us", "lower"),
    ("pressure", "receiver_mm_others_lock_wait", "total_ms", "lower"),
    ("pressure", "calls", "rate", "higher"),
    ("pressure-fault", "receiver/control", "max_ratio", "lower"),
    ("pressure-fault", "receiver/control", "lock_wait_ratio", "lower"),
    ("pressure-fault", "receiver_loop_lock_wait", "max_us", "lower"),
    ("pressure-fault", "calls", "rate", "higher"),
    ("steady_0", "calls", "rate", "higher"),
    ("steady_0", "calls", "p99", "lower"),
    ("steady_4096", "calls", "rate", "higher"),
    ("steady_4096", "calls", "p99", "lower"),
    ("steady_65536", "calls", "rate", "higher"),
    ("steady_65536", "calls", "p99", "lower"),
    ("profile_steady", "binder_alloc_new_buf", "mean_us", "lower"),
    ("profile_steady", "binder_alloc_new_buf", "p99_us", "lower"),
    ("profile_steady", "binder_alloc_free_buf", "mean_us", "lower"),
    ("profile_steady", "binder_alloc_free_buf", "p99_us", "lower"),
    ("insns", "binder_alloc_new_buf", "median", "lower"),
    ("insns", "binder_alloc_new_buf", "blocks", "lower"),
    ("insns", "binder_alloc_free_buf", "median", "lower"),
    ("insns", "binder_alloc_free_buf", "blocks", "lower"),
    ("insns", "binder_alloc_prepare_to_free", "median", "lower"),
    ("insns", "binder_alloc_copy_user_to_buffer", "median", "lower"),
    ("cold", "processes", "per_process_us", "lower"),
    ("memory", "per_process", "slab_kib", "lower"),
]


SUBTEST = re.compile(r"^\s*# Subtest: (\S+)")
RESULT = re.compile(r"^(ok|not ok) \d+ (\S+)")


def parse(log):
    """(workload, who) -> metrics of one guest log. A workload whose guest
    program failed (a trace buffer that overflowed, say) contributes
    nothing: its numbers are not trusted."""
    out, pending = {}, []
    with open(log, errors="replace") as f:
        for line in f:
            if SUBTEST.match(line):
                pending = []
                continue
            m = RESULT.match(line)
            if m:
                if m.group(1) == "ok":
                    out.update(pending)
                else:
                    print(f"bench: {log}: {m.group(2)} failed, its numbers are left out")
                pending = []
                continue
            m = BENCH.search(line)
            if not m:
                continue
            try:
                rec = json.loads(m.group(1))
            except ValueError:
                continue
            pending.append(((rec.pop("workload"), rec.pop("who")), rec))
    # Ratios to the control measured in the same run: the loop's iteration
    # times, and (traced runs) its mmap lock waits.
    def ratio(a, b):
        return a / b if b else float("nan")

    for w in ("contention", "profile", "pressure", "pressure-fault"):
        ratios = {}
        r, c = out.get((w, "receiver_loop")), out.get((w, "control_loop"))
        if r and c:
            ratios.update(rate_ratio=ratio(r["rate"], c["rate"]), max_ratio=ratio(r["max"], c["max"]),
                          p99_ratio=ratio(r["p99"], c["p99"]))
        r, c = out.get((w, "receiver_loop_lock_wait")), out.get((w, "control_loop_lock_wait"))
        if r and c:
            ratios.update(lock_wait_ratio=ratio(r["total_ms"], c["total_ms"]),
                          lock_wait_max_ratio=ratio(r["max_us"], c["max_us"]),
                          lock_wait_p99_ratio=ratio(r["p99_us"], c["p99_us"]))
        if ratios:
            out[(w, "receiver/control")] = ratios
    return out


def short_name(sym):
    """A readable name for a Rust symbol (c++filt demangles the v0 scheme;
    crate hashes and the two crates' names are dropped); C names as they
    are."""
    if not sym.startswith("_R"):
        return sym
    try:
        name = subprocess.run(["c++filt"], input=sym, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return sym
    name = re.sub(r"\[[0-9a-f]+\]", "", name)
    return re.sub(r"\b(kernel|binder_alloc|core)::", "", name)


def main(argv):
    outdir, kernel, commit = argv[1], argv[2], argv[3]
    samples = {}  # (module, workload, who, metric) -> [values]
    for arg in argv[4:]:
        label, _, log = arg.partition("=")
        module = label.split(":")[0]
        for (w, who), rec in parse(log).items():
            for metric, v in rec.items():
                samples.setdefault((module, w, who, metric), []).append(v)

    # Where a typical call's instructions go (insn-profile), per module.
    callees = []
    for module in ("stock", "rust"):
        for (m, w, who, metric), v in sorted(samples.items()):
            if m == module and w == "insns" and metric == "top":
                parts = ", ".join(f"{short_name(fn)} {n:g}" for fn, n in v[-1].items())
                callees.append(f"- {module} `{who}`: {parts}")

    rows, summary = [], []
    for w, who, metric, better in ROWS:
        s = samples.get(("stock", w, who, metric), [])
        o = samples.get(("rust", w, who, metric), [])
        if not s or not o:
            continue
        ms, mo = statistics.median(s), statistics.median(o)
        ratio = mo / ms if ms else float("nan")
        summary.append({"workload": w, "who": who, "metric": metric, "better": better,
                        "stock": s, "rust": o, "stock_median": ms, "rust_median": mo,
                        "ratio": ratio})
        rows.append(f"| {w} | {who} | {metric} | {ms:.2f} ({min(s):.2f}-{max(s):.2f}) "
                    f"| {mo:.2f} ({min(o):.2f}-{max(o):.2f}) | {ratio:.3f} | {better} |")

    # The targets, checked against the medians of this run.
    med = {(r["workload"], r["who"], r["metric"]): (r["stock_median"], r["rust_median"], r["ratio"])
           for r in summary}

    def check(name, key, test, show):
        if key not in med:
            return f"- {name}: not measured"
        stock, rust, ratio = med[key]
        return f"- {name}: {'met' if test(stock, rust, ratio) else 'MISSED'} ({show(stock, rust, ratio)})"

    rc = ("receiver/control")
    targets = [
        check("pressure: receiver's worst loop iteration / control <= 1.2", ("pressure", rc, "max_ratio"),
              lambda s, o, r: o <= 1.2, lambda s, o, r: f"rust {o:.2f}, stock {s:.2f}"),
        check("pressure: receiver's p99 loop iteration / control <= 1.2", ("pressure", rc, "p99_ratio"),
              lambda s, o, r: o <= 1.2, lambda s, o, r: f"rust {o:.2f}, stock {s:.2f}"),
        check("pressure: receiver's worst mmap lock wait <= 0.25x stock", ("pressure", "receiver_loop_lock_wait", "max_us"),
              lambda s, o, r: r <= 0.25, lambda s, o, r: f"{r:.2f}x: rust {o:.0f} us, stock {s:.0f} us"),
        check("pressure: receiver's p99 mmap lock wait <= 0.25x stock", ("pressure", "receiver_loop_lock_wait", "p99_us"),
              lambda s, o, r: r <= 0.25, lambda s, o, r: f"{r:.2f}x: rust {o:.0f} us, stock {s:.0f} us"),
        check("pressure: call throughput >= 1.0x", ("pressure", "calls", "rate"),
              lambda s, o, r: r >= 1.0, lambda s, o, r: f"{r:.3f}x"),
        check("contention: receiver/control >= stock's and within 2% of 1.0", ("contention", rc, "rate_ratio"),
              lambda s, o, r: o >= s and abs(o - 1) <= 0.02, lambda s, o, r: f"rust {o:.3f}, stock {s:.3f}"),
        check("contention: call throughput >= 1.0x", ("contention", "calls", "rate"),
              lambda s, o, r: r >= 1.0, lambda s, o, r: f"{r:.3f}x"),
    ] + [check(f"steady {n}: call rate >= 0.98x", (f"steady_{n}", "calls", "rate"),
               lambda s, o, r: r >= 0.98, lambda s, o, r: f"{r:.3f}x") for n in (0, 4096, 65536)] + [
        check("memory: slab per process <= 1.0x", ("memory", "per_process", "slab_kib"),
              lambda s, o, r: r <= 1.0, lambda s, o, r: f"{r:.3f}x"),
    ]

    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    os.makedirs(outdir, exist_ok=True)
    base = os.path.join(outdir, f"{date}-{commit}")
    reps = max((len(v) for v in samples.values()), default=0)
    md = [f"# make bench, {date}, kernel {kernel}, commit {commit}", "",
          f"Medians over {reps} repetitions (min-max in parentheses), stock C allocator",
          "vs this project's (rust), same kernel build, same guest image, TCG, 2 vCPUs.",
          "Times in microseconds, rates per second; ratio = rust / stock.", "",
          "| workload | what | metric | stock | rust | ratio | better |",
          "|---|---|---|---|---|---|---|"] + rows + ["", "Targets (issue #9), on these medians:", ""] + targets
    if callees:
        md += ["", "Instructions of a typical call by function (insns rows: guest instructions",
               "per call, kernel and module, counted from QEMU's execution log; one run",
               "per module; the median does not depend on the host's load):", ""] + callees
    with open(base + ".md", "w") as f:
        f.write("\n".join(md) + "\n")
    with open(base + ".json", "w") as f:
        json.dump({"date": date, "kernel": kernel, "commit": commit, "rows": summary}, f,
                  indent=1)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        labels = [f"{r['workload']} {r['who']} {r['metric']}" for r in summary]
        ratios = [r["ratio"] for r in summary]
        fig, ax = plt.subplots(figsize=(9, 0.35 * len(labels) + 1.5))
        ax.barh(labels, ratios)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("rust / stock (median)")
        ax.set_title(f"make bench {date} ({commit})")
        ax.invert_yaxis()
        fig.tight_layout()
        fig.savefig(base + ".png", dpi=100)
    except ImportError:
        print("bench: no matplotlib: no chart")
    print("\n".join(md))
    print(f"\nbench: results in {base}.md, .json, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
