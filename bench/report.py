#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns the raw outputs of bench/run (in DIR) into DIR/tables.md (the
tables for docs/performance.md, starting with a summary against the
targets of issues 14 and 15 and the load during each step), DIR/latest.csv
(every figure, one per line) and the gnuplot data files.

    report.py DIR

Every input is optional (bench/run --only): a table whose input is missing
is left out.

Callgrind: DIR/cg.<N>.txt are `callgrind_annotate --inclusive=yes` outputs
of `calls --reps 1 --iters N` for two values of N; the instructions per
iteration of case C are (Ir(run_C, N2) - Ir(run_C, N1)) / (N2 - N1), which
cancels every one-off cost (lazy binding, the first call's misses).  The
same for DIR/cg_same.<N>.txt (`update --callgrind N`: run_same_call,
run_same_key, run_funcall), and for the system calls counted by
`strace -c` in DIR/strace.<loop>.<N>.txt.

Nothing here judges a timing taken on a loaded machine: the "within"
column only compares a median with its target; the load table says how
far the machine was from quiet."""
import csv
import glob
import io
import os
import re
import sys

d = sys.argv[1]
md = []     # tables.md
flat = []   # latest.csv: kind, row, field, value


def path(name):
    return os.path.join(d, name)


def read_rows(name, default_kind):
    """The rows of one output file, by kind ({kind: [dict]}); a header
    line (first field "kind" or "case") starts each CSV section."""
    out = {}
    p = path(name)
    if not os.path.exists(p) or os.path.getsize(p) == 0:
        return out
    hdr = None
    for line in open(p):
        line = line.rstrip("\n")
        if not line:
            continue
        row = next(csv.reader(io.StringIO(line)))
        if row[0] in ("kind", "case"):
            hdr = row
            continue
        if hdr is None:
            continue
        r = dict(zip(hdr, row))
        kind = row[0] if hdr[0] == "kind" else default_kind
        out.setdefault(kind, []).append(r)
        flat.append((name.replace(".csv", ""), kind,
                     ";".join("%s=%s" % (k, v) for k, v in r.items())))
    return out


def fnum(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def fmt(x, f="%.2f"):
    x = fnum(x)
    return "" if x is None else f % x


def ok(r):
    return r.get("status", "ok") == "ok"


def status(r):
    s = r.get("status", "")
    if s.startswith("refused:"):
        return "refused (%s)" % s[len("refused:"):]
    return s


def table(head, rows, align=None):
    md.append("| " + " | ".join(head) + " |")
    md.append("|" + "|".join(align or ["---"] + ["---:"] * (len(head) - 1))
              + "|")
    for r in rows:
        md.append("| " + " | ".join(str(c) for c in r) + " |")
    md.append("")


def write_dat(name, head, rows):
    """A gnuplot data file: `head` is [x label, column names...], each row
    [x, values...] (None: no value).  Columns without any value are left
    out: plots.gp iterates over the columns up to the first missing one."""
    keep = [0] + [i for i in range(1, len(head))
                  if any(r[i] is not None for r in rows)]
    with open(path(name), "w") as f:
        f.write(" ".join(head[i] for i in keep) + "\n")
        for r in rows:
            f.write(" ".join("NaN" if r[i] is None else str(r[i])
                             for i in keep) + "\n")


def within(value, limit, le=True):
    v = fnum(value)
    if v is None:
        return "n/a"
    return "yes" if (v <= limit if le else v >= limit) else "**no**"


# --- inputs ------------------------------------------------------------------
calls = read_rows("calls.csv", "calls").get("calls", [])
cg_inline = read_rows("callgrind_inline.csv", "cg_inline").get("cg_inline", [])
upd = read_rows("update.csv", "update")
upd_inline = read_rows("update_inline.csv", "update_inline").get(
    "update_inline", [])
sites = read_rows("update_sites.csv", "sites")
tog = read_rows("toggle_threads.csv", "toggle").get("toggle", [])
start = read_rows("startup.csv", "startup")
machine = open(path("machine.txt")).read() if os.path.exists(
    path("machine.txt")) else ""
quick = "mode: quick" in machine


def annotate_ir(pattern, prefix):
    """{N: {function suffix: inclusive Ir}} from callgrind_annotate files."""
    runs = {}
    for f in glob.glob(path(pattern)):
        n = int(re.search(r"\.(\d+)\.txt$", f).group(1))
        ir = {}
        for line in open(f):
            m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+\S*:" + prefix +
                         r"(\w+)\s", line)
            if m:
                ir[m.group(2)] = int(m.group(1).replace(",", ""))
        runs[n] = ir
    return runs


def per_iter(runs):
    if len(runs) < 2:
        return {}
    n1, n2 = sorted(runs)[:2]
    return {c: (runs[n2][c] - runs[n1].get(c, 0)) / (n2 - n1)
            for c in runs[n2]}


ir_calls = per_iter(annotate_ir("cg.*.txt", "run_"))
ir_same = per_iter(annotate_ir("cg_same.*.txt", "run_"))


def strace_calls():
    """{loop: system calls per call} from strace -c outputs."""
    runs = {}
    for f in glob.glob(path("strace.*.*.txt")):
        m = re.search(r"strace\.(\w+)\.(\d+)\.txt$", f)
        total = None
        for line in open(f):
            t = line.split()
            if t and t[-1] == "total":
                total = int(t[3])  # % time, seconds, usecs/call, calls
        if total is not None:
            runs.setdefault(m.group(1), {})[int(m.group(2))] = total
    out = {}
    for loop, r in runs.items():
        if len(r) >= 2:
            n1, n2 = sorted(r)[:2]
            out[loop] = (r[n2] - r[n1]) / (n2 - n1)
    return out


sys_same = strace_calls()

# --- the machine and its load -------------------------------------------------
md.append("## The run")
md.append("")
if quick:
    md.append("**Quick mode (`bench/run --quick`): a few repetitions of "
              "each row, to check that the harness runs and reports. "
              "These figures are not measurements.**")
    md.append("")
if machine:
    md.append("```")
    md.append(machine.rstrip())
    md.append("```")
    md.append("")


def parse_times(s):
    """bash `times` children line: '0m1.234s 0m0.567s' -> seconds."""
    tot = 0.0
    for m in re.finditer(r"(\d+)m([\d.]+)s", s):
        tot += int(m.group(1)) * 60 + float(m.group(2))
    return tot


load_rows = []
lp = path("load.csv")
if os.path.exists(lp):
    marks = {}
    order = []
    for r in csv.DictReader(open(lp)):
        if r["step"] not in marks:
            order.append(r["step"])
        marks.setdefault(r["step"], {})[r["phase"]] = r
    for s in order:
        a, b = marks[s].get("start"), marks[s].get("end")
        if not a or not b:
            continue
        wall = float(b["time_s"]) - float(a["time_s"])
        hz = float(a["clk_tck"])
        ncpu = int(a["ncpu"])
        busy = (int(b["busy_ticks"]) - int(a["busy_ticks"])) / hz
        idle = (int(b["idle_ticks"]) - int(a["idle_ticks"])) / hz
        steal = (int(b["steal_ticks"]) - int(a["steal_ticks"])) / hz
        ours = parse_times(b["children_times"]) - parse_times(
            a["children_times"])
        others = max(0.0, busy - ours)
        tot = busy + idle + steal
        load_rows.append([s, "%.0f" % wall,
                          "%s → %s" % (a["load1"], b["load1"]),
                          "%.2f" % (ours / wall if wall else 0),
                          "%.2f" % (others / wall if wall else 0),
                          "%.0f%%" % (100 * steal / tot if tot else 0),
                          str(ncpu)])
        flat.append(("load", s, "wall_s=%.1f;ours_cpus=%.3f;others_cpus=%.3f;"
                     "steal_pct=%.1f;load1_start=%s;load1_end=%s" % (
                         wall, ours / wall if wall else 0,
                         others / wall if wall else 0,
                         100 * steal / tot if tot else 0, a["load1"],
                         b["load1"])))
if load_rows:
    md.append("The load during each step: the 1-minute load average at its "
              "start and end; the CPUs that the benchmark programs used on "
              "average (their own busy threads included) and that every other "
              "process used (the machine's busy time from /proc/stat minus "
              "the benchmarks'); the time stolen by the hypervisor. A quiet "
              "machine shows *other processes* near 0.")
    md.append("")
    table(["step", "wall s", "load avg (1 min)", "benchmark CPUs",
           "other processes' CPUs", "steal", "CPUs"], load_rows,
          ["---", "---:", "---:", "---:", "---:", "---:", "---:"])

# --- summary against the targets ----------------------------------------------
summ = []


def find(rows, **kw):
    for r in rows:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


updates = upd.get("update", [])
for p, lim in (("flip", 2.5), ("store", 1.15), ("auto", None)):
    for t in ("1", "2"):
        r = find(updates, protocol=p, threads=t)
        if not r:
            continue
        val = "%s× (%s µs / %s µs)" % (fmt(r["ratio"]), fmt(r["update_us"]),
                                       fmt(r["sync_us"])) if ok(r) \
            else status(r)
        summ.append(["14", "one static call update / raw membarrier, %s, "
                     "%s busy caller%s" % (p, t, "s" if t != "1" else ""),
                     "≤ %.2f×" % lim if lim else "(the default)", val,
                     within(r["ratio"], lim) if lim and ok(r) else
                     ("n/a" if lim else "")])
srows = sites.get("sites", [])
for p in ("flip", "auto"):
    for kind, what in (("call", "1000 inline call sites"),
                       ("key", "a key with 1000 sites")):
        for lay in ("dense", "sparse", "scattered"):
            r = find(srows, protocol=p, sites_kind=kind, layout=lay,
                     threads="1")
            if not r:
                continue
            if ok(r):
                val = "%s µs/site, %s traps/update" % (
                    fmt(r["us_per_site_beyond_syncs"], "%.3f"),
                    fmt(r["traps_per_update"], "%.1f"))
                w = "yes" if (fnum(r["us_per_site_beyond_syncs"]) <= 1 and
                              fnum(r["traps_per_update"]) == 0) else "**no**"
            else:
                val, w = status(r), "n/a"
            summ.append(["14", "%s, %s, %s, 1 busy caller: beyond the syncs"
                         % (what, lay, p), "≤ 1 µs/site, 0 traps", val, w])
sinl = start.get("startup_inline", [])
for p in ("flip", "auto"):
    r = find(sinl, variant="inline_sites", protocol=p)
    if r:
        summ.append(["14", "dlopen() of the 10k-inline-site object − the "
                     "plain object, %s" % p, "≤ 3 ms",
                     "%s ms" % fmt(r["extra_ms_vs_plain"]) if ok(r)
                     else status(r),
                     within(r["extra_ms_vs_plain"], 3) if ok(r) else "n/a"])
skeys = start.get("startup", [])
plain = find(skeys, variant="plain_flags")
for p in ("flip", "auto"):
    r = find(skeys, variant="static_keys", protocol=p)
    if not r:
        continue
    if not ok(r):
        summ.append(["14", "100k key sites, %s" % p, "", status(r), "n/a"])
        continue
    en, di = fnum(r["enable_us"]) / 1e3, fnum(r["disable_us"]) / 1e3
    summ.append(["14", "100k key sites: enable all + disable all (one batch "
                 "each), %s" % p, "≤ 10 ms", "%.1f ms (%.1f + %.1f)" % (
                     en + di, en, di), within(en + di, 10)])
    n = float(r["sites"])
    base = fnum(plain["rss_open"]) if plain and ok(plain) else 0.0
    for snap, label in (("open", "after registration"),
                        ("on", "after enabling")):
        b = (fnum(r["rss_" + snap]) - base) * 1024 / n
        summ.append(["14", "100k key sites: RSS per site %s (beyond the "
                     "plain object), %s" % (label, p), "≤ 16 B",
                     "%.1f B" % b, within(b, 16)])
for p in ("flip", "auto"):
    for n in ("1", "100"):
        r = find(tog, threads="64", protocol=p, sites_kind="plain", sites=n)
        if not r:
            continue
        summ.append(["14", "key toggle (%s site%s) with 64 threads / raw "
                     "membarrier, %s" % (n, "s" if n != "1" else "", p),
                     "≤ 3×", "%s×" % fmt(r["ratio"]) if ok(r)
                     else status(r),
                     within(r["ratio"], 3) if ok(r) else "n/a"])
same = upd.get("same", []) + sites.get("same", [])
for p in ("flip", "auto"):
    for what, label in (("call", "static call update to the target it has"),
                        ("key", "key set to the state it has"),
                        ("call_1000_inline",
                         "the same, static call with 1000 inline sites"),
                        ("key_1000_sites", "the same, key with 1000 sites")):
        r = find(same, protocol=p, what=what)
        if not r:
            continue
        if not ok(r):
            summ.append(["15", "%s, %s" % (label, p), "", status(r), "n/a"])
            continue
        extra = ""
        if what in ("call", "key") and p == "auto":
            i = ir_same.get("same_" + what)
            sc = sys_same.get(what)
            if i is not None:
                extra += ", %.0f instructions" % i
            if sc is not None:
                extra += ", %.2f system calls" % sc
        summ.append(["15", "%s, %s" % (label, p),
                     "≈ a function call, 0 syncs",
                     "%s ns (%s× a call through a pointer), %s syncs%s" % (
                         fmt(r["ns_per_call"], "%.0f"), fmt(r["x_funcall"],
                                                            "%.0f"),
                         fmt(r["syncs_per_call"], "%.2f"), extra),
                     "0 syncs: " + ("yes" if fnum(r["syncs_per_call"]) == 0
                                    else "**no**")])
if summ:
    md.append("## Against the targets (issues 14 and 15)")
    md.append("")
    md.append("Medians; every ratio taken side by side in one process. "
              "*within*: the median against its target, nothing more (see "
              "the load above). Default protocol (auto) rows have no target "
              "of their own: they say what a program gets without options.")
    md.append("")
    table(["issue", "what", "target", "measured", "within"], summ,
          ["---", "---", "---", "---", "---"])

# --- calls ----------------------------------------------------------------------
if calls:
    md.append("## Calls")
    md.append("")
    ref_ir = {}
    for r in calls:
        r["ir"] = ir_calls.get(r["case"])
        if r["ref"] == r["case"]:
            ref_ir[r["group"]] = r["ir"]
    rows = []
    for r in calls:
        if not r["ns_median"]:
            rows.append([r["group"], r["label"], "n/a (not implemented yet)",
                         "", "", "", ""])
            continue
        i, ri = r["ir"], ref_ir.get(r["group"])
        rows.append([r["group"], r["label"], fmt(r["ns_median"]),
                     fmt(r["ratio_median"]), fmt(r["delta_ns_median"], "%+.2f"),
                     "" if i is None else "%.1f" % i,
                     "" if i is None or ri is None else "%+.1f" % (i - ri)])
    table(["group", "case", "ns/iter (median)", "× reference", "Δ ns",
           "instr/iter (callgrind)", "Δ instr"], rows)
    with open(path("calls.dat"), "w") as f:
        for r in calls:
            if r["ns_median"]:
                f.write('"%s" %s %s\n' % (r["label"].replace('"', "'"),
                                           r["ns_median"], r["ratio_median"]))

if cg_inline:
    rows = []
    for r in cg_inline:
        rows.append(["%s (`%s`%s)" % (r["label"], r["function"],
                                      "" if r["inline"] == "on"
                                      else ", inline off"),
                     r["ir_n1"], r["ir_n2"], r["per_call"], r["fixed"],
                     "%+d" % int(r["per_call_minus_direct"])])
    table(["loop of N calls (tests/callgrind)",
           "Ir, N = %s" % cg_inline[0]["n1"],
           "Ir, N = %s" % cg_inline[0]["n2"], "instr/call", "fixed",
           "Δ instr/call"], rows)

# --- one update per protocol ---------------------------------------------------
protos = []
for r in updates:
    if r["protocol"] not in protos:
        protos.append(r["protocol"])
if updates:
    md.append("## One update, per protocol (bench/update)")
    md.append("")
    rows = []
    for r in updates:
        if not ok(r):
            rows.append([r["protocol"], r["threads"], status(r), "", "", "",
                         ""])
            continue
        rows.append([r["protocol"], r["threads"], fmt(r["update_us"]),
                     fmt(r["sync_us"]), fmt(r["ratio"]),
                     fmt(r["syncs_per_update"]), fmt(r["traps_per_update"])])
    table(["protocol", "busy callers", "update µs", "raw sync µs",
           "update / sync", "syncs/update", "traps/update"], rows)
    cols = [p for p in protos if p != "naive_mprotect"]
    rows = []
    for t in sorted({int(r["threads"]) for r in updates}):
        vals = [t]
        for p in cols:
            r = find(updates, protocol=p, threads=str(t))
            vals.append(r["update_us"] if r and ok(r) else None)
        r = [x for x in updates if x["threads"] == str(t) and ok(x) and
             x["protocol"] != "naive_mprotect"]
        vals.append(r[0]["sync_us"] if r else None)
        rows.append(vals)
    write_dat("update.dat", ["threads"] + cols + ["raw_membarrier"], rows)

# --- same target / same state ----------------------------------------------------
if same:
    md.append("## An update to the target already installed (issue 15)")
    md.append("")
    rows = []
    for r in same:
        if not ok(r):
            rows.append([r["protocol"], r["what"], status(r), "", "", "",
                         ""])
            continue
        rows.append([r["protocol"], r["what"], fmt(r["ns_per_call"], "%.0f"),
                     fmt(r["funcall_ns"]), fmt(r["x_funcall"], "%.0f"),
                     fmt(r["syncs_per_call"], "%.3f"),
                     fmt(r["patched_per_call"], "%.3f")])
    table(["protocol", "what", "ns per call", "function call ns",
           "× function call", "syncs/call", "sites patched/call"], rows,
          ["---", "---"] + ["---:"] * 5)
if ir_same or sys_same:
    rows = []
    for loop, label in (("same_call", "static_call_update() to the target "
                         "it has"),
                        ("same_key", "static_branch_enable() of an enabled "
                         "key"),
                        ("funcall", "a call through a function pointer")):
        short = loop.replace("same_", "")
        i = ir_same.get(loop)
        sc = sys_same.get(short)
        rows.append([label, "" if i is None else "%.1f" % i,
                     "" if sc is None else "%.2f" % sc])
    md.append("Exact counts, default options (`update --callgrind N` for "
              "two N; the difference divided by the difference of N):")
    md.append("")
    table(["one call of", "instructions (callgrind)",
           "system calls (strace -c)"], rows, ["---", "---:", "---:"])

# --- batches ------------------------------------------------------------------
batch = upd.get("batch", [])
for r in upd.get("batch_first", []):
    md.append("First update of all %s static calls (first-use checks, one "
              "batch, %s): %.1f ms, %s sync(s)." % (
                  r["sites"], r["protocol"], float(r["batch_us"]) / 1e3,
                  r["syncs_min"]))
    md.append("")
if batch:
    rows = []
    for r in batch:
        if not r["batch_us"]:
            rows.append([r["protocol"], r["sites"], "n/a", "", "", ""])
            continue
        rows.append([r["protocol"], r["sites"], fmt(r["batch_us"], "%.1f"),
                     "%s–%s" % (r["syncs_min"], r["syncs_max"]),
                     fmt(r["sync_us"]),
                     fmt(r["ns_per_site_beyond_syncs"], "%.0f")])
    table(["protocol", "static calls", "batch µs", "syncs (min–max)",
           "raw sync µs", "ns per site beyond the syncs"], rows)
    bprotos = []
    for r in batch:
        if r["protocol"] not in bprotos:
            bprotos.append(r["protocol"])
    rows = []
    for n in sorted({int(r["sites"]) for r in batch}):
        vals = [n]
        for p in bprotos:
            r = find(batch, protocol=p, sites=str(n))
            vals.append(r["batch_us"] if r and r["batch_us"] else None)
        rows.append(vals)
    write_dat("batch.dat", ["sites"] + bprotos, rows)

# --- key toggles ----------------------------------------------------------------
keys = upd.get("keys", [])
if keys:
    md.append("## Static key toggles, no other thread (bench/update)")
    md.append("")
    rows = []
    for r in keys:
        if not ok(r):
            rows.append([r["protocol"], r["sites"], r["n"], status(r), "",
                         ""])
            continue
        rows.append([r["protocol"], r["sites"], r["n"],
                     fmt(r["toggle_us"], "%.1f"),
                     fmt(r["syncs_per_toggle"]), fmt(r["traps_per_toggle"])])
    table(["protocol", "key sites", "sites per key", "toggle µs",
           "syncs/toggle", "traps/toggle"], rows,
          ["---", "---", "---:", "---:", "---:", "---:"])

# --- updates with inline sites ------------------------------------------------------
if upd_inline:
    md.append("## Updates of a static call with 0–1000 inline sites "
              "(bench/update_inline)")
    md.append("")
    rows = []
    for r in upd_inline:
        if not ok(r):
            rows.append([r["protocol"], r["sites"], r["threads"], status(r)] +
                        [""] * 6)
            continue
        n = int(r["sites"])
        one = find(upd_inline, protocol=r["protocol"], threads=r["threads"],
                   sites="1")
        beyond = ""
        if n > 1 and one and ok(one):
            beyond = "%.2f" % ((float(r["update_us"]) -
                                float(one["update_us"])) / (n - 1))
        rows.append([r["protocol"], n, r["threads"], fmt(r["update_us"], "%.1f"),
                     fmt(r["sync_us"]), fmt(r["ratio"], "%.1f"),
                     r["syncs_min"] if r["syncs_min"] == r["syncs_max"]
                     else "%s–%s" % (r["syncs_min"], r["syncs_max"]),
                     fmt(r["traps_per_update"], "%.1f"),
                     fmt(r["sites_patched_per_update"], "%.0f"), beyond])
    table(["protocol", "inline sites", "busy callers", "update µs",
           "raw sync µs", "update / sync", "syncs/update", "traps/update",
           "sites patched/update", "µs per added site"], rows)
    iprotos = []
    for r in upd_inline:
        if r["protocol"] not in iprotos:
            iprotos.append(r["protocol"])
    rows = []
    for n in sorted({int(r["sites"]) for r in upd_inline}):
        vals = [n]
        for p in iprotos:
            r = find(upd_inline, protocol=p, threads="1", sites=str(n))
            vals.append(r["update_us"] if r and ok(r) else None)
        x = [float(r["sync_us"]) for r in upd_inline if ok(r) and
             r["threads"] == "1" and int(r["sites"]) == n]
        vals.append("%.3f" % (sum(x) / len(x)) if x else None)
        rows.append(vals)
    write_dat("update_inline.dat", ["sites"] + ["%s,1_busy" % p
                                                for p in iprotos] +
              ["raw_sync,1_busy"], rows)

# --- 1000 sites by layout ---------------------------------------------------------
if srows:
    md.append("## 1000 sites: dense, sparse, scattered (bench/update_sites)")
    md.append("")
    md.append("*µs/site beyond the syncs*: (update − syncs × raw sync) / "
              "sites; *beyond one site*: (update − the same update of the "
              "one-site static call or key) / 999; *first µs*: the first, "
              "untimed update of the row (the first row of each layout pays "
              "the library's first-use costs there). *traps*: int3 hits "
              "emulated during the update (late hits re-run after a patch "
              "ended are not counted: they may belong to the row before).")
    md.append("")
    rows = []
    for r in srows:
        head = [r["sites_kind"], r["protocol"], r["threads"], r["layout"]]
        if not ok(r):
            rows.append(head + [status(r)] + [""] * 8)
            continue
        one = find(srows, sites_kind=r["sites_kind"], protocol=r["protocol"],
                   threads=r["threads"], layout="one")
        b1 = ""
        n = int(r["sites"])
        if n > 1 and one and ok(one):
            b1 = "%.3f" % ((float(r["update_us"]) - float(one["update_us"]))
                           / (n - 1))
        rows.append(head + [fmt(r["update_us"], "%.1f"), fmt(r["sync_us"]),
                            fmt(r["ratio"], "%.1f"),
                            r["syncs_min"] if r["syncs_min"] == r["syncs_max"]
                            else "%s–%s" % (r["syncs_min"], r["syncs_max"]),
                            fmt(r["traps_per_update"], "%.1f"),
                            fmt(r["patched_per_update"], "%.0f"),
                            fmt(r["us_per_site_beyond_syncs"], "%.3f"), b1,
                            fmt(r["first_us"], "%.0f")])
    table(["sites", "protocol", "busy callers", "layout", "update µs",
           "raw sync µs", "update / sync", "syncs/update", "traps/update",
           "sites patched/update", "µs/site beyond the syncs",
           "µs/site beyond one site", "first µs"], rows,
          ["---"] * 2 + ["---:", "---"] + ["---:"] * 9)
    sprotos = []
    for r in srows:
        if r["protocol"] not in sprotos:
            sprotos.append(r["protocol"])
    rows = []
    for kind in ("call", "key", "key_tf"):
        for lay in ("dense", "sparse", "scattered"):
            vals = ['"%s %s"' % (kind, lay)]
            for p in sprotos:
                r = find(srows, sites_kind=kind, layout=lay, protocol=p,
                         threads="1")
                vals.append(r["us_per_site_beyond_syncs"]
                            if r and ok(r) else None)
            rows.append(vals)
    write_dat("sites.dat", ["layout"] + sprotos, rows)

# --- toggles with 64 threads -----------------------------------------------------
if tog:
    md.append("## Key toggles with 3 and 64 threads alive "
              "(bench/toggle_threads)")
    md.append("")
    md.append("3 threads: the toggling one and 2 busy threads running the "
              "key's sites; 64: the same and 61 idle threads (half in "
              "pthread_cond_wait(), half in nanosleep(); 4 of them block "
              "SIGTRAP). Each toggle paired with a raw membarrier, same "
              "threads alive.")
    md.append("")
    rows = []
    for r in tog:
        head = [r["threads"], r["protocol"], r["sites_kind"], r["sites"]]
        if not ok(r):
            st = status(r)
            if r.get("toggle_us"):
                st += ", after %s µs" % fmt(r["toggle_us"], "%.0f")
            rows.append(head + [st, "", "", "", ""])
            continue
        rows.append(head + [fmt(r["toggle_us"], "%.1f"), fmt(r["sync_us"]),
                            fmt(r["ratio"]), fmt(r["syncs_per_toggle"]),
                            fmt(r["traps_per_toggle"])])
    table(["threads", "protocol", "key sites", "sites", "toggle µs",
           "raw sync µs", "toggle / sync", "syncs/toggle", "traps/toggle"],
          rows, ["---:", "---", "---", "---:", "---:", "---:", "---:", "---:",
                 "---:"])

# --- start-up and memory -------------------------------------------------------
if skeys:
    md.append("## 100k static key sites: enable, disable, memory "
              "(bench/startup)")
    md.append("")
    md.append("Memory as differences from before dlopen(), KiB "
              "(/proc/self/status); *B/site*: beyond the plain object's "
              "dlopen() difference, per site; *memfd*: blocks of the "
              "process's memfds / resident pages of its memfd mappings; "
              "*maps*: mappings added.")
    md.append("")
    rows = []
    base = fnum(plain["rss_open"]) if plain and ok(plain) else None
    for r in skeys:
        head = [r["variant"], r["protocol"]]
        if not ok(r):
            rows.append(head + [status(r)] + [""] * 8)
            continue
        n = float(r["sites"])
        per = lambda k: "" if base is None or not r.get(k) else \
            "%.1f" % ((float(r[k]) - base) * 1024 / n)
        kv = r["variant"] == "static_keys"
        rows.append(head + [
            fmt(float(r["dlopen_us"]) / 1e3, "%.1f"),
            fmt(float(r["enable_us"]) / 1e3, "%.1f") if kv else "–",
            fmt(float(r["disable_us"]) / 1e3, "%.1f") if kv else "–",
            "%s (%s/%s/%s)" % (r["rss_open"], r["anon_open"], r["file_open"],
                               r["shmem_open"]),
            per("rss_open") if kv else "",
            "%s (%s/%s/%s)" % (r["rss_on"], r["anon_on"], r["file_on"],
                               r["shmem_on"]) if kv else "–",
            per("rss_on") if kv else "",
            "%s / %s" % (r["memfd_on"], r["memfd_rss_on"]) if kv else "–",
            "%s / %s" % (r["maps_open"], r["maps_on"]) if kv
            else r["maps_open"]])
    table(["object", "protocol", "dlopen ms", "enable all ms",
           "disable all ms", "RSS after dlopen (anon/file/shmem)",
           "B/site", "RSS after enabling (anon/file/shmem)", "B/site",
           "memfd KiB (blocks / mapped)", "maps (dlopen / enabled)"], rows,
          ["---", "---"] + ["---:"] * 9)
if sinl:
    md.append("## dlopen() of 10k inline call sites (bench/startup)")
    md.append("")
    rows = []
    for r in sinl:
        head = [r["variant"], r["protocol"]]
        if not ok(r):
            rows.append(head + [status(r)] + [""] * 5)
            continue
        rows.append(head + [fmt(float(r["dlopen_us"]) / 1e3, "%.2f"),
                            fmt(r["extra_ms_vs_plain"], "%+.2f"),
                            fmt(r["extra_ms_vs_off"], "%+.2f"),
                            r["rss_kib"], r["sites_registered"],
                            r["file_kib"]])
    table(["object", "protocol", "dlopen ms", "+ ms vs not linked inline",
           "+ ms vs inline=off", "RSS KiB", "sites registered", "file KiB"],
          rows, ["---", "---"] + ["---:"] * 6)

with open(path("latest.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["source", "kind", "fields"])
    for k, v in sorted(ir_calls.items()):
        flat.append(("callgrind", "calls", "case=%s;instr_per_iter=%.2f"
                     % (k, v)))
    for k, v in sorted(ir_same.items()):
        flat.append(("callgrind", "same", "loop=%s;instr_per_call=%.2f"
                     % (k, v)))
    for k, v in sorted(sys_same.items()):
        flat.append(("strace", "same", "loop=%s;syscalls_per_call=%.3f"
                     % (k, v)))
    w.writerows(flat)
with open(path("tables.md"), "w") as f:
    f.write("\n".join(md) + "\n")
print("\n".join(md))
