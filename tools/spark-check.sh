#!/usr/bin/env bash
# make spark-check: runs every job of jobs/ on Mini-Spark and, exported
# with `client export --to pyspark`, on PySpark local[2], on the same small
# inputs, and compares the outputs (tools/spark-check.py).
#
# What it needs, installed here if missing: a Java runtime of version 17 or
# later (Debian's openjdk-17-jre-headless, with apt-get), and PySpark in a
# virtual environment under data/ (data/spark-venv, or $SPARK_VENV; made
# with python3 -m venv and pip, and kept, so later runs start at once).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${SPARK_VENV:-data/spark-venv}

java_major() {
    # `openjdk version "17.0.15" ...` -> 17; `"1.8.0_392"` -> 1.
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
}

if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then
    echo "spark-check: installing openjdk-17-jre-headless (PySpark needs Java 17 or later)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y openjdk-17-jre-headless >/dev/null 2>&1 ||
        { apt-get update >/dev/null && apt-get install -y openjdk-17-jre-headless >/dev/null; }
fi

if ! "$venv/bin/python" -c 'import pyspark' 2>/dev/null; then
    echo "spark-check: installing pyspark into $venv (pip)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check pyspark
fi

exec "$venv/bin/python" tools/spark-check.py "$@"
