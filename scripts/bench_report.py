#!/usr/bin/env python3
"""Summarise make bench: medians, worst cases, spread and ratios of the
allocators (stock, eager, fault) measured in one run.

Usage: bench_report.py OUT_DIR KERNEL COMMIT ALLOCATOR:REP=LOG...

Reads the "# BENCH {json}" lines of each guest log (and of the instruction
profiles, scripts/insn_profile.py) and writes, in OUT_DIR,
<date>-<commit>.md (markdown tables), .json (every sample and summary)
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
ALLOCATORS = ("stock", "eager", "fault")

# A stall: a run whose receiver loop's longest iteration is over this many
# times its control's.
STALL_FACTOR = 4

# (workload, who, metric, better, aggregate): what the tables show, which
# direction is better, and how the repetitions are summed up: "median"
# (min-max shown), "worst" (the worst value of any repetition) or
# "fraction" (of the repetitions where a 0/1 metric is 1).
ROWS = [
    ("contention", "receiver_loop", "rate", "higher", "median"),
    ("contention", "receiver_loop", "p99", "lower", "median"),
    ("contention", "receiver_loop", "max", "lower", "median"),
    ("contention", "receiver/control", "rate_ratio", "higher", "median"),
    ("contention", "calls", "rate", "higher", "median"),
    ("contention", "calls", "p99", "lower", "median"),
    ("contention", "calls", "per_sender_cpu_s", "higher", "median"),
    ("contention", "cpu", "senders_ms", "info", "median"),
    ("contention", "cpu", "receiver_loop_ms", "info", "median"),
    ("contention", "cpu", "receiver_binder_ms", "info", "median"),
    ("contention", "cpu", "control_loop_ms", "info", "median"),
    ("contention", "cpu", "reclaimer_ms", "info", "median"),
    ("contention", "cpu", "idle_ms", "info", "median"),
    ("profile", "churn", "buffers_per_s", "info", "median"),
    ("profile", "churn", "installed_per_s", "info", "median"),
    ("profile", "churn", "reclaimed_per_s", "info", "median"),
    ("profile", "churn", "installed_per_buffer", "info", "median"),
    ("profile", "receiver/control", "lock_wait_ratio", "lower", "median"),
    ("profile", "receiver_loop_lock_wait", "total_ms", "lower", "median"),
    ("profile", "receiver_loop_lock_wait", "p99_us", "lower", "median"),
    ("profile", "receiver_loop_wait_behind_others", "total_ms", "lower", "median"),
    ("profile", "receiver_mm_others_lock_wait", "total_ms", "lower", "median"),
    ("profile", "receiver_mm_read_held_by_senders", "count", "lower", "median"),
    ("profile", "receiver_mm_write_held_by_senders", "count", "lower", "median"),
    ("profile", "receiver_mm_read_held_by_others", "count", "info", "median"),
    ("profile", "receiver_mm_write_held_by_others", "count", "info", "median"),
    ("profile", "receiver_mm_held_by_drop_caches", "total_ms", "lower", "median"),
    ("pressure", "receiver_loop", "max", "lower", "median"),
    ("pressure", "receiver_loop", "max", "lower", "worst"),
    ("pressure", "receiver_loop", "p99", "lower", "median"),
    ("pressure", "receiver/control", "max_ratio", "lower", "median"),
    ("pressure", "receiver/control", "max_ratio", "lower", "worst"),
    ("pressure", "receiver/control", "stall", "lower", "fraction"),
    ("pressure", "receiver/control", "lock_wait_ratio", "lower", "median"),
    ("pressure", "receiver/control", "lock_wait_max_ratio", "lower", "median"),
    ("pressure", "receiver_loop_lock_wait", "total_ms", "lower", "median"),
    ("pressure", "receiver_loop_lock_wait", "total_ms", "lower", "worst"),
    ("pressure", "receiver_loop_lock_wait", "max_us", "lower", "median"),
    ("pressure", "receiver_loop_lock_wait", "max_us", "lower", "worst"),
    ("pressure", "receiver_loop_lock_wait", "p99_us", "lower", "median"),
    ("pressure", "receiver_loop_wait_behind_others", "total_ms", "lower", "median"),
    ("pressure", "receiver_loop_wait_behind_others", "max_us", "lower", "worst"),
    ("pressure", "control_loop_lock_wait", "total_ms", "info", "median"),
    ("pressure", "control_loop_lock_wait", "max_us", "info", "worst"),
    ("pressure", "receiver_mm_read_held_by_senders", "count", "lower", "worst"),
    ("pressure", "receiver_mm_write_held_by_senders", "count", "lower", "worst"),
    ("pressure", "receiver_mm_write_held_by_others", "max_us", "lower", "worst"),
    ("pressure", "receiver_mm_read_held_by_others", "max_us", "lower", "worst"),
    ("pressure", "receiver_mm_others_lock_wait", "total_ms", "lower", "median"),
    ("pressure", "calls", "rate", "higher", "median"),
    ("pressure", "vmstat", "pswpout", "info", "median"),
    ("pressure", "vmstat", "allocstall", "info", "median"),
    ("pressure-fault", "receiver_loop", "max", "lower", "worst"),
    ("pressure-fault", "receiver/control", "max_ratio", "lower", "median"),
    ("pressure-fault", "receiver/control", "stall", "lower", "fraction"),
    ("pressure-fault", "receiver/control", "lock_wait_ratio", "lower", "median"),
    ("pressure-fault", "receiver_loop_lock_wait", "total_ms", "lower", "median"),
    ("pressure-fault", "receiver_loop_lock_wait", "max_us", "lower", "worst"),
    ("pressure-fault", "receiver_loop_wait_behind_others", "total_ms", "lower", "median"),
    ("pressure-fault", "receiver_loop_wait_behind_others", "max_us", "lower", "worst"),
    ("pressure-fault", "receiver_mm_read_held_by_senders", "count", "lower", "worst"),
    ("pressure-fault", "calls", "rate", "higher", "median"),
    ("steady_0", "calls", "rate", "higher", "median"),
    ("steady_0", "calls", "p99", "lower", "median"),
    ("steady_4096", "calls", "rate", "higher", "median"),
    ("steady_4096", "calls", "p99", "lower", "median"),
    ("steady_65536", "calls", "rate", "higher", "median"),
    ("steady_65536", "calls", "p99", "lower", "median"),
    ("profile_steady", "binder_alloc_new_buf", "mean_us", "lower", "median"),
    ("profile_steady", "binder_alloc_free_buf", "mean_us", "lower", "median"),
    ("insns", "per_transaction", "median", "lower", "median"),
    ("insns", "binder_alloc_new_buf", "median", "lower", "median"),
    ("insns", "binder_alloc_free_buf", "median", "lower", "median"),
    ("insns", "binder_alloc_prepare_to_free", "median", "lower", "median"),
    ("insns", "binder_alloc_copy_user_to_buffer", "median", "lower", "median"),
    ("insns_churn", "per_installed_page", "median", "lower", "median"),
    ("insns_churn", "per_installed_page_1p", "median", "lower", "median"),
    ("insns_churn", "per_installed_page_8p", "median", "lower", "median"),
    ("insns_churn", "per_reclaimed_page", "median", "lower", "median"),
    ("insns_churn", "binder_alloc_new_buf", "median", "lower", "median"),
    ("insns_churn", "binder_alloc_free_buf", "median", "lower", "median"),
    ("insns_churn", "binder_alloc_free_page", "median", "lower", "median"),
    ("insns_contention", "binder_alloc_new_buf", "median", "lower", "median"),
    ("insns_contention", "binder_alloc_free_buf", "median", "lower", "median"),
    ("insns_contention", "binder_alloc_prepare_to_free", "median", "lower", "median"),
    ("insns_contention", "binder_alloc_copy_user_to_buffer", "median", "lower", "median"),
    ("cold", "processes", "per_process_us", "lower", "median"),
    ("memory", "per_process", "slab_kib", "lower", "median"),
]

# One transaction of the steady workload calls these once each.
TRANSACTION = ("binder_alloc_new_buf", "binder_alloc_free_buf", "binder_alloc_prepare_to_free")


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
            ratios["stall"] = 1 if ratios["max_ratio"] > STALL_FACTOR else 0
        r, c = out.get((w, "receiver_loop_lock_wait")), out.get((w, "control_loop_lock_wait"))
        if r and c:
            ratios.update(lock_wait_ratio=ratio(r["total_ms"], c["total_ms"]),
                          lock_wait_max_ratio=ratio(r["max_us"], c["max_us"]),
                          lock_wait_p99_ratio=ratio(r["p99_us"], c["p99_us"]))
        if ratios:
            out[(w, "receiver/control")] = ratios
    # An instruction profile: the entry points one transaction calls.
    if all(("insns", ep) in out for ep in TRANSACTION):
        out[("insns", "per_transaction")] = {
            "median": sum(out[("insns", ep)]["median"] for ep in TRANSACTION)}
    # The churn profile: install and reclaim, per page.
    new_buf = out.get(("insns_churn", "binder_alloc_new_buf"))
    if new_buf and "per_installed_page" in new_buf:
        out[("insns_churn", "per_installed_page")] = {"median": new_buf["per_installed_page"]}
        # Calls mapping 1 page and 8 pages (rows of their own: per page
        # compares only at equal pages per call).
        for k in (1, 8):
            pc = new_buf.get("per_page_by_count", {}).get(str(k))
            if pc:
                out[("insns_churn", f"per_installed_page_{k}p")] = dict(pc)
    if ("insns_churn", "binder_alloc_free_page") in out:
        out[("insns_churn", "per_reclaimed_page")] = {
            "median": out[("insns_churn", "binder_alloc_free_page")]["median"]}
    # Calls per CPU second the senders got: the call rate without the CPU
    # the other tasks took.
    calls, cpu = out.get(("contention", "calls")), out.get(("contention", "cpu"))
    if calls and cpu and cpu.get("senders_ms"):
        calls["per_sender_cpu_s"] = calls["rate"] / (cpu["senders_ms"] / 1000)
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


def aggregate(values, better, agg):
    """The summary of one row's repetitions."""
    if agg == "worst":
        return min(values) if better == "higher" else max(values)
    if agg == "fraction":
        return sum(values) / len(values)
    return statistics.median(values)


def fmt(v):
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.2f}"


def main(argv):
    outdir, kernel, commit = argv[1], argv[2], argv[3]
    samples = {}  # (allocator, workload, who, metric) -> [values]
    for arg in argv[4:]:
        label, _, log = arg.partition("=")
        alloc = label.split(":")[0]
        for (w, who), rec in parse(log).items():
            for metric, v in rec.items():
                samples.setdefault((alloc, w, who, metric), []).append(v)
    allocs = [a for a in ALLOCATORS if any(k[0] == a for k in samples)]
    pairs = [(x, y) for x, y in (("eager", "stock"), ("fault", "stock"), ("fault", "eager"))
             if x in allocs and y in allocs]

    # Where a typical call's instructions go (insn-profile), per allocator.
    callees = []
    for alloc in allocs:
        for (a, w, who, metric), v in sorted(samples.items()):
            if a == alloc and w in ("insns", "insns_churn", "insns_contention") and metric == "top":
                parts = ", ".join(f"{short_name(fn)} {n:g}" for fn, n in v[-1].items())
                callees.append(f"- {alloc} {w} `{who}`: {parts}")

    rows, summary, value = [], [], {}
    for w, who, metric, better, agg in ROWS:
        vals = {a: samples.get((a, w, who, metric), []) for a in allocs}
        if not all(vals.values()):
            continue
        summ = {a: aggregate(v, better, agg) for a, v in vals.items()}
        value[(w, who, metric, agg)] = summ
        ratios = {f"{x}/{y}": (summ[x] / summ[y] if summ[y] else float("nan")) for x, y in pairs}
        summary.append({"workload": w, "who": who, "metric": metric, "better": better,
                        "aggregate": agg, "samples": vals, "summary": summ, "ratios": ratios})
        cells = []
        for a in allocs:
            v = vals[a]
            if agg == "median" and len(v) > 1:
                cells.append(f"{fmt(summ[a])} ({fmt(min(v))}-{fmt(max(v))})")
            elif agg == "fraction":
                cells.append(f"{sum(v)}/{len(v)}")
            else:
                cells.append(fmt(summ[a]))
        rows.append(f"| {w} | {who} | {metric} | {agg} | " + " | ".join(cells) + " | " +
                    " | ".join("-" if r != r else f"{r:.3f}" for r in ratios.values()) + f" | {better} |")

    def get(w, who, metric, agg="median"):
        return value.get((w, who, metric, agg))

    def check(name, v, test, show):
        if v is None or any(a not in v for a in ("stock", "eager", "fault")):
            return f"- {name}: not measured"
        return f"- {name}: {'met' if test(v) else 'MISSED'} ({show(v)})"

    def senders(w):
        """Per allocator: the most read and write acquisitions of the
        receiver's mmap lock by senders in any repetition of w."""
        out = {}
        for a in allocs:
            r = samples.get((a, w, "receiver_mm_read_held_by_senders", "count"))
            wr = samples.get((a, w, "receiver_mm_write_held_by_senders", "count"))
            if not r or not wr:
                return None
            out[a] = (max(r), max(wr))
        return out

    def lock_show(v):
        return (f"fault {fmt(v['fault'])}, eager {fmt(v['eager'])}, stock {fmt(v['stock'])}: "
                f"{v['fault'] / v['stock']:.2f}x stock" if v["stock"] else "stock 0")

    ratio_of = lambda v, x, y: v[x] / v[y] if v[y] else float("inf")
    targets = []
    for w in ("profile", "pressure"):
        targets.append(check(f"{w}: senders' acquisitions of the receiver's mmap lock (read, write; "
                             f"worst repetition) = 0 in fault mode", senders(w),
                             lambda v: v["fault"] == (0, 0),
                             lambda v: ", ".join(f"{a} {v[a][0]:g}/{v[a][1]:g}" for a in allocs)))
    for metric, agg, what in (("total_ms", "median", "total (median)"),
                              ("max_us", "worst", "worst (all repetitions)")):
        targets.append(check(f"pressure: receiver's {what} mmap lock wait <= 0.5x stock and <= eager",
                             get("pressure", "receiver_loop_lock_wait", metric, agg),
                             lambda v: v["fault"] <= 0.5 * v["stock"] and v["fault"] <= v["eager"],
                             lock_show))
    # The same, counting only the part of each wait during which another
    # task held the lock (not the time a woken waiter waits for a CPU).
    for metric, agg, what in (("total_ms", "median", "total (median)"),
                              ("max_us", "worst", "worst (all repetitions)")):
        targets.append(check(f"pressure, waits behind other holders only: receiver's {what} "
                             "<= 0.5x stock and <= eager",
                             get("pressure", "receiver_loop_wait_behind_others", metric, agg),
                             lambda v: v["fault"] <= 0.5 * v["stock"] and v["fault"] <= v["eager"],
                             lock_show))
    for n in (0, 4096, 65536):
        targets.append(check(f"steady {n}: call rate >= 0.98x eager", get(f"steady_{n}", "calls", "rate"),
                             lambda v: ratio_of(v, "fault", "eager") >= 0.98,
                             lambda v: f"{ratio_of(v, 'fault', 'eager'):.3f}x eager, "
                                       f"{ratio_of(v, 'fault', 'stock'):.3f}x stock"))
    targets.append(check("cold start per process <= 1.05x eager", get("cold", "processes", "per_process_us"),
                         lambda v: ratio_of(v, "fault", "eager") <= 1.05,
                         lambda v: f"{ratio_of(v, 'fault', 'eager'):.3f}x eager, "
                                   f"{ratio_of(v, 'fault', 'stock'):.3f}x stock"))
    targets.append(check("memory per process <= 1.0x eager", get("memory", "per_process", "slab_kib"),
                         lambda v: ratio_of(v, "fault", "eager") <= 1.0,
                         lambda v: f"{ratio_of(v, 'fault', 'eager'):.3f}x eager, "
                                   f"{ratio_of(v, 'fault', 'stock'):.3f}x stock"))
    v = get("insns", "per_transaction", "median")
    targets.append("- instructions per transaction (new_buf + free_buf + prepare_to_free): " +
                   (", ".join(f"{a} {v[a]:g}" for a in allocs) if v else "not measured"))

    # Issue #16: the default (eager) mode against stock.
    def check16(name, v, test, show):
        if v is None or any(a not in v for a in ("stock", "eager")):
            return f"- {name}: not measured"
        return f"- {name}: {'met' if test(v) else 'MISSED'} ({show(v)})"

    eager_x = lambda v: f"eager {fmt(v['eager'])}, stock {fmt(v['stock'])}: {ratio_of(v, 'eager', 'stock'):.3f}x"
    t16 = [check16("instructions per transaction <= 0.9x stock", get("insns", "per_transaction", "median"),
                   lambda v: ratio_of(v, "eager", "stock") <= 0.9, eager_x)]
    for n in (0, 4096, 65536):
        t16.append(check16(f"steady {n}: call rate >= 1.0x stock", get(f"steady_{n}", "calls", "rate"),
                           lambda v: ratio_of(v, "eager", "stock") >= 1.0, eager_x))
    t16.append(check16("memory per process <= 1.0x stock", get("memory", "per_process", "slab_kib"),
                       lambda v: ratio_of(v, "eager", "stock") <= 1.0, eager_x))
    for what in ("per_installed_page_1p", "per_installed_page_8p", "per_reclaimed_page"):
        t16.append(check16(f"instructions {what.replace('_1p', ' (calls mapping 1 page)').replace('_8p', ' (calls mapping 8 pages)').replace('_', ' ')} <= stock",
                           get("insns_churn", what, "median"),
                           lambda v: v["eager"] <= v["stock"], eager_x))
    t16.append(check16("churn (contention) call rate >= 1.0x stock", get("contention", "calls", "rate"),
                       lambda v: ratio_of(v, "eager", "stock") >= 1.0, eager_x))
    t16.append(check16("churn calls per CPU second of the senders >= 1.0x stock",
                       get("contention", "calls", "per_sender_cpu_s"),
                       lambda v: ratio_of(v, "eager", "stock") >= 1.0, eager_x))
    cpu = {m: get("contention", "cpu", m) for m in
           ("senders_ms", "receiver_loop_ms", "receiver_binder_ms", "control_loop_ms", "reclaimer_ms", "idle_ms")}
    if all(cpu.values()):
        t16.append("- churn: where the CPU went (ms per second, medians; 2 vCPUs = 2000): " + "; ".join(
            f"{m[:-3]} " + ", ".join(f"{a} {fmt(cpu[m][a])}" for a in allocs) for m in cpu))

    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    os.makedirs(outdir, exist_ok=True)
    base = os.path.join(outdir, f"{date}-{commit}")
    reps = {w: max((len(v) for k, v in samples.items() if k[1] == w), default=0)
            for w in ("contention", "pressure")}
    md = [f"# make bench, {date}, kernel {kernel}, commit {commit}", "",
          "Allocators: stock (the kernel tree's C allocator), eager (ours, default mode: senders",
          "map pages), fault (ours, install_on_fault=1: the receiver's page faults map them).",
          "Same kernel build, same guest image, same run, order rotated; TCG, 2 vCPUs.",
          f"Repetitions: {reps['contention']} per allocator on the base kernel, "
          f"{reps['pressure']} on the zram kernel (pressure).",
          "aggregate: median (min-max) over the repetitions; worst: the worst repetition;",
          f"fraction: repetitions where the receiver's worst loop iteration was over {STALL_FACTOR}x",
          "its control's. Times in microseconds, rates per second.", "",
          "| workload | what | metric | aggregate | " + " | ".join(allocs) + " | " +
          " | ".join(f"{x}/{y}" for x, y in pairs) + " | better |",
          "|" + "---|" * (5 + len(allocs) + len(pairs))] + rows + [
          "", "Targets of issue #15 (fault mode), on this run:", ""] + targets + [
          "", "Targets of issue #16 (the default mode against stock), on this run:", ""] + t16
    if callees:
        md += ["", "Instructions of a typical call by function (insns rows: guest instructions",
               "per call, kernel and module, counted from QEMU's execution log; one run",
               "per allocator; the median does not depend on the host's load):", ""] + callees
    with open(base + ".md", "w") as f:
        f.write("\n".join(md) + "\n")
    with open(base + ".json", "w") as f:
        json.dump({"date": date, "kernel": kernel, "commit": commit, "rows": summary}, f,
                  indent=1)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        shown = [r for r in summary if r["better"] != "info" and r["aggregate"] != "fraction"]
        labels = [f"{r['workload']} {r['who']} {r['metric']} ({r['aggregate']})" for r in shown]
        fig, ax = plt.subplots(figsize=(10, 0.4 * len(labels) + 1.5))
        height = 0.8 / max(len(pairs), 1)
        for i, (x, y) in enumerate(pairs):
            ax.barh([k + i * height for k in range(len(labels))],
                    [min(r["ratios"][f"{x}/{y}"], 5) for r in shown], height, label=f"{x}/{y}")
        ax.set_yticks([k + height * (len(pairs) - 1) / 2 for k in range(len(labels))], labels)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("ratio (clipped at 5)")
        ax.set_title(f"make bench {date} ({commit})")
        ax.legend()
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
