# ---------------------------------------------------------------------------
# The runtime: Mini-Spark's job language on PySpark, written out by
# `client export` after the job above (src/export/prelude.py).
#
# Records are Python `bytes`, never `str`, so that every byte of the input
# comes out as it went in and positions count bytes, as in Mini-Spark. A
# plain record is `bytes`; a key-value pair is a `(key, value)` tuple of
# bytes, written out as `key<TAB>value`. Where an expression needs the file
# a record came from (`input_file()`), the records between the source and
# that expression travel as `(file, record)`.
#
# Each function below does what the job language's function of the same
# name does (docs/jobs.md), with the same conversions: numbers are read and
# printed as Mini-Spark reads and prints them, integers stay 64-bit and fail
# on overflow, `round` rounds halves away from zero. Only the standard
# library and pyspark are used.
# ---------------------------------------------------------------------------

import math
import os
from decimal import Decimal
import re
import subprocess
import sys
import threading

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1

# What `split(s)` splits on, and `trim` trims: C's isspace.
SPACE = b" \t\n\r\x0b\x0c"

# The longest string `concat` and `replace` may make from a record (64 MiB).
MAX_VALUE_BYTES = 64 * 1024 * 1024


class JobFailed(Exception):
    """A record, a param or an input the job cannot use: the job fails, as
    it would on Mini-Spark, with a message naming the value."""


def describe(v):
    """A value as error messages show it: strings quoted, long ones cut."""
    if isinstance(v, (bytes, bytearray)):
        shown = bytes(v[:60]).decode("utf-8", "backslashreplace")
        more = "..." if len(v) > 60 else ""
        return '"' + shown.replace('"', '\\"') + more + '"'
    if isinstance(v, list):
        return "[" + ", ".join(describe(x) for x in v) + "]"
    return text(v).decode("utf-8", "replace")


# ---- values: text and numbers ---------------------------------------------

NUMBER = re.compile(rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_number(b):
    """A decimal number in `b` (ASCII whitespace around it is ignored): an
    int if it has no `.` or exponent and fits in 64 bits, else a float;
    None if `b` is not a number (`inf`, `NaN` and `""` are not)."""
    s = b.strip(SPACE)
    if not NUMBER.fullmatch(s):
        return None
    if b"." not in s and b"e" not in s and b"E" not in s:
        i = int(s)
        if I64_MIN <= i <= I64_MAX:
            return i
    return float(s)


def shortest_digits(x):
    """The digits and exponent of the shortest decimal that reads back as the
    finite, nonzero float `x` (in absolute value): `("2675", 0)` is 2.675.
    Where two such decimals are equally near `x`, Rust (whose `{:?}` prints
    Mini-Spark's floats) takes the larger and Python's repr the even one:
    27800198978255.0625 is `...255.063` in Rust, `...255.062` in Python."""
    sign, digits, exponent = Decimal(repr(abs(x))).as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    shown = Decimal((0, digits, exponent))
    unit = Decimal((0, (1,), exponent))
    exact = Decimal(abs(x))
    if exact > shown and (exact - shown) * 2 == unit and float(shown + unit) == abs(x):
        up = (shown + unit).as_tuple()
        digits, exponent = list(up.digits), up.exponent
        while len(digits) > 1 and digits[-1] == 0:
            digits.pop()
            exponent += 1
    text = "".join(map(str, digits))
    return text, exponent + len(text) - 1


def format_float(f):
    """A float as Mini-Spark prints it (Rust's `{:?}`): the shortest text that
    reads back as the same float, positional from 1e-4 up to below 1e16 (as
    Python's repr), with an exponent like `1e16` or `1.5e-5` outside, and
    `inf`, `-inf`, `NaN`."""
    if f != f:
        return "NaN"
    if f == 0.0 or not math.isfinite(f):
        return repr(f)
    digits, e = shortest_digits(f)
    sign = "-" if f < 0 else ""
    if -4 <= e < 16:
        if e < 0:
            return sign + "0." + "0" * (-e - 1) + digits
        whole, fraction = digits[: e + 1].ljust(e + 1, "0"), digits[e + 1 :]
        return sign + whole + "." + (fraction or "0")
    return sign + digits[0] + ("." + digits[1:] if len(digits) > 1 else "") + "e" + str(e)


def is_number(v):
    return type(v) is int or type(v) is float


def text(v):
    """A value as record bytes: strings as they are, numbers as Mini-Spark
    prints them, `true`/`false`, a list as its elements joined by spaces."""
    if isinstance(v, bytes):
        return v
    if v is True:
        return b"true"
    if v is False:
        return b"false"
    if type(v) is int:
        return b"%d" % v
    if type(v) is float:
        return format_float(v).encode()
    if isinstance(v, list):
        return b" ".join(text(x) for x in v)
    return bytes(v)


def num(v):
    """A value as a number: ints and floats as they are, a string that
    reads as one; anything else fails the record."""
    if is_number(v):
        return v
    if isinstance(v, bytes):
        n = parse_number(v)
        if n is not None:
            return n
    raise JobFailed("cannot use %s as a number" % describe(v))


def whole(v):
    """A whole number: an int, or a float without a fraction."""
    n = num(v)
    if type(n) is float:
        if not math.isfinite(n) or n != math.trunc(n) or not (-(2.0**63) <= n < 2.0**63):
            raise JobFailed("%s is not a whole number" % describe(v))
        return int(n)
    return n


def checked(i):
    """An integer result, which must fit in 64 bits as Mini-Spark's do."""
    if I64_MIN <= i <= I64_MAX:
        return i
    raise JobFailed("integer overflow")


def truth(v):
    """`true` or `false`; anything else fails (strings are not converted)."""
    if v is True or v is False:
        return v
    raise JobFailed("needs true or false, got %s" % describe(v))


# ---- arithmetic: ints stay 64-bit ints, anything with a float is a float --


def add(a, b):
    x, y = num(a), num(b)
    if type(x) is int and type(y) is int:
        return checked(x + y)
    return float(x) + float(y)


def sub(a, b):
    x, y = num(a), num(b)
    if type(x) is int and type(y) is int:
        return checked(x - y)
    return float(x) - float(y)


def mul(a, b):
    x, y = num(a), num(b)
    if type(x) is int and type(y) is int:
        return checked(x * y)
    return float(x) * float(y)


def div(a, b):
    """`/`: ints divide toward zero (`-7 / 2` is -3); floats as IEEE does,
    so dividing by 0.0 gives inf or NaN."""
    x, y = num(a), num(b)
    if type(x) is int and type(y) is int:
        if y == 0:
            raise JobFailed("integer division by zero")
        q = abs(x) // abs(y)
        return checked(q if (x < 0) == (y < 0) else -q)
    x, y = float(x), float(y)
    if y == 0.0:
        if x != x or x == 0.0:
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)
    return x / y


def rem(a, b):
    """`%`: the remainder has the sign of the dividend (`-7 % 2` is -1), as
    C's and Rust's `%`, not Python's."""
    x, y = num(a), num(b)
    if type(x) is int and type(y) is int:
        if y == 0:
            raise JobFailed("integer division by zero")
        if x == I64_MIN and y == -1:
            raise JobFailed("integer overflow")
        r = abs(x) % abs(y)
        return -r if x < 0 else r
    try:
        return math.fmod(float(x), float(y))
    except ValueError:
        return math.nan


def neg(a):
    x = num(a)
    if type(x) is int:
        return checked(-x)
    return -x


def order(a, b):
    """Compares two values as Mini-Spark does: as numbers if either is one
    (two ints exactly, else both as floats), else as bytes. -1, 0, 1, or
    None when a NaN makes them unordered."""
    if is_number(a) or is_number(b):
        x, y = num(a), num(b)
        if type(x) is not int or type(y) is not int:
            x, y = float(x), float(y)
        if x < y:
            return -1
        if x > y:
            return 1
        return 0 if x == y else None
    x, y = text(a), text(b)
    return (x > y) - (x < y)


def eq(a, b):
    return order(a, b) == 0


def ne(a, b):
    return order(a, b) != 0


def lt(a, b):
    return order(a, b) == -1


def le(a, b):
    return order(a, b) in (-1, 0)


def gt(a, b):
    return order(a, b) == 1


def ge(a, b):
    return order(a, b) in (0, 1)


# ---- fields -----------------------------------------------------------------


def field(line, n):
    """`$n` of a plain line: its runs of non-whitespace, from 1; `$0` is the
    line; a field past the end is empty."""
    if n == 0:
        return line
    words = line.split()
    return words[n - 1] if 0 < n <= len(words) else b""


def field_sep(line, n, sep):
    """`$n` of a line whose fields are separated by exactly one `sep` each
    (a `read_csv(..., quotes=false)`, or a pair's tab)."""
    if n == 0:
        return line
    parts = line.split(sep)
    return parts[n - 1] if 0 < n <= len(parts) else b""


def line(kv):
    """`$0` of a pair: `key<TAB>value`."""
    return kv[0] + b"\t" + kv[1]


def pair_field(kv, n):
    """`$n` of a pair: its `$0` split on tabs (`$1` the key, `$2` the
    value; after a join `$2` the left value and `$3` the right one)."""
    return field_sep(line(kv), n, b"\t")


def field_number(v):
    """The number of `$(expr)`."""
    n = whole(v)
    if n < 0:
        raise JobFailed("field number %d is negative" % n)
    return n


def closing_quote(line, start):
    """Where the quote closing a quoted field whose value starts at `start`
    is (a `""` is data), or None."""
    at = start
    while True:
        q = line.find(b'"', at)
        if q < 0:
            return None
        if line[q + 1 : q + 2] == b'"':
            at = q + 2
            continue
        return q


def csv_field(line, n, sep):
    """`$n` of a `read_csv` line with RFC 4180 quotes: a field that starts
    with `"` runs to the next `"` that is not doubled, and its value is
    what is inside, each `""` turned into `"`."""
    if n == 0:
        return line
    start = 0
    for _ in range(1, n):
        if line[start : start + 1] == b'"':
            close = closing_quote(line, start + 1)
            if close is None:
                return b""
            after = close + 1
            if line.startswith(sep, after):
                start = after + len(sep)
                continue
            p = line.find(sep, after)
        else:
            p = line.find(sep, start)
        if p < 0:
            return b""
        start = p + len(sep)
    if line[start : start + 1] != b'"':
        p = line.find(sep, start)
        return line[start : (len(line) if p < 0 else p)]
    close = closing_quote(line, start + 1)
    value = line[start + 1 : (len(line) if close is None else close)]
    return value.replace(b'""', b'"')


def check_quotes(line, sep):
    """Refuses a `read_csv` line whose quoted field is not closed on the
    line, or is followed by something other than the separator; None if
    the line is fine, else the complaint."""
    if b'"' not in line:
        return None
    start, n = 0, 1
    while True:
        if line[start : start + 1] == b'"':
            close = closing_quote(line, start + 1)
            if close is None:
                return "field %d opens a quote that the line does not close (a record is one line: a quoted field cannot hold a newline)" % n
            after = line[close + 1 :]
            if not after:
                return None
            if not after.startswith(sep):
                end = after.find(sep)
                shown = after if end < 0 else after[:end]
                return "field %d has %s after its closing quote (a quoted field ends at the separator or the end of the line)" % (n, describe(shown))
            nxt = close + 1
        else:
            p = line.find(sep, start)
            if p < 0:
                return None
            nxt = p
        start = nxt + len(sep)
        n += 1


# ---- functions ------------------------------------------------------------


def contains(s, sub):
    return text(sub) in text(s)


def starts_with(s, prefix):
    return text(s).startswith(text(prefix))


def ends_with(s, suffix):
    return text(s).endswith(text(suffix))


def lower(s):
    return text(s).lower()


def upper(s):
    return text(s).upper()


def trim(s):
    return text(s).strip(SPACE)


def split(s, sep=None):
    """The words of `s` (runs of non-whitespace), or its parts between
    occurrences of `sep`."""
    if sep is None:
        return text(s).split()
    sep = text(sep)
    if not sep:
        raise JobFailed("the separator of `split` must not be empty")
    return text(s).split(sep)


def length(x):
    """`len`: elements of a list, else bytes of the text."""
    return len(x) if isinstance(x, list) else len(text(x))


def substr(s, start, count=None):
    """At most `count` bytes of `s` from byte `start`, positions clamped."""
    s = text(s)
    begin = min(max(whole(start), 0), len(s))
    end = len(s) if count is None else min(begin + max(whole(count), 0), len(s))
    return s[begin:end]


def fits(s, what):
    if len(s) > MAX_VALUE_BYTES:
        raise JobFailed("`%s` would make a value longer than %d bytes (the limit)" % (what, MAX_VALUE_BYTES))
    return s


def concat(*parts):
    return fits(b"".join(text(p) for p in parts), "concat")


def replace(s, old, new):
    s, old, new = text(s), text(old), text(new)
    if not old:
        return s
    return fits(s.replace(old, new), "replace")


def before(s, sep):
    """The bytes before the first `sep`; all of `s` if none, "" if `sep` is empty."""
    s, sep = text(s), text(sep)
    return s.partition(sep)[0] if sep else b""


def after(s, sep):
    """The bytes after the first `sep`; "" if none, all of `s` if `sep` is empty."""
    s, sep = text(s), text(sep)
    return s.partition(sep)[2] if sep else s


def to_int(x):
    """`int`: floats are cut toward zero."""
    n = num(x)
    if type(n) is float:
        if not math.isfinite(n) or not (-(2.0**63) <= math.trunc(n) < 2.0**63):
            raise JobFailed("cannot convert %s to an integer" % describe(x))
        return int(math.trunc(n))
    return n


def to_float(x):
    return float(num(x))


def basename(path):
    """The last `/`-separated part of `path`, trailing `/`s ignored."""
    path = text(path)
    trimmed = path.rstrip(b"/")
    if not trimmed:
        return path[:1]
    return trimmed.rpartition(b"/")[2]


def item(lst, i):
    """`list[i]`, from 0; out of range (or negative) is ""."""
    i = whole(i)
    if not isinstance(lst, list):
        raise JobFailed("cannot index %s: it is not a list" % describe(lst))
    return lst[i] if 0 <= i < len(lst) else b""


def absolute(x):
    """`abs`: an int stays an int, a float a float."""
    n = num(x)
    if n == I64_MIN and type(n) is int:
        raise JobFailed("integer overflow: %d has no 64-bit absolute value" % n)
    return abs(n)


def round_half_away(f):
    a = abs(f)
    i = math.floor(a)
    return math.copysign(i + 1 if a - i >= 0.5 else i, f)


def round_int(x, digits):
    """An int rounded to `digits` places: unchanged for digits >= 0, to
    tens, hundreds, ... below, halves away from zero."""
    if digits >= 0:
        return x
    places = -digits
    if places > 19:
        return 0
    unit = 10**places
    q, r = abs(x) // unit, abs(x) % unit
    if 2 * r >= unit:
        q += 1
    result = q * unit if x >= 0 else -q * unit
    if not I64_MIN <= result <= I64_MAX:
        raise JobFailed("integer overflow: %d rounded to %d digits is past the 64-bit range" % (x, digits))
    return result


def round_float(x, digits):
    """A float rounded to `digits` places as the decimal it prints as (its
    shortest digits: 2.675 rounds to 2.68), halves away from zero."""
    if not math.isfinite(x):
        return x
    if x == 0.0:
        return 0.0
    shown, place = shortest_digits(x)
    keep = place + digits + 1
    if keep >= len(shown):
        return x
    if keep < 0:
        return 0.0
    kept = int(shown[:keep] or "0") + (1 if shown[keep] >= "5" else 0)
    if kept == 0:
        return 0.0
    r = float("%de%d" % (kept, -digits))
    return -r if x < 0 else r


def rounded(x, digits=None):
    """`round`: halves away from zero, as Spark SQL and C round (Python's
    `round` rounds halves to even)."""
    n = num(x)
    if digits is None:
        if type(n) is int:
            return n
        r = round_half_away(n)
        if not math.isfinite(r) or not (-(2.0**63) <= r < 2.0**63):
            raise JobFailed("cannot round %s to a 64-bit integer" % describe(x))
        return int(r)
    d = num(digits)
    if type(d) is not int:
        raise JobFailed("`round` needs an integer as argument 2, got %s" % describe(digits))
    return round_int(n, d) if type(n) is int else round_float(n, d)


def items(v):
    """What `flat_map(list)` makes records of: each element of a list as
    text, or the one value."""
    return [text(x) for x in v] if isinstance(v, list) else [text(v)]


def pairs(keys, value):
    """`flat_map(keys, value)`: a pair per key, all with the value, which is
    computed once, and only if there is a key."""
    keys = items(keys)
    if not keys:
        return []
    v = text(value())
    return [(k, v) for k in keys]


# ---- reduce_by_key's aggregators ---------------------------------------------


class Aggregator:
    """One aggregator of `reduce_by_key`: how a key's first value starts an
    accumulator, how two accumulators combine, and how one is printed.
    Each value arrives as `(order, bytes)`: its place in the input, which
    only `first` uses."""

    def __init__(self, name, start, plus, result, ordered=False):
        self.name, self.start, self.plus, self.result = name, start, plus, result
        self.ordered = ordered


def number_of(b):
    n = parse_number(b)
    if n is None:
        raise JobFailed("cannot read %s as a number" % describe(b))
    return n


def sum_start(v):
    n = number_of(v[1])
    return (n, 0.0, False) if type(n) is int else (0, n, True)


def sum_plus(a, b):
    return (a[0] + b[0], a[1] + b[1], a[2] or b[2])


def sum_text(s):
    """The sum: an exact int while every value was one, else a float."""
    if s[2]:
        return format_float(float(s[0]) + s[1]).encode()
    if not I64_MIN <= s[0] <= I64_MAX:
        raise JobFailed("the sum %d does not fit in a 64-bit integer" % s[0])
    return b"%d" % s[0]


def extreme(sign):
    """min (sign -1) or max (sign 1): numbers compared exactly, the value
    printed as written, equal numbers by the smaller bytes."""

    def start(v):
        return (number_of(v[1]), v[1])

    def plus(a, b):
        if a[0] == b[0]:
            return a if a[1] <= b[1] else b
        return a if (a[0] > b[0]) == (sign > 0) else b

    return start, plus


def mean_text(m):
    s, count = m
    return format_float((float(s[0]) + s[1]) / count).encode()


def concat_agg(sep):
    """`concat(SEP)`: the key's values in byte order, joined by `sep`."""
    return Aggregator("concat", lambda v: [v[1]], lambda a, b: a + b, lambda vs: sep.join(sorted(vs)))


SUM = Aggregator("sum", sum_start, sum_plus, sum_text)
COUNT = Aggregator("count", lambda v: 1, lambda a, b: a + b, lambda n: b"%d" % n)
MIN = Aggregator("min", *extreme(-1), lambda e: e[1])
MAX = Aggregator("max", *extreme(1), lambda e: e[1])
MEAN = Aggregator(
    "mean",
    lambda v: (sum_start(v), 1),
    lambda a, b: (sum_plus(a[0], b[0]), a[1] + b[1]),
    mean_text,
)
# The value of the key's first record in input order: the smallest place.
FIRST = Aggregator("first", lambda v: v, lambda a, b: min(a, b), lambda v: v[1], ordered=True)
CONCAT = concat_agg


class Aggregators:
    """Several aggregators at once, one accumulator each; their results are
    joined by tabs."""

    def __init__(self, aggs):
        self.aggs = aggs
        self.ordered = any(a.ordered for a in aggs)
        self.names = ", ".join(a.name for a in aggs)

    def start(self, v):
        try:
            return [a.start(v) for a in self.aggs]
        except JobFailed as e:
            raise JobFailed("reduce_by_key(%s): %s" % (self.names, e)) from None

    def add(self, acc, v):
        return self.plus(acc, self.start(v))

    def plus(self, a, b):
        return [agg.plus(x, y) for agg, x, y in zip(self.aggs, a, b)]

    def result(self, acc):
        try:
            return b"\t".join(agg.result(x) for agg, x in zip(self.aggs, acc))
        except JobFailed as e:
            raise JobFailed("reduce_by_key(%s): %s" % (self.names, e)) from None


# ---- sort orders --------------------------------------------------------------


def text_order(b, descending=False):
    """Bytes whose order is the order of `b`'s bytes, reversed when
    `descending`: each byte inverted, after escaping zero bytes and ending
    the text so that a prefix sorts first (storage/sortkey.rs)."""
    if not descending:
        return b
    escaped = b.replace(b"\x00", b"\x00\xff") + b"\x00\x01"
    return bytes(255 - c for c in escaped)


def number_order(v, descending=False, what="sort_by(numeric=true)"):
    """A number's place: -inf first, then the numbers (an int and a float
    compared exactly), inf, and NaN last; all reversed when `descending`."""
    n = v if is_number(v) else parse_number(text(v))
    if n is None:
        raise JobFailed("%s: %s is not a number" % (what, describe(text(v))))
    if n != n:
        return (0, 0) if descending else (1, 0)
    return (1, -n) if descending else (0, n)


# ---- driver-side helpers ----------------------------------------------------


def count_arg(v, what, least=1, most=2**32 - 1):
    """A constant count (partitions, splits, rounds) given by a param: a
    whole number, as Mini-Spark checks it before the job runs."""
    n = parse_number(text(v)) if not is_number(v) else v
    if type(n) is not int or n < least or n > most:
        raise JobFailed("%s must be a whole number from %d to %d, got %s" % (what, least, most, describe(v)))
    return n


def flag_arg(v, what):
    """A constant `true`/`false` given by a param."""
    if v is True or v is False:
        return v
    if v in (b"true", b"false"):
        return v == b"true"
    raise JobFailed("%s must be true or false, got %s" % (what, describe(v)))


def path_arg(v):
    return os.fsdecode(text(v))


def same_records(a, b):
    """Do the RDDs `a` and `b` hold the same records, each as many times?
    Exact: each record's count in one is joined with its count in the
    other (no hashing)."""
    counted = lambda rdd: rdd.map(lambda r: (r, 1)).reduceByKey(lambda x, y: x + y)
    return counted(a).fullOuterJoin(counted(b)).filter(lambda kv: kv[1][0] != kv[1][1]).isEmpty()


def until_unchanged(dataset, max_rounds, line):
    """`repeat until unchanged(D) max N`: yields round numbers until a round
    leaves D (the RDD `dataset()` gives) as the round before left it; a
    loop that still changes D in round N fails the job."""
    before = dataset()
    for round_number in range(1, max_rounds + 1):
        yield round_number
        now = dataset()
        if same_records(before, now):
            return
        before = now
    raise JobFailed(
        "the `repeat until` at line %d did not settle within its max of %d rounds: its dataset still changed in round %d (%d records before it, %d after); raise `max`, or check that the loop converges"
        % (line, max_rounds, max_rounds, before.count(), now.count())
    )


# ---- sources ----------------------------------------------------------------

SPARK = None  # the SparkSession, set by main()


def natural_key(name):
    """Files of a directory in name order, Spark's `part-00000`, ...
    `part-100000` by their number (exec/split.rs)."""
    m = re.match(r"part-([0-9]+)", name)
    if not m:
        return (name.encode("utf-8", "surrogateescape"), b"")
    digits = m.group(1).lstrip("0") or "0"
    key = "part-" + chr(len(digits)) + digits + name[m.end() :]
    return (key.encode("utf-8", "surrogateescape"), name.encode("utf-8", "surrogateescape"))


def input_files(path):
    """The files `read_text(path)` reads, as Mini-Spark lists them: the file
    itself, or the regular files of the directory that are not hidden (names
    starting with `.` or `_`: `_SUCCESS`, `.part-00000.crc`, `_temporary`),
    in name order. Each with the path `input_file()` gives for it."""
    if "://" in path:
        return remote_files(path)
    here = path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
    if not os.path.exists(here):
        raise JobFailed("input %s: No such file or directory" % here)
    if os.path.isfile(here):
        files = [here]
    else:
        names = [n for n in os.listdir(here) if not n.startswith((".", "_"))]
        files = [os.path.join(here, n) for n in sorted(names, key=natural_key) if os.path.isfile(os.path.join(here, n))]
        if not files:
            raise JobFailed("input %s: directory has no input files (only its regular files are read, not subdirectories, and not names starting with `.` or `_`)" % here)
    for f in files:
        with open(f, "rb") as fh:
            magic = fh.read(2)
        if f.endswith(".gz") or magic == b"\x1f\x8b":
            raise JobFailed("input %s: compressed with gzip, and read_text reads plain text: decompress it first (gunzip -k)" % f)
    return files


def remote_files(path):
    """`input_files` for a path with a scheme (hdfs://, s3a://), listed by
    Hadoop's FileSystem."""
    jvm = SPARK.sparkContext._jvm
    conf = SPARK.sparkContext._jsc.hadoopConfiguration()
    p = jvm.org.apache.hadoop.fs.Path(path)
    fs = p.getFileSystem(conf)
    status = fs.getFileStatus(p)
    if status.isFile():
        return [path]
    entries = [s for s in fs.listStatus(p) if s.isFile() and not s.getPath().getName().startswith((".", "_"))]
    names = sorted((s.getPath().getName() for s in entries), key=natural_key)
    if not names:
        raise JobFailed("input %s: directory has no input files" % path)
    return [path.rstrip("/") + "/" + n for n in names]


def glob_escaped(path):
    """`path` with Hadoop's glob characters escaped, so that Spark reads
    the file of that name and no pattern."""
    return re.sub(r"([\\*?\[\]{}])", r"\\\1", path)


def file_lines(path):
    """The lines of one file as bytes, exactly: Spark's text source split on
    `\\n` only (`sc.textFile` also splits on a lone `\\r`, and replaces bytes
    that are not UTF-8), a `\\r` before the `\\n` dropped, as Mini-Spark
    reads lines. Partitions are in file order."""
    from pyspark.sql.functions import col

    uri = path if "://" in path else "file://" + glob_escaped(path)
    frame = SPARK.read.text(uri, lineSep="\n").select(col("value").cast("binary"))
    lines = frame.rdd.map(lambda row: bytes(row[0]))
    with_cr_at_end = False
    if "://" not in path:
        size = os.path.getsize(path)
        if size:
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                with_cr_at_end = fh.read(1) == b"\r"
    if not with_cr_at_end:
        return lines.map(lambda l: l[:-1] if l.endswith(b"\r") else l)
    # A last line that ends in `\r` with no `\n` after it keeps its `\r`.
    last = lines.getNumPartitions() - 1

    def strip(index, part):
        previous = None
        for l in part:
            if previous is not None:
                yield previous[:-1] if previous.endswith(b"\r") else previous
            previous = l
        if previous is not None:
            yield previous if index == last else (previous[:-1] if previous.endswith(b"\r") else previous)

    return lines.mapPartitionsWithIndex(strip)


def without_first(rdd):
    """The records of one file's lines but the first (a CSV header)."""
    return rdd.mapPartitionsWithIndex(lambda index, part: (l for i, l in enumerate(part) if index > 0 or i > 0))


def read_text(path, splits=None, with_file=False):
    """`read_text(path)`: the lines of the file, or of every file of the
    directory, in file order. `with_file`: as `(file, line)`. `splits`, a
    number of tasks to read with, changes no record; Spark sizes its own."""
    parts = []
    for f in input_files(path_arg(path)):
        lines = file_lines(f)
        if with_file:
            name = os.fsencode(f)
            lines = lines.map(lambda l, name=name: (name, l))
        parts.append(lines)
    return SPARK.sparkContext.union(parts)


# Where the columns the job names (`$age`) are in each file read with a
# header: file -> ({name: field number}, separator, quotes).
HEADERS = {}


def read_csv(path, sep=b",", header=False, splits=None, quotes=True, columns=(), with_file=False):
    """`read_csv(...)`: as `read_text`, with each file's first line skipped
    when `header`, and every line that holds a `"` checked for quotes
    closed on the line. `columns`: the names the job gives columns by
    (`$age`), which each file's header must hold once."""
    sep = text(sep)
    parts = []
    for f in input_files(path_arg(path)):
        lines = file_lines(f)
        if header and columns:
            first = first_line(f, lines)
            if first is not None:
                HEADERS[os.fsencode(f)] = (find_columns(columns, first, sep, quotes, f), sep, quotes)
        if header:
            lines = without_first(lines)
        if quotes:
            lines = lines.map(lambda l, f=f: checked_line(l, sep, f))
        if with_file:
            name = os.fsencode(f)
            lines = lines.map(lambda l, name=name: (name, l))
        parts.append(lines)
    return SPARK.sparkContext.union(parts)


def first_line(path, lines):
    """The first line of a file (its header), or None for an empty file."""
    if "://" in path:
        first = lines.take(1)
        return first[0] if first else None
    with open(path, "rb") as fh:
        l = fh.readline()
    if not l:
        return None
    if l.endswith(b"\n"):
        l = l[:-2] if l.endswith(b"\r\n") else l[:-1]
    return l


def csv_fields(line, sep):
    """Every field of a CSV line, unquoted (a header's names)."""
    out, start = [], 0
    while True:
        if line[start : start + 1] == b'"':
            close = closing_quote(line, start + 1)
            if close is None:
                out.append(line[start + 1 :].replace(b'""', b'"'))
                return out
            out.append(line[start + 1 : close].replace(b'""', b'"'))
            after = close + 1
            if line.startswith(sep, after):
                start = after + len(sep)
                continue
            p = line.find(sep, after)
            if p < 0:
                return out
            start = p + len(sep)
        else:
            p = line.find(sep, start)
            if p < 0:
                out.append(line[start:])
                return out
            out.append(line[start:p])
            start = p + len(sep)


def find_columns(columns, header, sep, quotes, path):
    """Where each named column is in `header`: {name: field number}."""
    if quotes:
        bad = check_quotes(header, sep)
        if bad:
            raise JobFailed("read_csv: %s:1: %s" % (path, bad))
        names = csv_fields(header, sep)
    else:
        names = header.split(sep)
    places = {}
    for name in columns:
        at = [i + 1 for i, n in enumerate(names) if n == name]
        if not at:
            shown = ", ".join(describe(n) for n in names[:20])
            raise JobFailed("read_csv: column `%s` is not in the header of %s; its columns are %s" % (name.decode("utf-8", "replace"), path, shown))
        if len(at) > 1:
            raise JobFailed("read_csv: column `%s` appears more than once in the header of %s (fields %d and %d)" % (name.decode("utf-8", "replace"), path, at[0], at[1]))
        places[name] = at[0]
    return places


def column(fr, name):
    """`$name`: the field of the column `name` in the header of the file
    the record `fr` = (file, line) was read from."""
    places, sep, quotes = HEADERS[fr[0]]
    n = places[name]
    return csv_field(fr[1], n, sep) if quotes else field_sep(fr[1], n, sep)


def checked_line(l, sep, path):
    bad = check_quotes(l, sep)
    if bad:
        raise JobFailed("read_csv: %s: %s, in the line %s" % (path, bad, describe(l)))
    return l


# ---- what RDDs lack: added to them -------------------------------------------


def as_line(r):
    """A record as the line it is written as: a pair as `key<TAB>value`."""
    return r if isinstance(r, bytes) else r[0] + b"\t" + r[1]


def tabbed(lr):
    """A join's `(left, right)` as the value `left<TAB>right` (the right
    value empty for a `left_join` without a match)."""
    return lr[0] + b"\t" + (b"" if lr[1] is None else lr[1])


def joined(values):
    """`group_by_key`'s value: the key's values in byte order, joined by commas."""
    return b",".join(sorted(values))


def reduce_by_key(self, *aggs, numPartitions=None):
    """`reduce_by_key(agg, ...)`: one pair per key, its values combined by
    each aggregator (on the map side first, as a combiner)."""
    by = Aggregators(aggs)
    if by.ordered:
        placed = self.zipWithIndex().map(lambda p: (p[0][0], (p[1], p[0][1])))
    else:
        placed = self.mapValues(lambda v: (0, v))
    return placed.combineByKey(by.start, by.add, by.plus, numPartitions).mapValues(by.result)


def take_rdd(self, n):
    """`take(n)`: the first `n` records in the RDD's order, as an RDD of one
    partition (Spark's `take` hands them to the driver)."""
    return self.context.parallelize(self.take(n), 1)


def count_rdd(self):
    """`count()`: one line, the number of records, as an RDD."""
    return self.context.parallelize([b"%d" % self.count()], 1)


def pipe_bytes(self, command):
    """`pipe(command)`: one `sh -c command` per partition, fed the records
    one per line, each line it prints a record. `RDD.pipe` would split the
    command without a shell and decode text as UTF-8; this keeps bytes."""
    command = path_arg(command)

    def run(part):
        child = subprocess.Popen(["sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        failure = []

        def feed():
            try:
                for r in part:
                    child.stdin.write(as_line(r) + b"\n")
            except BrokenPipeError:
                pass
            except BaseException as e:
                failure.append(e)
            finally:
                try:
                    child.stdin.close()
                except BrokenPipeError:
                    pass

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        for out in child.stdout:
            if out.endswith(b"\n"):
                out = out[:-2] if out.endswith(b"\r\n") else out[:-1]
            yield out
        feeder.join()
        status = child.wait()
        if failure:
            raise failure[0]
        if status != 0:
            raise JobFailed("pipe command `%s` exited with status %d" % (command, status))

    return self.map(as_line).mapPartitions(run)


OVERWRITE = False  # set by main() from --overwrite


def save_text(self, path):
    """`save(path)`: the records as lines, `key<TAB>value` for a pair, one
    part file per partition in order, byte for byte. `saveAsTextFile`
    would turn bytes that are not UTF-8 into U+FFFD (its BytesToString);
    Spark's text writer writes a string column's bytes as they are."""
    lines = self.map(as_line).map(lambda b: (bytearray(b),))
    frame = SPARK.createDataFrame(lines, "value binary").selectExpr("CAST(value AS STRING) AS value")
    frame.write.mode("overwrite" if OVERWRITE else "errorifexists").text(path_arg(path))


# ---- the program: params and the Spark session ------------------------------


class Params:
    """The job's params, as bytes: `args.NAME`."""


def params_from(argv, declared):
    """The params from `--param NAME=VALUE` flags over the defaults, as
    Mini-Spark binds them: an unknown name and a missing value are errors."""
    values = dict(declared)
    for given in argv:
        name, eq_sign, value = given.partition("=")
        if not eq_sign or not name:
            usage("--param %r: expected NAME=VALUE" % given)
        if name not in declared:
            usage("unknown param `%s` given with --param (this job declares: %s)" % (name, ", ".join(declared) or "no params"))
        values[name] = value
    params = Params()
    for name, value in values.items():
        if value is None:
            usage("param `%s` has no default and was not given; pass it with --param %s=VALUE" % (name, name))
        setattr(params, name, os.fsencode(value))
    return params


def usage(message):
    sys.stderr.write("error: %s\n" % message)
    sys.exit(2)


def main(job, declared, name):
    """Parses the command line, starts Spark, runs `job`."""
    import argparse

    global SPARK, OVERWRITE
    parser = argparse.ArgumentParser(description="%s, exported from Mini-Spark" % name)
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="set a param of the job (default: its default)")
    parser.add_argument("--master", help="Spark master URL (default: spark-submit's, else local[*])")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    options = parser.parse_args()
    args = params_from(options.param, declared)
    OVERWRITE = options.overwrite

    from pyspark import RDD
    from pyspark.sql import SparkSession

    for method in (reduce_by_key, take_rdd, count_rdd, pipe_bytes, save_text):
        setattr(RDD, method.__name__, method)
    builder = SparkSession.builder.appName(name)
    # Without --master, spark-submit's (which is local[*] for `python3 ...`).
    if options.master:
        builder = builder.master(options.master)
    SPARK = builder.config("spark.ui.showConsoleProgress", "false").getOrCreate()
    context = SPARK.sparkContext
    context.setLogLevel("WARN")
    # A shuffle without `partitions` makes two partitions per core, as
    # Mini-Spark makes two per task slot; Spark's RDDs would take their
    # input's count, which `union` doubles round after round of a loop.
    if not context._conf.contains("spark.default.parallelism"):
        context._conf.set("spark.default.parallelism", str(2 * context.defaultParallelism))
    try:
        job(args)
    except JobFailed as e:
        sys.stderr.write("error: %s\n" % e)
        sys.exit(1)
    finally:
        SPARK.stop()
