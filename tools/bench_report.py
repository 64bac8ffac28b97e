#!/usr/bin/env python3
"""The tables at the end of `make bench`, from the figures tools/bench.sh
wrote to out/bench/results.tsv, in Markdown so they paste into the README:

1. every workload, Mini-Spark and each peer: the median whole-process time
   and how many times faster or slower than Mini-Spark in the same run;
2. each benchmark's peak RSS per worker against the budget plus 40 MiB;
3. the targets of issue 16, each marked pass or MISS (or not run).

    bench_report.py RESULTS.tsv

RESULTS.tsv has one record a line, tab-separated:
    machine  DESCRIPTION
    load     start|end  UPTIME
    time     BENCHMARK  CONTENDER  MEDIAN_S  RUN_S RUN_S ...
    rss      BENCHMARK  PEAK_MIB PEAK_MIB ...  LIMIT_MIB
A missed target is printed, not an error: wrong answers already ended the
run in bench.sh.
"""

import datetime
import sys

# Table 1's rows (benchmark, what it is) and columns (contender, heading).
ROWS = [
    ("grep", "`grep.job`, 1M lines (65 MB)"),
    ("wordcount-1m", "word count, 1M lines (65 MB, 47,000 words)"),
    ("wordcount-10m", "word count, 10M lines (650 MB)"),
    ("join-revenue", "`join.job` + `revenue.job`, 1M users x 5M orders"),
    ("sort-1m", "sort, 1M 100-byte records by key (100 MB)"),
    ("sort-10m", "sort, 10M 100-byte records by key (1 GB)"),
    ("pagerank", "PageRank, 10 rounds, 100k nodes / 1M edges"),
    ("memory-512m", "`reduce_by_key`, 20M records / 5M keys"),
    ("memory-32m", "the same, `worker --memory 32M`"),
]
COLUMNS = [
    ("Mini-Spark", "Mini-Spark"),
    ("wcbase", "hand-written Rust, 2 threads"),
    ("DuckDB", "DuckDB"),
    ("Polars", "Polars"),
    ("GNU sort", "GNU sort / grep -F"),
    ("grep -F", None),  # shares the column above
    ("PySpark", "PySpark local[2]"),
    ("no cache", "Mini-Spark without `.cache()`"),
]


def read_results(path):
    times, rss, machine, load = {}, {}, "", {}
    with open(path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            kind = fields[0]
            if kind == "machine":
                machine = fields[1]
            elif kind == "load":
                load[fields[1]] = fields[2].strip()
            elif kind == "time":
                times[(fields[1], fields[2])] = float(fields[3])
            elif kind == "rss":
                rss[fields[1]] = ([float(x) for x in fields[2].split()], float(fields[3]))
    return times, rss, machine, load


def ratio_text(peer, mini):
    """`(1.5x faster)`: how the peer compares with Mini-Spark."""
    if peer <= 0 or mini <= 0:
        return ""
    r = mini / peer
    return "(%.1fx faster)" % r if r >= 1.0 else "(%.1fx slower)" % (1.0 / r)


def markdown(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def peers_table(times):
    headings, column_of = [], {}
    for name, heading in COLUMNS:
        if heading is None:
            column_of[name] = len(headings) - 1
        else:
            column_of[name] = len(headings)
            headings.append(heading)
    used = sorted({column_of[c] for (_, c) in times if c in column_of})
    rows = []
    for bench, title in ROWS:
        mini = times.get((bench, "Mini-Spark"))
        if mini is None:
            continue
        cells = [""] * len(headings)
        for name, _ in COLUMNS:
            t = times.get((bench, name))
            if t is None:
                continue
            text = "%.2f s" % t
            if name != "Mini-Spark":
                text += " " + ratio_text(t, mini)
            cells[column_of[name]] = text
        rows.append([title] + [cells[i] for i in used])
    return markdown(["workload"] + [headings[i] for i in used], rows)


def rss_table(rss):
    rows = []
    for bench, _ in ROWS:
        if bench in rss:
            peaks, limit = rss[bench]
            ok = all(p <= limit for p in peaks)
            rows.append(
                [bench, " / ".join("%.0f" % p for p in peaks), "%.0f" % limit, "pass" if ok else "MISS"]
            )
    return markdown(["benchmark", "peak RSS per worker, MiB", "limit (budget + 40), MiB", ""], rows)


def targets(times, rss):
    """(target, measured, mark) for each target of issue 16."""

    def t(bench, who="Mini-Spark"):
        return times.get((bench, who))

    def at_most(what, a, b, factor, describe):
        if a is None or b is None:
            return (what, "not run", "")
        return (what, describe(a, b), "pass" if a <= factor * b else "MISS")

    def x(a, b):
        return "%.2f s / %.2f s = %.2fx" % (a, b, a / b)

    rows = [
        at_most("grep.job at most 2.5x `grep -F`", t("grep"), t("grep", "grep -F"), 2.5, x),
        at_most(
            "word count 1M within 1.5x of the hand-written 2-thread count",
            t("wordcount-1m"),
            t("wordcount-1m", "wcbase"),
            1.5,
            x,
        ),
    ]
    for peer in ("DuckDB", "Polars"):
        rows.append(
            at_most("word count 1M faster than " + peer, t("wordcount-1m"), t("wordcount-1m", peer), 1.0, x)
        )
    rows += [
        at_most("join + revenue faster than DuckDB", t("join-revenue"), t("join-revenue", "DuckDB"), 1.0, x),
        at_most(
            "sort 1M x 100 B faster than `LC_ALL=C sort -S 2G --parallel=2`",
            t("sort-1m"),
            t("sort-1m", "GNU sort"),
            1.0,
            x,
        ),
        at_most("word count 10M at most 10x the 1M", t("wordcount-10m"), t("wordcount-1m"), 10.0, x),
        at_most("sort 10M x 100 B at most 11x the 1M sort", t("sort-10m"), t("sort-1m"), 11.0, x),
    ]
    spark, mini = t("pagerank", "PySpark"), t("pagerank")
    if spark is None or mini is None:
        rows.append(("PageRank at least 10x faster than PySpark's pagerank.py", "not run (BENCH_SPARK=1)", ""))
    else:
        rows.append(
            (
                "PageRank at least 10x faster than PySpark's pagerank.py",
                "%.2f s / %.2f s = %.1fx" % (spark, mini, spark / mini),
                "pass" if spark >= 10 * mini else "MISS",
            )
        )
    over = [b for b, (peaks, limit) in rss.items() if any(p > limit for p in peaks)]
    rows.append(
        (
            "peak worker RSS within `--memory` + 40 MiB on every benchmark",
            "%d benchmarks, %s" % (len(rss), "over: " + ", ".join(over) if over else "none over"),
            "" if not rss else ("MISS" if over else "pass"),
        )
    )
    # The memory benchmark's figure is its peak RSS (its time is printed
    # above); the README had 46 / 50 MiB before issue 16.
    if "memory-32m" in rss:
        peaks = rss["memory-32m"][0]
        rows.append(
            (
                "memory benchmark's peak RSS no higher than before (46 / 50 MiB)",
                "%s MiB" % " / ".join("%.0f" % p for p in peaks),
                "pass" if max(peaks) <= 50 else "MISS",
            )
        )
    return rows


def main(argv):
    if len(argv) != 1:
        raise SystemExit("usage: bench_report.py RESULTS.tsv")
    times, rss, machine, load = read_results(argv[0])
    print("## make bench, %s" % datetime.date.today().isoformat())
    print()
    print("Machine: %s." % machine)
    for when in ("start", "end"):
        if when in load:
            print("Load at the %s: %s" % (when, load[when]))
    print()
    print("Medians of whole-process wall times; the ratios are to Mini-Spark in the same run.")
    print()
    print(peers_table(times))
    print()
    print(rss_table(rss))
    print()
    rows = targets(times, rss)
    print(markdown(["target (issue 16)", "measured", ""], [list(r) for r in rows]))
    missed = sum(1 for r in rows if r[2] == "MISS")
    print()
    print("%d targets met, %d missed, %d not run." % (
        sum(1 for r in rows if r[2] == "pass"), missed, sum(1 for r in rows if r[2] == "")))


if __name__ == "__main__":
    main(sys.argv[1:])
