"""SQL expressions of the matching engine: derived key columns, condition tests and differences.

Every condition is compiled to SQL over two row aliases, ``s`` (source) and ``t`` (target), using
the derived columns computed once when an input is loaded (normalized text, exact DECIMAL amounts,
UTC dates). Nothing here runs per row in Python.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Optional

import duckdb

from .inputs import ident, sql_str
from .rules import Algorithm, Condition, Normalize, Operator

# DuckDB writes a lambda `lambda x: body` since 1.3 (2.0 refuses the older `x -> body` unless a setting
# brings it back) and only `x -> body` before: 1.2 is the last release with wheels that load on Lambda's
# Amazon Linux 2 runtimes (docs/operations.md), so the engine writes the one its DuckDB reads (and, on 1.2,
# casts amounts and cuts allowances its own way: amount_cast, allowance_sql).
_DUCKDB_BEFORE_1_3 = tuple(int(x) for x in duckdb.__version__.split(".")[:2]) < (1, 3)


def lam(param: str, body: str) -> str:
    """A DuckDB lambda of one parameter returning ``body``."""
    return f"{param} -> {body}" if _DUCKDB_BEFORE_1_3 else f"lambda {param}: {body}"


AMOUNT_TYPE = "DECIMAL(38,10)"   # exact; 28 integer digits, 10 fractional digits
AMOUNT_SCALE = 10


def amount_cast(x: str) -> str:
    """``TRY_CAST(x AS AMOUNT_TYPE)``. DuckDB 1.2 casts text to a DECIMAL of 38 digits ~1,000 times slower
    than to one of 18 (30 µs a value): there the value is cast to DECIMAL(18,10) first (|x| < 10^8, the
    usual amount) and to 38 digits only when that fails. Same value either way."""
    if _DUCKDB_BEFORE_1_3:
        return f"COALESCE(CAST(TRY_CAST({x} AS DECIMAL(18,10)) AS {AMOUNT_TYPE}), TRY_CAST({x} AS {AMOUNT_TYPE}))"
    return f"TRY_CAST({x} AS {AMOUNT_TYPE})"

# ISO dates and timestamps (with Z or an offset) go through TIMESTAMPTZ in the UTC session zone;
# other spellings through strptime. Slash dates are day-first unless the column shows month-first.
# A two-digit year (%y: 00-68 → 20xx, 69-99 → 19xx) is tried first: %Y takes one to four digits, so
# %Y/%m/%d would read 20/02/26 as the year 20 and %d.%m.%Y 20.02.26 as the year 26; %y fails on a
# four-digit year, which then reads as %Y.
_TWO_DIGIT_YEAR = ["%d.%m.%y", "%d-%m-%y"]
_OTHER_FORMATS = ["%Y/%m/%d", "%d.%m.%Y", "%d-%m-%Y", "%Y%m%d", "%d %b %Y", "%d-%b-%Y", "%b %d %Y",
                  "%b %d, %Y", "%d %B %Y", "%B %d, %Y", "%Y/%m/%d %H:%M:%S", "%d.%m.%Y %H:%M:%S",
                  # with a time of minutes, other separators, a weekday, a full month name, digits only
                  "%d.%m.%Y %H:%M", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%Y.%m.%d", "%Y/%m/%d %H:%M",
                  "%d %b %Y %H:%M", "%d %b %Y %H:%M:%S", "%d/%b/%Y", "%d/%b/%Y:%H:%M:%S", "%a, %d %b %Y",
                  "%a, %d %b %Y %H:%M:%S", "%a %d %b %Y", "%B %d %Y", "%Y%m%d%H%M%S"]
_DAY_FIRST = ["%d/%m/%Y", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y %I:%M %p", "%d/%m/%Y %I:%M:%S %p"]
_MONTH_FIRST = ["%m/%d/%Y", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p"]


def _year_written(cast: str, text: str) -> str:
    """``cast`` (a DATE from DuckDB's cast of ``text``) unless it has a year before 1000 that the
    text does not write with four digits: the cast reads 20/02/26 and 20-02-26 as 26 February of
    the year 20 (year, month, day); those go on to the day-first and two-digit-year spellings."""
    return (f"(CASE WHEN {cast} >= DATE '1000-01-01' OR regexp_full_match({text}, '\\s*[0-9]{{4}}[^0-9].*') "
            f"THEN {cast} END)")


@dataclass(frozen=True)
class Feature:
    """A derived column: one input column read as text (normalized), amount or date."""
    column: str
    kind: str                       # "text" | "amount" | "date"
    normalize: tuple[str, ...] = ()

    def expr(self, col_type: str, month_first: bool = False, decimal_comma: bool = False,
             value: Optional[str] = None) -> str:
        """The SQL of this feature; ``value``, when given, is the SQL read in place of the column
        (its text after an amount's or date's reading steps)."""
        c = value or ident(self.column)
        if self.kind == "amount":
            if col_type == "VARCHAR":
                if decimal_comma:   # 1.234,56 is read as 1,234.56 (the column's separators swapped)
                    c = f"translate({c}, '.,', ',.')"
                # the cast itself skips ASCII white space; trim() (also no-break spaces) only when it
                # fails, and the spellings of accounting exports only for the values left
                return (f"COALESCE({amount_cast(c)}, TRY_CAST(trim({c}) AS {AMOUNT_TYPE}), "
                        f"{accounting_amount_sql(c)})")
            return amount_cast(c)
        if self.kind == "date":
            if col_type in ("DATE",):
                return c
            if col_type.startswith("TIMESTAMP"):
                return f"CAST({c} AS DATE)"
            fmts = ([("%m/%d/%y" if month_first else "%d/%m/%y")] + _TWO_DIGIT_YEAR + _OTHER_FORMATS
                    + (_MONTH_FIRST if month_first else _DAY_FIRST))
            lst = "[" + ", ".join(sql_str(f) for f in fmts) + "]"
            raw = c if col_type == "VARCHAR" else f"CAST({c} AS VARCHAR)"
            # plain dates (the common case) skip the timestamp parsers: first as stored (the cast
            # skips ASCII white space); the other spellings, trimmed, only for the rows left (a cast
            # to DATE would drop a UTC offset, so longer values go through TIMESTAMPTZ). The trimmed
            # value is bound once inside a lambda: written out several times, the optimizer would
            # compute it ahead for every row as a common subexpression.
            rest = (f"list_transform([trim({raw})], " + lam("y", "COALESCE("
                    f"{_year_written('CASE WHEN length(y) <= 10 THEN TRY_CAST(y AS DATE) END', 'y')}, "
                    f"{_year_written('CAST(TRY_CAST(y AS TIMESTAMPTZ) AS DATE)', 'y')}, "
                    f"CAST(try_strptime(y, {lst}) AS DATE))") + ")[1]")
            first = _year_written(f"CASE WHEN length({raw}) <= 10 THEN TRY_CAST({raw} AS DATE) END", raw)
            return f"COALESCE({first}, {rest})"
        # an ASCII value (the usual case) needs neither the compatibility folding, nor the
        # multi-character case mappings, nor NFC: it takes the plain steps; one test decides, once
        # (the folded value is bound once inside a lambda: written out several times by the steps,
        # the optimizer would compute it ahead for every row as a common subexpression)
        raw = f"CAST({c} AS VARCHAR)"
        plain, full = raw, "u"
        for n in self.normalize:
            plain, full = normalize_sql(plain, n, ascii=True), normalize_sql(full, n)
        full = f"list_transform([{compat_fold_sql(raw)}], {lam('u', f'nfc_normalize({full})')})[1]"
        return f"NULLIF(CASE WHEN {_non_ascii(raw)} THEN {full} ELSE {plain} END, '')"


# 1234.56, or thousands in groups of 3 digits by one separator: 1,234.56, 1 234.56 (a space, no-break or thin
# space as French exports write), 1'234.56 or 1’234.56 (Swiss); never two kinds in one value
_DIGITS = ("(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,3}(?: [0-9]{3})+|[0-9]{1,3}(?:[''\u2019][0-9]{3})+|[0-9]+)"
           "(?:\\.[0-9]+)?")
_GROUP_SEPARATORS = "'[, ''\u2019]'"


def accounting_amount_sql(c: str) -> str:
    """An amount as accounting exports write it: thousands separators (1,234.56, 1 234.56, 1'234.56), a negative in
    parentheses ((12.50)) or with a trailing minus (12.50-), a currency symbol before or after
    ($12.50, -€12.50, 12.50 €) or a currency code (EUR 12.50, 12.50 USD). A comma is a thousands separator only (1,234 is 1234); a column
    written with decimal commas (1.234,56) comes here with its separators swapped (Feature.expr). A lone minus sign is
    zero, as accounting formats write it ($ -); full-width digits (１２.５０) are digits, and the minus
    sign U+2212 (−12.50, as typeset reports write it) is a minus."""
    # white space at the ends and a currency symbol with the white space next to it go; what is left
    # must be one of the forms. (Not trim(): written a second time beside the cast of the trimmed
    # value, the optimizer would compute it ahead for every row.)
    # (and a currency code of three capitals at either end: EUR 12.50, 12.50 EUR, as bank exports write)
    y = (f"regexp_replace(replace({compat_fold_sql(c)}, '\u2212', '-'), '^[\\s\\pZ]*[A-Z]{{3}}[\\s\\pZ]*|^[\\s\\pZ]+"
         f"|[\\s\\pZ]*[A-Z]{{3}}[\\s\\pZ]*$|[\\s\\pZ]+$|[\\s\\pZ]*\\p{{Sc}}[\\s\\pZ]*', '', 'g')")
    plain = f"TRY_CAST(regexp_replace(y, {_GROUP_SEPARATORS}, '', 'g') AS {AMOUNT_TYPE})"
    return (f"list_transform([{y}], " + lam("y", f"CASE WHEN y = '-' THEN CAST(0 AS {AMOUNT_TYPE}) "
            f"WHEN regexp_full_match(y, '[-+]?{_DIGITS}') THEN {plain} "
            f"WHEN regexp_full_match(y, '\\({_DIGITS}\\)|{_DIGITS}-') "
            f"THEN -TRY_CAST(regexp_replace(regexp_replace(y, '[()-]', '', 'g'), {_GROUP_SEPARATORS}, '', 'g') "
            f"AS {AMOUNT_TYPE}) END") + ")[1]")


# Compatibility characters (Unicode NFKC) that financial keys meet: the full-width forms of ASCII
# (ＩＮＶ－００１２ is INV-0012, U+FF01-U+FF5E) and the spaces whose NFKC form is a space (no-break,
# en, thin, narrow no-break, ideographic ...). DuckDB has no NFKC, and translate() with such a table
# reads the whole table for every value (~23 µs a value for 300 characters): the characters are
# mapped one by one, by arithmetic on the code point, and only in values a regular expression finds
# such a character in (~0.2 µs); ASCII values skip even that (see Feature.expr).
_SPACES = [i for i in range(0xA0, 0x3001) if unicodedata.normalize("NFKC", chr(i)) == " "]
_COMPAT_CHARS = "\uff01-\uff5e" + "".join(chr(i) for i in _SPACES)

# Unicode's full upper-case mapping where it is not one character for one (SpecialCasing): ß is SS,
# ﬁ is FI, ŉ is ʼN ... DuckDB's upper() maps such a character to one character (ß to ẞ) or keeps it.
# The capital ẞ is written SS too, so straße, STRASSE and STRAẞE meet under UPPER (and LOWER).
_SPECIAL_UPPER = sorted({ch: ch.upper() for ch in map(chr, range(0x80, 0x10000))
                         if not 0xD800 <= ord(ch) < 0xE000 and len(ch.upper()) > 1}.items()) + [("\u1e9e", "SS")]


def _non_ascii(x: str) -> str:
    return f"strlen({x}) <> length({x})"


def _per_char(x: str, chars: str, mapped: str) -> str:
    """``x`` with each character mapped by ``mapped`` (SQL of the mapped text of character ``ch``),
    only when ``x`` holds one of ``chars`` (a regular-expression class; none is ASCII)."""
    return (f"(CASE WHEN regexp_matches({x}, {sql_str('[' + chars + ']')}) THEN "
            f"array_to_string(list_transform(string_split({x}, ''), {lam('ch', mapped)}), '') ELSE {x} END)")


def compat_fold_sql(x: str) -> str:
    """``x`` with the compatibility characters above replaced: the full-width forms of ASCII by
    arithmetic on the code point, the spaces as ' '."""
    mapped = (f"list_transform([ord(ch)], " + lam("o", "CASE WHEN o BETWEEN 65281 AND 65374 THEN chr(o - 65248) "
              f"WHEN o IN ({', '.join(map(str, _SPACES))}) THEN ' ' ELSE ch END") + ")[1]")
    return _per_char(x, _COMPAT_CHARS, mapped)


def _full_case_sql(lower: bool, x: str) -> str:
    """Unicode's full upper case of ``x`` (the multi-character mappings of _SPECIAL_UPPER, then
    upper()), or its lower case: the lower case of the full upper case, so that LOWER compares as
    UPPER does (straße and STRASSE are strasse, ς and Σ are σ). ß and ẞ, by far the most common,
    by replace(); the others character by character, looked up by strpos() in a string of them."""
    rare = [(a, b) for a, b in _SPECIAL_UPPER if a not in ("ß", "\u1e9e")]
    keys = "".join(a for a, _ in rare)
    values = "[" + ", ".join(sql_str(b) for _, b in rare) + "]"
    mapped = (f"list_transform([strpos({sql_str(keys)}, ch)], "
              + lam("i", f"CASE WHEN i > 0 THEN {values}[i] ELSE ch END") + ")[1]")
    expanded = _per_char(f"replace(replace({x}, 'ß', 'SS'), '\u1e9e', 'SS')", keys, mapped)
    return f"lower(upper({expanded}))" if lower else f"upper({expanded})"


#: Unicode white space (the White_Space property) as RE2 reads it: \s is only [\t\n\f\r ] and \pZ the separators;
#: the vertical tab U+000B and next line U+0085 are white space too (Python's str.strip removes them)
_WS = "[\\s\\x0B\\x{85}\\pZ]"


def normalize_sql(x: str, n: str, ascii: bool = False) -> str:
    """The SQL of normalize step ``n`` on ``x``; ``ascii``: ``x`` is known to be ASCII text (the
    case mappings are then DuckDB's upper() and lower())."""
    if n == Normalize.TRIM.value:
        # a value that starts and ends with a visible ASCII character has nothing to trim: only the
        # others go through the (much slower) regular expression. For ASCII text the characters are
        # its bytes: ord() of the first and of the byte at strlen() (0.08 s per million values,
        # where x[1] and x[-1], which find characters in UTF-8, took 0.18 s: as much as the
        # regular expression)
        if ascii:
            visible = f"ord({x}) BETWEEN 33 AND 126 AND ord(substr({x}, strlen({x}))) BETWEEN 33 AND 126"
        else:
            visible = f"{x}[1] BETWEEN '!' AND '~' AND {x}[-1] BETWEEN '!' AND '~'"
        return (f"(CASE WHEN {visible} THEN {x} "
                f"ELSE regexp_replace({x}, '^{_WS}+|{_WS}+$', '', 'g') END)")
    if n == Normalize.UPPER.value:
        return f"upper({x})" if ascii else _full_case_sql(False, x)
    if n == Normalize.LOWER.value:
        return f"lower({x})" if ascii else _full_case_sql(True, x)
    if n == Normalize.REMOVE_PUNCTUATION.value:
        return f"regexp_replace({x}, '[\\pP]', '', 'g')"
    if n == Normalize.DIGITS_ONLY.value:
        return f"regexp_replace({x}, '[^0-9]', '', 'g')"
    if n == Normalize.STRIP_LEADING_ZEROS.value:
        return f"(CASE WHEN ltrim({x}, '0') = '' AND {x} <> '' THEN '0' ELSE ltrim({x}, '0') END)"
    raise ValueError(n)


def dec_literal(v: Decimal) -> str:
    return f"CAST({sql_str(format(v, 'f'))} AS {AMOUNT_TYPE})"


def rate_literal(percent: Decimal) -> str:
    """percent / 100 as an exact decimal of the fewest decimals it needs: a product with an amount
    (scale 10) then keeps 38 − 10 − its decimals integer digits (DECIMAL(18,10) left 18, so the
    allowance of 10 % of 1e20 overflowed), and the rate is never rounded (a percent has at most 6
    decimals: at most 8 here)."""
    rate = (Decimal(percent) / 100).normalize()
    scale = max(0, -rate.as_tuple().exponent)
    return f"CAST({sql_str(format(rate, 'f'))} AS DECIMAL(38,{scale}))"


def allowance_sql(c: Condition, base: str) -> str:
    """The tolerated absolute difference for the source amount ``base`` (larger allowance wins)."""
    parts = []
    if c.absolute is not None:
        parts.append(dec_literal(c.absolute))
    if c.percent is not None:
        # cut (not rounded) to the amounts' 10 decimals: a difference of at most 10 decimals is within
        # the exact allowance exactly when it is within the cut one
        product = f"abs({base}) * {rate_literal(c.percent)}"
        if _DUCKDB_BEFORE_1_3:
            # DuckDB 1.2 has no trunc(DECIMAL, n): a non-negative value less half a unit of the 10th decimal,
            # rounded half up to 10 decimals, is the value cut there (and 0 stays 0)
            cut = f"round(greatest({product} - CAST('0.00000000005' AS DECIMAL(38,11)), 0), {AMOUNT_SCALE})"
        else:
            cut = f"trunc({product}, {AMOUNT_SCALE})"
        parts.append(f"CAST({cut} AS {AMOUNT_TYPE})")
    return parts[0] if len(parts) == 1 else f"greatest({parts[0]}, {parts[1]})"


def _by_characters(fn: str, a: str, b: str) -> str:
    """``fn(a, b)`` of DuckDB's `levenshtein` or `jaro_winkler_similarity`, counted in characters. Both count
    UTF-8 bytes (`levenshtein('Müller', 'Muller')` is 2, and a ratio over `length()` went below 0): two ASCII
    values are compared as they are; otherwise each character of the pair is first replaced by one ASCII
    character, its place in the pair's alphabet (injective, so the distance and the similarity are those of
    the characters). The pair's splits and alphabet are bound inside lambdas, so that DuckDB computes them
    only for the pairs that take this branch. A pair of more than 127 distinct characters (texts, not names)
    is compared as bytes."""
    ascii_pair = f"strlen({a}) = length({a}) AND strlen({b}) = length({b})"
    code = lam("ch", "chr(list_position(al, ch))")
    mapped = (f"list_transform([list_distinct(p[1] || p[2])], "
              + lam("al", f"CASE WHEN len(al) > 127 THEN {fn}(p[3], p[4]) ELSE "
                          f"{fn}(array_to_string(list_transform(p[1], {code}), ''), "
                          f"array_to_string(list_transform(p[2], {code}), '')) END") + ")[1]")
    pair = f"[[string_split({a}, ''), string_split({b}, ''), [{a}], [{b}]]]"
    # p[3], p[4]: the values themselves, as one-element lists (a list literal needs one element type)
    mapped = mapped.replace("p[3]", "p[3][1]").replace("p[4]", "p[4][1]")
    return f"(CASE WHEN {ascii_pair} THEN {fn}({a}, {b}) ELSE list_transform({pair}, {lam('p', mapped)})[1] END)"


def similarity_sql(algorithm: Algorithm, a: str, b: str) -> str:
    if algorithm is Algorithm.JARO_WINKLER:
        return _by_characters("jaro_winkler_similarity", a, b)
    if algorithm is Algorithm.LEVENSHTEIN_RATIO:
        return (f"(CASE WHEN greatest(length({a}), length({b})) = 0 THEN 1.0 ELSE "
                f"1.0 - {_by_characters('levenshtein', a, b)} / greatest(length({a}), length({b})) END)")
    # a null is no text (list_concat skips a null list: two nulls would read as two empty word sets, 1.0)
    ta, tb = _tokens(a), _tokens(b)
    return (f"(CASE WHEN {a} IS NULL OR {b} IS NULL THEN NULL "
            f"WHEN len(list_distinct(list_concat({ta}, {tb}))) = 0 THEN 1.0 ELSE "
            f"len(list_intersect({ta}, {tb})) / len(list_distinct(list_concat({ta}, {tb}))) END)")


def _tokens(x: str) -> str:
    """TOKEN_SET's set of white-space separated words of ``x``."""
    keep = lam("x", "x <> ''")
    return f"list_distinct(list_filter(string_split_regex({x}, '{_WS}+'), {keep}))"


# JARO_WINKLER is a double from DuckDB a few units of the 16th decimal off its exact (rational)
# value: JONSON / JANSEN is exactly 0.8 and computes as 0.7999999999999999
SIMILARITY_MARGIN = 1e-9


def similarity_test_sql(algorithm: Algorithm, a: str, b: str, threshold: float) -> str:
    """``similarity >= threshold``, bound included. The two ratios are compared exactly, in
    integers and the threshold as written (as a double, 1 − 4/5 is 0.19999999999999996, so a pair
    exactly at a threshold of 0.2 failed it); JARO_WINKLER within SIMILARITY_MARGIN."""
    th = f"CAST({sql_str(threshold_text(threshold))} AS DECIMAL(18,10))"
    if algorithm is Algorithm.LEVENSHTEIN_RATIO:
        m = f"greatest(length({a}), length({b}))"
        return f"(CASE WHEN {m} = 0 THEN true ELSE {m} - {_by_characters('levenshtein', a, b)} >= {th} * {m} END)"
    if algorithm is Algorithm.TOKEN_SET:
        ta, tb = _tokens(a), _tokens(b)
        union = f"len(list_distinct(list_concat({ta}, {tb})))"
        return (f"(CASE WHEN {a} IS NULL OR {b} IS NULL THEN NULL WHEN {union} = 0 THEN true "
                f"ELSE len(list_intersect({ta}, {tb})) >= {th} * {union} END)")
    return f"{similarity_sql(algorithm, a, b)} >= {float(threshold) - SIMILARITY_MARGIN!r}"


def threshold_text(threshold: float) -> str:
    """The threshold as the rule set wrote it (0.9, not 0.90000000000000002)."""
    return format(Decimal(repr(float(threshold))), "f")


def similarity_text_sql(sim: str, threshold: float) -> str:
    """A similarity as a sentence writes it: to two decimals (more when the threshold has more),
    rounded down, so that a value below the threshold never reads as the threshold (0.8996 with a
    threshold of 0.9 is 0.89, not 0.90). The margin keeps a value the double holds just below its
    exact value (4/7 as 0.5714285714285713) from losing a digit."""
    places = max(2, -Decimal(threshold_text(threshold)).as_tuple().exponent)
    # the margin well below the last place written (at 10 places, 1e-9 wrote 0.8333333333 as 0.8333333343)
    margin = min(SIMILARITY_MARGIN, 10.0 ** -(places + 2))
    return f"printf('%.{places}f', floor(({sim} + {margin!r}) * 1e{places}) / 1e{places})"


def fmt_decimal(x: str, scale: int = 0) -> str:
    """Exact decimal as text without trailing fractional zeros beyond ``scale`` decimals — the scale
    of the amounts compared, so a difference reads like them (0.3700000000 → 0.37; 1.5000000000 →
    1.50 at scale 2, 1.5 at scale 0); digits are never dropped."""
    # at scale 10 the text always has a decimal point, so trimming zeros never eats integer digits;
    # the value is written once (repeated, it would be cast ahead for every row, taken branch or not)
    text = f"CAST(CAST({x} AS {AMOUNT_TYPE}) AS VARCHAR)"
    if scale <= 0:
        return f"rtrim(rtrim({text}, '0'), '.')"
    keep = AMOUNT_SCALE - min(scale, AMOUNT_SCALE)
    body = f"left(v, greatest(length(rtrim(v, '0')), length(v) - {keep}))"
    return f"list_transform([{text}], {lam('v', body)})[1]"


@dataclass(frozen=True)
class CondSQL:
    """One condition compiled for the aliases s and t."""
    index: int
    cond: Condition
    s: str            # source derived column (qualified)
    t: str            # target derived column (qualified)
    scale: int = 0    # amounts: decimals of the compared values (how differences are written)

    @property
    def op(self) -> Operator:
        return self.cond.operator

    def test(self) -> str:
        c, s, t = self.cond, self.s, self.t
        if c.operator is Operator.EQUALS:
            return f"{s} = {t}"
        if c.operator is Operator.AMOUNT_TOLERANCE:
            allow = allowance_sql(c, s)
            return f"{t} BETWEEN {s} - {allow} AND {s} + {allow}"
        if c.operator is Operator.DATE_WINDOW:
            b, a = c.days()
            return f"{t} BETWEEN {s} - {b} AND {s} + {a}"
        return similarity_test_sql(c.algorithm, s, t, c.threshold)

    def similarity(self) -> str:
        return similarity_sql(self.cond.algorithm, self.s, self.t)

    def amount_diff(self) -> str:          # signed, target − source
        return f"({self.t} - {self.s})"

    def date_diff(self) -> str:            # signed days, target − source
        return f"date_diff('day', {self.s}, {self.t})"

    def detail(self) -> str:
        """A SQL text expression: the human sentence for a pair that fails this condition."""
        c = self.cond
        if c.operator is Operator.AMOUNT_TOLERANCE:
            return (f"'{_q(c.source)} differs by ' || {fmt_decimal(f'abs({self.amount_diff()})', self.scale)} || "
                    f"'; tolerance ' || {fmt_decimal(allowance_sql(c, self.s), self.scale)}")
        # two columns of the same name are told apart by their side ('date is 5 days after date' read
        # like a date compared with itself)
        tn, sn = ((f"target {c.target}", f"source {c.source}") if c.target == c.source else (c.target, c.source))
        if c.operator is Operator.DATE_WINDOW:
            d = self.date_diff()
            return (f"'{_q(tn)} is ' || abs({d}) || ' day' || (CASE WHEN abs({d}) = 1 THEN '' ELSE 's' END) || "
                    f"(CASE WHEN {d} < 0 THEN ' before ' ELSE ' after ' END) || '{_q(sn)}; window "
                    f"{window_text(c)}'")
        if c.operator is Operator.SIMILARITY:
            return (f"'{_q(tn)} is ' || {similarity_text_sql(self.similarity(), c.threshold)} || "
                    f"' similar to {_q(sn)} ({c.algorithm.value}); threshold {threshold_text(c.threshold)}'")
        return f"'{_q(c.source)} differs from {_q(c.target)}'"


def window_text(c: Condition, around_target: bool = False) -> str:
    """A DATE_WINDOW's days as a sentence says them: '0 days before to 1 day after' (around a source date);
    ``around_target``: the same window seen from a target date, where the source dates lie (target within
    [s − before, s + after] is source within [t − after, t + before]: '1 day before to 0 days after')."""
    b, a = c.days()
    if around_target:
        b, a = a, b
    return f"{b} day{'s' if b != 1 else ''} before to {a} day{'s' if a != 1 else ''} after"


def _q(s: str) -> str:
    return s.replace("'", "''")


def optional(x: Optional[str], default: str = "NULL") -> str:
    return x if x else default
