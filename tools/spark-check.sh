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

. tools/pyspark-env.sh
need_pyspark "$venv" spark-check

exec "$venv/bin/python" tools/spark-check.py "$@"
