#!/usr/bin/env python3
"""Guest instructions per allocator call, from a QEMU execution log.

Usage: insn_profile.py EXEC_LOG SERIAL_LOG SYSTEM_MAP OUT [WORKLOAD]

EXEC_LOG is the output of QEMU's `-d exec,nochain,in_asm` (normally a
FIFO, read as QEMU writes it): every translated block once (in_asm: its
instructions) and every execution of a block ("Trace CPU: ... [.../PC/...]").
SERIAL_LOG is the guest's console, where guest/plans/insns prints the
module's symbols ("KSYM ADDR NAME", from /proc/kallsyms) before the
workload starts; they are read as soon as they are complete.

Each entry into one of the allocator's entry points that binder.c calls
(ENTRY_POINTS) opens a window on that vCPU; the window closes at the next
block the vCPU executes in one of binder.c's calling functions (CALLERS),
that is when the call has returned. The window's cost is the number of
guest instructions executed in it (every block's instructions, in the
module and in the kernel), less those of hardware interrupts taken in it
(from the interrupt's entry stub to its return to the interrupted code:
timer ticks, IPIs, device interrupts, and whatever runs at their exit).
Unlike times under TCG, the median per call does not depend on the
host's load, and without the interrupts it does not depend on how many
timer ticks a long call happens to meet either.

A window also counts the pages it maps (entries of vm_insert_page) and
whether its task slept (an entry of __switch_to_asm outside interrupts:
the blocks that follow are another task's until it is switched back).
For the entry points that map pages, "per_installed_page" is the median,
over the windows that did not sleep and that mapped the most common
non-zero number of pages, of instructions divided by pages.

OUT gets one "# BENCH" line per entry point (workload WORKLOAD, default
"insns") (median instructions and
blocks per call, and the callees that account for them in a typical
call), in the format of binder_bench, followed by a KTAP result line;
OUT.callees.json has every callee of a typical call of each entry point,
and, for the calls that installed pages, of the awake calls mapping k
pages ("EP@kp"). INSN_BLOCKS=EP@kp (environment) writes that group's
instructions per basic block ("symbol+offset @address": mean per call) to
OUT.blocks.json; with a module built with KRUSTFLAGS=-Cdebuginfo=1,
`addr2line -i -f -C -e MODULE.ko -j SECTION OFFSET` names the source lines.
"""
import bisect
import collections
import json
import os
import statistics
import sys

ENTRY_POINTS = ("binder_alloc_new_buf", "binder_alloc_free_buf",
                "binder_alloc_prepare_to_free", "binder_alloc_copy_user_to_buffer",
                "binder_alloc_free_page")
# Entry points a workload may not call (reported when called): the
# shrinker's callback, once per page it reclaims (or skips).
OPTIONAL = ("binder_alloc_free_page",)
CALLERS = ("binder_transaction", "binder_free_buf", "binder_ioctl_write_read",
           "binder_do_deferred_txn_copies")
# Kernel functions that call the module (System.map): the list_lru walk
# calls the shrinker's callback.
KERNEL_CALLERS = ("__list_lru_walk_one",)
# A window longer than this is not one call (the vCPU left it, e.g. slept).
MAX_BLOCKS = 20000
# Block classes for interrupt accounting (kernel text symbols).
IRQ_ENTRY, EXC_ENTRY, KERNEL_RETURN, OTHER = range(4)


def classifier(ktext):
    """pc -> block class: the first block of an interrupt's or an
    exception's entry stub (the stub's later blocks, after its calls
    return, are not entries), a block of the return to kernel code that
    ends both (restore_regs_and_return_to_kernel up to and including
    native_irq_return_iret's iretq), or other."""
    entry = {}
    ret_lo = ret_hi = None
    for i, (a, n) in enumerate(ktext):
        if n.startswith("asm_sysvec_") or n in ("asm_common_interrupt",
                                                  "asm_spurious_interrupt"):
            entry[a] = IRQ_ENTRY
        elif n.startswith("asm_exc_"):
            entry[a] = EXC_ENTRY
        elif n == "restore_regs_and_return_to_kernel":
            ret_lo = a
        elif n == "native_irq_return_iret":
            ret_hi = ktext[i + 1][0] if i + 1 < len(ktext) else a + 1
    if ret_lo is None or ret_hi is None:
        sys.exit("insn_profile: no restore_regs_and_return_to_kernel in System.map")

    def kind(pc):
        if ret_lo <= pc < ret_hi:
            return KERNEL_RETURN
        return entry.get(pc, OTHER)
    return kind


def module_symbols(serial_log):
    """name -> address of the module's functions, once all are printed."""
    syms = {}
    try:
        with open(serial_log, errors="replace") as f:
            for line in f:
                p = line.split()
                if len(p) >= 3 and p[0] == "KSYM":
                    syms[p[2]] = int(p[1], 16)
                elif p[:1] == ["KSYM_END"]:
                    return syms
    except FileNotFoundError:
        pass
    return None


def kernel_text(system_map):
    """Sorted (address, name) of the kernel's text symbols."""
    names = []
    with open(system_map) as f:
        for line in f:
            a, t, n = line.split()
            if t in "tTwW":
                names.append((int(a, 16), n))
    names.sort()
    return names


def main(exec_log, serial_log, system_map, out, workload="insns"):
    ktext = kernel_text(system_map)
    kernel_callers = []
    for n in KERNEL_CALLERS:
        i = next((i for i, (_, m) in enumerate(ktext) if m == n), None)
        if i is None:
            sys.exit(f"insn_profile: no symbol {n} in {system_map}")
        end = ktext[i + 1][0] if i + 1 < len(ktext) else ktext[i][0] + 1
        kernel_callers.append((ktext[i][0], end))
    kind = classifier(ktext)
    insert_page = next((a for a, n in ktext if n == "vm_insert_page"), None)
    switch_to = next((a for a, n in ktext if n == "__switch_to_asm"), None)
    block_len = {}          # block start -> number of instructions
    windows = collections.defaultdict(list)   # entry point -> [[block starts]]
    # vCPU -> [entry point, [block starts], [nested entries: True for an
    # interrupt], blocks seen, interrupted, pages mapped, slept]
    open_windows = {}
    interrupted = collections.Counter()       # entry point -> calls
    mapped = collections.defaultdict(list)    # entry point -> [(pages, slept)]
    entries, callers, syms = {}, [], None
    translating, count, seen = None, 0, 0
    with open(exec_log, errors="replace") as f:
        for line in f:
            c = line[:1]
            if c == "0":                       # an instruction of a new block
                if translating is None:
                    translating = int(line.split(":")[0], 16)
                count += 1
                continue
            if c == "I":                       # "IN:" starts a new block
                translating, count = None, 0
                continue
            if c != "T":
                continue
            if translating is not None:
                block_len.setdefault(translating, count)
                translating = None
            seen += 1
            if syms is None:
                if seen % 100000:
                    continue
                syms = module_symbols(serial_log)
                if syms is None:
                    continue
                missing = [n for n in ENTRY_POINTS + CALLERS if n not in syms]
                if missing:
                    sys.exit(f"insn_profile: no symbol {', '.join(missing)} in the module")
                entries = {syms[n]: n for n in ENTRY_POINTS}
                starts = sorted(syms.values())
                for n in CALLERS:
                    i = bisect.bisect_right(starts, syms[n])
                    callers.append((syms[n], starts[i] if i < len(starts) else syms[n] + 1))
                callers += kernel_callers
            # "Trace 0: 0x... [0000000000000000/ffffffffa0011314/...]"
            cpu = line[6:line.index(":")]
            pc = int(line[line.index("[") + 1:].split("/")[1], 16)
            win = open_windows.get(cpu)
            if win is not None:
                nest = win[2]
                if not nest and any(lo <= pc < hi for lo, hi in callers):
                    windows[win[0]].append(win[1])
                    interrupted[win[0]] += win[4]
                    mapped[win[0]].append((win[5], win[6]))
                    del open_windows[cpu]
                elif win[3] > MAX_BLOCKS:
                    del open_windows[cpu]
                else:
                    win[3] += 1
                    k = kind(pc)
                    if k == IRQ_ENTRY:
                        nest.append(True)
                        win[4] = 1
                    elif k == EXC_ENTRY:
                        nest.append(False)
                    if True not in nest:
                        win[1].append(pc)
                        if pc == insert_page:
                            win[5] += 1
                        elif pc == switch_to:
                            win[6] = 1
                    if k == KERNEL_RETURN and nest:
                        nest.pop()
            if pc in entries and cpu not in open_windows:
                open_windows[cpu] = [entries[pc], [pc], [], 1, 0, 0, 0]
    if syms is None:
        sys.exit("insn_profile: the guest never printed its module symbols")

    # Kernel and module symbols, to name the callees of a typical call.
    names = list(ktext)
    names += [(a, n) for n, a in syms.items()]
    names.sort()
    addrs = [a for a, _ in names]

    def name(pc):
        i = bisect.bisect_right(addrs, pc) - 1
        return names[i][1] if i >= 0 else "?"

    lines, every = [], {}
    for ep in ENTRY_POINTS:
        calls = windows.get(ep, [])
        if not calls and ep in OPTIONAL:
            continue
        if not calls:
            sys.exit(f"insn_profile: no call of {ep} seen")
        insns = [sum(block_len.get(pc, 0) for pc in w) for w in calls]
        med = statistics.median(insns)
        # Callees over the calls within 10% of the median (no interrupts).
        typical = [w for w, n in zip(calls, insns) if abs(n - med) <= 0.1 * med]
        by_fn = collections.Counter()
        for w in typical:
            for pc in w:
                by_fn[name(pc)] += block_len.get(pc, 0)
        top = {fn: round(n / len(typical), 1) for fn, n in by_fn.most_common(8)}
        every[ep] = {fn: round(n / len(typical), 1) for fn, n in by_fn.most_common()}
        rec = {"workload": workload, "who": ep, "median": med,
               "blocks": statistics.median(len(w) for w in calls), "calls": len(calls),
               "interrupted": interrupted[ep],
               "slept": sum(slept for _, slept in mapped[ep]), "top": top}
        # Per page mapped, over the awake calls that mapped the usual number.
        awake = [(n, k) for n, (k, slept) in zip(insns, mapped[ep]) if k and not slept]
        if awake:
            usual = collections.Counter(k for _, k in awake).most_common(1)[0][0]
            rec["pages_per_call"] = usual
            rec["per_installed_page"] = statistics.median(n / k for n, k in awake
                                                          if k == usual)
            # Per page by pages per call: a call mapping more pages spreads
            # its fixed cost (locks, look-ups) over more, so compare two
            # allocators at equal counts.
            by_count = collections.defaultdict(list)
            for n, k in awake:
                by_count[k].append(n / k)
            rec["per_page_by_count"] = {
                str(k): {"calls": len(v), "median": statistics.median(v)}
                for k, v in sorted(by_count.items())}
            # Callees of the awake calls mapping k pages: "EP@kp" in
            # OUT.callees.json; instructions per block for the one named
            # by INSN_BLOCKS (e.g. binder_alloc_new_buf@8p): OUT.blocks.json.
            for k in by_count:
                group = [w for w, (pages, slept) in zip(calls, mapped[ep])
                         if pages == k and not slept]
                key = f"{ep}@{k}p"
                fns, blocks = collections.Counter(), collections.Counter()
                for w in group:
                    for pc in w:
                        fns[name(pc)] += block_len.get(pc, 0)
                        blocks[pc] += block_len.get(pc, 0)
                every[key] = {fn: round(n / len(group), 1) for fn, n in fns.most_common()}
                if os.environ.get("INSN_BLOCKS") == key:
                    with open(out + ".blocks.json", "w") as f:
                        json.dump({f"{name(pc)}+{pc - addrs[bisect.bisect_right(addrs, pc) - 1]:#x}"
                                   f" @{pc:#x}": round(n / len(group), 1)
                                   for pc, n in sorted(blocks.items())}, f, indent=1)
        lines.append("# BENCH " + json.dumps(rec))
    # Every callee of a typical call, for a closer look: OUT.callees.json.
    with open(out + ".callees.json", "w") as f:
        json.dump(every, f, indent=1)
    with open(out, "w") as f:
        f.write("\n".join(lines) + f"\nok 1 {workload}\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
