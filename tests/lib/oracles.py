#!/usr/bin/env python3
"""tests/lib/oracles.py — ferry's parsers set against implementations nobody here wrote.

    oracles.py ORACLE json|numeric|utf8 SEED COUNT
    oracles.py ORACLE timestamptz|timestamp|date|copy SEED COUNT   (psql reaches the test cluster)

ORACLE is build/oracle (tests/tools/oracle.c), which runs ferry's own parser on one input a line.
Each case makes COUNT inputs from SEED, has ferry and the independent reader take each, and prints
one line of counts, "inputs N accepted A refused R mismatches M", then a line per mismatch (at most
20), each with its input. A mismatch is a value the two read differently, an input one accepts and
the other refuses, or a refusal whose reason is not among those the README documents for it.
"""
import json
import random
import subprocess
import sys
import decimal
from decimal import Decimal, localcontext

JSON_DEPTH_MAX = 100  # include/ferry/limits.h, FERRY_JSON_DEPTH_MAX

# Python reads every number exactly: any exponent, and as many digits as it is written with.
decimal.getcontext().Emax = decimal.MAX_EMAX
decimal.getcontext().Emin = decimal.MIN_EMIN


def run_ferry(oracle, kind, inputs, *args):
    feed = "".join(x.hex() + "\n" for x in inputs)
    out = subprocess.run([oracle, kind, *args], input=feed, capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    if len(lines) != len(inputs):
        sys.exit(f"oracle {kind}: {len(lines)} answers to {len(inputs)} inputs")
    return lines


def psql(sql, stdin=None):
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql], input=stdin,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"psql: {out.stderr.strip()}")
    return out.stdout.splitlines()


# ---- numbers: what holds a decimal value exactly -------------------------------------------------

def fits_decimal128(d):
    """Whether Decimal128 (34 digits, exponents -6176..6111) holds d exactly."""
    if not d.is_finite():
        return True
    sign, digits, exp = d.as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:  # trailing zeros may go into the exponent
        digits.pop()
        exp += 1
    if digits == [0]:
        return True
    if exp > 6111:  # the coefficient may take zeros to bring the exponent down (clamping)
        return len(digits) + (exp - 6111) <= 34
    return len(digits) <= 34 and exp >= -6176


def exact_double(d):
    try:
        f = float(d)
    except (OverflowError, ValueError):
        return False
    return f == f and abs(f) != float("inf") and Decimal(f) == d


def same_number(python, ferry):
    """Python's reading (int or Decimal) and what ferry stored (int, float, Decimal128) are one value."""
    if hasattr(ferry, "to_decimal"):
        ferry = ferry.to_decimal()
    if isinstance(ferry, bool) or not isinstance(ferry, (int, float, Decimal)):
        return False
    with localcontext() as ctx:
        ctx.prec = 10000
        return Decimal(python) == Decimal(ferry)


# ---- json -----------------------------------------------------------------------------------------

class Num:
    def __init__(self, text):
        self.text = text


def gen_number(r):
    k = r.randrange(9)
    if k == 0:
        return str(r.randint(-1000, 1000))
    if k == 1:
        b = r.choice([2**31, 2**63, 2**53])
        return str(r.choice([-1, 1]) * b + r.randint(-2, 1))
    if k == 2:
        return ("-" if r.random() < 0.5 else "") + str(r.randint(1, 9)) + "".join(
            r.choice("0123456789") for _ in range(r.randint(18, 40)))
    if k == 3:
        return f"{r.randint(-99999, 99999)}.{''.join(r.choice('0123456789') for _ in range(r.randint(1, 40)))}"
    if k == 4:
        mant = r.choice(["1", "-1", "2.5", "9.999999999999999", "1.7976931348623157", "4.9", "123456789"])
        return f"{mant}{r.choice('eE')}{r.choice(['', '+', '-'])}{r.choice([r.randint(0, 30), r.randint(300, 330), r.randint(6100, 6200), r.randint(10**9, 10**20)])}"
    if k == 5:
        return r.choice(["0.5", "2.5", "0.125", "1e22", "1e23", str(2**60), "0.1", "1e-28", "5e-324", "-0.0625"])
    if k == 6:
        return r.choice(["0", "-0", "-0.0", "0e5", "0.0e-5", "0.000"])
    if k == 7:
        return f"0.{'0' * r.randint(1, 40)}{r.randint(1, 999)}"
    return repr(r.uniform(-1e6, 1e6))


POOLS = ["abcxyz", "AZ09", " ", "\"\\/", "\b\f\n\r\t\x00\x01\x1f\x7f", "é中ß", "😀𝄞", "$.", "\ud800", "\udc00"]


def gen_string(r, lone=True):
    out = []
    for _ in range(r.randint(0, 8)):
        pool = r.choice(POOLS if lone and r.random() < 0.05 else POOLS[:-2])
        out.append(r.choice(pool))
    return "".join(out)


def gen_value(r, depth):
    k = r.randrange(10 if depth < 6 else 6)
    if k < 2:
        return Num(gen_number(r))
    if k == 2:
        return gen_string(r)
    if k == 3:
        return r.choice([True, False])
    if k == 4:
        return None
    if k == 5:
        return Num(gen_number(r)) if r.random() < 0.5 else gen_string(r)
    if k < 8:
        return [gen_value(r, depth + 1) for _ in range(r.randint(0, 4))]
    pairs = []
    for _ in range(r.randint(0, 4)):
        key = gen_string(r, lone=False) if r.random() < 0.9 or not pairs else pairs[0][0]  # now and then a key twice
        pairs.append((key, gen_value(r, depth + 1)))
    return ("object", pairs)


def ws(r):
    return r.choice(["", "", "", " ", "\n", "\t ", "\r\n"])


def dump_string(r, s):
    lone = any(0xD800 <= ord(c) <= 0xDFFF for c in s)
    text = json.dumps(s, ensure_ascii=lone or r.random() < 0.5)
    return text.replace("/", "\\/") if r.random() < 0.2 else text


def dump(r, v):
    if isinstance(v, Num):
        return v.text
    if isinstance(v, str):
        return dump_string(r, v)
    if v is True or v is False or v is None:
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ",".join(ws(r) + dump(r, x) + ws(r) for x in v) + "]"
    return "{" + ",".join(ws(r) + dump_string(r, k) + ws(r) + ":" + ws(r) + dump(r, x) + ws(r) for k, x in v[1]) + "}"


def deep(r):
    n = r.randint(JSON_DEPTH_MAX - 3, JSON_DEPTH_MAX + 1)
    return "[" * (n - 1) + "1" + "]" * (n - 1)


def mutate(r, text):
    s = list(text)
    for _ in range(r.randint(1, 3)):
        at = r.randrange(len(s) + 1)
        k = r.randrange(3)
        if k == 0 and s:
            del s[min(at, len(s) - 1)]
        elif k == 1:
            s.insert(at, r.choice(list('{}[],:"\\ 0123456789.eE+-tfnul\x00\x7f') + ["é", "\\u", "\\ud800", "NaN", "01"]))
        elif s:
            j = r.randrange(len(s))
            s[at:at] = s[j:j + r.randint(1, 4)]
    return "".join(s)


class Refused(Exception):
    def __init__(self, why):
        self.why = why


def no_constants(name):
    raise ValueError(f"{name} is no JSON number")


def read_python(text):
    """Python's reading, and what in it ferry documents that it refuses (a set of reasons)."""
    issues = set()

    def pairs(items):
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            issues.add("the same key twice")
        if any("\x00" in k for k in keys):
            issues.add("a NUL character")
        return dict(items)

    def number(t):  # every number as it is read, so one a repeated key then hides still counts
        try:
            v = int(t) if all(c not in t for c in ".eE") else Decimal(t)
        except decimal.InvalidOperation:  # an exponent past even Python's: no double or Decimal128 has it,
            mantissa = t.lower().partition("e")[0]
            if mantissa.strip("-+0.") == "":  # unless the number is a zero, which is 0 at any exponent
                return Decimal(0)
            issues.add("neither a double nor Decimal128")
            return Decimal(0)
        if inexact_number(v):
            issues.add("neither a double nor Decimal128")
        return v

    def strings(items):  # keys and strings a repeated key hides count too
        for k, v in items:
            if lone_surrogate(k) or lone_surrogate(v):
                issues.add("lone UTF-16 surrogate")
        return pairs(items)

    value = json.loads(text, parse_float=number, parse_int=number, parse_constant=no_constants,
                       object_pairs_hook=strings)
    if lone_surrogate(value):
        issues.add("lone UTF-16 surrogate")
    if depth_of(value) >= JSON_DEPTH_MAX:
        issues.add("nested deeper")
    return value, issues


def depth_of(v):
    if isinstance(v, dict):
        return 1 + max((depth_of(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((depth_of(x) for x in v), default=0)
    return 1


def lone_surrogate(v):
    if isinstance(v, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in v)
    if isinstance(v, dict):
        return any(lone_surrogate(k) or lone_surrogate(x) for k, x in v.items())
    if isinstance(v, list):
        return any(lone_surrogate(x) for x in v)
    return False


def inexact_number(v):
    if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
        d = Decimal(v)
        fits_int = isinstance(v, int) and -2**63 <= v < 2**63
        return not (fits_int or exact_double(d) or fits_decimal128(d))
    if isinstance(v, dict):
        return any(inexact_number(x) for x in v.values())
    if isinstance(v, list):
        return any(inexact_number(x) for x in v)
    return False


def same_value(python, ferry):
    if python is None or isinstance(python, bool):
        return ferry is python
    if isinstance(python, (int, Decimal)):
        return same_number(python, ferry)
    if isinstance(python, str):
        return isinstance(ferry, str) and ferry == python
    if isinstance(python, list):
        return isinstance(ferry, list) and len(ferry) == len(python) and all(map(same_value, python, ferry))
    return (isinstance(ferry, dict) and list(ferry) == list(python)
            and all(same_value(python[k], ferry[k]) for k in python))


def case_json(oracle, r, count):
    import bson
    from bson.codec_options import CodecOptions
    texts = []
    for i in range(count):
        t = deep(r) if i % 50 == 0 else ws(r) + dump(r, gen_value(r, 0)) + ws(r)
        texts.append(mutate(r, t) if r.random() < 0.3 else t)
    inputs = [t.encode("utf-8", "surrogatepass") for t in texts]
    answers = run_ferry(oracle, "json", inputs)
    stats, bad = [0, 0], []
    for text, answer in zip(texts, answers):
        verdict, _, detail = answer.partition(" ")
        try:
            python, issues = read_python(text)
        except (ValueError, RecursionError) as e:
            python, issues = None, None
            why = e
        if verdict == "ok":
            stats[0] += 1
            got = bson.decode(bytes.fromhex(detail), CodecOptions(document_class=dict))["v"]
            if issues is None:
                bad.append(f"ferry accepts what Python refuses ({why}): {text!r}")
            elif issues:
                bad.append(f"ferry accepts what it documents it refuses ({', '.join(sorted(issues))}): {text!r}")
            elif not same_value(python, got):
                bad.append(f"read otherwise: Python {python!r}, ferry {got!r}: {text!r}")
            continue
        stats[1] += 1
        if issues is not None and not any(reason in detail for reason in issues):
            bad.append(f"ferry refuses ({detail}) what Python reads as {python!r}: {text!r}")
    return stats, bad


# ---- numeric -> Decimal128 ------------------------------------------------------------------------

def gen_numeric(r):
    k = r.randrange(7)
    if k == 6:  # past 34 digits by a tail that a rounding reader would drop, or by zeros that may go
        body = f"{r.randint(1, 9)}{'0' * r.randint(28, 40)}{r.choice(['', str(r.randint(1, 999)), '0' * r.randint(1, 6)])}"
        cut = r.randint(1, len(body))
        return f"{r.choice(['', '-'])}{'0.' + '0' * r.randint(0, 9) + body if r.random() < 0.3 else body[:cut] + '.' + body[cut:]}".rstrip(".")
    if k == 0:
        return str(Decimal(r.randint(-10**12, 10**12)).scaleb(-r.randint(0, 12)))
    if k == 1:  # as PostgreSQL prints numeric: plain digits, a scale's trailing zeros kept
        return f"{r.choice(['', '-'])}{r.randint(0, 10**r.randint(1, 40))}.{''.join(r.choice('0123456789') for _ in range(r.randint(0, 40)))}".rstrip(".")
    if k == 2:
        return r.choice(["NaN", "Infinity", "-Infinity", "0", "-0", "0.0000000000"])
    if k == 3:
        return "1" + "0" * r.randint(30, 6200)
    if k == 4:
        if r.random() < 0.5:  # not as PostgreSQL prints one, but a text a parser may meet
            return f"{r.randint(1, 99)}e{r.choice(['', '-'])}{r.choice([r.randint(6000, 6200), r.randint(10**9, 10**20)])}"
        return "0." + "0" * r.randint(6100, 6200) + str(r.randint(1, 9))
    return f"{r.randint(1, 9)}{''.join(r.choice('0123456789') for _ in range(r.randint(30, 38)))}"


def case_numeric(oracle, r, count):
    texts = [gen_numeric(r) for _ in range(count)]
    answers = run_ferry(oracle, "numeric", [t.encode() for t in texts])
    stats, bad = [0, 0], []
    for text, answer in zip(texts, answers):
        verdict, _, detail = answer.partition(" ")
        try:
            want = Decimal(text)
        except decimal.InvalidOperation:  # an exponent past even Python's
            want = None
        if verdict == "ok" and want is None:
            stats[0] += 1
            bad.append(f"ferry reads {text} as {detail}, a value Python holds no decimal for")
        elif verdict == "ok":
            stats[0] += 1
            got = Decimal(detail)
            same = (got.is_nan() and want.is_nan()) or (not got.is_nan() and not want.is_nan() and got == want)
            if not same:
                bad.append(f"read otherwise: {text} became {detail}")
        else:
            stats[1] += 1
            if not ("cannot be held exactly by Decimal128" in detail and (want is None or not fits_decimal128(want))):
                bad.append(f"ferry refuses ({detail}) {text[:80]}, which Decimal128 holds")
    return stats, bad


# ---- timestamps, against PostgreSQL -----------------------------------------------------------------

def case_time(oracle, kind, r, count):
    # PostgreSQL makes the values and prints them (ISO, UTC: the session ferry reads with), and gives
    # each one's milliseconds since the epoch, rounded down, from its own reading.
    span = {"timestamptz": "timestamptz", "timestamp": "timestamp", "date": "date"}[kind]
    seconds = [r.choice([r.uniform(-2e11, 2.5e11), r.uniform(-2.1e11, -6.2e10), r.uniform(-1e9, 2e9),
                         r.uniform(2.5e11, 9.2e12), r.randint(-10, 10) * 86400.0]) for _ in range(count - 2)]
    seconds += [float("inf"), float("-inf")]  # infinity and -infinity: kept as their text (README)
    rows = "\n".join(f"{i}\t{s:.6f}" for i, s in enumerate(seconds)) + "\n"
    cast = {"timestamptz": "to_timestamp(s)", "timestamp": "to_timestamp(s) AT TIME ZONE 'UTC'",
            "date": "(to_timestamp(s) AT TIME ZONE 'UTC')::date"}[kind]
    epoch = "extract(epoch FROM v)" if kind != "date" else "extract(epoch FROM v::timestamp)"
    out = psql(f"SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';"
               f" CREATE TEMP TABLE s (i int, s float8); COPY s FROM STDIN;"
               f" COPY (SELECT i, v::text, CASE WHEN isfinite(v) THEN floor({epoch} * 1000)::bigint END"
               f" FROM (SELECT i, ({cast})::{span} AS v FROM s) t"
               f" ORDER BY i) TO STDOUT", stdin=rows)
    printed = [line.split("\t") for line in out if line]
    answers = run_ferry(oracle, kind, [p[1].encode() for p in printed])
    stats, bad = [0, 0], []
    for (i, text, millis), answer in zip(printed, answers):
        verdict, _, detail = answer.partition(" ")
        if millis == "\\N":  # not finite
            stats[verdict != "ok"] += 1
            if verdict == "ok":
                bad.append(f"ferry reads {text} as {detail} ms")
        elif verdict == "ok":
            stats[0] += 1
            if int(detail) != int(millis):
                bad.append(f"read otherwise: {text}: PostgreSQL {millis} ms, ferry {detail}")
        else:
            stats[1] += 1
            bad.append(f"ferry refuses {text}, which PostgreSQL prints")
    # Printed back: PostgreSQL makes of ferry's milliseconds the same instant, less its microseconds.
    if stats[0] and kind == "timestamptz":
        feed = "".join(f"{p[1]}\t{a.split()[1]}\n" for p, a in zip(printed, answers) if a.startswith("ok "))
        differ = psql("SET TimeZone = 'UTC'; CREATE TEMP TABLE b (v timestamptz, ms bigint); COPY b FROM STDIN;"
                      " SELECT count(*) FROM b WHERE NOT (v - ('epoch'::timestamptz + (ms / 86400000) * interval '1 day'"
                      " + (ms % 86400000) * interval '1 millisecond')"
                      " BETWEEN interval '0' AND interval '999 microseconds')", stdin=feed)
        if differ and differ[-1] != "0":
            bad.append(f"{differ[-1]} value(s) PostgreSQL prints back from ferry's milliseconds as another instant")
    return stats, bad


# ---- COPY text, against PostgreSQL's COPY FROM -------------------------------------------------------

PIECES = ["a", "Z", "9", " ", "é", "中", "😀", "\\\\", "\\t", "\\n", "\\r", "\\b", "\\f", "\\v", "\\x4", "\\x4a",
          "\\x7e", "\\101", "\\7", "\\60", "\\q", "\\x", "\\xg", "\\N", "N", "x"]  # no "\\.": COPY FROM takes it for the end of the data


def gen_field(r):
    if r.random() < 0.1:
        return "\\N"
    out = []
    for _ in range(r.randint(0, 6)):
        piece = r.choice(PIECES)
        if out and out[-1] == "\\x" and piece[0] in "9a":
            continue  # \x9a is byte 0x9a, no UTF-8, which COPY FROM refuses
        out.append(piece)
    return "".join(out)


def case_copy(oracle, r, count):
    ncols = 4  # a line number, then three text columns
    lines = [f"{i}\t" + "\t".join(gen_field(r) for _ in range(ncols - 1)) for i in range(count)]
    lines = [line for line in lines if line.split("\t", 1)[1] != "\\."]
    answers = run_ferry(oracle, "copy", [line.encode() for line in lines], str(ncols))
    out = psql("CREATE TEMP TABLE c (i int, a text, b text, d text); COPY c FROM STDIN;"
               " COPY (SELECT i, coalesce(encode(convert_to(a, 'UTF8'), 'hex'), 'N'),"
               " coalesce(encode(convert_to(b, 'UTF8'), 'hex'), 'N'), coalesce(encode(convert_to(d, 'UTF8'), 'hex'), 'N')"
               " FROM c ORDER BY i) TO STDOUT", stdin="\n".join(lines) + "\n")
    postgres = {int(f[0]): f[1:] for f in (line.split("\t") for line in out)}
    stats, bad = [0, 0], []
    for line, answer in zip(lines, answers):
        verdict, _, detail = answer.partition(" ")
        i = int(line.split("\t", 1)[0])
        if verdict != "ok":
            stats[1] += 1
            bad.append(f"ferry refuses ({detail}) a line COPY FROM reads: {line!r}")
            continue
        stats[0] += 1
        got = detail.split(" ")[1:]  # the line number's own value first
        if got != postgres.get(i):
            bad.append(f"read otherwise: PostgreSQL {postgres.get(i)}, ferry {got}: {line!r}")
    return stats, bad


# ---- UTF-8, against Python's strict decoder ----------------------------------------------------------

def gen_bytes(r):
    """Text that is mostly UTF-8: characters from every length and edge, a byte broken now and then."""
    edges = [0x41, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x10FFFF]
    out = bytearray()
    for _ in range(r.randint(0, 24)):
        cp = r.choice(edges) if r.random() < 0.3 else r.choice([r.randint(0x20, 0x7E), r.randint(0x80, 0x10FFFF)])
        if 0xD800 <= cp <= 0xDFFF:
            cp = 0xFFFD
        out += chr(cp).encode()
    for _ in range(r.choice([0, 0, 1, 2])):
        at = r.randint(0, len(out))
        out[at:at] = bytes([r.choice([0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xF5, 0xFF, r.randint(0x80, 0xFF)])])
    if out and r.random() < 0.1:
        del out[r.randint(0, len(out) - 1):]  # cut, perhaps inside a character
    if r.random() < 0.05:  # what Python's decoder must refuse too: surrogates, overlongs, past U+10FFFF
        out += r.choice([b"\xed\xa0\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf4\x90\x80\x80", b"\xf0\x8f\xbf\xbf"])
    return bytes(out)


def case_utf8(oracle, r, count):
    inputs = [gen_bytes(r) for _ in range(count)]
    answers = run_ferry(oracle, "utf8", inputs)
    stats, bad = [0, 0], []
    for data, answer in zip(inputs, answers):
        try:
            data.decode("utf-8", errors="strict")
            want = len(data)
        except UnicodeDecodeError as e:
            want = e.start
        stats[0 if want == len(data) else 1] += 1
        if int(answer) != want:
            bad.append(f"{data.hex()}: ferry finds {answer} bytes of UTF-8, Python {want}")
    return stats, bad


def main():
    oracle, kind, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    r = random.Random(seed)
    if kind == "json":
        stats, bad = case_json(oracle, r, count)
    elif kind == "numeric":
        stats, bad = case_numeric(oracle, r, count)
    elif kind == "copy":
        stats, bad = case_copy(oracle, r, count)
    elif kind == "utf8":
        stats, bad = case_utf8(oracle, r, count)
    else:
        stats, bad = case_time(oracle, kind, r, count)
    print(f"inputs {stats[0] + stats[1]} accepted {stats[0]} refused {stats[1]} mismatches {len(bad)}")
    for b in bad[:20]:
        print("  " + b[:600])


if __name__ == "__main__":
    main()
