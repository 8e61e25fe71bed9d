"""run_match: the passes of a rule set over two input files, on DuckDB, with outputs and summary.

The plan of a run:
1. load each input once into a DuckDB table (original columns, in file order, so ``rowid`` is the
   0-based row number) plus derived columns for every condition (normalized text, exact DECIMAL
   amounts, UTC dates); values that cannot be read as amounts/dates are errors naming the line;
2. each pass, in order, on the rows earlier passes left (anti-join on the ``matches`` table):
   candidates by hash join on the EQUALS keys (range join on a DATE_WINDOW / amount band when there
   is none), the other conditions as filters, then mutual-best rounds (§3 tie-break) — or, for a
   pass of equalities only, rank pairing inside repeated keys, which is the same assignment;
   ONE_TO_MANY / MANY_TO_ONE compare one row with the SUM of a group;
3. the unmatched rows are explained (reason, closest candidate, failed condition, sentence);
4. the outputs are written ``ORDER BY`` row numbers, so equal inputs give equal bytes.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

import duckdb

from .explain import explain_unmatched, no_candidate_detail
from .inputs import (EXPLANATION_COLUMNS, CsvDialect, InputError, check_explanation_names, csv_dialect, csv_line,
                     describe_input, detect_format, explanation_tail, ident, jsonl_line, reader_sql, sniff_csv_types,
                     sql_str, translate_error, readable_copy)
from .rules import Cardinality, Normalize, Operator, Pass, RuleSet, check_columns
from .sqlparts import AMOUNT_SCALE, AMOUNT_TYPE, CondSQL, Feature, fmt_decimal, lam, normalize_sql

MAX_ROUNDS = 256         # mutual-best rounds per pass; rows still contested afterwards are AMBIGUOUS


def _first_choice(me: str, other: str, other_key: str) -> str:
    """Each row's first choice in a round of mutual best: its best candidate by smallest |amount difference|,
    smallest |date difference|, highest similarity, lowest key (platform §3; `other_key` is the key column's
    value, or the row number when the rule set names no key column). A row whose best candidates still tie
    after the key (equal key values, or empty ones) has no first choice: it is ambiguous this round."""
    return f"""SELECT {me}, any_value({other}) AS {other} FROM (SELECT {me}, {other} FROM cand QUALIFY rank() OVER (
                   PARTITION BY {me} ORDER BY abs(adiff), abs(ddiff), sim DESC NULLS LAST, {other_key} NULLS LAST) = 1)
               GROUP BY {me} HAVING count(*) = 1"""


class MatchCanceled(Exception):
    """Raised by run_match when should_cancel() answered true (between passes or inside one)."""


@dataclass(frozen=True)
class EngineLimits:
    memory_limit: str = "1GB"
    threads: int = 2
    temp_dir: Optional[str] = None


@dataclass
class MatchResult:
    matched_path: str
    unmatched_source_path: str
    unmatched_target_path: str
    summary: dict = field(default_factory=dict)
    source_rows: int = 0
    target_rows: int = 0
    matched_source_rows: int = 0
    matched_target_rows: int = 0
    unmatched_source_rows: int = 0
    unmatched_target_rows: int = 0
    matched_rows: int = 0        # rows of the MATCHED output (one per pair, one per member of a group)


# --------------------------------------------------------------------------------------------
# Sides and derived columns


@dataclass
class Side:
    letter: str                  # "s" | "t"
    name: str                    # "source" | "target"
    table: str                   # "src" | "tgt"
    path: str
    fmt: str
    dialect: Optional[CsvDialect] = None
    json_text: tuple[str, ...] = ()                         # JSON lines: columns read as text
    columns: list[str] = field(default_factory=list)        # original columns (outputs)
    types: dict[str, str] = field(default_factory=dict)     # as read (CSV: all VARCHAR)
    sniffed: dict[str, str] = field(default_factory=dict)   # detected (kind decisions)
    decimal_comma: set[str] = field(default_factory=set)     # amount columns written 1.234,56
    key_column: Optional[str] = None
    features: dict[Feature, str] = field(default_factory=dict)
    rows: int = 0
    stored: dict[str, str] = field(default_factory=dict)     # original column → its name in the table

    def col(self, column: str) -> str:
        """An original column as the loaded table (and the rests) name it (see store_names)."""
        return ident(self.stored.get(column, column))

    def output_columns(self, alias: str) -> str:
        """The original columns as an UNMATCHED output writes them: under the file's names, nested
        values (Parquet / JSON-lines structs, lists, maps) as JSON text — DuckDB's own text of a
        struct, {'k': [1, 2]}, is not JSON and reads back as nothing."""
        def one(c: str) -> str:
            x = f"{alias}.{self.col(c)}"
            t = self.types.get(c, "VARCHAR")
            nested = t.startswith(("STRUCT", "MAP", "UNION")) or t.endswith("]")
            return f"{'CAST(to_json(' + x + ') AS VARCHAR)' if nested else x} AS {ident(c)}"
        return ", ".join(one(c) for c in self.columns)

    def store_names(self):
        """A column named rowid (any case) would hide the table's row numbers, and one named like the
        engine's own columns (__rid, __m_key, __m_f0, __g0 ...) would be read in their place: such
        columns are stored under a name of their position (outputs still write the file's name)."""
        self.stored = {c: (f"__m_u{i}" if c.lower() == "rowid" or c.startswith("__") else c)
                       for i, c in enumerate(self.columns)}

    def feature(self, f: Feature) -> str:
        if f not in self.features:
            self.features[f] = f"__m_f{len(self.features)}"
        return self.features[f]

    @property
    def derived(self) -> list[str]:
        return list(self.features.values()) + ["__m_key"]

    def where(self, row: int) -> str:
        """Where data row ``row`` (0-based, as loaded) is, as an error names it: the line of the file
        where it starts (CSV, JSON lines), or its 1-based row number (Parquet)."""
        if self.dialect:
            return f"line {csv_line(self.path, self.dialect, row=row)}"
        if self.fmt == "JSONL":
            return f"line {jsonl_line(self.path, row)}"
        return f"row {row + 1}"


_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")


def _is_numeric(t: str) -> bool:
    return t.startswith(_NUMERIC)


def _has_fraction(t: str) -> bool:
    return t in ("DOUBLE", "FLOAT") or (t.startswith("DECIMAL") and not t.endswith(",0)"))


def _is_date(t: str) -> bool:
    return t == "DATE" or t.startswith("TIMESTAMP")


def _is_whole(t: str) -> bool:
    return _is_numeric(t) and not _has_fraction(t)


# normalize steps that change the text itself: an EQUALS with one of them compares text. TRIM, UPPER and
# LOWER cannot change what an amount or a date reads as: they keep the kind decided without them, and the
# value is read after them (see _reading_steps)
_TEXT_STEPS = frozenset({Normalize.REMOVE_PUNCTUATION, Normalize.DIGITS_ONLY, Normalize.STRIP_LEADING_ZEROS})

DATE_SAMPLE_ROWS = 20480     # rows whose values decide whether a text column holds dates (as DuckDB's sniffer)
_DATE_PREFIX_ROWS = 2048     # the first of them, whose first _DATE_FIRST_VALUES non-empty values are tested
_DATE_FIRST_VALUES = 8       # first: a column of references fails there


def _reading_steps(normalize) -> tuple[str, ...]:
    """The normalize steps of an EQUALS compared as amounts or dates, applied to the text before it is read:
    TRIM (the reading alone skips ASCII white space and most spaces, not U+2028 or a form feed before an
    ISO date), and for UPPER or LOWER the text in capitals (month names read in any case, the T and Z of
    an ISO timestamp and a currency code only in capitals). The reading of the result is the same for
    every text the steps make equal."""
    steps = []
    if Normalize.TRIM in normalize:
        steps.append(Normalize.TRIM.value)
    if Normalize.UPPER in normalize or Normalize.LOWER in normalize:
        steps.append(Normalize.UPPER.value)
    return tuple(steps)


def _read_text(x: str, steps: tuple[str, ...]) -> str:
    """The SQL of text ``x`` with the reading steps of an amount or date feature applied."""
    for n in steps:
        x = normalize_sql(x, n) if n == Normalize.TRIM.value else f"upper({x})"
    return x


class _Runner:
    def __init__(self, rs: RuleSet, limits: EngineLimits, progress, should_cancel):
        self.rs = rs
        self.limits = limits
        self._progress_cb = progress
        self._should_cancel = should_cancel
        self._pct = 0
        self._span = (0, 0)
        self._lock = threading.Lock()
        self._canceled = False
        cfg = {"threads": max(1, int(limits.threads)), "memory_limit": limits.memory_limit,
               "preserve_insertion_order": True}
        if limits.temp_dir:
            os.makedirs(limits.temp_dir, exist_ok=True)
            cfg["temp_directory"] = limits.temp_dir
        self.con = duckdb.connect(config=cfg)
        self.con.execute("SET TimeZone='UTC'")
        # progress is tracked (query_progress feeds the callback) but never printed
        self.con.execute("SET enable_progress_bar = true")
        self.con.execute("SET enable_progress_bar_print = false")
        self.summary_passes: list[dict] = []
        self._side_cons: list[duckdb.DuckDBPyConnection] = []   # cursors of statements run alongside
        # passes whose block cannot hold a candidate for a row left unmatched: a first pass of
        # equalities only whose keys were unique on both sides (every block pair was matched)
        self.nothing_to_explain: set[int] = set()
        # a rule set of one pass of equalities whose keys were unique on both sides: every row left
        # unmatched has no candidate at all, so the unmatched outputs are written straight from the
        # inputs (ANTI JOIN on the matches) without rest tables or explanation tables
        self.direct_unmatched = False
        self._tmp: Optional[str] = None   # copies of inputs read instead of them (_readable_copy)

    # ---- progress, cancellation, and a watcher for long statements

    def progress(self, pct: int):
        with self._lock:
            pct = max(self._pct, min(100, int(pct)))
            if pct != self._pct or pct in (0, 100):
                self._pct = pct
                if self._progress_cb:
                    self._progress_cb(pct)

    def stage(self, lo: int, hi: int):
        self.check_cancel()
        self._span = (lo, hi)
        self.progress(lo)

    def check_cancel(self):
        if self._canceled or (self._should_cancel and self._should_cancel()):
            self._canceled = True
            raise MatchCanceled("the run was canceled")

    def _watch(self, stop: threading.Event):
        while not stop.wait(0.25):
            try:
                if self._should_cancel and self._should_cancel():
                    self._canceled = True
                    for c in [self.con] + list(self._side_cons):
                        c.interrupt()
                    return
                done = self.con.query_progress()
                lo, hi = self._span
                if done and done > 0:
                    self.progress(lo + (hi - lo) * min(done, 100.0) / 100.0 * 0.95)
            except Exception:   # noqa: BLE001 — the watcher must never take the run down
                pass

    def sql(self, q: str, params=None):
        try:
            return self.con.execute(q, params) if params else self.con.execute(q)
        except duckdb.InterruptException:
            raise MatchCanceled("the run was canceled") from None

    def one(self, q: str):
        return self.sql(q).fetchone()

    def alongside(self, q: str) -> Callable[[], None]:
        """Run ``q`` on a second connection of the same database while the caller goes on (the
        outputs are written by single-threaded CSV writers, so a second statement uses the other
        core); it may read regular tables only (TEMP tables belong to the main connection).
        Returns ``wait()``, which joins and re-raises the statement's error."""
        cur = self.con.cursor()
        self._side_cons.append(cur)
        joined = _in_thread(lambda: cur.execute(q))

        def wait():
            try:
                joined()
            except duckdb.InterruptException:
                raise MatchCanceled("the run was canceled") from None
            finally:
                self._side_cons.remove(cur)
                cur.close()
        return wait

    # ---- loading

    def prepare_both(self, s: Side, t: Side):
        """Read both inputs' headers and sniff their types at the same time (DuckDB's sniffer is
        single-threaded and takes the same time whatever the file's size). The source's error wins
        when both inputs are bad, as if they were read one after the other."""
        cur = self.con.cursor()
        target_read = _in_thread(lambda: self.prepare(t, cur))
        try:
            self.prepare(s)
        except BaseException:
            try:
                target_read()
            except BaseException:   # noqa: BLE001 — the source's error is the one reported
                pass
            finally:
                cur.close()
            raise
        try:
            target_read()
        finally:
            cur.close()

    def prepare(self, side: Side, con: Optional[duckdb.DuckDBPyConnection] = None):
        con = con or self.con
        if not os.path.exists(side.path):
            raise InputError(f"{side.name} input: the file does not exist")
        try:
            side.fmt = detect_format(side.path)
        except InputError as e:
            raise InputError(f"{side.name} input: {e}") from None
        try:
            if side.fmt == "CSV":
                side.dialect = csv_dialect(side.path)
                if side.dialect.encoding == "cp1252":
                    self._readable_copy(side, None)
                side.columns = list(side.dialect.header)
                side.types = {c: "VARCHAR" for c in side.columns}
                side.sniffed = self._sniff(con, side)
            else:
                desc, side.json_text = describe_input(con, side.path, side.fmt)
                side.columns = [n for n, _ in desc]
                # JSON lines are read as their text (reader_sql), like a CSV: their detected types decide
                # the kind of a condition only
                side.types = dict(desc) if not side.json_text else {n: "VARCHAR" for n in side.columns}
                side.sniffed = dict(desc)
        except InputError as e:
            raise InputError(f"{side.name} input: {e}") from None
        except duckdb.Error as e:
            raise InputError(f"{side.name} input: {translate_error(e, side.fmt, side.path, side.dialect)}") from None
        try:
            check_explanation_names(side.columns, "line 1" if side.fmt != "PARQUET" else "schema")
        except InputError as e:
            raise InputError(f"{side.name} input: {e}") from None
        if explanation_tail(side.columns):
            side.columns = side.columns[: -len(EXPLANATION_COLUMNS)]
        side.store_names()

    def _sniff(self, con, side: Side) -> dict[str, str]:
        """DuckDB's types of a CSV input's columns from a sample, {} when it cannot tell (the load names
        the problem); a file with mixed line endings is sniffed and read from a copy."""
        try:
            return sniff_csv_types(con, side.path, side.dialect)
        except duckdb.Error as e:
            if self._readable_copy(side, e):
                return self._sniff(con, side)
            return {}

    def load(self, side: Side):
        src = reader_sql(side.path, side.fmt, side.dialect, side.json_text)
        month_first = self._column_spellings(src, side)
        exprs = [f"{self._feature_sql(side, f, month_first.get(f.column, False))} AS {name}"
                 for f, name in side.features.items()]
        key = f"CAST({ident(side.key_column)} AS VARCHAR)" if side.key_column else "CAST(NULL AS VARCHAR)"
        exprs.append(f"{key} AS __m_key")
        cols = ", ".join(f"{ident(c)} AS {side.col(c)}" for c in side.columns)
        try:
            # a CREATE TABLE AS answers with its row count: no separate count(*)
            side.rows = self.sql(f"CREATE TABLE {side.table} AS SELECT {cols}, {', '.join(exprs)} FROM {src}").fetchone()[0]
        except MatchCanceled:
            raise
        except duckdb.Error as e:
            if self._readable_copy(side, e):
                return self.load(side)
            raise InputError(f"{side.name} input: {translate_error(e, side.fmt, side.path, side.dialect)}") from None
        self._check_values(side)

    @staticmethod
    def _feature_sql(side: Side, f: Feature, month_first: bool) -> str:
        """A derived column's expression; an amount or date feature with reading steps (_reading_steps)
        reads its text after them (only text has white space and letters to change)."""
        col_type = side.types.get(f.column, "VARCHAR")
        value = None
        if f.kind != "text" and f.normalize and col_type == "VARCHAR":
            value = f"({_read_text(ident(f.column), f.normalize)})"
        return f.expr(col_type, month_first, f.column in side.decimal_comma, value)

    def _readable_copy(self, side: Side, error: Optional[Exception]) -> bool:
        """A CSV input in Windows-1252, or whose lines end in CRLF and in bare LF, is read from a UTF-8 copy
        with one kind (inputs.readable_copy), kept in a directory of this run's own under the spill directory."""
        if side.fmt != "CSV" or side.dialect is None:
            return False
        with self._lock:   # the two sides are prepared at once
            if self._tmp is None:
                self._tmp = tempfile.mkdtemp(prefix="recon-match-", dir=self.limits.temp_dir)
        sub = os.path.join(self._tmp, side.letter)
        os.makedirs(sub, exist_ok=True)
        unified = readable_copy(side.path, side.dialect, sub, error)
        if unified is None:
            return False
        side.dialect = unified
        return True

    def _column_spellings(self, src: str, side: Side) -> dict[str, bool]:
        """How the text columns compared as dates and amounts are written, from their first 100,000
        values: per date column, whether slash dates are month-first (a value such as 02/20/2026 and
        none such as 20/02/2026); the amount columns written with a decimal comma go into
        ``side.decimal_comma`` (a value such as 12,50 or 1.234,56 and none such as 12.50 or 1,234.56;
        1,234 and 1.234 say nothing). A column that shows both keeps the defaults (day-first, decimal
        point), and the values that do not fit them fail the run naming their line. One scan for all
        columns; a second one, for the decimal points, only for columns that showed a decimal comma."""
        dates = sorted({f.column for f in side.features if f.kind == "date" and side.types.get(f.column) == "VARCHAR"})
        amounts = sorted({f.column for f in side.features if f.kind == "amount" and side.types.get(f.column) == "VARCHAR"})
        if not dates and not amounts:
            return {}
        # 12,50  1.234,56  1 234,56  (1.234,56)  -0,5 €
        comma = "'^[^0-9]*[0-9]+([.\\s\\pZ''\u2019][0-9]{3})*,[0-9]+[^0-9]*$'"
        comma_thousands = "'^[^0-9]*[0-9]{1,3}(,[0-9]{3})+[^0-9]*$'"   # 1,234: either spelling
        point = "'^[^0-9]*[0-9]+([,\\s\\pZ''\u2019][0-9]{3})*\\.[0-9]+[^0-9]*$'"   # 12.50  1,234.56  1 234.56
        point_thousands = "'^[^0-9]*[0-9]{1,3}(\\.[0-9]{3})+[^0-9]*$'"  # 1.234: either spelling

        def scan(cols: list[str], tests: list[str]) -> Optional[tuple]:
            inner = ", ".join(f"trim(CAST({ident(col)} AS VARCHAR)) AS v{i}" for i, col in enumerate(cols))
            try:
                return self.con.execute(f"SELECT {', '.join(tests)} FROM (SELECT {inner} FROM {src} LIMIT 100000)").fetchone()
            except duckdb.Error:
                return None

        tests = []
        for i, _ in enumerate(dates):
            tests += [f"bool_or(regexp_full_match(v{i}, '\\d{{1,2}}/(1[3-9]|2\\d|3[01])/(\\d\\d)?\\d\\d.*'))",
                      f"bool_or(regexp_full_match(v{i}, '(1[3-9]|2\\d|3[01])/\\d{{1,2}}/(\\d\\d)?\\d\\d.*'))"]
        for i, _ in enumerate(amounts, len(dates)):
            tests.append(f"bool_or(contains(v{i}, ',') AND regexp_matches(v{i}, {comma}) "
                         f"AND NOT regexp_matches(v{i}, {comma_thousands}))")
        row = scan(dates + amounts, tests)
        if row is None:
            return {}
        month_first = {col: bool(row[2 * i]) and not bool(row[2 * i + 1]) for i, col in enumerate(dates)}
        commas = [col for i, col in enumerate(amounts) if row[2 * len(dates) + i]]
        if commas:
            points = scan(commas, [f"bool_or(contains(v{i}, '.') AND regexp_matches(v{i}, {point}) "
                                   f"AND NOT regexp_matches(v{i}, {point_thousands}))" for i in range(len(commas))])
            side.decimal_comma.update(col for i, col in enumerate(commas) if points is not None and not points[i])
        return month_first

    def _check_values(self, side: Side):
        """Every non-empty amount or date value was read, and no amount lost digits: a value with
        more decimals than AMOUNT_SCALE would be rounded (two values differing in the 11th decimal
        would match at a tolerance of 0), so it fails the run like an unreadable one."""
        checks = [(f, name, self._bad_value_sql(side, f, name))
                  for f, name in side.features.items() if f.kind in ("amount", "date")]
        if not checks:
            return
        row = self.one(f"SELECT rowid FROM {side.table} WHERE {' OR '.join(b for _, _, b in checks)} "
                       f"ORDER BY rowid LIMIT 1")
        if row is None:
            return
        rid = row[0]
        for f, name, bad_sql in checks:
            bad = self.one(f"SELECT CAST({side.col(f.column)} AS VARCHAR), {name} IS NULL FROM {side.table} "
                           f"WHERE rowid = {rid} AND {bad_sql}")
            if bad:
                raise InputError(f"{side.name} input: {side.where(rid)}: "
                                 f"{f.column} {bad[0]!r} {_why_not_read(f.kind, bad[0], bad[1])}")

    @staticmethod
    def _bad_value_sql(side: Side, f: Feature, name: str) -> str:
        c = side.col(f.column)
        t = side.types.get(f.column, "VARCHAR")
        text = c if t == "VARCHAR" else f"CAST({c} AS VARCHAR)"
        if f.normalize and t == "VARCHAR":
            text = f"({_read_text(c, f.normalize)})"
        unread = f"({name} IS NULL AND {c} IS NOT NULL AND trim({text}) <> '')"
        if f.kind != "amount" or (_is_numeric(t) and not _has_fraction(t)):
            return unread
        # a value of more than 11 characters may hold an 11th decimal that is not 0
        point = "," if f.column in side.decimal_comma else "\\."
        rounded = (f"({name} IS NOT NULL AND strlen({text}) > {AMOUNT_SCALE + 1} "
                   f"AND regexp_matches({text}, '{point}[0-9]{{{AMOUNT_SCALE}}}[0-9]*[1-9]'))")
        return f"({unread} OR {rounded})"

    # ---- features of the rule set

    def plan(self, s: Side, t: Side):
        amount_cols = {"s": set(), "t": set()}
        date_cols = {"s": set(), "t": set()}
        for p in self.rs.passes:
            for c in p.conditions:
                if c.operator is Operator.AMOUNT_TOLERANCE or c.aggregate is not None:
                    amount_cols["s"].add(c.source)
                    amount_cols["t"].add(c.target)
                elif c.operator is Operator.DATE_WINDOW:
                    date_cols["s"].add(c.source)
                    date_cols["t"].add(c.target)
        dated = self._text_dates(s, t, amount_cols, date_cols)
        self.conds: list[list[CondSQL]] = []
        self.kinds: list[list[str]] = []
        for p in self.rs.passes:
            compiled, kinds = [], []
            for i, c in enumerate(p.conditions):
                kind = self._kind(c, s, t, amount_cols, date_cols, dated)
                kinds.append(kind)
                if kind == "text":
                    norm = tuple(n.value for n in c.normalize)
                else:
                    norm = _reading_steps(c.normalize) if c.operator is Operator.EQUALS else ()
                fs = s.feature(Feature(c.source, kind, norm))
                ft = t.feature(Feature(c.target, kind, norm))
                compiled.append(CondSQL(i, c, f"s.{fs}", f"t.{ft}"))
            self.conds.append(compiled)
            self.kinds.append(kinds)

    def amount_scales(self, s: Side, t: Side):
        """The decimals the compared amounts are written with (the most in a sample of each column,
        at most AMOUNT_SCALE): a difference is then written like them ("differs by 1.50", not 1.5)."""
        scales = {}
        for side in (s, t):
            cols = sorted({f.column for f in side.features if f.kind == "amount"})
            if not cols:
                continue
            parts = ", ".join(   # 1.50, (1,234.50), 1.50-, $1.50 (1.234,50 in a column of decimal commas)
                f"max(length(regexp_extract(v{i}, '{',' if c in side.decimal_comma else chr(92) + '.'}([0-9]+)[^0-9]*$', 1)))"
                for i, c in enumerate(cols))
            inner = ", ".join(f"trim(CAST({side.col(c)} AS VARCHAR)) AS v{i}" for i, c in enumerate(cols))
            row = self.one(f"SELECT {parts} FROM (SELECT {inner} FROM {side.table} LIMIT 20480)")
            scales.update({(side.letter, c): min(int(row[i] or 0), AMOUNT_SCALE) for i, c in enumerate(cols)})
        self.conds = [[replace(c, scale=max(scales.get(("s", c.cond.source), 0), scales.get(("t", c.cond.target), 0)))
                       if (("s", c.cond.source) in scales or ("t", c.cond.target) in scales) else c for c in cs]
                      for cs in self.conds]

    @staticmethod
    def _kind(c, s: Side, t: Side, amount_cols, date_cols, dated=frozenset()) -> str:
        """amount, date or text (docs/matching.md "Semantics"). ``dated``: the (side letter, column) pairs
        of text columns whose sampled values all read as dates (_text_dates), with the reading steps."""
        if c.operator is Operator.AMOUNT_TOLERANCE or c.aggregate is not None:
            return "amount"
        if c.operator is Operator.DATE_WINDOW:
            return "date"
        if c.operator is Operator.SIMILARITY or any(n in _TEXT_STEPS for n in c.normalize):
            return "text"
        ts, tt = s.sniffed.get(c.source, "VARCHAR"), t.sniffed.get(c.target, "VARCHAR")
        if c.source in amount_cols["s"] or c.target in amount_cols["t"] or (
                _is_numeric(ts) and _is_numeric(tt) and (_has_fraction(ts) or _has_fraction(tt))):
            return "amount"
        if c.source in date_cols["s"] or c.target in date_cols["t"] or (_is_date(ts) and _is_date(tt)):
            return "date"
        # a date column and a column of text (or whole numbers, 20260220) whose values read as dates, or
        # two columns of text whose values read as dates (after the condition's reading steps)
        steps = _reading_steps(c.normalize)
        sd, td = ("s", c.source, steps) in dated, ("t", c.target, steps) in dated
        if (_is_date(ts) and td) or (_is_date(tt) and sd) or (sd and td and ts == tt == "VARCHAR"):
            return "date"
        return "text"

    def _text_dates(self, s: Side, t: Side, amount_cols, date_cols) -> set[tuple[str, str, tuple[str, ...]]]:
        """The columns an EQUALS could compare as dates for what they hold (_kind): of an EQUALS not
        otherwise decided, between a column detected as dates (DATE, TIMESTAMP) and one of text or whole
        numbers, or between two columns of text; the (side letter, column) pairs of those whose values
        in the input's first DATE_SAMPLE_ROWS rows are all, when not empty, read by the date reading
        (the one DATE_WINDOW uses, after the condition's reading steps), at least one of them: the
        (side letter, column, reading steps) of those. No work when no EQUALS is such."""
        need: dict[str, set[tuple[str, tuple[str, ...]]]] = {"s": set(), "t": set()}
        for p in self.rs.passes:
            for c in p.conditions:
                if (c.operator is not Operator.EQUALS or any(n in _TEXT_STEPS for n in c.normalize)
                        or self._kind(c, s, t, amount_cols, date_cols) != "text"):
                    continue
                ts, tt = s.sniffed.get(c.source, "VARCHAR"), t.sniffed.get(c.target, "VARCHAR")
                steps = _reading_steps(c.normalize)
                if _is_date(ts) and (tt == "VARCHAR" or _is_whole(tt)):
                    need["t"].add((c.target, steps))
                elif _is_date(tt) and (ts == "VARCHAR" or _is_whole(ts)):
                    need["s"].add((c.source, steps))
                elif ts == tt == "VARCHAR":
                    need["s"].add((c.source, steps))
                    need["t"].add((c.target, steps))
        if not need["s"] and not need["t"]:
            return set()
        # first the first few non-empty values of each column, in one query for both inputs: a column of
        # references fails there; the whole sample is read only for the columns whose first values are dates
        sides = [(side, sorted(need[side.letter])) for side in (s, t) if need[side.letter]]
        values, owners = [], []
        for k, (side, wanted) in enumerate(sides):
            first = self._first_values(side, sorted({col for col, _ in wanted}))
            for j, (col, steps) in enumerate(wanted):
                for v in first.get(col, []):
                    # the reading steps as Python has them: TRIM removes at least what the SQL step removes
                    v = v.strip() if Normalize.TRIM.value in steps else v
                    values.append(v.upper() if Normalize.UPPER.value in steps else v)
                    owners.append((k, j))
        row = [[True] * len(wanted) for _, wanted in sides]
        if values:
            day, month = Feature("v", "date").expr("VARCHAR", False), Feature("v", "date").expr("VARCHAR", True)
            test = f"{day} IS NOT NULL" + (f" OR (contains(v, '/') AND {month} IS NOT NULL)"
                                           if any("/" in v for v in values) else "")
            try:
                read = self.sql(f"SELECT list_transform(?::VARCHAR[], {lam('v', test)})", [values]).fetchone()[0]
            except duckdb.Error:
                return set()   # the load names what cannot be read
            for (k, j), ok in zip(owners, read):
                if not ok:
                    row[k][j] = False
        out = set()
        for (side, wanted), ok in zip(sides, row):
            wanted = [w for w, y in zip(wanted, ok) if y]
            if not wanted:
                continue
            cols = sorted({col for col, _ in wanted})
            try:
                full = self.one(f"SELECT {', '.join(_all_dates_sql(i, True) for i in range(len(wanted)))} FROM "
                                f"{_stepped(self._sample_rows(side, cols, DATE_SAMPLE_ROWS), cols, wanted)}")
            except duckdb.Error:
                continue
            out |= {(side.letter,) + w for w, y in zip(wanted, full) if y}
        return out

    def _first_values(self, side: Side, cols: list[str]) -> dict[str, list[str]]:
        """The first _DATE_FIRST_VALUES non-empty values of each column of ``cols`` in the first
        _DATE_PREFIX_ROWS rows of the input: a CSV's read directly (a query of the file reads far more
        than its first lines), other inputs' by DuckDB."""
        if side.fmt == "CSV" and side.dialect is not None:
            first = _first_csv_values(side, cols, _DATE_PREFIX_ROWS, _DATE_FIRST_VALUES)
            if first is not None:
                return first
        try:
            rows = self.sql(f"SELECT * FROM {self._sample_rows(side, cols, _DATE_PREFIX_ROWS)}").fetchall()
        except duckdb.Error:
            return {}
        return {col: [r[i] for r in rows if r[i] is not None and r[i].strip()][:_DATE_FIRST_VALUES]
                for i, col in enumerate(cols)}

    @staticmethod
    def _sample_rows(side: Side, cols: list[str], n: int) -> str:
        src = reader_sql(side.path, side.fmt, side.dialect, side.json_text)
        inner = ", ".join(f"CAST({ident(col)} AS VARCHAR) AS c{i}" for i, col in enumerate(cols))
        return f"(SELECT {inner} FROM {src} LIMIT {n})"

    # ---- passes

    def remaining(self, side: Side, cols: list[str], not_null: list[str]) -> str:
        """The rows of a side that earlier passes left, with the derived columns ``cols``."""
        where = [f"{c} IS NOT NULL" for c in not_null]
        sel = ", ".join(["__rid", "__m_key"] + sorted(set(cols)))
        return f"SELECT {sel} FROM {self.rest[side.letter]}" + (f" WHERE {' AND '.join(where)}" if where else "")

    def _group_columns(self, side: Side) -> list[str]:
        out = []
        for p in self.rs.passes:
            if p.group_by:
                for c in (p.group_by.source if side.letter == "s" else p.group_by.target) or []:
                    if c not in out:
                        out.append(c)
        return out

    def init_rest(self, side: Side):
        self.rest[side.letter] = f"(SELECT rowid AS __rid, * FROM {side.table})"
        self._rest_no[side.letter] = 0
        self.rest_rows[side.letter] = side.rows

    def matched_bits(self, side: Side, where: str) -> str:
        """A scalar subquery: the bit string of the side's row numbers that ``matches`` rows (filtered
        by ``where``) name — one bit per input row, set when matched. Building it reads the matches
        once; testing a row is one bit lookup (an ANTI join would build a hash table of them).
        Only for a ``where`` that selects at least one match (an empty aggregate is NULL)."""
        rid_col = "s_rid" if side.letter == "s" else "t_rid"
        return f"(SELECT bitstring_agg({rid_col}, 0, {max(side.rows - 1, 0)}) FROM matches WHERE {where})"

    def not_matched(self, side: Side, rid: str, where: str, stored: bool = False) -> str:
        """The clause that keeps the rows (row number ``rid``) no match selected by ``where`` names
        (``stored``: the bit strings ``set_bits`` kept after a pass that matched every row once).
        The bit string is a session variable, set just before: ``getvariable`` is a constant when
        the statement is planned, so the test is pushed into the table scan, which tests the row
        numbers first and reads the other columns only for the rows kept (the same test against a
        scalar subquery was a join after a scan of every column of every row)."""
        if side.rows < 2 ** 31 - 1:
            if not stored:
                self.set_bits(side, where)
            return f"WHERE get_bit(getvariable('__m_bits_{side.letter}'), CAST({rid} AS INTEGER)) = 0"
        # beyond the bit string's INTEGER positions: an ANTI join (a NOT IN subquery would plan a
        # slower MARK join for its NULL semantics)
        rid_col = "s_rid" if side.letter == "s" else "t_rid"
        return f"ANTI JOIN (SELECT {rid_col} AS __mrid FROM matches WHERE {where}) __m ON {rid} = __m.__mrid"

    def set_bits(self, side: Side, where: str):
        """The session variable that ``not_matched`` reads: the bit string of ``matched_bits``."""
        self.sql(f"SET VARIABLE __m_bits_{side.letter} = {self.matched_bits(side, where)}")

    def shrink_rest(self, side: Side, pass_no: int, drop_previous: bool = True):
        """After a pass that matched rows: keep the rest as a narrow table (later passes and the
        explanations scan it instead of anti-joining the whole input with every match)."""
        cols = (["__m_key"] + list(side.features.values())
                + [side.col(c) for c in self._group_columns(side)])
        n = self._rest_no[side.letter] + 1
        name = f"rest_{side.letter}_{n}"
        # the first rest reads the input table itself: a test of its rowid is pushed into the scan,
        # one of the alias __rid of a subquery is not
        src, rid = (side.table, "r.rowid") if n == 1 else (self.rest[side.letter], "r.__rid")
        kept = self.one(f"""CREATE OR REPLACE TEMP TABLE {name} AS SELECT {rid} AS __rid, {', '.join(cols)} FROM {src} r
                     {self.not_matched(side, rid, f'pass = {pass_no}')}""")[0]
        if n > 1 and drop_previous:
            self.sql(f"DROP TABLE rest_{side.letter}_{n - 1}")
        self.rest[side.letter] = name
        self._rest_no[side.letter] = n
        self.rest_rows[side.letter] = kept

    def _save_rest(self, side: Side):
        return (self.rest[side.letter], self._rest_no[side.letter], self.rest_rows[side.letter])

    def _drop_saved(self, saved):
        if saved[1] > 0:
            self.sql(f"DROP TABLE {saved[0]}")

    def _restore_rest(self, side: Side, saved):
        self.sql(f"DROP TABLE {self.rest[side.letter]}")
        self.rest[side.letter], self._rest_no[side.letter], self.rest_rows[side.letter] = saved

    def run_pass(self, pi: int, p: Pass, s: Side, t: Side) -> dict:
        conds = self.conds[pi]
        self._shrunk = False
        if p.cardinality is Cardinality.ONE_TO_ONE:
            n = self._one_to_one(pi, conds, s, t)
        else:
            n = self._grouped(pi, p, conds, s, t)
        if n > 0 and not self._shrunk:
            self.shrink_rest(s, pi + 1)
            self.shrink_rest(t, pi + 1)
        if p.cardinality is Cardinality.ONE_TO_ONE:
            ms = mt = n
        else:
            n, ms, mt = self.one(f"SELECT count(DISTINCT grp), count(DISTINCT s_rid), count(DISTINCT t_rid) "
                                 f"FROM matches WHERE pass = {pi + 1}")
        return {"pass": pi + 1, "name": p.name, "cardinality": p.cardinality.value,
                "matches": n, "sourceRows": ms, "targetRows": mt}

    def _one_to_one(self, pi: int, conds: list[CondSQL], s: Side, t: Side) -> int:
        eq = [c for c in conds if c.op is Operator.EQUALS]
        rest = [c for c in conds if c.op is not Operator.EQUALS]
        s_cols = [c.s[2:] for c in conds]
        t_cols = [c.t[2:] for c in conds]
        s_rem = self.remaining(s, s_cols, s_cols)
        t_rem = self.remaining(t, t_cols, t_cols)
        if not rest:
            return self._rank_pairing(pi, eq, s_rem, t_rem, s, t)
        # several tolerances (windows) in a pass: the difference farthest from 0 is the pair's (written in
        # MATCHED, first in the tie-break), whatever the order the conditions are listed in
        amounts = [c.amount_diff() for c in rest if c.op is Operator.AMOUNT_TOLERANCE]
        dates = [c.date_diff() for c in rest if c.op is Operator.DATE_WINDOW]
        sims = [c for c in rest if c.op is Operator.SIMILARITY]
        adiff = _farthest(amounts) if amounts else self._zero_or_null(pi, "amount")
        ddiff = _farthest(dates) if dates else self._zero_or_null(pi, "date")
        sim = ("least(" + ", ".join(c.similarity() for c in sims) + ")") if len(sims) > 1 else (
            sims[0].similarity() if sims else "CAST(NULL AS DOUBLE)")
        join_on = [c.test() for c in eq] + [c.test() for c in rest if c.op is not Operator.SIMILARITY]
        where = [c.test() for c in sims]
        # with no equality key the range condition (BETWEEN) is the join: DuckDB plans an IE join
        self.sql(f"""CREATE OR REPLACE TEMP TABLE cand AS
            SELECT s.__rid AS a, t.__rid AS b, s.__m_key AS akey, t.__m_key AS bkey,
                   {adiff} AS adiff, {ddiff} AS ddiff, {sim} AS sim
            FROM ({s_rem}) s JOIN ({t_rem}) t ON {' AND '.join(join_on)}
            {('WHERE ' + ' AND '.join(where)) if where else ''}""")
        return self._mutual_best(pi)

    def _zero_or_null(self, pi: int, kind: str) -> str:
        has = kind in self.kinds[pi]
        if kind == "amount":
            return f"CAST({'0' if has else 'NULL'} AS {AMOUNT_TYPE})"
        return "CAST(0 AS INTEGER)" if has else "CAST(NULL AS INTEGER)"

    def _rank_pairing(self, pi: int, eq: list[CondSQL], s_rem: str, t_rem: str, s: Side, t: Side) -> int:
        """Equalities only: every candidate ties, so mutual best with the key tie-break pairs the
        k-th row of a repeated key on one side with the k-th on the other. One hash join finds the
        pairs; when no row appears in two pairs (keys unique on both sides, the usual case) that is
        the answer, otherwise ranking runs only over the rows whose keys repeat."""
        sk = [c.s[2:] for c in eq]
        tk = [c.t[2:] for c in eq]
        on = " AND ".join(f"s.{a} = t.{b}" for a, b in zip(sk, tk))
        # differences: 0 for what the equalities compared, empty for what they did not
        zeros = f"{self._zero_or_null(pi, 'amount')}, {self._zero_or_null(pi, 'date')}"
        # optimistic: the join goes straight into matches; taken back out if some row paired twice
        n = self.one(f"INSERT INTO matches SELECT {pi + 1}, s.__rid, s.__rid, t.__rid, s.__m_key, t.__m_key, "
                     f"{zeros}, CAST(NULL AS DOUBLE) FROM ({s_rem}) s JOIN ({t_rem}) t ON {on}")[0]
        self.check_cancel()
        if n == 0:
            return 0
        if pi == 0 and len(self.rs.passes) == 1:
            where = f"pass = {pi + 1}"
            # kept: the unmatched outputs filter by the same bit strings
            self.set_bits(s, where)
            self.set_bits(t, where)
            ds, dt = self.one("SELECT bit_count(getvariable('__m_bits_s')), bit_count(getvariable('__m_bits_t'))")
            if n == ds == dt:
                self._shrunk = True           # no later pass, no explanation: nothing reads a rest
                self.nothing_to_explain.add(pi)
                self.direct_unmatched = True
                return n
        # the rest tables are needed anyway; their sizes say how many distinct rows were paired
        saved = (self._save_rest(s), self._save_rest(t))
        self.shrink_rest(s, pi + 1, drop_previous=False)
        self.shrink_rest(t, pi + 1, drop_previous=False)
        ds = saved[0][2] - self.rest_rows["s"]
        dt = saved[1][2] - self.rest_rows["t"]
        if n == ds == dt:
            self._drop_saved(saved[0])
            self._drop_saved(saved[1])
            self._shrunk = True
            if pi == 0:
                self.nothing_to_explain.add(pi)
            return n
        self._restore_rest(s, saved[0])
        self._restore_rest(t, saved[1])
        self.sql(f"CREATE OR REPLACE TEMP TABLE j AS SELECT s_rid, t_rid, skey, tkey FROM matches WHERE pass = {pi + 1}")
        self.sql(f"DELETE FROM matches WHERE pass = {pi + 1}")
        values = f"{pi + 1}, s_rid, s_rid, t_rid, skey, tkey, {zeros}, CAST(NULL AS DOUBLE)"
        self.sql("""CREATE OR REPLACE TEMP TABLE jd AS SELECT * FROM j
            WHERE s_rid IN (SELECT s_rid FROM j GROUP BY s_rid HAVING count(*) > 1)
               OR t_rid IN (SELECT t_rid FROM j GROUP BY t_rid HAVING count(*) > 1)""")
        n = self.one(f"INSERT INTO matches SELECT {values} FROM j ANTI JOIN jd USING (s_rid, t_rid)")[0]
        self.check_cancel()
        def ranked(x: str, cols: list[str], rem: str, rid: str, keyed: bool) -> str:
            # the k-th row of a repeated key (in key order) pairs with the k-th of the other side, up to the
            # first key value that repeats within the block on either side: from there on no row has a
            # single first choice (platform §3: ties end with the lowest key), the rest is ambiguous
            block = ", ".join(f"{x}.{c}" for c in cols)
            numbered = f"""SELECT {x}.__rid, {x}.__m_key, {block}, row_number() OVER (
                               PARTITION BY {block} ORDER BY {x}.__m_key NULLS LAST, {x}.__rid) AS __rn,
                           count(*) OVER (PARTITION BY {block}, {x}.{'__m_key' if keyed else '__rid'}) AS __same
                           FROM ({rem}) {x} WHERE {x}.__rid IN (SELECT {rid} FROM jd)"""
            return f"""SELECT *, coalesce(min(CASE WHEN __same > 1 THEN __rn END) OVER (
                           PARTITION BY {', '.join(cols)}), 9223372036854775807) AS __stop FROM ({numbered})"""

        s_dup = ranked("s", sk, s_rem, "s_rid", bool(s.key_column))
        t_dup = ranked("t", tk, t_rem, "t_rid", bool(t.key_column))
        n += self.one(f"""INSERT INTO matches SELECT {pi + 1}, s.__rid, s.__rid, t.__rid, s.__m_key, t.__m_key,
                     {zeros}, CAST(NULL AS DOUBLE) FROM ({s_dup}) s JOIN ({t_dup}) t ON {on} AND s.__rn = t.__rn
                     AND s.__rn < s.__stop AND t.__rn < t.__stop""")[0]
        self.sql("DROP TABLE j")
        self.sql("DROP TABLE jd")
        return n

    def _mutual_best(self, pi: int, expand: Optional[str] = None) -> int:
        """Rounds of mutual best over ``cand(a, b, akey, bkey, adiff, ddiff, sim)``.

        Order of preference: smallest |amount difference|, smallest |date difference|, highest
        similarity, lowest key (then lowest row number). A pair is taken when each is the other's
        first choice; taken rows leave ``cand`` and the next round starts.

        Tied duplicates would take one round per row (the lowest keys pair, then the next...), so a
        round also settles every *complete tie* at once: rows A and B where each a's best candidates
        are exactly B and each b's are exactly A, all equally good — there the rounds would pair
        the k-th a with the k-th b in key order, which is what the rank pairing below does."""
        total = inserted = 0
        for _ in range(MAX_ROUNDS):
            self.check_cancel()
            n_cand, da, db = self.one("SELECT count(*), count(DISTINCT a), count(DISTINCT b) FROM cand")
            n = n_cand
            if n == 0:
                break
            if n == da == db:          # every row has one candidate: all pairs are mutual best
                taken = "cand"
            else:
                n, taken = self._round(), "mb"
            if n == 0:
                break
            if expand is None:
                self.sql(f"INSERT INTO matches SELECT {pi + 1}, a, a, b, akey, bkey, adiff, ddiff, sim FROM {taken}")
            else:
                inserted += self.one(expand.format(pass_no=pi + 1, mb=taken))[0]
            total += n
            if n == n_cand:            # every candidate pair was taken: nothing is left to contest
                break
            self.sql("DELETE FROM cand WHERE a IN (SELECT a FROM mb) OR b IN (SELECT b FROM mb)")
        return total if expand is None else inserted

    def _round(self):
        """One round on a table with contested rows: mutual best pairs plus complete ties (see above)."""
        # a is a source row or group, b a target row or group; without a key column the key is the row number
        akey = "akey" if self.rs.source_key else "a"
        bkey = "bkey" if self.rs.target_key else "b"
        fa, fb = _first_choice("a", "b", bkey), _first_choice("b", "a", akey)
        metric = "abs(adiff) NULLS LAST, abs(ddiff) NULLS LAST, sim DESC NULLS LAST"
        self.sql(f"""CREATE OR REPLACE TEMP TABLE mb AS
            WITH fa AS ({fa}),
                 fb AS ({fb}),
                 std AS (SELECT a, b FROM fa SEMI JOIN fb USING (a, b)),
                 tied AS (SELECT a, b, akey, bkey FROM cand
                          QUALIFY rank() OVER (PARTITION BY a ORDER BY {metric}) = 1
                              AND rank() OVER (PARTITION BY b ORDER BY {metric}) = 1),
                 sa AS (SELECT a, any_value(akey) AS akey, bit_xor(hash(b)) AS hb, count(*) AS nb, min(b) AS minb
                        FROM tied GROUP BY a),
                 sb AS (SELECT b, any_value(bkey) AS bkey, bit_xor(hash(a)) AS ha, count(*) AS na, min(a) AS mina
                        FROM tied GROUP BY b),
                 ga0 AS (SELECT a, nb, minb, min(a) OVER w AS comp, count(*) OVER w AS size,
                               row_number() OVER (PARTITION BY hb, nb, minb ORDER BY {akey} NULLS LAST, a) AS r,
                               count(*) OVER (PARTITION BY hb, nb, minb, {akey}) AS same, hb
                        FROM sa WINDOW w AS (PARTITION BY hb, nb, minb)),
                 gb0 AS (SELECT b, na, mina, min(b) OVER w AS comp, count(*) OVER w AS size,
                               row_number() OVER (PARTITION BY ha, na, mina ORDER BY {bkey} NULLS LAST, b) AS r,
                               count(*) OVER (PARTITION BY ha, na, mina, {bkey}) AS same, ha
                        FROM sb WINDOW w AS (PARTITION BY ha, na, mina)),
                 -- the rounds pair the tie in key order up to the first key that repeats on either side:
                 -- there no row has a single first choice, and the rest of the tie stays ambiguous
                 ga AS (SELECT *, coalesce(min(CASE WHEN same > 1 THEN r END) OVER (PARTITION BY hb, nb, minb),
                                           size + 1) AS stop FROM ga0),
                 gb AS (SELECT *, coalesce(min(CASE WHEN same > 1 THEN r END) OVER (PARTITION BY ha, na, mina),
                                           size + 1) AS stop FROM gb0),
                 rk AS (SELECT ga.a, gb.b FROM ga JOIN gb
                          ON ga.minb = gb.comp AND gb.mina = ga.comp AND ga.r = gb.r
                        WHERE ga.size = gb.na AND gb.size = ga.nb AND ga.size > 1
                          AND ga.r < ga.stop AND gb.r < gb.stop),
                 chosen AS (SELECT a, b FROM std UNION SELECT a, b FROM rk)
            SELECT c.* FROM cand c SEMI JOIN chosen USING (a, b)""")
        n, da, db = self.one("SELECT count(*), count(DISTINCT a), count(DISTINCT b) FROM mb")
        if not n == da == db:      # a signature collision: settle this round by mutual best alone
            n = self.one(f"""CREATE OR REPLACE TEMP TABLE mb AS
                WITH fa AS ({fa}), fb AS ({fb})
                SELECT c.* FROM cand c SEMI JOIN fa USING (a, b) SEMI JOIN fb USING (a, b)""")[0]
        return n

    def _grouped(self, pi: int, p: Pass, conds: list[CondSQL], s: Side, t: Side) -> int:
        """ONE_TO_MANY (one source row ↔ a group of target rows) and MANY_TO_ONE (the mirror):
        a group is all remaining rows of the many side with equal groupBy values; it matches a row
        of the one side when its members all share the EQUALS keys and fall in the date window, and
        the SUM of their amounts satisfies the aggregate condition."""
        one_to_many = p.cardinality is Cardinality.ONE_TO_MANY
        many, one = (t, s) if one_to_many else (s, t)
        m = many.letter
        gcols = list((p.group_by.target if one_to_many else p.group_by.source) or [])
        eq = [c for c in conds if c.op is Operator.EQUALS and c.cond.aggregate is None]
        dates = [c for c in conds if c.op is Operator.DATE_WINDOW]
        agg = next(c for c in conds if c.cond.aggregate is not None)
        side_of = (lambda c: (c.t, c.s)) if one_to_many else (lambda c: (c.s, c.t))  # (many, one)
        m_feats = sorted({side_of(c)[0][2:] for c in conds})
        o_feats = sorted({side_of(c)[1][2:] for c in conds})
        gsel = ", ".join(f"CAST({many.col(g)} AS VARCHAR) AS __g{i}" for i, g in enumerate(gcols))
        gnn = " AND ".join(f"{many.col(g)} IS NOT NULL" for g in gcols)
        self.sql(f"""CREATE OR REPLACE TEMP TABLE mem AS
            SELECT __rid, __m_key, {gsel}, {', '.join(m_feats)} FROM {self.rest[m]}
            WHERE {gnn}""")
        gk = ", ".join(f"__g{i}" for i in range(len(gcols)))
        amt_m = side_of(agg)[0][2:]
        parts = ["min(__rid) AS g", "min(__m_key) AS gkey", "count(*) AS n", f"sum({amt_m}) AS total",
                 f"count({amt_m}) = count(*) AS amt_ok"]
        oks = ["amt_ok"]
        for i, c in enumerate(eq):
            f = side_of(c)[0][2:]
            parts.append(f"min({f}) AS k{i}")
            parts.append(f"(count({f}) = count(*) AND count(DISTINCT {f}) = 1) AS k{i}_ok")
            oks.append(f"k{i}_ok")
        for i, c in enumerate(dates):
            f = side_of(c)[0][2:]
            parts.append(f"min({f}) AS dmin{i}")
            parts.append(f"max({f}) AS dmax{i}")
            parts.append(f"count({f}) = count(*) AS d{i}_ok")
            oks.append(f"d{i}_ok")
        self.sql(f"CREATE OR REPLACE TEMP TABLE grp AS SELECT {gk}, {', '.join(parts)} FROM mem GROUP BY {gk}")
        self.sql(f"""CREATE OR REPLACE TEMP TABLE memg AS SELECT m.__rid AS rid, m.__m_key AS key, g.g FROM mem m
            JOIN grp g ON {' AND '.join(f'm.__g{i} = g.__g{i}' for i in range(len(gcols)))}""")
        o_rem = self.remaining(one, o_feats, o_feats)
        on = []
        for i, c in enumerate(eq):
            on.append(f"o.{side_of(c)[1][2:]} = g.k{i}")
        for i, c in enumerate(dates):
            b, a = c.cond.days()
            od = f"o.{side_of(c)[1][2:]}"
            if one_to_many:      # every target date in [s − before, s + after]
                on.append(f"g.dmin{i} >= {od} - {b} AND g.dmax{i} <= {od} + {a}")
            else:                # every source date s with t in [s − before, s + after]
                on.append(f"g.dmin{i} >= {od} - {a} AND g.dmax{i} <= {od} + {b}")
        oa = f"o.{side_of(agg)[1][2:]}"
        src_amt, tgt_amt = (oa, "g.total") if one_to_many else ("g.total", oa)
        if agg.op is Operator.EQUALS:
            on.append(f"{tgt_amt} = {src_amt}")
        else:
            c2 = CondSQL(agg.index, agg.cond, src_amt, tgt_amt)
            on.append(c2.test())
        ddiff = "CAST(NULL AS INTEGER)"
        if dates:   # the largest distance of a member's date, over every window of the pass
            ddiff = "greatest(" + ", ".join(
                f"abs(date_diff('day', o.{side_of(c)[1][2:]}, g.dmin{i})), "
                f"abs(date_diff('day', o.{side_of(c)[1][2:]}, g.dmax{i}))" for i, c in enumerate(dates)) + ")"
        a_expr, b_expr = ("o.__rid", "g.g") if one_to_many else ("g.g", "o.__rid")
        akey, bkey = ("o.__m_key", "g.gkey") if one_to_many else ("g.gkey", "o.__m_key")
        self.sql(f"""CREATE OR REPLACE TEMP TABLE cand AS
            SELECT {a_expr} AS a, {b_expr} AS b, {akey} AS akey, {bkey} AS bkey,
                   CAST({tgt_amt} - {src_amt} AS {AMOUNT_TYPE}) AS adiff, {ddiff} AS ddiff,
                   CAST(NULL AS DOUBLE) AS sim
            FROM ({o_rem}) o JOIN grp g ON {' AND '.join(on)} WHERE {' AND '.join('g.' + k for k in oks)}""")
        if one_to_many:
            expand = ("INSERT INTO matches SELECT {pass_no}, mb.a, mb.a, memg.rid, mb.akey, memg.key, mb.adiff, mb.ddiff, mb.sim "
                      "FROM {mb} mb JOIN memg ON memg.g = mb.b")
        else:
            expand = ("INSERT INTO matches SELECT {pass_no}, mb.b, memg.rid, mb.b, memg.key, mb.bkey, mb.adiff, mb.ddiff, mb.sim "
                      "FROM {mb} mb JOIN memg ON memg.g = mb.a")
        n = self._mutual_best(pi, expand)
        for tname in ("mem", "grp", "memg"):
            self.sql(f"DROP TABLE {tname}")
        return n

    # ---- outputs

    @staticmethod
    def output_paths(out_dir: str) -> dict:
        return {k: os.path.join(out_dir, f"{k}.csv") for k in ("matched", "unmatched_source", "unmatched_target")}

    def matched_sql(self, s: Side, t: Side, path: str) -> str:
        """The COPY of the MATCHED output; it reads only the ``matches`` table."""
        cards = {i + 1: p.cardinality for i, p in enumerate(self.rs.passes)}
        names = " ".join(f"WHEN {i + 1} THEN {sql_str(p.name)}" for i, p in enumerate(self.rs.passes))
        # the id's text before the group number, per pass ("p2-s", "p3-t"): looked up, not concatenated
        prefixes = [f"p{i}-{'t' if c is Cardinality.MANY_TO_ONE else 's'}" for i, c in cards.items()]
        mid = (sql_str(prefixes[0]) if len(prefixes) == 1
               else "[" + ", ".join(sql_str(x) for x in prefixes) + "][m.pass]") + " || (m.grp + 1)"
        skey = "m.skey" if s.key_column else "CAST(m.s_rid + 1 AS VARCHAR)"
        tkey = "m.tkey" if t.key_column else "CAST(m.t_rid + 1 AS VARCHAR)"
        has_sim = any(c.op is Operator.SIMILARITY for cs in self.conds for c in cs)
        scale = max((c.scale for cs in self.conds for c in cs), default=0)
        # exact decimals print much faster than doubles (and read the same everywhere)
        # (a pass without similarity scores 1: its text is written as is, not formatted per row)
        score = ("CASE WHEN m.sim IS NULL THEN '1.000000' ELSE CAST(CAST(round(m.sim, 6) AS DECIMAL(7,6)) AS VARCHAR) END"
                 if has_sim else "'1'")
        # narrow on purpose: the pair (rows, keys) and what was tolerated; the rows themselves are in
        # the inputs (immutable files), so sorting never moves wide rows around
        grouped = any(c is not Cardinality.ONE_TO_ONE for c in cards.values())
        order = "m.pass, m.grp, m.s_rid, m.t_rid" if grouped else "m.pass, m.s_rid"   # 1:1: grp = s_rid
        # the rows are sorted as they are stored (integers and two keys) and the text columns are
        # computed after the sort, so the sort never carries them; a projection keeps the order
        # (preserve_insertion_order is on while the outputs are written)
        return f"""COPY (
            SELECT {mid} AS match_id, m.pass AS pass, CASE m.pass {names} END AS pass_name,
                   m.s_rid + 1 AS source_row, m.t_rid + 1 AS target_row,
                   {skey} AS source_key, {tkey} AS target_key,
                   {score} AS score,
                   CASE WHEN m.adiff = 0 THEN '0' WHEN m.adiff IS NOT NULL THEN {fmt_decimal('m.adiff', scale)} END
                       AS amount_difference,
                   m.ddiff AS date_difference_days,
                   {'CAST(round(m.sim, 6) AS DECIMAL(7,6))' if has_sim else 'CAST(NULL AS VARCHAR)'} AS similarity
            FROM (SELECT * FROM matches m ORDER BY {order}) m
        ) TO {sql_str(path)} (FORMAT csv, HEADER true)"""

    def direct_unmatched_sql(self, side: Side, other: Side, path: str) -> str:
        """The UNMATCHED output of a side when every unmatched row is NO_CANDIDATE (see
        ``direct_unmatched``): the input's rows that no match names, explained inline."""
        cols = side.output_columns("x")
        rk = "x.__m_key" if side.key_column else "CAST(x.rowid + 1 AS VARCHAR)"
        detail, _ = no_candidate_detail(self, side, other, "x")
        # a filtered scan keeps the input's order (preserve_insertion_order is on while outputs are
        # written); only the ANTI join of inputs beyond 2^31 rows needs the sort
        order = "" if side.rows < 2 ** 31 - 1 else "ORDER BY x.rowid"
        return f"""COPY (
                SELECT {cols}, {rk} AS _row_key, 'NO_CANDIDATE' AS _reason, CAST(NULL AS VARCHAR) AS _closest_key,
                       CAST(NULL AS VARCHAR) AS _closest_pass, CAST(NULL AS VARCHAR) AS _failed_condition,
                       {detail} AS _detail
                FROM {side.table} x {self.not_matched(side, 'x.rowid', 'true', stored=True)}
                {order}
            ) TO {sql_str(path)} (FORMAT csv, HEADER true)"""

    def unmatched_sql(self, side: Side, path: str) -> str:
        """The COPY of a side's UNMATCHED output: its original columns and the explanation (expl_s /
        expl_t), in row order."""
        ex = "expl_s" if side.letter == "s" else "expl_t"
        cols = side.output_columns("x")
        rk = "x.__m_key" if side.key_column else "CAST(x.rowid + 1 AS VARCHAR)"
        return f"""COPY (
                SELECT {cols}, {rk} AS _row_key, e.reason AS _reason, e.closest_key AS _closest_key,
                       e.closest_pass AS _closest_pass, e.failed_condition AS _failed_condition,
                       e.detail AS _detail
                FROM {side.table} x JOIN {ex} e ON e.rid = x.rowid
                ORDER BY x.rowid
            ) TO {sql_str(path)} (FORMAT csv, HEADER true)"""


def run_match(source_path: str, target_path: str, rule_set: RuleSet, out_dir: str, *,
              limits: Optional[EngineLimits] = None,
              progress: Optional[Callable[[int], None]] = None,
              should_cancel: Optional[Callable[[], bool]] = None) -> MatchResult:
    """Match ``source_path`` against ``target_path`` under ``rule_set``; write three CSV files.

    ``progress(pct)`` is called with 0..100 (from the calling thread between stages, and from a
    watcher thread while a long statement runs); ``should_cancel()`` is polled between stages and
    every 250 ms during statements, and a true answer interrupts the run with MatchCanceled.
    """
    if not isinstance(rule_set, RuleSet):
        rule_set = RuleSet.model_validate(rule_set)
    limits = limits or EngineLimits()
    os.makedirs(out_dir, exist_ok=True)
    r = _Runner(rule_set, limits, progress, should_cancel)
    stop = threading.Event()
    watcher = threading.Thread(target=r._watch, args=(stop,), daemon=True)
    try:
        s = Side("s", "source", "src", source_path, "CSV", key_column=rule_set.source_key)
        t = Side("t", "target", "tgt", target_path, "CSV", key_column=rule_set.target_key)
        r.stage(0, 2)
        r.prepare_both(s, t)
        _check_rule_columns(rule_set, s, t)
        r.plan(s, t)
        watcher.start()
        r.stage(2, 20)
        r.load(s)
        r.load(t)
        r.amount_scales(s, t)
        # rowid is the row number of the loaded tables; from here on results are ordered explicitly
        r.sql("SET preserve_insertion_order = false")
        r.sql(f"""CREATE TABLE matches (pass INTEGER, grp BIGINT, s_rid BIGINT, t_rid BIGINT, skey VARCHAR, tkey VARCHAR,
                  adiff {AMOUNT_TYPE}, ddiff INTEGER, sim DOUBLE)""")
        r.rest, r._rest_no, r.rest_rows = {}, {}, {}
        r.init_rest(s)
        r.init_rest(t)
        n = len(rule_set.passes)
        for pi, p in enumerate(rule_set.passes):
            r.stage(20 + 55 * pi // n, 20 + 55 * (pi + 1) // n)
            r.summary_passes.append(r.run_pass(pi, p, s, t))
        r.stage(75, 99)
        paths = r.output_paths(out_dir)
        r.sql("SET preserve_insertion_order = true")
        # the MATCHED output needs nothing more: it is written (single-threaded CSV writer) on a second
        # connection while the unmatched rows are explained. Not the unmatched outputs: another
        # connection could only read regular tables, and creating those late in a run makes DuckDB
        # checkpoint (compress) the whole in-memory database: a stall of seconds
        matched_written = r.alongside(r.matched_sql(s, t, paths["matched"]))
        try:
            if r.direct_unmatched:
                n1 = r.summary_passes[0]["matches"]
                reasons = {"SOURCE": {"NO_CANDIDATE": s.rows - n1} if s.rows > n1 else {},
                           "TARGET": {"NO_CANDIDATE": t.rows - n1} if t.rows > n1 else {}}
                r.sql(r.direct_unmatched_sql(s, t, paths["unmatched_source"]))
                r.sql(r.direct_unmatched_sql(t, s, paths["unmatched_target"]))
            else:
                reasons = explain_unmatched(r, s, t)
                r.sql(r.unmatched_sql(s, paths["unmatched_source"]))
                r.sql(r.unmatched_sql(t, paths["unmatched_target"]))
        finally:
            matched_written()
        ms = sum(x["sourceRows"] for x in r.summary_passes)
        mt = sum(x["targetRows"] for x in r.summary_passes)
        matched_rows = r.one("SELECT count(*) FROM matches")[0]   # the MATCHED output's rows, one per row of matches
        r.check_cancel()
        summary = {
            "passes": r.summary_passes,
            "reasons": reasons,
            "sourceRows": s.rows, "targetRows": t.rows,
            "matchedSourceRows": ms, "matchedTargetRows": mt,
            "unmatchedSourceRows": s.rows - ms, "unmatchedTargetRows": t.rows - mt,
            "matchRate": round(ms / s.rows, 6) if s.rows else 0.0,
        }
        result = MatchResult(paths["matched"], paths["unmatched_source"], paths["unmatched_target"],
                             summary, s.rows, t.rows, ms, mt, s.rows - ms, t.rows - mt, int(matched_rows))
        stop.set()
        r.progress(100)
        return result
    except duckdb.InterruptException:
        raise MatchCanceled("the run was canceled") from None
    except MatchCanceled:
        raise
    except duckdb.OutOfRangeException:
        # every amount fits DECIMAL(38,10), but a group's sum or a percent allowance of amounts near
        # 10^28 may not: an error of the inputs, not DuckDB's "Overflow in HUGEINT addition"
        raise InputError(f"a sum, difference or tolerance computed from the amounts has more than {38 - AMOUNT_SCALE} "
                         f"digits before the decimal point") from None
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join(timeout=2)
        r.con.close()
        if r._tmp:
            shutil.rmtree(r._tmp, ignore_errors=True)


def _stepped(rows: str, cols: list[str], wanted: list[tuple[str, tuple[str, ...]]]) -> str:
    """The values of ``rows`` (columns c0, c1 ... of ``cols``) after the reading steps of each wanted (column,
    steps), as columns v0, v1 ... in the order of ``wanted``."""
    sel = ", ".join(f"{_read_text(f'c{cols.index(col)}', steps)} AS v{i}" for i, (col, steps) in enumerate(wanted))
    return f"(SELECT {sel} FROM {rows})"


def _all_dates_sql(i: int, need_one: bool) -> str:
    """Whether every non-empty value of column ``v{i}`` reads as a date (Feature.expr's reading), with slash
    dates either all day-first or all month-first; with ``need_one``, and at least one value is not empty."""
    v = f"v{i}"
    day, month = Feature(v, "date").expr("VARCHAR", False), Feature(v, "date").expr("VARCHAR", True)
    filled = f"{v} IS NOT NULL AND trim({v}) <> ''"
    test = (f"(coalesce(bool_and({day} IS NOT NULL) FILTER (WHERE {filled}), true) OR coalesce(bool_and("
            f"CASE WHEN contains({v}, '/') THEN {month} IS NOT NULL ELSE {day} IS NOT NULL END) "
            f"FILTER (WHERE {filled}), true))")
    return f"({test} AND count(*) FILTER (WHERE {filled}) > 0)" if need_one else test


def _first_csv_values(side: Side, cols: list[str], rows: int, n: int) -> Optional[dict[str, list[str]]]:
    """The first ``n`` non-empty values of each of ``cols`` in the first ``rows`` data rows of a CSV input,
    read as DuckDB reads them; None when the file is not UTF-8 text (the caller asks DuckDB)."""
    d = side.dialect
    path = d.read_path or side.path
    if not d.read_path and d.encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return None
    try:
        idx = [d.header.index(c) for c in cols]
        out: list[list[str]] = [[] for _ in cols]
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rd = csv.reader(fh, delimiter=d.delimiter, quotechar='"', doublequote=True)
            next(rd, None)
            for k, rec in enumerate(rd):
                if k >= rows or all(len(o) >= n for o in out):
                    break
                for j, i in enumerate(idx):
                    if i < len(rec) and rec[i].strip() and len(out[j]) < n:
                        out[j].append(rec[i])
        return dict(zip(cols, out))
    except (OSError, ValueError, csv.Error):
        return None


_NUMBER_TEXT = re.compile(r"\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*")


def _why_not_read(kind: str, value: str, unread: bool) -> str:
    """The end of the sentence naming a value the engine cannot compare."""
    if kind == "date":
        return "is not a date"
    if not unread:
        return (f"has more than {AMOUNT_SCALE} decimals (amounts are compared exactly, to at most "
                f"{AMOUNT_SCALE} decimals)")
    if _NUMBER_TEXT.fullmatch(value):
        return (f"is too large for an amount (at most {38 - AMOUNT_SCALE} digits before the decimal "
                f"point)")
    return ("is not an amount (read are -1234.56, 1,234.56, (1,234.56), 1,234.56-, $1,234.56, and 1.234,56 in a "
            "column written with decimal commas: one whose first 100,000 values hold none such as 1.50)")


def _farthest(diffs: list[str]) -> str:
    """Of signed differences (SQL), the one farthest from 0 (the first listed of those as far)."""
    if len(diffs) == 1:
        return diffs[0]
    far = "greatest(" + ", ".join(f"abs({d})" for d in diffs) + ")"
    return "(CASE " + " ".join(f"WHEN abs({d}) = {far} THEN {d}" for d in diffs) + " END)"


def _in_thread(fn: Callable[[], object]) -> Callable[[], None]:
    """Start ``fn`` on a thread; the returned ``join()`` waits for it and re-raises its error."""
    box: dict = {}

    def work():
        try:
            fn()
        except BaseException as e:   # noqa: BLE001 — handed to join()
            box["error"] = e

    th = threading.Thread(target=work, daemon=True)
    th.start()

    def join():
        th.join()
        if "error" in box:
            raise box["error"]
    return join


def _check_rule_columns(rs: RuleSet, s: Side, t: Side):
    problems = check_columns(rs, s.columns, t.columns)
    if problems:
        p = problems[0]
        raise InputError(f"{p.field}: {p.message}")
