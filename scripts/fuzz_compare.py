#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Compare the traces of binder_fuzz between two guest runs.

    fuzz_compare.py STOCK_LOG RUST_LOG OUT_LOG [LABEL]

Both logs are guest serial consoles in which `binder_fuzz lockstep` (and
`binder_fuzz messages`) printed their traces, nested under the program in
the KTAP section:

    # fuzz S=<seed> <op> <what happened>
    # fuzzmsg <kernel message, pointers and pids masked>

The traces of every seed must be identical line for line. The result is
written to OUT_LOG as KTAP for ktap_report.py: one case per seed (failing
with the FIRST differing line of both runs and its op number, or when
only one run has a trace for the seed), one for the messages when either
run has them, and a case that fails when neither run has any trace.
A summary (the first difference of each seed) goes to stdout.
LABEL names the two runs in the messages (default "stock_vs_rust"; its
parts around "_vs_" name the two sides).
"""
import re
import sys

FUZZ = re.compile(r"^\s*# fuzz S=(\d+) (.*?)\s*$")
FUZZMSG = re.compile(r"^\s*# fuzzmsg (.*?)\s*$")
SUPPRESSED = re.compile(r"^\s*# fuzzmsg-suppressed (.*?)\s*$")


def traces(path):
    """seed -> [line, ...], the fuzzmsg lines and the ratelimit reports of one log."""
    seeds, msgs, supp = {}, [], []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = FUZZ.match(line)
                if m:
                    seeds.setdefault(int(m.group(1)), []).append(m.group(2))
                    continue
                m = FUZZMSG.match(line)
                if m:
                    msgs.append(m.group(1))
                    continue
                m = SUPPRESSED.match(line)
                if m:
                    supp.append(m.group(1))
    except OSError:
        pass
    return seeds, msgs, supp


def op_of(line):
    """The op number a trace line starts with, or "-" (header lines)."""
    first = line.split(" ", 1)[0]
    return first if first.isdigit() else "-"


def first_difference(a, b):
    """Index of the first differing line (None when equal)."""
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x != y:
            return i
    return None


def describe(i, a, b, na, nb):
    x = a[i] if i < len(a) else "(trace ends)"
    y = b[i] if i < len(b) else "(trace ends)"
    op = op_of(x if i < len(a) else y)
    return [f"first difference at line {i + 1} (op {op}) of {len(a)}/{len(b)}",
            f"{na}: {x}", f"{nb}: {y}"]


def around(line, at):
    """@line shortened to its start and the part around column @at."""
    if len(line) <= 100 or at < 50:
        return line[:100] + ("..." if len(line) > 100 else "")
    return line[:30] + " ... " + line[at - 20:at + 50] + ("..." if len(line) > at + 50 else "")


def short_reason(notes):
    """One line for a failing case: where, and both sides near the first differing column."""
    if len(notes) < 3:
        return "; ".join(notes)
    (na, x), (nb, y) = (n.split(": ", 1) for n in notes[1:3])
    at = next((i for i, (c, d) in enumerate(zip(x, y)) if c != d), min(len(x), len(y)))
    return f"{notes[0]}; {na}: {around(x, at)}; {nb}: {around(y, at)}"


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    log_a, log_b, out = sys.argv[1:4]
    label = sys.argv[4] if len(sys.argv) == 5 else "stock_vs_rust"
    na, _, nb = label.partition("_vs_")
    na, nb = na or "stock", nb or "rust"
    if na == nb:
        na, nb = na + "(1)", nb + "(2)"
    (sa, ma, pa), (sb, mb, pb) = traces(log_a), traces(log_b)
    cases = []  # (ok, name, [notes][, directive])
    if not sa and not sb:
        cases.append((False, "fuzz_traces_present", [f"no '# fuzz' lines in {log_a} nor {log_b}"]))
    for seed in sorted(set(sa) | set(sb)):
        name = f"seed_{seed}"
        if seed not in sa or seed not in sb:
            missing = na if seed not in sa else nb
            cases.append((False, name, [f"no trace for seed {seed} in the {missing} log"]))
            continue
        a, b = sa[seed], sb[seed]
        i = first_difference(a, b)
        if i is None:
            cases.append((True, name, [f"{len(a)} lines identical"]))
        else:
            cases.append((False, name, describe(i, a, b, na, nb)))
    if ma or mb:
        i = first_difference(ma, mb)
        if pa or pb:
            # The kernel dropped some of them: nothing to compare.
            which = " and ".join(n for n, p in ((na, pa), (nb, pb)) if p)
            cases.append((True, "messages", [f"{which}: {(pa or pb)[0]}"],
                          f"SKIP messages ratelimited in the {which} run"))
        elif not ma or not mb:
            cases.append((False, "messages", [f"no '# fuzzmsg' lines in the {na if not ma else nb} log"]))
        elif i is None:
            cases.append((True, "messages", [f"{len(ma)} messages identical"]))
        else:
            x = ma[i] if i < len(ma) else "(no more messages)"
            y = mb[i] if i < len(mb) else "(no more messages)"
            cases.append((False, "messages", [f"first difference at message {i + 1} of {len(ma)}/{len(mb)}",
                                              f"{na}: {x}", f"{nb}: {y}"]))

    lines = ["=== KTAP BEGIN ===", "KTAP version 1", "1..1", "    KTAP version 1", f"    1..{len(cases)}"]
    for i, (ok, name, notes, *directive) in enumerate(cases, 1):
        lines += [f"    # {name}: {note}" for note in notes]
        if not ok and not directive:
            # ktap_report.py prints the reason of a failing case: the difference.
            directive = [short_reason(notes)]
        lines += [f"    {'ok' if ok else 'not ok'} {i} {name}" + (f" # {directive[0]}" if directive else "")]
    all_ok = all(c[0] for c in cases)
    lines += [f"{'ok' if all_ok else 'not ok'} 1 fuzz_{label}", "=== KTAP END ==="]
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    for ok, name, notes, *directive in cases:
        print(f"fuzz {label} {name}: {directive[0] if directive else 'same' if ok else 'DIFFERENT'}")
        if not ok:
            for note in notes:
                print(f"    {note}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
