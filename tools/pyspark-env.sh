# Sourced by spark-check.sh and bench.sh: what PySpark needs, installed
# when missing.
#   need_pyspark VENV WHO   a Java runtime of version 17 or later (Debian's
#                           openjdk-17-jre-headless, with apt-get), and
#                           pyspark in the virtual environment VENV (made
#                           with python3 -m venv and pip, and kept, so
#                           later runs start at once); WHO prefixes the
#                           messages

java_major() {
    # `openjdk version "17.0.15" ...` -> 17; `"1.8.0_392"` -> 1.
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
}

need_pyspark() {
    local venv=$1 who=$2
    if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then
        echo "$who: installing openjdk-17-jre-headless (PySpark needs Java 17 or later)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y openjdk-17-jre-headless >/dev/null 2>&1 ||
            { apt-get update >/dev/null && apt-get install -y openjdk-17-jre-headless >/dev/null; }
    fi
    if ! "$venv/bin/python" -c 'import pyspark' 2>/dev/null; then
        echo "$who: installing pyspark into $venv (pip)" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check pyspark
    fi
}
