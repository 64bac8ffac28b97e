#!/usr/bin/env python3
"""The peers `make bench` measures Mini-Spark against: each workload of
tools/bench.sh written as the query a user of DuckDB, Polars or PySpark
would write, with the same answer as the job, printed as the job prints it.

    bench_peers.py ENGINE WORKLOAD OUT INPUT...

    duckdb|polars  wordcount OUT WORDS         jobs/wordcount.job
    duckdb|polars  join      OUT USERS ORDERS  jobs/join.job
    duckdb|polars  revenue   OUT USERS ORDERS  jobs/revenue.job
    duckdb|polars  sort      OUT RECORDS       jobs/sort.job
    pyspark        wordcount OUT WORDS         RDD API, local[2]
    pyspark        pagerank  OUT LINKS ROUNDS  Spark's examples/src/main/python/pagerank.py

DuckDB and Polars write one file OUT; PySpark writes a directory of part
files (saveAsTextFile). tools/bench.sh times the whole process (the
interpreter's start and the imports included, as a user running the query
would wait for them) and compares OUT with Mini-Spark's output.

Where the job's meaning and a peer's defaults part, the query follows the
job:
- A word is a maximal run of bytes other than space, \\t, \\n, \\x0b, \\x0c
  and \\r (jobs/wordcount.job): the other four become spaces and the line is
  split on single spaces, empty pieces dropped. (PySpark's `str.split()`
  splits on Unicode whitespace too, which `gen words` never writes.)
- Fields are bytes, not numbers: user ids are joined as strings, amounts
  copied as written. Revenue's totals are exact integers (BIGINT sums), as
  the job's `sum` is while every amount is an integer.
- The sort orders by the key (the bytes before the first tab), ties by the
  rest; a line without a tab is all key and gets a tab appended.
- CSV files are read without quoting or escapes, as `read_csv` reads them.
DuckDB and Polars read text as UTF-8, which `gen` writes; Mini-Spark's
jobs take any bytes.
"""

import os
import shutil
import sys

# The four whitespace bytes besides \n and the space (lines are already cut
# at \n).
OTHER_SPACES = "\t\x0b\x0c\r"


# ---- DuckDB ------------------------------------------------------------------


def duckdb_lines(path):
    """A file's lines as one VARCHAR column `line`: a CSV with one column and
    a delimiter that never occurs (\\x01), no quotes, no escapes."""
    return (
        "read_csv(%s, columns = {'line': 'VARCHAR'}, header = false, delim = '\x01', "
        "quote = '', escape = '', auto_detect = false)" % sql_string(path)
    )


def duckdb_csv(path, names):
    columns = ", ".join("'%s': 'VARCHAR'" % n for n in names)
    return (
        "read_csv(%s, columns = {%s}, header = false, delim = ',', quote = '', "
        "escape = '', auto_detect = false)" % (sql_string(path), columns)
    )


def sql_string(text):
    return "'" + text.replace("'", "''") + "'"


def duckdb_query(workload, inputs):
    if workload == "wordcount":
        (words,) = inputs
        spaced = "line"
        for c in OTHER_SPACES:
            spaced = "replace(%s, '%s', ' ')" % (spaced, c)
        return (
            "SELECT word, count(*) FROM ("
            "  SELECT unnest(string_split(%s, ' ')) AS word FROM %s"
            ") WHERE word <> '' GROUP BY word" % (spaced, duckdb_lines(words))
        )
    if workload in ("join", "revenue"):
        users, orders = inputs
        u = duckdb_csv(users, ["user_id", "name", "country"])
        o = duckdb_csv(orders, ["order_id", "user_id", "amount"])
        if workload == "join":
            return (
                "SELECT u.user_id, u.name, o.order_id, o.amount "
                "FROM %s u JOIN %s o ON u.user_id = o.user_id" % (u, o)
            )
        return (
            "SELECT u.country, sum(CAST(o.amount AS BIGINT)) "
            "FROM %s u JOIN %s o ON u.user_id = o.user_id GROUP BY u.country" % (u, o)
        )
    if workload == "sort":
        (records,) = inputs
        tab = "strpos(line, '\t')"
        return (
            "SELECT key, rest FROM ("
            "  SELECT CASE WHEN %(tab)s = 0 THEN line ELSE substr(line, 1, %(tab)s - 1) END AS key,"
            "         CASE WHEN %(tab)s = 0 THEN '' ELSE substr(line, %(tab)s + 1) END AS rest"
            "  FROM %(src)s"
            ") ORDER BY key, rest" % {"tab": tab, "src": duckdb_lines(records)}
        )
    raise SystemExit("bench_peers: duckdb has no workload %r" % workload)


def run_duckdb(workload, out, inputs):
    import duckdb

    query = duckdb_query(workload, inputs)
    # Tab-separated, no header, nothing quoted: the job's output format.
    duckdb.connect().execute(
        "COPY (%s) TO %s (FORMAT csv, DELIMITER '\t', HEADER false, QUOTE '')"
        % (query, sql_string(out))
    )


# ---- Polars ------------------------------------------------------------------


def polars_query(workload, inputs):
    import polars as pl

    def csv(path, names):
        return pl.scan_csv(
            path,
            has_header=False,
            quote_char=None,
            schema={n: pl.String for n in names},
        )

    if workload == "wordcount":
        (words,) = inputs
        line = pl.col("line")
        for c in OTHER_SPACES:
            line = line.str.replace_all(c, " ", literal=True)
        return (
            pl.scan_lines(words, name="line")
            .select(line.str.split(" ").alias("word"))
            .explode("word")
            .filter(pl.col("word") != "")
            .group_by("word")
            .len()
        )
    if workload in ("join", "revenue"):
        users, orders = inputs
        u = csv(users, ["user_id", "name", "country"])
        o = csv(orders, ["order_id", "user_id", "amount"])
        joined = u.join(o, on="user_id", how="inner")
        if workload == "join":
            return joined.select("user_id", "name", "order_id", "amount")
        return joined.group_by("country").agg(pl.col("amount").cast(pl.Int64).sum())
    if workload == "sort":
        (records,) = inputs
        parts = pl.col("line").str.splitn("\t", 2)
        return (
            pl.scan_lines(records, name="line")
            .select(
                parts.struct.field("field_0").alias("key"),
                parts.struct.field("field_1").fill_null("").alias("rest"),
            )
            .sort("key", "rest")
        )
    raise SystemExit("bench_peers: polars has no workload %r" % workload)


def run_polars(workload, out, inputs):
    # sink_csv runs the query on the streaming engine.
    polars_query(workload, inputs).sink_csv(
        out, separator="\t", include_header=False, quote_style="never"
    )


# ---- PySpark -----------------------------------------------------------------


def format_float(f):
    """A float as Mini-Spark prints it: Python's repr, exponent without a
    leading zero (1e-5, not 1e-05)."""
    r = repr(f)
    if "e" in r:
        m, e = r.split("e")
        return m + "e" + str(int(e))
    return r


def run_pyspark(workload, out, inputs):
    from operator import add

    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("bench " + workload)
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    sc = spark.sparkContext
    shutil.rmtree(out, ignore_errors=True)
    if workload == "wordcount":
        (words,) = inputs
        counts = sc.textFile(words).flatMap(lambda line: line.split()).map(lambda w: (w, 1)).reduceByKey(add)
        counts.map(lambda kv: "%s\t%d" % kv).saveAsTextFile(out)
    elif workload == "pagerank":
        links_file, rounds = inputs

        def contributions(neighbours, rank):
            for n in neighbours:
                yield n, rank / len(neighbours)

        # As pagerank.py: links read once, kept for every round; lines with
        # fewer than two fields skipped, as jobs/pagerank.job does.
        fields = sc.textFile(links_file).map(lambda line: line.split())
        links = fields.filter(lambda f: len(f) >= 2).map(lambda f: (f[0], f[1])).distinct().groupByKey().cache()
        ranks = links.map(lambda node_neighbours: (node_neighbours[0], 1.0))
        for _ in range(int(rounds)):
            contribs = links.join(ranks).flatMap(lambda kv: contributions(list(kv[1][0]), kv[1][1]))
            ranks = contribs.reduceByKey(add).mapValues(lambda rank: rank * 0.85 + 0.15)
        ranks.map(lambda kv: "%s\t%s" % (kv[0], format_float(kv[1]))).saveAsTextFile(out)
    else:
        raise SystemExit("bench_peers: pyspark has no workload %r" % workload)
    spark.stop()


ENGINES = {"duckdb": run_duckdb, "polars": run_polars, "pyspark": run_pyspark}


def main(argv):
    if len(argv) < 4 or argv[0] not in ENGINES:
        raise SystemExit("usage: bench_peers.py duckdb|polars|pyspark WORKLOAD OUT INPUT...")
    engine, workload, out, inputs = argv[0], argv[1], argv[2], argv[3:]
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    ENGINES[engine](workload, out, inputs)


if __name__ == "__main__":
    main(sys.argv[1:])
