#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns the raw outputs of bench/run (in DIR) into DIR/latest.csv, the
gnuplot data files, and DIR/tables.md (the tables for docs/performance.md).

    report.py DIR

Callgrind: DIR/cg.<N>.txt are `callgrind_annotate --inclusive=yes` outputs
of `calls --reps 1 --iters N` for two values of N; the instructions per
iteration of case C are (Ir(run_C, N2) - Ir(run_C, N1)) / (N2 - N1), which
cancels every one-off cost (lazy binding, the first call's misses).

Optional inputs (tables left out when missing): DIR/update_inline.csv
(bench/update_inline), DIR/callgrind_inline.csv (tests/callgrind's program,
run with --csv), and the second section of DIR/startup.csv (10k inline
call sites)."""
import csv
import glob
import io
import os
import re
import sys

d = sys.argv[1]


def sections(path):
    """The CSV sections of one output file: a header line starts each."""
    out, cur = [], None
    for line in open(path):
        line = line.rstrip("\n")
        if not line:
            continue
        row = next(csv.reader(io.StringIO(line)))
        if row[0] in ("kind", "case"):
            cur = (row, [])
            out.append(cur)
        elif cur:
            cur[1].append(dict(zip(cur[0], row)))
    return out


def callgrind():
    runs = {}
    for f in glob.glob(os.path.join(d, "cg.*.txt")):
        n = int(re.search(r"cg\.(\d+)\.txt$", f).group(1))
        ir = {}
        for line in open(f):
            m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+\S*:run_(\w+)\s", line)
            if m:
                ir[m.group(2)] = int(m.group(1).replace(",", ""))
        runs[n] = ir
    if len(runs) < 2:
        return {}
    n1, n2 = sorted(runs)[:2]
    return {c: (runs[n2][c] - runs[n1].get(c, 0)) / (n2 - n1)
            for c in runs[n2]}


ir = callgrind()
calls = sections(os.path.join(d, "calls.csv"))[0][1]
upd = sections(os.path.join(d, "update.csv"))
startup_all = sections(os.path.join(d, "startup.csv"))
startup = startup_all[0][1]
startup_inline = startup_all[1][1] if len(startup_all) > 1 else []


def optional(name):
    path = os.path.join(d, name)
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return []
    sec = sections(path)
    return sec[0][1] if sec else []


upd_inline = optional("update_inline.csv")
cg_inline = optional("callgrind_inline.csv")
updates, batch_first, batches, keys = upd[0][1], [], upd[1][1], upd[2][1]
batch_first = [r for r in batches if r["kind"] == "batch_first"]
batches = [r for r in batches if r["kind"] == "batch"]

rows = []  # latest.csv: one long table
md = []


def num(x, fmt):
    return "" if x in ("", None) else fmt % float(x)


# --- calls ---
ref_ir = {}
for r in calls:
    c = r["case"]
    r["ir"] = ir.get(c)
    if r["ref"] == c:
        ref_ir[r["group"]] = r["ir"]
md.append("| group | case | ns/iter (median) | × reference | Δ ns | "
          "instr/iter (callgrind) | Δ instr |")
md.append("|---|---|---:|---:|---:|---:|---:|")
for r in calls:
    c = r["case"]
    if not r["ns_median"]:
        md.append("| %s | %s | n/a (not implemented yet) | | | | |"
                  % (r["group"], r["label"]))
        rows.append(["calls", c, r["group"], "", "", "", ""])
        continue
    i, ri = r["ir"], ref_ir.get(r["group"])
    di = "" if i is None or ri is None else "%+.1f" % (i - ri)
    md.append("| %s | %s | %.2f | %.2f | %+.2f | %s | %s |" % (
        r["group"], r["label"], float(r["ns_median"]),
        float(r["ratio_median"]), float(r["delta_ns_median"]),
        "" if i is None else "%.1f" % i, di))
    rows.append(["calls", c, r["group"], r["ns_median"], r["ratio_median"],
                 r["delta_ns_median"], "" if i is None else "%.2f" % i])
with open(os.path.join(d, "calls.dat"), "w") as f:
    for r in calls:
        if r["ns_median"]:
            f.write('"%s" %s %s\n' % (r["label"].replace('"', "'"),
                                       r["ns_median"], r["ratio_median"]))

# --- callgrind_inline: exact counts of the loops of tests/callgrind ---
if cg_inline:
    md.append("")
    md.append("| loop of N calls (tests/callgrind) | Ir, N = %s | Ir, N = %s | "
              "instr/call | fixed | Δ instr/call |" % (
                  cg_inline[0]["n1"], cg_inline[0]["n2"]))
    md.append("|---|---:|---:|---:|---:|---:|")
    for r in cg_inline:
        md.append("| %s (`%s`%s) | %s | %s | %s | %s | %+d |" % (
            r["label"], r["function"],
            "" if r["inline"] == "on" else ", inline off",
            r["ir_n1"], r["ir_n2"], r["per_call"], r["fixed"],
            int(r["per_call_minus_direct"])))
        rows.append(["callgrind_inline", r["case"], r["inline"], r["ir_n1"],
                     r["ir_n2"], r["per_call"], r["fixed"]])

# --- updates ---
md.append("")
md.append("| protocol | busy callers | update µs | raw sync µs | "
          "update / sync | syncs/update | traps/update |")
md.append("|---|---:|---:|---:|---:|---:|---:|")
for r in updates:
    md.append("| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f |" % (
        r["protocol"], r["threads"], float(r["update_us"]),
        float(r["sync_us"]), float(r["ratio"]),
        float(r["syncs_per_update"]), float(r["traps_per_update"])))
    rows.append(["update", r["protocol"], r["threads"], r["update_us"],
                 r["sync_us"], r["ratio"], r["traps_per_update"]])
protos = []
for r in updates:
    if r["protocol"] not in protos:
        protos.append(r["protocol"])
with open(os.path.join(d, "update.dat"), "w") as f:
    threads = sorted({int(r["threads"]) for r in updates})
    f.write("threads " + " ".join(protos) + " raw_membarrier\n")
    for t in threads:
        vals = []
        for p in protos:
            v = [r["update_us"] for r in updates
                 if r["protocol"] == p and int(r["threads"]) == t]
            vals.append(v[0] if v else "NaN")
        v = [r["sync_us"] for r in updates
             if r["protocol"] == protos[0] and int(r["threads"]) == t]
        vals.append(v[0] if v else "NaN")
        f.write("%d %s\n" % (t, " ".join(vals)))

# --- updates of static calls with inline sites ---
if upd_inline:
    md.append("")
    md.append("| options | inline sites | busy callers | update µs | "
              "raw sync µs | update / sync | syncs/update | traps/update | "
              "µs per added site |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in upd_inline:
        n = int(r["sites"])
        # marginal cost: against the same static call with one site
        one = [float(x["update_us"]) for x in upd_inline
               if x["variant"] == r["variant"] and
               x["threads"] == r["threads"] and int(x["sites"]) == 1]
        beyond = ""
        if n > 1 and one:
            beyond = "%.1f" % ((float(r["update_us"]) - one[0]) / (n - 1))
        md.append("| %s | %d | %s | %.1f | %.2f | %.1f | %s | %.1f | %s |" % (
            r["variant"], n, r["threads"], float(r["update_us"]),
            float(r["sync_us"]), float(r["ratio"]),
            r["syncs_min"] if r["syncs_min"] == r["syncs_max"]
            else "%s–%s" % (r["syncs_min"], r["syncs_max"]),
            float(r["traps_per_update"]), beyond))
        rows.append(["update_inline", r["variant"], "%d/%s" % (n, r["threads"]),
                     r["update_us"], r["sync_us"], r["ratio"],
                     r["syncs_max"]])
    with open(os.path.join(d, "update_inline.dat"), "w") as f:
        variants = []
        for r in upd_inline:
            if r["variant"] not in variants:
                variants.append(r["variant"])
        threads = sorted({int(r["threads"]) for r in upd_inline})
        cols = [(v, t) for v in variants for t in threads]
        f.write("sites " + " ".join("%s,%d_busy" % c for c in cols) +
                " " + " ".join("raw_sync,%d_busy" % t for t in threads) +
                "\n")
        for n in sorted({int(r["sites"]) for r in upd_inline}):
            vals = []
            for v, t in cols:
                x = [r["update_us"] for r in upd_inline if r["variant"] == v
                     and int(r["threads"]) == t and int(r["sites"]) == n]
                vals.append(x[0] if x else "NaN")
            for t in threads:
                x = [float(r["sync_us"]) for r in upd_inline
                     if int(r["threads"]) == t and int(r["sites"]) == n]
                vals.append("%.3f" % (sum(x) / len(x)) if x else "NaN")
            f.write("%d %s\n" % (n, " ".join(vals)))

# --- batches ---
md.append("")
for r in batch_first:
    md.append("First update of all %s static calls (first-use checks and "
              "writable views, one batch): %.1f ms, %s sync(s)." % (
                  r["protocol"] and r["sites"] or "", float(r["batch_us"]) / 1e3,
                  r["syncs_min"]))
md.append("")
md.append("| protocol | static calls | batch µs | syncs (min–max) | "
          "raw sync µs | ns per site beyond the syncs |")
md.append("|---|---:|---:|---:|---:|---:|")
bprotos = []
for r in batches:
    if r["protocol"] not in bprotos:
        bprotos.append(r["protocol"])
    md.append("| %s | %s | %.1f | %s–%s | %.2f | %.0f |" % (
        r["protocol"], r["sites"], float(r["batch_us"]), r["syncs_min"],
        r["syncs_max"], float(r["sync_us"]),
        float(r["ns_per_site_beyond_syncs"])))
    rows.append(["batch", r["protocol"], r["sites"], r["batch_us"],
                 r["syncs_min"], r["syncs_max"],
                 r["ns_per_site_beyond_syncs"]])
with open(os.path.join(d, "batch.dat"), "w") as f:
    sizes = sorted({int(r["sites"]) for r in batches})
    f.write("sites " + " ".join(bprotos) + "\n")
    for s in sizes:
        vals = [([r["batch_us"] for r in batches if r["protocol"] == p
                  and int(r["sites"]) == s] or ["NaN"])[0] for p in bprotos]
        f.write("%d %s\n" % (s, " ".join(vals)))

# --- keys ---
md.append("")
md.append("| key sites | sites per key | toggle µs | syncs/toggle |")
md.append("|---|---:|---:|---:|")
for r in keys:
    md.append("| %s | %s | %.1f | %s |" % (r["variant"], r["sites"],
                                           float(r["toggle_us"]),
                                           r["syncs_per_toggle"]))
    rows.append(["keys", r["variant"], r["sites"], r["toggle_us"],
                 r["syncs_per_toggle"], "", ""])

# --- startup ---
md.append("")
md.append("| shared object with 100k sites | dlopen µs | RSS delta KiB | "
          "enable all 100 keys µs | disable all µs |")
md.append("|---|---:|---:|---:|---:|")
for r in startup:
    md.append("| %s | %.0f | %s | %s | %s |" % (
        r["variant"], float(r["dlopen_us"]), r["rss_kib"],
        r["enable_all_us"] if r["variant"] == "static_keys" else "–",
        r["disable_all_us"] if r["variant"] == "static_keys" else "–"))
    rows.append(["startup", r["variant"], r["sites"], r["dlopen_us"],
                 r["rss_kib"], r["enable_all_us"], r["disable_all_us"]])

if startup_inline:
    md.append("")
    md.append("| shared object with 10k call sites | dlopen µs | RSS delta KiB | "
              "sites registered | file KiB |")
    md.append("|---|---:|---:|---:|---:|")
    for r in startup_inline:
        md.append("| %s | %.0f | %s | %s | %s |" % (
            r["variant"], float(r["dlopen_us"]), r["rss_kib"],
            r["sites_registered"], r["file_kib"]))
        rows.append(["startup_inline", r["variant"], r["sites"],
                     r["dlopen_us"], r["rss_kib"], r["sites_registered"],
                     r["file_kib"]])

with open(os.path.join(d, "latest.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["kind", "case", "param", "v1", "v2", "v3", "v4"])
    w.writerow(["#", "calls: case,group,ns,ratio,delta_ns,instr/iter; "
                "update: protocol,threads,update_us,sync_us,ratio,traps; "
                "batch: protocol,sites,batch_us,syncs_min,syncs_max,"
                "ns_per_site; keys: variant,sites,toggle_us,syncs; "
                "startup: variant,sites,dlopen_us,rss_kib,enable_us,"
                "disable_us; callgrind_inline: case,inline,ir_n1,ir_n2,"
                "per_call,fixed; update_inline: options,sites/busy,update_us,"
                "sync_us,ratio,syncs; startup_inline: variant,sites,"
                "dlopen_us,rss_kib,registered,file_kib", "", "", "", "", ""])
    w.writerows(rows)
with open(os.path.join(d, "tables.md"), "w") as f:
    f.write("\n".join(md) + "\n")
print("\n".join(md))
