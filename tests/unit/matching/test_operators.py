"""Operators: normalize, exact decimal tolerances, date windows and formats, similarity algorithms."""
import re

import pytest

from chalicelib.matching import InputError

from .helpers import eq, match, p, rule_set, run_files, sim, tol, window

H = ["id", "v", "w"]


def pairs_for(tmp_path, cond, src_vals, tgt_vals, out="out", extra=None):
    """Source row i has value src_vals[i] (id s<i>), target j has tgt_vals[j] (id t<j>)."""
    conds = [cond] + (extra or [])
    rs = rule_set(p("p", *conds))
    o = match(tmp_path, H, [[f"s{i}", v, "x"] for i, v in enumerate(src_vals)],
              H, [[f"t{i}", v, "x"] for i, v in enumerate(tgt_vals)], rs, out=out)
    return {(m["source_key"], m["target_key"]) for m in o.matched}, o


@pytest.mark.parametrize("normalize,src,tgt,expected", [
    (["TRIM"], "  ab c\u00a0", "ab c", True),
    (["TRIM"], " ab", "AB", False),
    (["TRIM", "UPPER"], " ab ", "AB", True),
    (["LOWER"], "ÄBC", "äbc", True),
    (["REMOVE_PUNCTUATION"], "INV-00.12/3", "INV00123", True),
    (["DIGITS_ONLY"], "INV 00-123", "00123", True),
    (["DIGITS_ONLY", "STRIP_LEADING_ZEROS"], "INV 00-123", "123", True),
    (["STRIP_LEADING_ZEROS"], "000", "0", True),
    (["STRIP_LEADING_ZEROS"], "0012", "12", True),
    (None, "ab", "ab ", False),
    # Unicode's full case mapping: ß is SS under UPPER (DuckDB's upper() made it ẞ), and the capital ẞ too
    (["UPPER"], "straße", "STRASSE", True),
    (["TRIM", "UPPER"], " Straße ", "STRAẞE", True),
    (["LOWER"], "STRASSE", "straße", True),
    (["UPPER"], "ﬁnance", "FINANCE", True),
    (["LOWER"], "ΟΔΟΣ", "οδος", True),
    (None, "straße", "STRASSE", False),
    # compatibility characters (NFKC): full-width letters and digits, no-break and ideographic spaces
    (None, "ＩＮＶ－００１２", "INV-0012", True),
    (["DIGITS_ONLY"], "ＩＮＶ ００１２", "0012", True),
    (["TRIM", "UPPER"], "\u3000ｉｎｖ\u00a0１２\u3000", "INV 12", True),
    (None, "ACME\u202fLtd", "ACME Ltd", True),
    (None, "m²", "m3", False),
])
def test_normalize(tmp_path, normalize, src, tgt, expected):
    got, _ = pairs_for(tmp_path, eq("v", normalize=normalize), [src], [tgt])
    assert (got == {("s0", "t0")}) is expected


def test_trim_removes_exactly_white_space_and_unicode_separators_at_both_ends():
    """TRIM strips Unicode white space (the White_Space property: tab, newline, vertical tab, form feed,
    carriage return, space, next line U+0085, and the separator categories Zs, Zl, Zp) from both ends,
    whatever the edge characters are (a value with visible ASCII at both ends takes a shortcut, the others
    the full rule). The vertical tab and U+0085 were kept (RE2's \\s is only [\\t\\n\\f\\r ])."""
    import sys
    import unicodedata

    import duckdb

    from chalicelib.matching.sqlparts import normalize_sql

    strip = "\t\n\x0b\f\r \x85" + "".join(ch for ch in map(chr, range(sys.maxunicode + 1))
                                  if unicodedata.category(ch) in ("Zs", "Zl", "Zp"))
    edges = ["", "a", "~", "!", "é", "\u00a0", "\u3000", " ", "\t", "\x0b", "\x85", "\x1c", "\x7f", "\u2028", "\u200b",
             "1", "ü\u00a0"]
    values = [a + mid + b for a in edges for b in edges for mid in ("", "x", " x y ")]
    con = duckdb.connect()
    got = con.execute(f"SELECT v, {normalize_sql('v', 'TRIM')} FROM unnest(?::VARCHAR[]) u(v)", [values]).fetchall()
    assert len(got) == len(values)
    assert {v: t for v, t in got} == {v: v.strip(strip) for v in values}
    # ASCII text (the plain steps) tests its edges by byte
    ascii = [v for v in values if v.isascii()] + ["\x00a", "a\x1f", "\x1f", "\x7f\x7f"]
    got = con.execute(f"SELECT v, {normalize_sql('v', 'TRIM', ascii=True)} FROM unnest(?::VARCHAR[]) u(v)",
                      [ascii]).fetchall()
    assert len(got) == len(ascii) > 100
    assert {v: t for v, t in got} == {v: v.strip(strip) for v in ascii}


def test_upper_lower_and_compatibility_forms_follow_python_for_every_character():
    """UPPER is Unicode's full upper-case mapping (str.upper: ß → SS, ﬁ → FI, ᾳ → ΑΙ) with ẞ → SS;
    LOWER the lower case of that; every text value first has the full-width forms of ASCII and the
    spaces replaced by their NFKC form."""
    import unicodedata

    import duckdb

    from chalicelib.matching.sqlparts import Feature

    compat = {i: unicodedata.normalize("NFKC", chr(i)) for i in range(0x80, 0x10000)
              if 0xFF01 <= i <= 0xFF5E or unicodedata.normalize("NFKC", chr(i)) == " "}
    values = [f"a{chr(i)}b" for i in range(0x20, 0x10000) if not 0xD800 <= i < 0xE000]

    def upper(v):
        return v.translate(compat).upper().replace("\u1e9e", "SS")

    expected = {"UPPER": upper, "LOWER": lambda v: upper(v).lower().replace("i\u0307", "i"),  # İ: DuckDB's i
                None: lambda v: v.translate(compat)}
    con = duckdb.connect()
    for norm, fn in expected.items():
        sql = Feature("v", "text", (norm,) if norm else ()).expr("VARCHAR")
        got = dict(con.execute(f"SELECT v, {sql} FROM unnest(?::VARCHAR[]) u(v)", [values]).fetchall())
        want = {v: unicodedata.normalize("NFC", fn(v)) for v in values}
        assert {v: g for v, g in got.items() if g != want[v]} == {}, norm


def test_unicode_composed_and_decomposed_forms_are_equal(tmp_path):
    got, _ = pairs_for(tmp_path, eq("v"), ["Caf\u00e9 M\u00fcller"], ["Cafe\u0301 Mu\u0308ller"])
    assert got == {("s0", "t0")}


def test_amounts_are_exact_decimals(tmp_path):
    # 0.1 + 0.2 = 0.3 exactly: a group of two rows summing to the source, zero tolerance
    rs = rule_set(p("sum", eq("ref"), tol("amount", absolute="0", aggregate="SUM"),
                    cardinality="ONE_TO_MANY", group_by={"target": ["ref"]}))
    o = match(tmp_path, ["id", "ref", "amount"], [["s1", "A", "0.3"]],
              ["id", "ref", "amount"], [["t1", "A", "0.1"], ["t2", "A", "0.2"]], rs)
    assert o.pairs() == [("1", "s1", "t1"), ("1", "s1", "t2")]
    assert o.matched[0]["amount_difference"] == "0"
    # and numerically equal spellings are equal amounts
    got, _ = pairs_for(tmp_path, tol("v", absolute="0"), ["10.50", "-3"], ["-3.000", "10.5"], out="o3")
    assert got == {("s0", "t1"), ("s1", "t0")}


def test_absolute_tolerance_bounds_are_inclusive(tmp_path):
    got, o = pairs_for(tmp_path, tol("v", absolute="0.01"), ["100.00", "200.00"], ["100.01", "200.02"],
                       extra=[eq("w")])
    assert got == {("s0", "t0")}
    assert o.unmatched()["s1"]["_detail"] == "v differs by 0.02; tolerance 0.01"


@pytest.mark.parametrize("src, tgt, tolerance, detail", [
    ("236.28", "234.78", "0.01", "v differs by 1.50; tolerance 0.01"),     # two decimals, as the amounts
    ("236.28", "231.28", "1", "v differs by 5.00; tolerance 1.00"),       # the tolerance too
    ("1.00", "1.01", "0.005", "v differs by 0.01; tolerance 0.005"),      # never fewer digits than it has
    ("236", "231", "1", "v differs by 5; tolerance 1"),                    # whole amounts stay whole
    ("10.5", "12.125", "0.5", "v differs by 1.625; tolerance 0.500"),      # the most decimals of the two
    ("1.10", "1.00", "0.05", "v differs by 0.10; tolerance 0.05")])
def test_differences_are_written_with_the_decimals_of_the_amounts(tmp_path, src, tgt, tolerance, detail):
    got, o = pairs_for(tmp_path, tol("v", absolute=tolerance), [src], [tgt], extra=[eq("w")])
    assert got == set() and o.unmatched()["s0"]["_detail"] == detail


def test_a_tolerated_difference_is_written_with_the_decimals_of_the_amounts(tmp_path):
    got, o = pairs_for(tmp_path, tol("v", absolute="0.50"), ["10.00", "7.25"], ["10.30", "7.25"], extra=[eq("w")])
    assert got == {("s0", "t0"), ("s1", "t1")}
    assert sorted(m["amount_difference"] for m in o.matched) == ["0", "0.30"]


def test_written_differences_never_lose_digits():
    import duckdb

    from chalicelib.matching.sqlparts import fmt_decimal

    con = duckdb.connect()
    for value, scale, text in (("0.005", 2, "0.005"), ("1.5", 2, "1.50"), ("1.5", 0, "1.5"), ("7", 2, "7.00"),
                               ("7", 0, "7"), ("-0.1", 3, "-0.100"), ("0.0000000001", 10, "0.0000000001"),
                               ("12", 10, "12.0000000000")):
        got = con.execute(f"SELECT {fmt_decimal(f'CAST({value!r} AS DECIMAL(38,10))', scale)}").fetchone()[0]
        assert got == text, (value, scale, got)


def test_percent_of_the_source_value_and_the_larger_allowance(tmp_path):
    # 1% of 200 = 2.00: 202.00 in, 202.01 out
    got, _ = pairs_for(tmp_path, tol("v", percent="1"), ["200", "200"], ["202.00", "202.01"])
    assert got == {("s0", "t0")} or got == {("s1", "t0")}
    assert len(got) == 1
    # both: max(0.50, 1% of 10 = 0.10) = 0.50
    got, _ = pairs_for(tmp_path, tol("v", absolute="0.50", percent="1"), ["10"], ["10.50"], out="o2")
    assert got == {("s0", "t0")}
    # both: max(0.50, 1% of 1000 = 10) = 10
    got, _ = pairs_for(tmp_path, tol("v", absolute="0.50", percent="1"), ["1000"], ["990"], out="o3")
    assert got == {("s0", "t0")}


def test_negative_amounts_and_refunds(tmp_path):
    # percent of a negative source value uses its size; a refund never matches its charge
    got, _ = pairs_for(tmp_path, tol("v", percent="10"), ["-50.00", "50.00"], ["54.99", "-54.99"])
    assert got == {("s0", "t1"), ("s1", "t0")}
    got, o = pairs_for(tmp_path, tol("v", percent="10"), ["-50.00"], ["-55.01", "55.00"], out="o2",
                       extra=[eq("w")])
    assert got == set()
    assert o.unmatched()["s0"]["_detail"] == "v differs by 5.01; tolerance 5.00"   # 10% of 50.00
    got, _ = pairs_for(tmp_path, tol("v", absolute="0"), ["-12.30"], ["-12.3"], out="o3")
    assert got == {("s0", "t0")}


def test_non_numeric_amount_is_an_error_naming_the_line(tmp_path):
    with pytest.raises(InputError, match=r"^target input: line 3: v 'twelve' is not an amount \(read are -1234\.56, "
                                         r"1,234\.56, \(1,234\.56\), 1,234\.56-, \$1,234\.56, and 1\.234,56 in a column written "
                                         r"with decimal commas: one whose first 100,000 values hold none such as 1\.50\)$"):
        pairs_for(tmp_path, tol("v", absolute="1"), ["1"], ["1", "twelve"])


@pytest.mark.parametrize("written,plain", [
    ("1,234.56", "1234.56"), ("(12.50)", "-12.50"), ("12.50-", "-12.5"), ("$12.50", "12.50"),
    ("12.50 €", "12.5"), ("-€12.50", "-12.50"), ("(€1,234.00)", "-1234"), ("+1,000,000.00", "1000000"),
    ("£ 5", "5.00"), ("1,234", "1234"),
    # a lone minus is zero in accounting formats ($ - in Excel's); full-width digits are digits
    ("-", "0"), ("$ -", "0.00"), (" - ", "0"), ("１２.５０", "12.5"), ("（１,２３４.００）", "-1234"),
    # thousands grouped by a space (no-break and narrow no-break too) or an apostrophe: French and Swiss exports
    ("1 234.56", "1234.56"), ("1\u00a0234 567.5", "1234567.50"), ("(1\u202f234.00)", "-1234"), ("1'234.56", "1234.56"),
    ("1\u2019234.50-", "-1234.5"),
    # the minus sign U+2212 of typeset reports
    ("\u221212.50", "-12.50"), ("\u2212$1,234.00", "-1234"),
    # a currency code at either end, as bank exports write it
    ("EUR 12.50", "12.50"), ("12.50 EUR", "12.5"), ("USD -1,234.00", "-1234"), ("CHF 1'234.50", "1234.5"),
    (" GBP12.50 ", "12.50"),
])
def test_amounts_as_accounting_exports_write_them(tmp_path, written, plain):
    """Thousands separators, negatives in parentheses or with a trailing minus, currency symbols: each
    failed the run ('is not an amount')."""
    got, o = pairs_for(tmp_path, tol("v", absolute="0"), [written, "7.00"], [plain, "7.01"], extra=[eq("w")])
    assert got == {("s0", "t0")}
    assert o.unmatched()["s1"]["_detail"] == "v differs by 0.01; tolerance 0.00"


@pytest.mark.parametrize("value", ["12,50", "1.234,56", "1,23", "12 34", "(-12.50)", "-12.50-", "1,2345", "$", "()",
                                   "1 23.5", "1,234 567", "1'23", "1 234'567", "EURO 12.50", "12.50 EU", "EUR", "eur 1"])
def test_decimal_commas_beside_decimal_points_and_mixed_signs_stay_unreadable(tmp_path, value):
    """A column that holds a decimal point (1.50) is read with decimal points: a decimal comma in it is
    an error naming its line, never read as a thousands separator (12,50 is not 1250)."""
    with pytest.raises(InputError, match=rf"^source input: line 3: v {re.escape(repr(value))} is not an amount"):
        pairs_for(tmp_path, tol("v", absolute="0"), ["1.50", value], ["1"])


@pytest.mark.parametrize("written,plain", [
    ("12,50", "12.50"), ("1.234,56", "1234.56"), ("(1.234,56)", "-1234.56"), ("1.234.567,5", "1234567.50"),
    ("-0,5 €", "-0.50"), ("€ 1.234", "1234"), ("8", "8.00"), ("1.234,-", None),
    ("1\u202f234,56 €", "1234.56"), ("1 234 567,5", "1234567.50"),
])
def test_a_column_written_with_decimal_commas_is_read(tmp_path, written, plain):
    """European exports write 1.234,56 (decimal comma, point or space for thousands): such an amount
    column failed the run ('is not an amount ... not a decimal comma'). A column whose values show a
    decimal comma (12,50 or 1.234,56) and none a decimal point is read with decimal commas; 1.234 is
    then 1234. Each column is decided on its own (here the target's are decimal points)."""
    src = [written, "12,50", "7,00"]
    if plain is None:   # '1.234,-' (no decimals written as a dash) is no amount in either spelling
        with pytest.raises(InputError, match=r"^source input: line 2: v '1\.234,-' is not an amount"):
            pairs_for(tmp_path, tol("v", absolute="0"), src, ["1"])
        return
    got, o = pairs_for(tmp_path, tol("v", absolute="0"), src, [plain, "12.5", "7.01"], extra=[eq("w")])
    assert ("s0", "t0") in got and ("s1", "t1") in got
    assert o.unmatched()["s2"]["_detail"] == "v differs by 0.01; tolerance 0.00"   # written with 2 decimals


def test_decimal_commas_keep_the_exactness_checks(tmp_path):
    """Eleven decimals after a decimal comma would be rounded: the same error as after a point."""
    with pytest.raises(InputError, match=r"^source input: line 3: v '1,12345678901' has more than 10 decimals"):
        pairs_for(tmp_path, tol("v", absolute="0"), ["2,5", "1,12345678901"], ["1"])


@pytest.mark.parametrize("value", ["1.12345678901", "0.000000000001", "-7.00000000005", "1.123456789012000"])
def test_amount_with_more_than_ten_decimals_is_an_error_not_rounded(tmp_path, value):
    """DECIMAL(38,10) would round it: 1.12345678901 and 1.12345678902 matched at a tolerance of 0."""
    with pytest.raises(InputError, match=rf"^source input: line 3: v '{re.escape(value)}' has more than 10 "
                                         r"decimals \(amounts are compared exactly, to at most 10 decimals\)$"):
        pairs_for(tmp_path, tol("v", absolute="0"), ["1", value], ["1", "1.12345678902"])


def test_amount_with_ten_decimals_or_trailing_zeros_is_exact(tmp_path):
    got, _ = pairs_for(tmp_path, tol("v", absolute="0"), ["1.1234567891", "2.500000000000000", "3.0000000001"],
                       ["1.1234567891000", "2.5", "3.0000000002"])
    assert got == {("s0", "t0"), ("s1", "t1")}


def test_amount_json_double_with_more_than_ten_decimals_is_an_error(tmp_path):
    (tmp_path / "s.jsonl").write_text('{"id": "s0", "v": 1.5, "w": "x"}\n{"id": "s1", "v": 1.123456789012, "w": "y"}\n')
    (tmp_path / "t.jsonl").write_text('{"id": "t0", "v": 1.123456789011, "w": "y"}\n')
    with pytest.raises(InputError, match=r"^source input: line 2: v '1\.123456789012' has more than 10 decimals"):
        run_files(tmp_path / "s.jsonl", tmp_path / "t.jsonl", rule_set(p("p", eq("w"), tol("v", absolute="0"))),
                  tmp_path / "out")


def test_a_json_lines_value_error_names_the_line_of_the_file(tmp_path):
    """A bad value of a JSON-lines input is named by its line in the file, as for CSV: it read 'row 3',
    the row number, although empty and blank lines before it (which the reader skips) put it on line 6.
    Parquet has no lines: its rows are named by number."""
    (tmp_path / "s.jsonl").write_text('{"id": "s0", "v": "1", "w": "x"}\n\n{"id": "s1", "v": "2", "w": "y"}\r\n'
                                      '  \n\n{"id": "s2", "v": "twelve", "w": "z"}\n')
    (tmp_path / "t.jsonl").write_text('{"id": "t0", "v": "1", "w": "x"}\n')
    rs = rule_set(p("p", eq("w"), tol("v", absolute="0")))
    with pytest.raises(InputError, match=r"^source input: line 6: v 'twelve' is not an amount"):
        run_files(tmp_path / "s.jsonl", tmp_path / "t.jsonl", rs, tmp_path / "out")
    import duckdb
    duckdb.connect().execute(f"COPY (SELECT * FROM read_json('{tmp_path / 's.jsonl'}')) TO '{tmp_path / 's.parquet'}'")
    with pytest.raises(InputError, match=r"^source input: row 3: v 'twelve' is not an amount"):
        run_files(tmp_path / "s.parquet", tmp_path / "t.jsonl", rs, tmp_path / "out2")


def test_percent_tolerance_of_large_amounts(tmp_path):
    """10 % of 1e20 overflowed the product of DECIMAL(38,10) and DECIMAL(18,10) (a DuckDB error)."""
    got, o = pairs_for(tmp_path, tol("v", percent="10"), ["100000000000000000000.00", "200000000000000000000.00"],
                       ["110000000000000000000.00", "220000000000000000000.01"], extra=[eq("w")])
    assert got == {("s0", "t0")}
    assert o.unmatched()["s1"]["_detail"] == ("v differs by 20000000000000000000.01; "
                                              "tolerance 20000000000000000000.00")


def test_sum_or_difference_beyond_28_digits_is_an_input_error(tmp_path):
    big = "9" * 28
    with pytest.raises(InputError, match=r"^a sum, difference or tolerance computed from the amounts has more "
                                         r"than 28 digits before the decimal point$"):
        pairs_for(tmp_path, tol("v", absolute="0"), [big], ["-" + big], extra=[eq("w")])


def test_amount_too_large_is_named_as_such(tmp_path):
    big = "1" * 29
    with pytest.raises(InputError, match=rf"^source input: line 2: v '{big}' is too large for an amount "
                                         r"\(at most 28 digits before the decimal point\)$"):
        pairs_for(tmp_path, tol("v", absolute="0"), [big], ["1"])
    got, _ = pairs_for(tmp_path, tol("v", absolute="0"), ["9" * 28 + ".5"], ["9" * 28 + ".50"], out="o2")
    assert got == {("s0", "t0")}


def test_asymmetric_date_window(tmp_path):
    cond = window("v", before=1, after=3)
    got, _ = pairs_for(tmp_path, cond, ["2026-02-10"] * 5,
                       ["2026-02-08", "2026-02-09", "2026-02-13", "2026-02-14", "2026-02-10"])
    # t0 (−2) and t3 (+4) are outside; t1, t2, t4 inside — three sources get them
    assert {t for _, t in got} == {"t1", "t2", "t4"}


@pytest.mark.parametrize("src,tgt", [
    ("2026-02-20", "20.02.2026"),
    ("2026-02-20", "2026/02/20"),
    ("2026-02-20", "20 Feb 2026"),
    ("2026-02-20", "20260220"),
    ("2026-02-20", "2026-02-20T23:30:00Z"),
    ("2026-02-21", "2026-02-20T23:30:00-05:00"),      # 04:30 UTC on the 21st
    ("2026-02-20", "2026-02-21T00:30:00+02:00"),      # 22:30 UTC on the 20th
    ("2026-02-20", "2026-02-20 08:15:00"),
    # spellings of exports that failed the run ('is not a date'): a time of minutes, AM/PM, other separators,
    # a weekday, a full month name, a web log's date, digits only
    ("2026-02-20", "20.02.2026 10:00"), ("2026-02-20", "20-02-2026 10:00:00"), ("2026-02-20", "2026.02.20"),
    ("2026-02-20", "2026/02/20 10:00"), ("2026-02-20", "20 Feb 2026 10:00"), ("2026-02-20", "20/02/2026 10:00 PM"),
    ("2026-02-20", "Fri, 20 Feb 2026"), ("2026-02-20", "Fri 20 Feb 2026"), ("2026-02-20", "February 20 2026"),
    ("2026-02-20", "20/Feb/2026:10:00:00"), ("2026-02-20", "20260220103000"), ("2026-02-20", "2/20/2026 1:05:09 PM"),
])
def test_date_formats_and_timestamps_by_utc_date(tmp_path, src, tgt):
    got, _ = pairs_for(tmp_path, window("v"), [src], [tgt])
    assert got == {("s0", "t0")}


def test_slash_dates_day_first_unless_the_column_shows_month_first(tmp_path):
    got, _ = pairs_for(tmp_path, window("v"), ["2026-03-02", "2026-02-25"], ["02/03/2026", "25/02/2026"])
    assert got == {("s0", "t0"), ("s1", "t1")}
    got, _ = pairs_for(tmp_path, window("v"), ["2026-02-03", "2026-02-25"], ["02/03/2026", "02/25/2026"],
                       out="o2")
    assert got == {("s0", "t0"), ("s1", "t1")}


@pytest.mark.parametrize("src,tgt", [
    ("2026-02-20", "20.02.26"),       # was the year 26
    ("2026-02-20", "20/02/26"),       # was 26 February of the year 20
    ("2026-02-20", "20-02-26"),
    ("1999-12-31", "31.12.99"),
    ("2026-03-05", "5.3.26"),
    ("2026-02-20", "20.02.2026"),     # four digits still read as written
    ("0001-01-01", "0001-01-01"),     # a year before 1000 written with four digits stays
])
def test_two_digit_years(tmp_path, src, tgt):
    """Exports with two-digit years (DD.MM.YY, DD/MM/YY) matched nothing: the year was taken as 26
    (or the day as the year), 730,000 days from every date of the other side."""
    got, o = pairs_for(tmp_path, window("v"), [src], [tgt])
    assert got == {("s0", "t0")}, o.unmatched()
    assert o.matched[0]["date_difference_days"] == "0"


def test_two_digit_years_month_first_when_the_column_shows_it(tmp_path):
    got, _ = pairs_for(tmp_path, window("v"), ["2026-02-20", "2026-03-01"], ["02/20/26", "03/01/26"])
    assert got == {("s0", "t0"), ("s1", "t1")}


def test_unreadable_date_is_an_error(tmp_path):
    with pytest.raises(InputError, match=r"^source input: line 2: v 'soon' is not a date$"):
        pairs_for(tmp_path, window("v"), ["soon"], ["2026-01-01"])


@pytest.mark.parametrize("algorithm,a,b,threshold,expected", [
    ("JARO_WINKLER", "MARTHA", "MARHTA", 0.96, True),      # 0.9611
    ("JARO_WINKLER", "MARTHA", "MARHTA", 0.97, False),
    ("LEVENSHTEIN_RATIO", "kitten", "sitting", 0.57, True),  # 1 − 3/7 = 0.5714
    ("LEVENSHTEIN_RATIO", "kitten", "sitting", 0.58, False),
    ("TOKEN_SET", "ACME CORP LTD", "LTD  ACME CORP", 1.0, True),
    ("TOKEN_SET", "ACME CORP LTD", "ACME CORP", 0.66, True),   # 2/3
    ("TOKEN_SET", "ACME CORP LTD", "ACME CORP", 0.67, False),
])
def test_similarity_algorithms(tmp_path, algorithm, a, b, threshold, expected):
    rs = rule_set(p("p", eq("w"), sim("v", algorithm=algorithm, threshold=threshold)))
    o = match(tmp_path, H, [["s0", a, "k"]], H, [["t0", b, "k"]], rs)
    assert (len(o.matched) == 1) is expected
    if not expected:
        assert o.reasons() == {"s0": "BELOW_SIMILARITY"}


@pytest.mark.parametrize("algorithm,a,b,threshold,expected,shown", [
    # counted in characters, not UTF-8 bytes (DuckDB's functions count bytes: Müller/Muller was 0.66 and 0.86)
    ("LEVENSHTEIN_RATIO", "Müller", "Muller", 0.83, True, None),            # 1 − 1/6 = 0.8333
    ("LEVENSHTEIN_RATIO", "Müller", "Muller", 0.84, False, "0.83"),
    ("LEVENSHTEIN_RATIO", "Straße", "Strasse", 0.71, True, None),           # 1 − 2/7 = 0.7142
    ("LEVENSHTEIN_RATIO", "日本銀行", "日本銀", 0.75, True, None),             # 1 − 1/4
    ("LEVENSHTEIN_RATIO", "ééé", "aaa", 0.0, True, None),                    # 1 − 3/3 = 0, never below
    ("LEVENSHTEIN_RATIO", "ééé", "aaa", 0.01, False, "0.00"),
    # Jaro-Winkler by hand: Müller/Muller m=5, t=0, jaro = (5/6 + 5/6 + 1)/3 = 8/9, prefix 1: 8/9 + 0.1/9 = 0.9
    ("JARO_WINKLER", "Müller", "Muller", 0.9, True, None),
    ("JARO_WINKLER", "Müller", "Muller", 0.91, False, "0.90"),
    # Société Générale / Societe Generale: m=12, t=0, jaro = (12/16 + 12/16 + 1)/3 = 5/6, prefix 4: 5/6 + 0.4/6 = 0.8667
    ("JARO_WINKLER", "Société Générale", "Societe Generale", 0.86, True, None),
    ("JARO_WINKLER", "Société Générale", "Societe Generale", 0.87, False, "0.86"),
])
def test_similarity_counts_characters_not_bytes(tmp_path, algorithm, a, b, threshold, expected, shown):
    rs = rule_set(p("p", eq("w"), sim("v", algorithm=algorithm, threshold=threshold)))
    o = match(tmp_path, H, [["s0", a, "k"]], H, [["t0", b, "k"]], rs)
    assert (len(o.matched) == 1) is expected, o.unmatched()
    if not expected:
        assert o.unmatched()["s0"]["_detail"] == (f"target v is {shown} similar to source v ({algorithm}); "
                                                   f"threshold {threshold}")


@pytest.mark.parametrize("algorithm,a,b,threshold", [
    ("LEVENSHTEIN_RATIO", "abcde", "aXXXX", 0.2),       # 1 − 4/5, 0.19999999999999996 as a double
    ("LEVENSHTEIN_RATIO", "abcdefghij", "aXXXXXXXXX", 0.1),
    ("JARO_WINKLER", "JONSON", "JANSEN", 0.8),          # exactly 4/5; DuckDB: 0.7999999999999999
    ("TOKEN_SET", "A B C", "A B C D E F G H I J", 0.3),
])
def test_similarity_exactly_at_the_threshold_matches(tmp_path, algorithm, a, b, threshold):
    """The threshold is inclusive (contract §3: similarity ≥ threshold), also where the double
    computing the similarity lands a hair below the exact ratio."""
    rs = rule_set(p("p", eq("w"), sim("v", algorithm=algorithm, threshold=threshold)))
    o = match(tmp_path, H, [["s0", a, "k"]], H, [["t0", b, "k"]], rs)
    assert [(m["source_key"], m["target_key"]) for m in o.matched] == [("s0", "t0")]


@pytest.mark.parametrize("algorithm,a,b,threshold,shown", [
    ("JARO_WINKLER", "ACME CO", "ACME CORPORATION", 0.89, "0.88"),     # 71/80 = 0.8875
    ("JARO_WINKLER", "JONSON", "JANSEN", 0.81, "0.80"),                # 4/5 computed 0.7999999999999999
    ("LEVENSHTEIN_RATIO", "kitten", "sitting", 0.58, "0.57"),         # 4/7 = 0.5714
    ("LEVENSHTEIN_RATIO", "kitten", "sitting", 0.575, "0.571"),       # as many decimals as the threshold
    # ten decimals: the margin against the double's error must stay below the last one (it read 0.5714285724)
    ("LEVENSHTEIN_RATIO", "kitten", "sitting", 0.8333333334, "0.5714285714"),
    ("LEVENSHTEIN_RATIO", "Müller", "Muller", 0.8333333334, "0.8333333333"),   # 5/6, just below the threshold
])
def test_similarity_sentence_never_shows_a_failing_value_as_the_threshold(tmp_path, algorithm, a, b,
                                                                         threshold, shown):
    """0.8875 against 0.89 read 'is 0.89 similar ...; threshold 0.89': the value is rounded down."""
    rs = rule_set(p("p", eq("w"), sim("v", algorithm=algorithm, threshold=threshold)))
    o = match(tmp_path, H, [["s0", a, "k"]], H, [["t0", b, "k"]], rs)
    assert o.unmatched()["s0"]["_detail"] == (f"target v is {shown} similar to source v ({algorithm}); threshold {threshold}")


def test_similarity_with_normalize(tmp_path):
    rs = rule_set(p("p", eq("w"), sim("v", threshold=1.0, normalize=["UPPER", "REMOVE_PUNCTUATION"])))
    o = match(tmp_path, H, [["s0", "acme, inc.", "k"]], H, [["t0", "ACME INC", "k"]], rs)
    assert len(o.matched) == 1


def test_a_pass_without_equals_explains_a_row_by_its_nearest_candidate(tmp_path):
    """§8: NO_CANDIDATE is for a row no row of the other side shares the pass's equality keys with. A pass without
    EQUALS has none to share, so every row has candidates: the nearest by the pass's amount (or date) is named,
    with the condition it fails (it read 'no target row meets the block conditions of any pass')."""
    src = tmp_path / "s.csv"
    src.write_text("id,amt\ns1,10.00\ns2,20.00\n")
    tgt = tmp_path / "t.csv"
    tgt.write_text("id,amt\nt1,10.00\nt2,20.02\nt3,55\n")
    o = run_files(src, tgt, rule_set(p("p", tol("amt", absolute="0.01")), source_key="id", target_key="id"),
                  tmp_path / "o1")
    assert [(m["source_key"], m["target_key"]) for m in o.matched] == [("s1", "t1")]
    assert [(r["id"], r["_reason"], r["_closest_key"], r["_detail"]) for r in o.unmatched_source] == [
        ("s2", "TOLERANCE_EXCEEDED", "t2", "amt differs by 0.02; tolerance 0.01")]
    assert [(r["id"], r["_closest_key"], r["_detail"]) for r in o.unmatched_target] == [
        ("t2", "s2", "amt differs by 0.02; tolerance 0.01"), ("t3", "s2", "amt differs by 35.00; tolerance 0.01")]
    src.write_text("id,d\ns1,2026-01-10\n")
    tgt.write_text("id,d\nt1,2026-01-12\nt2,2026-03-01\n")
    o = run_files(src, tgt, rule_set(p("p", window("d", before=0, after=1)), source_key="id", target_key="id"),
                  tmp_path / "o2")
    assert [(r["_reason"], r["_closest_key"], r["_detail"]) for r in o.unmatched_source] == [
        ("DATE_OUT_OF_WINDOW", "t1", "target d is 2 days after source d; window 0 days before to 1 day after")]
