#!/usr/bin/env python3
"""make spark-check: every job of jobs/ on both engines, the answers compared.

Beside them, tools/spark-check.job uses every construct of the job
language at least once, each output in a directory of its own.

Each job runs on an embedded Mini-Spark cluster (`./client run JOB --local 2
--param ...`) and, exported by `./client export JOB --to pyspark`, on
PySpark `local[2]` (this venv's python), on the same small inputs under
data/spark-check/ (made by ./gen and by this script, with the bytes that
make text hard: not UTF-8, CRLF, a lone CR, tabs, vertical tabs, NUL).
The outputs are compared as multisets of lines, in order where the job
promises one (the sorts, top_words); floats in a field may differ in the
last digits (sums added in another order), within 1e-9 relative, but must
be printed as Mini-Spark prints floats.

Then the interchange, both ways: Spark reads each Mini-Spark output
directory (`spark.read.text` and `sc.textFile` give exactly its lines) and
Mini-Spark reads each Spark output directory (`read_text` gives its lines,
part files in order).

Prints a table (job, Mini-Spark time, PySpark time, same answer) and exits
1 if any answer differs.
"""

import concurrent.futures
import math
import os
import random
import shutil
import subprocess
import sys
import time

# Every construct of the language at least once, beside the jobs of jobs/.
EXTRA = os.path.join("tools", "spark-check.job")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join("data", "spark-check")
OUT = os.path.join("out", "spark-check")
PYTHON = sys.executable

# Lines that make text hard, mixed into the inputs: bytes that are not
# UTF-8, a CRLF line end, tabs, a vertical tab and a form feed inside a
# line, a lone CR inside a line, an empty line, a NUL byte.
HARD_LINES = [
    b"caf\xc3\xa9 na\xefve \xff\xfe error bytes\r\n",
    b"tab\tinside\x0bvt\x0cff error  \n",
    b"   leading and trailing spaces   \n",
    b"\n",
    b"lone\rcr inside error\n",
    b"nul\x00byte error\n",
]

# The inputs and params of each job of jobs/ (the output param is added).
# `ordered`: the job promises an order across part files.
RUNS = {
    "grep": ({"input": "words.txt"}, False),
    "indexer": ({"input": "docs"}, False),
    "join": ({"users": "users.csv", "orders": "orders.csv"}, False),
    "movielens": ({"ratings": "ratings.dat"}, False),
    "pagerank": ({"links": "links.txt", "iterations": "10"}, False),
    "pipe": ({"input": "words.txt"}, False),
    "revenue": ({"users": "users.csv", "orders": "orders.csv"}, False),
    "sort": ({"input": "sort.txt"}, True),
    "sort_numbers": ({"input": "numbers.txt"}, True),
    "top_words": ({"input": "words.txt", "n": "25"}, True),
    "transitive_closure": ({"edges": "edges.txt"}, False),
    "wordcount": ({"input": "words.txt", "partitions": "3"}, False),
    "spark-check": ({}, False),
}


def main():
    os.chdir(ROOT)
    # A short-lived JVM starts faster with only the quick JIT compiler.
    os.environ.setdefault("PYSPARK_SUBMIT_ARGS", '--driver-java-options "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC" pyspark-shell')
    make_inputs()
    shutil.rmtree(OUT, ignore_errors=True)
    for d in ("mini", "spark", "programs", "reread"):
        os.makedirs(os.path.join(OUT, d), exist_ok=True)
    jobs = sorted(os.path.join("jobs", f) for f in os.listdir("jobs") if f.endswith(".job"))
    # Two runs at a time: a PySpark program spends most of its time
    # starting its JVM, which leaves a core to the other.
    at_once = int(os.environ.get("SPARK_CHECK_JOBS", "2"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=at_once) as pool:
        rows = list(pool.map(run, jobs + [EXTRA]))
    spark_reads = spark_reads_mini([r for r in rows if r["mini_ok"]])
    mini_reads = mini_reads_spark([r for r in rows if r["spark_ok"]])
    for r in rows:
        r["spark_reads"] = spark_reads.get(r["name"], "-")
        r["mini_reads"] = mini_reads.get(r["name"], "-")
    print_table(rows)
    print("(times are wall clock, %d runs at a time; SPARK_CHECK_JOBS=1 for one at a time)" % at_once)
    bad = [r for r in rows if r["same"] != "yes" or r["spark_reads"] not in ("yes", "yes (bytes)") or r["mini_reads"] != "yes"]
    if bad:
        print("\nspark-check: FAILED: " + ", ".join(r["name"] for r in bad), file=sys.stderr)
        for r in bad:
            for line in r["detail"]:
                print("  %s: %s" % (r["name"], line), file=sys.stderr)
        sys.exit(1)
    print("\nspark-check: every job gives the same answer on both engines")


# ---- inputs -----------------------------------------------------------------


def gen(*args):
    subprocess.run(["./gen", *args, "--quiet"], check=True)


def make_inputs():
    """Small inputs (a few MB in all), made once and kept."""
    os.makedirs(os.path.join(DATA, "docs"), exist_ok=True)
    path = lambda name: os.path.join(DATA, name)
    if not os.path.exists(path("words.txt")):
        gen("words", "--lines", "20000", "--out", path("words.txt.gen"))
        with open(path("words.txt.gen"), "rb") as f:
            words = f.read()
        os.remove(path("words.txt.gen"))
        # The last line ends in a lone CR and no newline, which stays.
        with open(path("words.txt"), "wb") as f:
            f.write(words[: len(words) // 2] + b"".join(HARD_LINES) + words[len(words) // 2 :] + b"last line error\r")
    if not os.path.exists(path("docs/doc4.txt")):
        for i in (1, 2, 3):
            gen("words", "--lines", "300", "--seed", str(i), "--out", path("docs/doc%d.txt" % i))
        with open(path("docs/doc4.txt"), "wb") as f:
            f.write(b"".join(HARD_LINES).replace(b"\n", b"\r\n") + b"theas error")
    if not os.path.exists(path("users.csv")):
        gen("users", "--count", "2000", "--out", path("users.csv"))
    if not os.path.exists(path("orders.csv")):
        gen("orders", "--count", "10000", "--users", "2000", "--out", path("orders.csv.gen"))
        with open(path("orders.csv.gen"), "rb") as f:
            orders = f.read()
        os.remove(path("orders.csv.gen"))
        # Some amounts with a decimal point: those countries' totals are floats.
        extra = b"".join(b"%d,%d,%d.%02d\n" % (20000 + i, 1 + i * 7, i, i * 3 % 100) for i in range(40))
        with open(path("orders.csv"), "wb") as f:
            f.write(orders + extra)
    if not os.path.exists(path("sort.txt")):
        gen("sorted-input", "--lines", "10000", "--out", path("sort.txt.gen"))
        with open(path("sort.txt.gen"), "rb") as f:
            lines = f.read()
        os.remove(path("sort.txt.gen"))
        hard = b"\xffkey\trest\n\x00nul\tz\nno-tab-line\ncaf\xc3\xa9\tx\ncrlf\ty\r\nkey\t\n\tempty key\n"
        with open(path("sort.txt"), "wb") as f:
            f.write(hard + lines + hard)
    if not os.path.exists(path("links.txt")):
        gen("links", "--nodes", "2000", "--edges", "10000", "--out", path("links.txt"))
    if not os.path.exists(path("edges.txt")):
        gen("links", "--nodes", "30", "--edges", "45", "--seed", "3", "--out", path("edges.txt"))
    if not os.path.exists(path("numbers.txt")):
        rng = random.Random(7)
        special = ["007", "+5", "-0", "-12", "9223372036854775807", "-9223372036854775808", "3.9", "-2.5", "1e3", "0"]
        lines = []
        for i in range(3000):
            words = [str(rng.randint(-10**6, 10**6)) for _ in range(rng.randint(0, 6))]
            if i % 100 == 0:
                words.append(special[(i // 100) % len(special)])
            lines.append("\t".join(words) if i % 7 == 0 else " ".join(words))
        with open(path("numbers.txt"), "w") as f:
            f.write("\n".join(lines) + "\n\n")
    if not os.path.exists(path("people.csv")):
        rng = random.Random(13)
        towns = ["Oslo", '"Old ""Town"""', '"Paris, France"', "S\xe3o Paulo", '""', "Rome"]
        rows = ["id,name,age,home town"]
        for i in range(500):
            name = rng.choice(["Ann%d", "Bob%d", '"Smith, John %d"', "Zo\xeb%d", "Li%d"]) % i
            rows.append("%d,%s,%d,%s" % (i, name, rng.randint(1, 90), rng.choice(towns)))
        with open(path("people.csv"), "w", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")
    if not os.path.exists(path("ratings.dat")):
        rng = random.Random(11)
        lines = []
        for i in range(8000):
            rating = rng.choice(["1", "2", "3", "4", "5", "3.5", "4.25", "05"])
            stamp = "::%d" % (964982703 + i) if i % 3 == 0 else ""
            lines.append("%d::%d::%s%s" % (rng.randint(1, 600), rng.randint(1, 400), rating, stamp))
            if i % 1000 == 0:
                lines.append("  ")
        with open(path("ratings.dat"), "w") as f:
            f.write("\n".join(lines) + "\n")


# ---- running --------------------------------------------------------------


def timed(args):
    start = time.monotonic()
    done = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return time.monotonic() - start, done


def run(job):
    name = os.path.basename(job)[:-4]
    params, ordered = RUNS.get(name, ({}, False))
    flags = []
    for key, value in params.items():
        if key in ("iterations", "n", "partitions"):
            flags += ["--param", "%s=%s" % (key, value)]
        else:
            flags += ["--param", "%s=%s" % (key, os.path.join(DATA, value))]
    mini_out = os.path.join(OUT, "mini", name)
    spark_out = os.path.join(OUT, "spark", name)
    program = os.path.join(OUT, "programs", name + ".py")
    row = {"name": name, "ordered": ordered, "mini_out": mini_out, "spark_out": spark_out, "detail": [], "mini_ok": False, "spark_ok": False}
    mini_s, mini = timed(["./client", "run", job, "--local", "2", *flags, "--param", "output=" + mini_out])
    row["mini_s"] = mini_s
    row["mini_ok"] = mini.returncode == 0
    if not row["mini_ok"]:
        row["detail"].append("Mini-Spark failed: " + tail(mini.stderr))
    export = subprocess.run(["./client", "export", job, "--to", "pyspark", "-o", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if export.returncode != 0:
        row.update(spark_s=0.0, same="no (export refused)")
        row["detail"].append("export: " + tail(export.stderr))
        return row
    spark_s, spark = timed([PYTHON, program, "--master", "local[2]", *flags, "--param", "output=" + spark_out])
    row["spark_s"] = spark_s
    row["spark_ok"] = spark.returncode == 0
    if not row["spark_ok"]:
        row["detail"].append("PySpark failed: " + tail(spark.stderr))
    if not (row["mini_ok"] and row["spark_ok"]):
        row["same"] = "no (a run failed)"
        return row
    lines = 0
    for sub, mini_dir, spark_dir, in_order in outputs(row):
        ours, theirs = output_lines(mini_dir), output_lines(spark_dir)
        lines += len(ours)
        problem = compare(ours, theirs, in_order)
        if problem:
            row["detail"].append((sub + ": " if sub else "") + problem)
    row["lines"] = lines
    row["same"] = "yes" if not row["detail"] else "NO"
    return row


def outputs(row):
    """The output directories of a run: its own, or, for a job that saves
    several under it (tools/spark-check.job), each of them; those named
    `sorted...` promise an order."""
    base = row["mini_out"]
    if any(n.startswith("part-") for n in os.listdir(base)):
        return [("", base, row["spark_out"], row["ordered"])]
    return [
        (sub, os.path.join(base, sub), os.path.join(row["spark_out"], sub), sub.startswith("sorted"))
        for sub in sorted(os.listdir(base))
    ]


def tail(data, n=600):
    text = data.decode("utf-8", "replace").strip()
    return text[-n:]


def natural_key(name):
    """Part files in order, part-100000 after part-99999 (as both engines read them)."""
    import re

    m = re.match(r"part-([0-9]+)", name)
    if not m:
        return (name, "")
    digits = m.group(1).lstrip("0") or "0"
    return ("part-" + chr(len(digits)) + digits + name[m.end() :], name)


def output_lines(directory):
    """The lines of an output directory: its part files in order, as bytes."""
    lines = []
    for name in sorted(os.listdir(directory), key=natural_key):
        if name.startswith((".", "_")):
            continue
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        if data:
            lines.extend(data[:-1].split(b"\n") if data.endswith(b"\n") else data.split(b"\n"))
    return lines


# ---- comparing ---------------------------------------------------------------


def format_float(f):
    if f != f:
        return "NaN"
    r = repr(f)
    if "e" in r:
        m, e = r.split("e")
        return m + "e" + str(int(e))
    return r


def float_field(field):
    """The float in a field printed as Mini-Spark prints floats, else None."""
    try:
        text = field.decode("ascii")
        value = float(text)
    except (UnicodeDecodeError, ValueError):
        return None
    if "." not in text and "e" not in text or format_float(value) != text:
        return None
    return value


def loose_key(line):
    """A line with its float fields left out: what must match exactly."""
    return tuple(b"" if float_field(f) is not None else f for f in line.split(b"\t"))


def same_line(a, b):
    fa, fb = a.split(b"\t"), b.split(b"\t")
    if len(fa) != len(fb):
        return False
    for x, y in zip(fa, fb):
        if x == y:
            continue
        u, v = float_field(x), float_field(y)
        if u is None or v is None or not math.isclose(u, v, rel_tol=1e-9, abs_tol=0.0):
            return False
    return True


def compare(ours, theirs, ordered):
    """None if the outputs are the same answer, else what differs."""
    if len(ours) != len(theirs):
        return "Mini-Spark wrote %d lines, PySpark %d" % (len(ours), len(theirs))
    if not ordered:
        ours = sorted(ours, key=lambda l: (loose_key(l), l))
        theirs = sorted(theirs, key=lambda l: (loose_key(l), l))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if not same_line(a, b):
            return "line %d%s differs: Mini-Spark %r, PySpark %r" % (i + 1, "" if ordered else " (sorted)", a, b)
    return None


# ---- interchange -----------------------------------------------------------

SPARK_READS = r'''
import sys
from pyspark.sql import SparkSession
from pyspark.sql.functions import col
spark = SparkSession.builder.master("local[2]").appName("spark-check: Spark reads Mini-Spark").config("spark.ui.showConsoleProgress", "false").getOrCreate()
spark.sparkContext.setLogLevel("ERROR")
for name, directory, expected in [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]:
    with open(expected, "rb") as f:
        want = f.read().split(b"\n")[:-1]
    got = [bytes(r[0]) for r in spark.read.text(directory, lineSep="\n").select(col("value").cast("binary")).collect()]
    verdict = "yes" if sorted(got) == sorted(want) else "NO: spark.read.text(lineSep) gave other lines"
    if verdict == "yes":
        try:
            text = [w.decode("utf-8") for w in want]
        except UnicodeDecodeError:
            text = None
        if text is None or any("\r" in t for t in text):
            verdict = "yes (bytes)"
        else:
            by_rdd = spark.sparkContext.textFile(directory).collect()
            by_frame = [r[0] for r in spark.read.text(directory).collect()]
            if sorted(by_rdd) != sorted(text):
                verdict = "NO: sc.textFile gave other lines"
            elif sorted(by_frame) != sorted(text):
                verdict = "NO: spark.read.text gave other lines"
    print(name + "\t" + verdict, flush=True)
spark.stop()
'''


def spark_reads_mini(rows):
    """Does Spark read each Mini-Spark output directory unchanged? One
    Spark session for all: `spark.read.text` with `lineSep` as bytes
    always, and `sc.textFile` and `spark.read.text` as text where the lines
    are UTF-8 without a CR (the only lines text readers can give back)."""
    listing = os.path.join(OUT, "reread", "mini-outputs.tsv")
    with open(listing, "w") as f:
        for r in rows:
            for i, (sub, mini_dir, _, _) in enumerate(outputs(r)):
                expected = os.path.join(OUT, "reread", "%s.%d.mini.lines" % (r["name"], i))
                with open(expected, "wb") as e:
                    e.write(b"".join(l + b"\n" for l in output_lines(mini_dir)))
                f.write("%s\t%s\t%s\n" % (r["name"], os.path.abspath(mini_dir), expected))
    script = os.path.join(OUT, "reread", "spark_reads.py")
    with open(script, "w") as f:
        f.write(SPARK_READS)
    done = subprocess.run([PYTHON, script, listing], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    verdicts = {}
    for l in done.stdout.decode().splitlines():
        if "\t" in l:
            name, verdict = l.split("\t", 1)
            # A run with several outputs is as good as its worst.
            if verdicts.get(name, "yes") == "yes" or verdict.startswith("NO"):
                verdicts[name] = verdict
    if done.returncode != 0:
        for r in rows:
            verdicts.setdefault(r["name"], "NO: " + tail(done.stderr, 200))
    return verdicts


def mini_reads_spark(rows):
    """Does Mini-Spark's `read_text` read each Spark output directory
    unchanged, part files in order? One job reads them all."""
    job = os.path.join(OUT, "reread", "mini_reads.job")
    with open(job, "w") as f:
        f.write("# Mini-Spark reads what PySpark wrote.\n")
        i = 0
        for r in rows:
            r["back"] = []
            for _, _, spark_dir, _ in outputs(r):
                back = os.path.join(OUT, "reread", "%s.%d.spark" % (r["name"], i))
                r["back"].append((spark_dir, back))
                f.write('d%d = read_text("%s")\nd%d.save("%s")\n' % (i, os.path.abspath(spark_dir), i, os.path.abspath(back)))
                i += 1
    done = subprocess.run(["./client", "run", job, "--local", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    verdicts = {}
    for r in rows:
        if done.returncode != 0:
            verdicts[r["name"]] = "NO: " + tail(done.stderr, 200)
            continue
        verdicts[r["name"]] = "yes"
        for spark_dir, back in r["back"]:
            # A line read drops the `\r` of a `\r\n` line end, as Spark's do.
            want = [l[:-1] if l.endswith(b"\r") else l for l in output_lines(spark_dir)]
            # `read_text` reads the part files in order, each from its
            # start: the lines come back in order (the copy's part files may
            # cut them elsewhere).
            if output_lines(back) != want:
                verdicts[r["name"]] = "NO: read_text gave other lines of " + spark_dir
    return verdicts


def print_table(rows):
    head = ("job", "Mini-Spark", "PySpark", "same answer", "lines", "Spark reads MS output", "MS reads Spark output")
    table = [head]
    for r in rows:
        table.append(
            (
                ("tools/spark-check.job" if r["name"] == "spark-check" else r["name"]) + (" (in order)" if r["ordered"] else ""),
                "%.1f s" % r.get("mini_s", 0.0),
                "%.1f s" % r.get("spark_s", 0.0),
                r["same"],
                str(r.get("lines", "-")),
                r["spark_reads"],
                r["mini_reads"],
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
