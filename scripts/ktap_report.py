#!/usr/bin/env python3
"""Turn guest serial logs into one line per test case and a summary.

Usage: ktap_report.py LABEL=LOG [LABEL=LOG ...]

Each LOG is the serial console of one guest run. The guest prints its
results as nested KTAP between "=== KTAP BEGIN ===" and "=== KTAP END ==="
and then the kernel log. For every run this prints each leaf test case as
"ok|FAIL|skip|xfail LABEL suite.case" (xfail: a case
reporting "# XFAIL", a known defect of the stock module that showed as
expected; counted as passed), adds one case per run that the kernel
log is free of splats (BUG, WARNING, lockdep, KASAN, kmemleak, Oops,
panic, sleeping in atomic context), and ends with the line
"N passed, N failed" (", N skipped" when some were skipped). Runs whose
LABEL starts with "host" are host-side checks: no kernel log case.

Exit status: 0 when nothing failed, 1 otherwise (a failed case, missing or
truncated results, a guest timeout, or a splat).
"""
import re
import sys

RESULT = re.compile(r"^(ok|not ok) (\d+) ([^#]*?)\s*(?:#\s*(.*))?$")
PLAN = re.compile(r"^1\.\.(\d+)$")
# Report headers of the kernel's debugging facilities. Each is a line
# the kernel prints only when something went wrong.
SPLATS = [
    r"\bBUG:",
    r"\bWARNING:",
    r"kernel BUG at",
    r"\bOops\b",
    r"Kernel panic",
    r"general protection fault",
    r"KASAN:",
    r"UBSAN:",
    r"unreferenced object 0x",
    r"sleeping function called from invalid context",
    r"INFO: task .* blocked for more than",
    r"INFO: trying to register non-static key",
    r"rcu: INFO: .* detected stalls",
    r"refcount_t: ",
    r"list_(add|del) corruption",
    r"DEBUG_LOCKS_WARN_ON",
    r"=== GUEST TIMEOUT",
]
SPLAT_RE = re.compile("|".join(SPLATS))
TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")


class Node:
    def __init__(self, ok, name, directive):
        self.ok = ok
        self.name = name
        self.directive = directive or ""
        self.children = []
        self.plan = None

    @property
    def skipped(self):
        return self.directive.upper().startswith("SKIP")

    @property
    def xfail(self):
        return self.directive.upper().startswith("XFAIL")


def parse_ktap(lines):
    """Parse nested KTAP (4 spaces per level); return the top-level nodes."""
    pending = {}  # level -> results seen since the parent's last result
    plans = {}
    for raw in lines:
        line = raw.rstrip("\r\n")
        stripped = line.lstrip(" ")
        level = (len(line) - len(stripped)) // 4
        m = PLAN.match(stripped)
        if m:
            plans[level] = int(m.group(1))
            continue
        m = RESULT.match(stripped)
        if not m:
            continue
        node = Node(m.group(1) == "ok", m.group(3).strip(), m.group(4))
        node.children = pending.pop(level + 1, [])
        node.plan = plans.pop(level + 1, None)
        # Deeper levels left open belong to a child that never reported.
        for deeper in [k for k in pending if k > level + 1]:
            del pending[deeper]
        pending.setdefault(level, []).append(node)
    return pending.get(0, []), plans.get(0)


def leaves(node, prefix, out):
    """Flatten a node into (status, name, reason) test cases."""
    name = f"{prefix}.{node.name}" if prefix else node.name
    if not node.children:
        if node.skipped:
            status = "skip"
        elif node.ok and node.xfail:
            status = "xfail"  # a known defect of the reference, as expected
        else:
            status = "ok" if node.ok else "FAIL"
        out.append((status, name, node.directive))
        return
    before = len(out)
    for child in node.children:
        leaves(child, name, out)
    failed_child = any(s == "FAIL" for s, _, _ in out[before:])
    if node.plan is not None and len(node.children) < node.plan:
        out.append(("FAIL", f"{name}.results_complete",
                    f"only {len(node.children)} of {node.plan} results"))
    elif not node.ok and not failed_child:
        out.append(("FAIL", f"{name}.exit", node.directive))


def report_run(label, path):
    try:
        text = open(path, errors="replace").read()
    except OSError as e:
        return [("FAIL", "results", f"no log: {e}")], []
    lines = text.splitlines()
    cases = []
    try:
        begin = lines.index("=== KTAP BEGIN ===")
        end = lines.index("=== KTAP END ===", begin)
    except ValueError:
        timeout = [l for l in lines if l.startswith("=== GUEST TIMEOUT")]
        if timeout:
            why = timeout[-1].strip("= ").replace("GUEST TIMEOUT", "guest timed out", 1)
            cases.append(("FAIL", "results", f"no complete KTAP block: {why}"))
        else:
            cases.append(("FAIL", "results", "no complete KTAP block: the guest crashed "
                          "(its console ends: " + (lines[-1][:100] if lines else "empty") + ")"))
        begin = end = None
    if begin is not None:
        top, plan = parse_ktap(lines[begin + 1:end])
        for node in top:
            leaves(node, "", cases)
        if plan is not None and len(top) < plan:
            cases.append(("FAIL", "results_complete", f"only {len(top)} of {plan} programs reported"))
        if not top:
            cases.append(("FAIL", "results", "KTAP block holds no results"))

    splats = []
    seen = set()
    if label.startswith("host"):
        # Host-side results: there is no kernel log to check.
        return cases, splats
    for line in lines:
        body = TIMESTAMP.sub("", line.strip())
        if SPLAT_RE.search(body) and body not in seen:
            seen.add(body)
            splats.append(body)
    cases.append(("FAIL" if splats else "ok", "kernel_log_clean",
                  f"{len(splats)} splat line(s), first: {splats[0]}" if splats else ""))
    return cases, splats


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    counts = {"ok": 0, "xfail": 0, "FAIL": 0, "skip": 0}
    for arg in argv[1:]:
        label, _, path = arg.partition("=")
        cases, splats = report_run(label, path)
        for status, name, why in cases:
            counts[status] += 1
            suffix = f"  # {why}" if why and status not in ("ok",) else ""
            print(f"{status:4} {label} {name}{suffix}")
        for s in splats[:10]:
            print(f"     {label} splat: {s}")
        if splats or any(s == "FAIL" for s, _, _ in cases):
            print(f"     {label} log: {path}")
    # Expected failures of the stock module held as expected: they pass.
    summary = f"{counts['ok'] + counts['xfail']} passed, {counts['FAIL']} failed"
    if counts["skip"]:
        summary += f", {counts['skip']} skipped"
    print(summary)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
