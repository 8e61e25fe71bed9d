"""Input files: format detection, CSV dialect, strict reading, and the column types reported.

CSV files are read strictly (a line with the wrong number of fields is an error that names the line,
never a dropped row) with every column as text, so that outputs carry the original values exactly;
Parquet and JSON lines keep their native types. Column types are reported as DuckDB type names;
a CSV column of plain decimal numbers is reported as ``DECIMAL(p,s)`` (exact), never ``DOUBLE``.
"""
from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Optional


FORMATS = ("CSV", "PARQUET", "JSONL")

# The explanation columns the engine appends to unmatched outputs (docs/matching.md). When a file
# ends with exactly these columns (an unmatched output fed to a later step) they are dropped on read.
EXPLANATION_COLUMNS = ("_row_key", "_reason", "_closest_key", "_closest_pass",
                       "_failed_condition", "_detail")

#: the MATCHED output's columns and the types of their values (DuckDB names, as files list them)
MATCHED_COLUMNS = (("match_id", "VARCHAR"), ("pass", "BIGINT"), ("pass_name", "VARCHAR"),
                   ("source_row", "BIGINT"), ("target_row", "BIGINT"),
                   ("source_key", "VARCHAR"), ("target_key", "VARCHAR"),
                   ("score", "DECIMAL(7,6)"), ("amount_difference", "DECIMAL(38,10)"),
                   ("date_difference_days", "BIGINT"), ("similarity", "DECIMAL(7,6)"))

# input column types an output keeps: scalars whose CSV text reads back as the same type
_KEPT_TYPES = re.compile(r"(BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT"
                         r"|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\)|DATE|TIME|TIMESTAMP|TIMESTAMP WITH TIME ZONE|UUID"
                         r"|VARCHAR)")


def unmatched_columns(input_columns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The columns of an UNMATCHED output of an input with these (name, type) columns: the input's
    own (an earlier unmatched output read as an input loses its explanation columns) with their
    types, which hold for any subset of its rows (a nested or binary type, written as text, is
    VARCHAR), then the explanation columns (text)."""
    cols = list(input_columns)
    if explanation_tail([name for name, _ in cols]):
        cols = cols[: -len(EXPLANATION_COLUMNS)]
    return ([(name, t if _KEPT_TYPES.fullmatch(t or "") else "VARCHAR") for name, t in cols]
            + [(name, "VARCHAR") for name in EXPLANATION_COLUMNS])

_DELIMITERS = (",", ";", "\t", "|")


class InputError(ValueError):
    """An input that cannot be read; the message names the line (or row) and the problem."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class FileInfo:
    format: str
    row_count: int
    columns: list[Column] = field(default_factory=list)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str
    header: tuple[str, ...]
    encoding: str = "utf-8"
    #: what the reader reads instead of the file: a UTF-8 copy whose lines all end in LF (see readable_copy)
    read_path: Optional[str] = None


def detect_format(path: str, format: Optional[str] = None) -> str:
    if format:
        f = format.upper()
        if f in ("JSON", "NDJSON"):
            f = "JSONL"
        if f not in FORMATS:
            raise InputError(f"unsupported format {format!r} (CSV, PARQUET or JSONL)")
        return f
    lower = path.lower()
    if lower.endswith(".parquet") or lower.endswith(".pq"):
        return "PARQUET"
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "JSONL"
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            if head == b"PAR1":
                return "PARQUET"
            rest = head + fh.read(256)
    except OSError as e:
        raise InputError(f"cannot open the file: {e.strerror}") from None
    if rest.lstrip()[:1] == b"{":
        return "JSONL"
    return "CSV"


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def csv_dialect(path: str) -> CsvDialect:
    """Delimiter from the header line (the most frequent of , ; TAB | outside quotes); header names."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(1 << 20)
    except OSError as e:
        raise InputError(f"cannot open the file: {e.strerror}") from None
    window_full = len(raw) == 1 << 20
    encoding = "utf-8"
    if raw.startswith(b"\xfe\xff"):
        raise InputError("line 1: the file is UTF-16 big-endian text; save it as CSV UTF-8 (or UTF-16 little-endian)")
    if raw.startswith(b"\xff\xfe"):
        # UTF-16 little-endian with its byte order mark: what Excel's "Unicode Text" saves (tab-separated)
        encoding = "utf-16"
        raw = raw[2:]
        text = raw[: len(raw) // 2 * 2].decode("utf-16-le", errors="replace")
        if not text.strip():
            raise InputError("line 1: the file is empty (a header row is required)")
    else:
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            raise InputError("line 1: the file is empty (a header row is required)")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            if not window_full or e.start < len(raw) - 4:   # not merely a character cut by the 1 MB window
                latin = _windows_1252(raw)
                if latin is None:
                    line = raw[: e.start].count(b"\n") + 1
                    raise InputError(f"line {line}: not valid UTF-8") from None
                encoding, text = "cp1252", latin   # read from a UTF-8 copy (readable_copy)
            else:
                text = raw[: e.start].decode("utf-8")
    first = _first_record(text)
    counts = {d: _count_outside_quotes(first, d) for d in _DELIMITERS}
    delim = max(_DELIMITERS, key=lambda d: (counts[d], -_DELIMITERS.index(d)))
    header = next(csv.reader(io.StringIO(first), delimiter=delim, quotechar='"', doublequote=True), None)
    if not header:
        raise InputError("line 1: the header row is empty (a header row is required)")
    if len(header) > 1 and not header[-1].strip():
        # a delimiter at the end of every line (many bank and ERP exports): the reader takes a
        # line's trailing delimiter as the end of the line, so the lines have the header's fields
        header = header[:-1]
    names = [h.strip() if h.strip() != h and h.strip() else h for h in header]
    seen: set[str] = set()
    for i, n in enumerate(names, 1):
        _check_column_name(i, n, "line 1")
        if n == "":
            raise InputError(f"line 1: column {i} of the header has no name")
        if n.lower() in seen:
            raise InputError(f"line 1: column name {n!r} appears twice in the header")
        seen.add(n.lower())
    return CsvDialect(delim, tuple(names), encoding)


def _check_column_name(i: int, name: str, where: str) -> None:
    """A column name must be storable as text: PostgreSQL text and JSON hold no NUL character."""
    if "\x00" in name:
        raise InputError(f"{where}: column {i} name contains a NUL character")


def _first_record(text: str) -> str:
    in_q = False
    for i, ch in enumerate(text):
        if ch == '"':
            in_q = not in_q
        elif ch in "\r\n" and not in_q:
            return text[:i]
    return text


def _count_outside_quotes(line: str, d: str) -> int:
    n, in_q = 0, False
    for ch in line:
        if ch == '"':
            in_q = not in_q
        elif ch == d and not in_q:
            n += 1
    return n


#: DuckDB's CSV reader's words for a file whose lines end in two ways (CRLF, then a bare LF), and its
#: sniffer's for a sample that holds both
_MIXED_ENDINGS_ERRORS = ("state machine reached an invalid state", "Error when sniffing file")
#: a UTF-8 sequence of two or more bytes: text that holds one is UTF-8, never Windows-1252
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _windows_1252(raw: bytes) -> Optional[str]:
    """``raw`` (not UTF-8) as Windows-1252 text (Latin-1 with €, what Excel and banks in Western Europe
    save as "CSV"), or None when it is not: a byte that code page lacks, or a UTF-8 sequence (a UTF-8 file
    with a damaged byte)."""
    if _UTF8_MULTIBYTE.search(raw):
        return None
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return None


def readable_copy(path: str, dialect: CsvDialect, directory: str,
                  error: Optional[Exception] = None) -> Optional[CsvDialect]:
    """A copy of a CSV file in ``directory`` that DuckDB's reader reads, and the dialect that reads it, for
    files it cannot read as they are, or None (then ``error`` stands):

    - Windows-1252 text (``dialect.encoding`` "cp1252", from csv_dialect; or a UTF-8 error of the reader
      after the first megabyte of a file that is Windows-1252 throughout) is written as UTF-8;
    - records ending in CRLF and in bare LF (two exports joined, a line added in another editor, a blank
      last line after CRLF lines), which the reader refuses (it wants one kind), end in LF in the copy.

    Line breaks inside quoted fields are kept as they are, and the copy has the file's lines, so line
    numbers in messages stay the file's (messages read the file itself). One streaming pass, only for
    such files."""
    if dialect.read_path or dialect.encoding == "utf-16":
        return None
    msg = str(error or "")
    transcode = dialect.encoding == "cp1252"
    tentative = not transcode and ("utf-8" in msg.lower() or "unicode" in msg.lower())
    if not (transcode or tentative or any(m in msg for m in _MIXED_ENDINGS_ERRORS)):
        return None
    copy = os.path.join(directory, "readable.csv")
    crlf = lf = no = 0
    quoted = False   # inside a quoted field at the end of the line ("" escapes toggle twice)
    high = False     # a byte over 127 was transcoded
    try:
        with open(path, "rb") as src, open(copy, "wb") as out:
            for line in src:
                no += 1
                if line.count(b'"') & 1:
                    quoted = not quoted
                if not quoted and line.endswith(b"\n"):
                    if line.endswith(b"\r\n"):
                        crlf += 1
                        line = line[:-2] + b"\n"
                    else:
                        lf += 1
                if (transcode or tentative) and not line.isascii():
                    text = _windows_1252(line)
                    if text is None:
                        if transcode:
                            raise InputError(f"line {no}: not Windows-1252 text like the lines before it (save the "
                                             f"file as CSV UTF-8)")
                        out.close()
                        os.remove(copy)
                        return None
                    line, high = text.encode("utf-8"), True
                out.write(line)
    except OSError:
        return None
    if not (transcode or high) and not (crlf and lf):
        os.remove(copy)
        return None
    return CsvDialect(dialect.delimiter, dialect.header, "utf-8", copy)


def csv_reader_sql(path: str, dialect: CsvDialect, columns: Optional[dict[str, str]] = None) -> str:
    cols = columns or {h: "VARCHAR" for h in dialect.header}
    spec = "{" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in cols.items()) + "}"
    path = dialect.read_path or path
    return (f"read_csv({sql_str(path)}, auto_detect=false, header=true, delim={sql_str(dialect.delimiter)}, "
            f"quote='\"', escape='\"', strict_mode=true, null_padding=false, all_varchar=false, "
            f"encoding={sql_str(dialect.encoding)}, columns={spec})")


def csv_sniff_sql(path: str, dialect: CsvDialect) -> str:
    """DESCRIBE of DuckDB's own reading of a CSV input (its types from a 20,480-row sample)."""
    path = dialect.read_path or path
    return (f"DESCRIBE SELECT * FROM read_csv({sql_str(path)}, header=true, delim={sql_str(dialect.delimiter)}, "
            f"quote='\"', escape='\"', encoding={sql_str(dialect.encoding)}, sample_size=20480)")


def sniff_csv_types(con, path: str, dialect: CsvDialect) -> dict[str, str]:
    """DuckDB's types of a CSV input's columns from a 20,480-row sample (csv_sniff_sql), the same on every
    DuckDB the product runs on: whole numbers of more than 18 digits are DOUBLE to DuckDB before 1.3 (a
    number with a fraction) and HUGEINT later; a DOUBLE column whose sampled values hold no point, comma or
    exponent is HUGEINT here. DuckDB errors propagate."""
    sniffed = {d[0]: d[1] for d in con.execute(csv_sniff_sql(path, dialect)).fetchall()}
    doubles = [c for c in dialect.header if sniffed.get(c) == "DOUBLE"]
    if doubles:
        whole = con.execute("SELECT " + ", ".join(
            f"NOT coalesce(bool_or(regexp_matches({ident(c)}, '[.,eE]')), false)" for c in doubles)
            + f" FROM (SELECT * FROM {csv_reader_sql(path, dialect)} LIMIT 20480)").fetchone()
        sniffed.update({c: "HUGEINT" for c, w in zip(doubles, whole) if w})
    return sniffed


def reader_sql(path: str, fmt: str, dialect: Optional[CsvDialect] = None, json_text: tuple[str, ...] = ()) -> str:
    """The SQL that reads an input; ``json_text``: JSON-lines columns read as their text (see
    describe_input)."""
    if fmt == "CSV":
        return csv_reader_sql(path, dialect or csv_dialect(path))
    if fmt == "PARQUET":
        return f"read_parquet({sql_str(path)})"
    # records=true: a line that is no object (an array, a string, a number) is an error; DuckDB's default
    # read such a file as one column named "json" holding the documents (an object's fields lost)
    if not json_text:
        return f"read_json({sql_str(path)}, format='newline_delimited', records=true, sample_size=-1)"
    # every column as its text, as written: a string's own text ("x2" → x2), a number's digits (no binary
    # double between, 12345678901234567890123 stays), a timestamp as written (not in UTC), an object's JSON
    columns = ", ".join(f"{sql_str(c)}: 'VARCHAR'" for c in json_text)
    return f"read_json({sql_str(path)}, format='newline_delimited', records=true, columns={{{columns}}})"


def describe_input(con, path: str, fmt: str,
                   renamed_check: bool = True) -> tuple[list[tuple[str, str]], tuple[str, ...]]:
    """(name, type) of a Parquet or JSON-lines input's columns, and the JSON-lines columns to read
    as text: all of them (reader_sql), so that values read the same on every DuckDB version and as
    written. A column whose lines hold values of different JSON types (1 on one line, "x2" on the
    next) is typed JSON, whose text keeps the quotes of its strings: listed as VARCHAR. DuckDB errors
    propagate; names that are not unique ignoring case, or empty, are an InputError (see _check_jsonl_names
    and _check_parquet_names; without ``renamed_check`` the caller makes the check of JSON-lines names that
    DuckDB may have given, check_jsonl_renamed, after reading the columns)."""
    desc = [(d[0], d[1]) for d in con.execute(f"DESCRIBE SELECT * FROM {reader_sql(path, fmt)}").fetchall()]
    # a column with no value at all (null on every line) has DuckDB's type NULL (written "NULL" with its
    # quotes by DuckDB 1.3 and later, VARCHAR before): nothing says more than text
    desc = [(n, "VARCHAR" if t.strip('"') == "NULL" else t) for n, t in desc]
    if fmt == "PARQUET":
        _check_parquet_names(con, path)
        return desc, ()
    names = [n for n, _ in desc]
    _check_jsonl_names(path, names)
    if renamed_check:
        check_jsonl_renamed(con, path, names)
    return [(n, "VARCHAR" if t == "JSON" else t) for n, t in desc], tuple(names)


def _unique_names_problem(names: list[str], where: str) -> Optional[str]:
    """The first name of ``names`` (a Parquet schema's top-level columns) that is empty or repeats an earlier
    one ignoring case, worded like the CSV header's; None when they are unique."""
    seen: dict[str, tuple[int, str]] = {}
    for i, n in enumerate(names, 1):
        if n == "":
            return f"{where}: column {i} has no name"
        first = seen.get(n.lower())
        if first and first[1] == n:
            return f"{where}: column name {n!r} appears twice (columns {first[0]} and {i})"
        if first:
            return (f"{where}: column {i} {n!r} differs from column {first[0]} {first[1]!r} only in case; column "
                    f"names must be unique ignoring case")
        seen[n.lower()] = (i, n)
    return None


def _check_parquet_names(con, path: str) -> None:
    """InputError when two top-level columns of a Parquet file have the same name ignoring case: DuckDB, whose
    names ignore case, reads the second under a name the file does not have (`A` beside `a` as `A_1`), and
    a CSV header with such names is refused. Reads the file's schema only (its footer)."""
    rows = con.execute(f"SELECT name, num_children FROM parquet_schema({sql_str(path)})").fetchall()
    names, i = [], 1                  # rows: the schema's elements depth first, the root first
    while i < len(rows):
        names.append(rows[i][0])
        pending = rows[i][1] or 0     # the nested fields of this column, skipped
        i += 1
        while pending and i < len(rows):
            pending += (rows[i][1] or 0) - 1
            i += 1
    problem = _unique_names_problem(names, "schema")
    if problem:
        raise InputError(problem)


#: a name DuckDB's JSON reader gives a key whose name another key has ignoring case (`A` beside `a` → `A_1`)
_RENAMED = re.compile(r"(.+)_[0-9]+")
#: the name DuckDB 1.2's JSON reader gives a key that has none ("")
_UNNAMED = re.compile(r"C[0-9]+")


def _check_jsonl_names(path: str, names: list[str]) -> None:
    """InputError naming the line when a JSON-lines key has no name ("") or has the name of another key
    ignoring case where DuckDB kept both (they differ beyond ASCII's case: `É`, `é`), as a CSV header's names
    are refused. ``names``: the columns DuckDB described (every line's keys). Reads the file only then, up to
    the offending line."""
    lowered: dict[str, str] = {}
    for n in names:
        if n == "" or n.lower() in lowered:
            raise _jsonl_key_problem(path) or InputError(
                'a key has no name ("")' if n == "" else f"key {n!r} differs from key {lowered[n.lower()]!r} only "
                "in case; column names must be unique ignoring case")
        lowered[n.lower()] = n


def check_jsonl_renamed(con, path: str, names: list[str], filled: Optional[dict[str, int]] = None) -> None:
    """InputError naming the line when a JSON-lines key has the name of another key ignoring case, on its line
    or an earlier one: DuckDB's reader, whose names ignore case, describes such a key as a column the file
    does not have (`A` beside `a` → `A_1`) and finds it in no object (every value lost). ``names``: the
    columns DuckDB described; ``filled``: a column's count of values, when read (a column holding a value is
    a key of the file). Costs nothing unless a name looks renamed (`A_1` beside `a`, not `a_1` beside `a`) and
    holds no value; then one set-based pass (each line's keys against the described names), and the file is
    read up to the offending line only when a key is not among them."""
    exact, lowered = set(names), {n.lower() for n in names}
    # DuckDB 1.2 (Lambda's) reads a key without a name ("") as a column it calls C1, C2 ..., with its values
    suspect = any(_UNNAMED.fullmatch(n) for n in names)
    for n in names:
        if suspect or filled is not None and filled.get(n):
            continue
        base = n
        # DuckDB keeps the first spelling and appends _1 (and _1 again while taken) to a later one: the key
        # renamed is a name spelled otherwise (never described as written), `phone_1` beside `phone` is no rename
        while not suspect and (m := _RENAMED.fullmatch(base)):
            base = m.group(1)
            suspect = base.lower() in lowered and base not in exact
    if not suspect or any("\x00" in n for n in names):   # a NUL in a name is refused by its own check
        return
    listed = "[" + ", ".join(sql_str(n) for n in names) + "]::VARCHAR[]"
    unlisted = con.execute(f"SELECT count(*) FROM read_json_objects({sql_str(path)}, format='newline_delimited') "
                           f"WHERE NOT list_has_all({listed}, json_keys(json))").fetchone()[0]
    if unlisted:
        problem = _jsonl_key_problem(path)
        if problem:
            raise problem


class _Pairs(list):
    """A JSON object as its (key, value) pairs in order, duplicates kept."""


def _jsonl_key_problem(path: str, stop_at_not_object: bool = False) -> Optional[InputError]:
    """The first line of a JSON-lines file with a key that has no name, or whose name another key of the line
    or of an earlier line has ignoring case (the case-insensitive uniqueness of CSV header names); with
    ``stop_at_not_object``, a line that is no object is that first problem too. Reads the file up to that
    line (on the error path only)."""
    import json
    first: dict[str, tuple[str, int]] = {}   # a name ignoring case → its first spelling and line
    try:
        with open(path, "rb") as fh:
            for no, raw in enumerate(fh, 1):
                if no == 1:
                    raw = raw.removeprefix(b"\xef\xbb\xbf")
                if not raw.strip():
                    continue
                try:
                    doc = json.loads(raw, object_pairs_hook=_Pairs)
                except ValueError:
                    continue   # DuckDB names a malformed line itself
                if not isinstance(doc, _Pairs):
                    if stop_at_not_object:
                        return _not_object(no, doc)
                    continue
                line: dict[str, str] = {}
                for i, (key, _) in enumerate(doc, 1):
                    if key == "":
                        return InputError(f'line {no}: key {i} of the object has no name ("")')
                    low = key.lower()
                    if low in line:
                        if line[low] == key:
                            return InputError(f"line {no}: key {key!r} appears twice in the object")
                        return InputError(f"line {no}: key {key!r} differs from key {line[low]!r} only in case; "
                                          f"column names must be unique ignoring case")
                    line[low] = key
                    spelled, at = first.setdefault(low, (key, no))
                    if spelled != key:
                        return InputError(f"line {no}: key {key!r} differs from key {spelled!r} of line {at} only "
                                          f"in case; column names must be unique ignoring case")
    except OSError:
        pass
    return None


def _not_object(no: int, doc) -> InputError:
    kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(doc), "a number")
    return InputError(f"line {no}: not a JSON object ({kind}); each line is one row: " '{"column": value, ...}')


_LINE_RE = re.compile(r"CSV Error on Line: (\d+)")
_FOUND_RE = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_LINE_SIZE_RE = re.compile(r"Maximum line size of (\d+) bytes exceeded\. Actual Size: ?(\d+) bytes")


def translate_error(exc: Exception, fmt: str, path: Optional[str] = None,
                    dialect: Optional[CsvDialect] = None) -> InputError:
    """A DuckDB read error as an InputError naming the line and the problem (for JSON lines, with
    ``path``, the line is checked: see _jsonl_bad_line; for CSV, with ``path`` and ``dialect``, the
    line is the file's own: see csv_line)."""
    msg = str(exc)
    if fmt == "CSV":
        m = _LINE_RE.search(msg)
        line = m.group(1) if m else "?"
        if m and path and dialect:
            line = str(csv_line(path, dialect, reader_line=int(line)))
        f = _FOUND_RE.search(msg)
        if f:
            found = int(f.group(2))
            return InputError(f"line {line}: {found} field{'' if found == 1 else 's'}, header has {f.group(1)}")
        if "unterminated quote" in msg.lower() or "quote" in msg.lower() and "unterminated" in msg.lower():
            return InputError(f"line {line}: unterminated quoted field")
        if "utf-8" in msg.lower() or "unicode" in msg.lower():
            return InputError(f"line {line}: not valid UTF-8")
        size = _LINE_SIZE_RE.search(msg)
        if size:
            return InputError(f"line {line}: {int(size.group(2)):,} bytes long; a line may hold at most "
                              f"{int(size.group(1)):,} bytes")
        first = msg.split("\n", 1)[0].replace("Invalid Input Error: ", "")
        return InputError(f"line {line}: {first}" if m else first)
    if fmt == "JSONL":
        if "expected records" in msg and path:
            return _jsonl_not_records(path)
        m = re.search(r"line (\d+)", msg)
        first = msg.split("\n", 1)[0].replace("Invalid Input Error: ", "")
        first = re.sub(r' in file "[^"]*"', "", first)
        if m and path and "Malformed JSON" in first:
            line, why = _jsonl_bad_line(path, int(m.group(1)))
            if why:
                return InputError(f"line {line}: not valid JSON ({why})")
        if path and "duplicate key" in first.lower():   # (DuckDB 1.2, on Lambda: "Duplicate key")
            # DuckDB's line is counted without the empty lines: the file's own line comes from reading it
            problem = _jsonl_key_problem(path)
            if problem:
                return problem
        return InputError(f"line {m.group(1)}: {first}" if m else first)
    first = msg.split("\n", 1)[0].replace("Invalid Input Error: ", "").replace("IO Error: ", "")
    # DuckDB names the local path ("File '/tmp/x' too small to be a Parquet file"): say "the file"
    first = re.sub(r"^File '[^']*' (?:is )?", "the file is ", first)
    return InputError(f"not a readable Parquet file: {re.sub(chr(39) + '[^' + chr(39) + ']*' + chr(39), 'the file', first)}")


def csv_line(path: str, dialect: CsvDialect, *, row: Optional[int] = None,
             reader_line: Optional[int] = None) -> int:
    """The line of the file (1-based, as an editor counts them) where data row ``row`` (0-based, as
    loaded) starts, or where the record DuckDB's reader names as line ``reader_line`` starts. Empty
    lines hold no row, and a quoted field may span lines: row + 2 is the line only in a file with
    neither; DuckDB's own count includes the empty lines but not the line breaks inside quotes.
    Reads the file up to there (on the error path only)."""
    encoding = "utf-16" if dialect.encoding == "utf-16" else "utf-8-sig"
    start, records, data = 1, 0, -1          # data -1: the header
    try:
        with open(path, newline="", encoding=encoding, errors="replace") as fh:
            reader = csv.reader(fh, delimiter=dialect.delimiter, quotechar='"', doublequote=True)
            for rec in reader:
                records += 1
                if rec:
                    if data == row:
                        return start
                    data += 1
                if records == reader_line:
                    return start
                start = reader.line_num + 1
    except (OSError, csv.Error):
        pass
    return reader_line if reader_line is not None else (row or 0) + 2


def jsonl_line(path: str, row: int) -> int:
    """The line of a JSON-lines file (1-based) that holds data row ``row`` (0-based, as loaded):
    the reader skips empty and blank lines, so row + 1 is the line only in a file without them.
    Reads the file up to there (on the error path only)."""
    data = -1
    try:
        with open(path, "rb") as fh:
            for no, raw in enumerate(fh, 1):
                if raw.strip():
                    data += 1
                    if data == row:
                        return no
    except OSError:
        pass
    return row + 1


def _jsonl_bad_line(path: str, reported: int) -> tuple[int, Optional[str]]:
    """DuckDB's JSON reader names the line after the malformed one (a truncated last record, a
    stray character): of the reported line and the one before, the first that is not a JSON
    document is the answer, with Python's reason. Reads the file up to that line only."""
    import json
    wanted = {reported - 1, reported}
    try:
        with open(path, "rb") as fh:
            for no, raw in enumerate(fh, 1):
                if no in wanted and raw.strip():
                    try:
                        json.loads(raw.rstrip(b"\r\n"))
                    except ValueError as e:
                        reason = e.msg if isinstance(e, json.JSONDecodeError) else "not UTF-8 text"
                        col = f" at column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
                        return no, f"{reason.lower()}{col}"
                if no >= reported:
                    break
    except OSError:
        pass
    return reported, None


def _jsonl_not_records(path: str) -> InputError:
    """Why DuckDB's reader found no records in a JSON-lines file: the first line that is no JSON object or has a
    key without a name (or a key problem before it: see _jsonl_key_problem), or no object with a field at all
    (reads the file on this error path only)."""
    import json
    problem = _jsonl_key_problem(path, stop_at_not_object=True)
    if problem:
        return problem
    fields = False
    try:
        with open(path, "rb") as fh:
            for raw in fh:
                if raw.strip():
                    try:
                        doc = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(doc, dict) and doc:
                        fields = True
                        break
    except OSError:
        pass
    if not fields:
        return InputError('the file holds no JSON object with a field: there is no column to read (each line is '
                          'one row: {"column": value, ...})')
    return InputError('not JSON lines: each line is one row: {"column": value, ...}')


def explanation_tail(columns: list[str]) -> bool:
    n = len(EXPLANATION_COLUMNS)
    return len(columns) > n and tuple(columns[-n:]) == EXPLANATION_COLUMNS


def check_explanation_names(columns: list[str], where: str) -> None:
    """InputError when a column of an input (beyond the explanation columns of an earlier unmatched output,
    which are read without them) has the name of an explanation column: its unmatched output would hold two
    columns of that name (DuckDB, whose names ignore case, writes the second as `_detail_1`), which no
    reader can tell apart."""
    own = columns[: -len(EXPLANATION_COLUMNS)] if explanation_tail(columns) else columns
    reserved = {c.lower() for c in EXPLANATION_COLUMNS}
    for i, name in enumerate(own, 1):
        if name.lower() in reserved:
            raise InputError(f"{where}: column {i} is named {name!r}, the name of an explanation column that the "
                             f"unmatched outputs add ({', '.join(EXPLANATION_COLUMNS)}); rename it")


def _connect():
    import duckdb   # imported when a file is read, so that importing the rule-set model stays light
    con = duckdb.connect(config={"threads": 2, "memory_limit": "512MB"})
    con.execute("SET TimeZone='UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


_NUMERIC = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "DOUBLE", "FLOAT"}


def inspect_file(path: str, format: Optional[str] = None,
                 con=None) -> FileInfo:
    """Format, row count and column types of an input file; InputError names the offending line."""
    import duckdb
    if not os.path.exists(path):
        raise InputError("the file does not exist")
    fmt = detect_format(path, format)
    own = con is None
    con = con or _connect()
    try:
        if fmt == "CSV":
            dialect = csv_dialect(path)
            with tempfile.TemporaryDirectory(prefix="recon-inspect-") as tmp:
                if dialect.encoding == "cp1252":
                    dialect = readable_copy(path, dialect, tmp)
                rows, types = _csv_scan(con, path, dialect, tmp)
            cols = [Column(n, types.get(n, "VARCHAR")) for n in dialect.header]
        else:
            try:
                desc, json_text = describe_input(con, path, fmt, renamed_check=False)
                cols = [Column(n, t) for n, t in desc]
                for i, c in enumerate(cols, 1):   # before a name is written into the reading's SQL
                    _check_column_name(i, c.name, "line 1" if fmt == "JSONL" else "schema")
                # every JSON-lines column is read, not only the lines counted: an object holding a key twice
                # is found here (DuckDB's reader refuses it only when it reads that column), and the columns
                # that hold a value are keys of the file
                read = "".join(f", count({ident(c)})" for c in json_text)
                rows, *filled = con.execute(f"SELECT count(*){read} FROM {reader_sql(path, fmt, json_text=json_text)}"
                                            ).fetchone()
                if fmt == "JSONL":
                    check_jsonl_renamed(con, path, list(json_text), dict(zip(json_text, filled)))
            except duckdb.Error as e:
                raise translate_error(e, fmt, path) from None
        check_explanation_names([c.name for c in cols], "line 1" if fmt != "PARQUET" else "schema")
        return FileInfo(fmt, int(rows), cols)
    finally:
        if own:
            con.close()


def _csv_scan(con, path: str, dialect: CsvDialect, tmp: str) -> tuple[int, dict[str, str]]:
    """One streaming pass (bounded memory, any file size): strict parsing, the row count, and a
    check of every sniffed type against every row (a late non-conforming value → VARCHAR). A file
    with mixed line endings or in Windows-1252 is read from a copy in ``tmp`` (readable_copy)."""
    import duckdb
    try:
        sniffed = sniff_csv_types(con, path, dialect)
    except duckdb.Error as e:
        unified = readable_copy(path, dialect, tmp, e)
        if unified:
            return _csv_scan(con, path, unified, tmp)
        sniffed = {}
    checks, names = [], []
    for name in dialect.header:
        t = sniffed.get(name, "VARCHAR")
        c = ident(name)
        if t in _NUMERIC:
            names.append((name, "NUM"))
            # one regular expression a column (each costs DuckDB ~0.1 MB and ~1 ms to compile: a file of
            # 2,000 numeric columns ran out of memory with three); a valid number's digits by position
            checks.append(
                f"count(*) FILTER (WHERE {c} IS NOT NULL AND trim({c}) <> '' AND NOT regexp_full_match(trim({c}), '[-+]?[0-9]*\\.?[0-9]+'))")
            checks.append(f"max(CASE WHEN strpos(trim({c}), '.') > 0 THEN length(trim({c})) - strpos(trim({c}), '.') END)")
            checks.append(f"max(coalesce(nullif(strpos(trim({c}), '.'), 0) - 1, length(trim({c})))"
                          f" - CASE WHEN left(trim({c}), 1) IN ('+', '-') THEN 1 ELSE 0 END)")
        elif t in ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE"):
            # with or without a time zone by the values, not by the sniffer: DuckDB before 1.3 sniffs
            # '2026-02-20 11:00:00+00' as TIMESTAMP, later versions as TIMESTAMP WITH TIME ZONE
            names.append((name, "TS"))
            filled = f"{c} IS NOT NULL AND trim({c}) <> ''"
            checks.append(f"count(*) FILTER (WHERE {filled} AND TRY_CAST({c} AS TIMESTAMP WITH TIME ZONE) IS NULL)")
            checks.append(f"count(*) FILTER (WHERE {filled} AND regexp_matches(trim({c}), '{_ZONE_SUFFIX}'))")
            checks.append(f"count(*) FILTER (WHERE {filled})")
            checks.append(f"'{t}'")
        elif t in ("DATE", "TIME", "BOOLEAN"):
            names.append((name, t))
            checks.append(f"count(*) FILTER (WHERE {c} IS NOT NULL AND trim({c}) <> '' AND TRY_CAST({c} AS {t}) IS NULL)")
        else:
            # read the column (not only count the lines): its text is checked for UTF-8 here, at
            # upload, instead of failing every run that reads it
            names.append((name, "TEXT"))
            checks.append(f"count({c})")
    try:
        # in statements of at most _CHECKS_AT_ONCE checks: memory stays bounded however wide the file (one
        # more read of the file per statement, for files of over ~150 columns only)
        vals = []
        for at in range(0, max(len(checks), 1), _CHECKS_AT_ONCE):
            part = ["count(*)", *checks[at:at + _CHECKS_AT_ONCE]]
            got = con.execute(f"SELECT {', '.join(part)} FROM {csv_reader_sql(path, dialect)}").fetchone()
            vals = [got[0], *vals[1:], *got[1:]] if vals else list(got)
    except duckdb.Error as e:
        unified = readable_copy(path, dialect, tmp, e)
        if unified:
            return _csv_scan(con, path, unified, tmp)
        raise translate_error(e, "CSV", path, dialect) from None
    rows = int(vals.pop(0))
    _check_no_extra_empty_fields(path, dialect)
    out: dict[str, str] = {n: "VARCHAR" for n in dialect.header}
    if rows == 0:
        return rows, out
    for name, kind in names:
        if kind == "NUM":
            bad, scale, digits = vals.pop(0), vals.pop(0) or 0, vals.pop(0) or 0
            if bad:
                continue
            if scale == 0 and sniffed[name] != "DOUBLE":
                # past 38 digits no exact number type holds them (identifiers, most likely): text
                out[name] = "BIGINT" if digits <= 18 else "DECIMAL(38,0)" if digits <= 38 else "VARCHAR"
            else:
                p = max(18, min(38, digits + scale))
                out[name] = f"DECIMAL({p},{scale})" if digits + scale <= 38 else "DOUBLE"
        elif kind == "TEXT":
            vals.pop(0)
        elif kind == "TS":
            bad, zoned, filled, sniffed_type = vals.pop(0), vals.pop(0), vals.pop(0), vals.pop(0)
            if not bad:
                out[name] = ("TIMESTAMP WITH TIME ZONE" if filled and zoned == filled
                             else "TIMESTAMP" if not zoned else sniffed_type)
        elif not vals.pop(0):
            out[name] = kind
    return rows, out


#: the checks of one statement of _csv_scan (three a numeric column, four a timestamp one, one otherwise)
_CHECKS_AT_ONCE = 450


def _check_no_extra_empty_fields(path: str, dialect: CsvDialect) -> None:
    """InputError naming the first record with more fields than the header when the extra fields are empty
    (``3,4,`` or ``3,4,,,`` or ``3,4,""`` under ``a,b``): DuckDB's strict reader refuses a line with an extra
    value but drops extra empty fields at a line's end without a word. A file whose header line also ends
    with the delimiter (every line does) may end each line with one. Fast path: only a file with a line
    ending in the delimiter (an unquoted or an empty quoted field) is read record by record."""
    read = dialect.read_path or path
    encoding = "utf-16" if dialect.encoding == "utf-16" else "utf-8-sig"
    if encoding != "utf-16" and not _some_line_ends_with(read, dialect.delimiter):
        return
    with open(read, newline="", encoding=encoding, errors="replace") as fh:
        reader = csv.reader(fh, delimiter=dialect.delimiter, quotechar='"', doublequote=True)
        named = len(dialect.header)
        trailing = len(next(reader, None) or ()) > named   # the header line ends with the delimiter too
        start = reader.line_num + 1
        for record in reader:
            if len(record) > named + trailing:
                fields = len(record) - (trailing and record[-1] == "")   # as a line of the reader counts
                raise InputError(f"line {start}: {fields} fields, header has {named}")
            start = reader.line_num + 1


def _some_line_ends_with(path: str, delimiter: str, chunk: int = 16 << 20) -> bool:
    """Whether a line of the file (bytes; ASCII delimiter) ends with ``delimiter`` or ``delimiter""``."""
    d = delimiter.encode()
    endings = ()
    keep = 0
    tail = b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not endings:
                # the reader takes files whose lines all end in LF or all in CRLF (others are read from a
                # copy in LF): the first block says which
                eol = b"\r\n" if b"\r\n" in block[:1 << 20] else b"\n"
                endings = (d + eol, d + b'""' + eol)
                keep = len(endings[1]) - 1
            if not block:
                return tail.rstrip(b"\r\n").endswith((d, d + b'""')) if tail else False
            data = tail + block
            if any(e in data for e in endings):
                return True
            tail = data[-keep:] if len(data) > keep else data


# the end of a timestamp written with its offset from UTC: Z, +01, +0100, +01:00
_ZONE_SUFFIX = r"([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$"
