"""inspect_file: formats, detected types, strict CSV errors naming the line."""
import csv
import json
import os
import tempfile

import duckdb
import pytest

from chalicelib.matching import Column, InputError, inspect_file


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_types_are_exact_decimals_dates_and_text(tmp_path):
    path = write(tmp_path, "orders.csv",
                 "order_id,amount,order_date,qty,note\nORD-1,120.37,2026-02-20,3,\"a, quoted\"\n"
                 "ORD-2,0.10,2026-02-21,4,plain\n")
    info = inspect_file(path)
    assert info.format == "CSV" and info.row_count == 2
    assert info.columns == [Column("order_id", "VARCHAR"), Column("amount", "DECIMAL(18,2)"),
                            Column("order_date", "DATE"), Column("qty", "BIGINT"), Column("note", "VARCHAR")]


def test_late_non_numeric_value_makes_the_column_text(tmp_path):
    rows = "".join(f"{i},{i}.50\n" for i in range(30000)) + "30000,n/a\n"
    info = inspect_file(write(tmp_path, "late.csv", "id,amount\n" + rows))
    assert info.row_count == 30001
    assert dict((c.name, c.type) for c in info.columns)["amount"] == "VARCHAR"


def test_malformed_line_is_named(tmp_path):
    body = "a,b,c,d,e,f\n" + "1,2,3,4,5,6\n" * 1731 + "1,2,3,4,5\n" + "1,2,3,4,5,6\n"
    with pytest.raises(InputError) as exc:
        inspect_file(write(tmp_path, "bad.csv", body))
    assert str(exc.value) == "line 1733: 5 fields, header has 6"


def test_too_many_fields_and_unterminated_quote(tmp_path):
    with pytest.raises(InputError, match=r"^line 3: 3 fields, header has 2$"):
        inspect_file(write(tmp_path, "x.csv", "a,b\n1,2\n1,2,3\n"))
    with pytest.raises(InputError, match=r"^line \d+:"):
        inspect_file(write(tmp_path, "q.csv", 'a,b\n1,"open\n2,3\n'))


@pytest.mark.parametrize("body, line, fields, header", [
    ("a,b\n1,2\n3,4,\n5,6\n", 3, 3, 2),
    ("a,b\n1,2\n3,4,,,,\n", 3, 6, 2),
    ('a,b\n1,2\n3,4,""\n', 3, 3, 2),
    ("a,b\r\n1,2\r\n3,4,\r\n", 3, 3, 2),
    ("a,b\n1,2\n3,4,", 3, 3, 2),                       # the last line, without its line break
    ('a,b\n1,"two\nlines,"\n\n3,4,\n', 5, 3, 2),     # a quoted line break and an empty line before it
    ("id;ref;amount;\n1;A;10;\n2;B;5;;\n", 3, 4, 3),   # every line ends with ';', this one with two
])
def test_extra_empty_fields_are_named_not_dropped(tmp_path, body, line, fields, header):
    """DuckDB's reader drops empty fields past the header's count at a line's end without a word; the file
    is refused like a line with an extra value, naming the line."""
    with pytest.raises(InputError) as exc:
        inspect_file(write(tmp_path, "extra.csv", body))
    assert str(exc.value) == f"line {line}: {fields} fields, header has {header}"


@pytest.mark.parametrize("header, column, name", [("id,_detail", 2, "_detail"), ("_Reason,id", 1, "_Reason"),
                                                   ("id,_row_key,x", 2, "_row_key")])
def test_a_column_named_like_an_explanation_column_is_refused_naming_it(tmp_path, header, column, name):
    """Its unmatched output would hold two columns of that name (DuckDB wrote the second as `_detail_1`, and the
    run failed after matching, when its exceptions were read)."""
    from .helpers import eq, p, rule_set, run_files
    path = write(tmp_path, "clash.csv", f"{header}\n" + ",".join(["v"] * header.count(",")) + ",A\n")
    with pytest.raises(InputError) as exc:
        inspect_file(path)
    assert str(exc.value).startswith(f"line 1: column {column} is named '{name}', the name of an explanation column")
    other = write(tmp_path, "other.csv", "id\nA\n")
    with pytest.raises(InputError, match=f"^target input: line 1: column {column} is named '{name}'"):
        run_files(other, path, rule_set(p("p", eq("id"))), tmp_path / "out")


def test_an_earlier_unmatched_output_keeps_being_an_input(tmp_path):
    """Its explanation columns are the last six, read without them: no clash."""
    from chalicelib.matching import EXPLANATION_COLUMNS
    path = write(tmp_path, "unmatched.csv", "id," + ",".join(EXPLANATION_COLUMNS) + "\nA,A,NO_CANDIDATE,,,,none\n")
    assert [c.name for c in inspect_file(path).columns][:1] == ["id"]


def test_a_wide_file_is_inspected_in_bounded_memory(tmp_path):
    """2,000 numeric columns and one row (15 KB): the type checks of every column in one statement ran out of
    DuckDB's 512 MB (`Out of Memory Error`, the file INVALID); they run in statements of bounded size."""
    n = 2000
    path = write(tmp_path, "wide.csv", ",".join(f"c{i}" for i in range(n)) + "\n"
                 + ",".join(f"{i}.{i % 10}" if i % 2 else str(i) for i in range(n)) + "\n")
    info = inspect_file(path)
    assert info.row_count == 1 and len(info.columns) == n
    assert {c.type for c in info.columns[0::2]} == {"BIGINT"} and {c.type for c in info.columns[1::2]} == {"DECIMAL(18,1)"}


@pytest.mark.parametrize("body, message", [
    ('[1, 2]\n', 'line 1: not a JSON object (an array); each line is one row: {"column": value, ...}'),
    ('{"a": 1}\n\n"x"\n', 'line 3: not a JSON object (a string); each line is one row: {"column": value, ...}'),
    ('{"a": 1}\n7\n', 'line 2: not a JSON object (a number); each line is one row: {"column": value, ...}'),
    ('{}\n{}\n', 'the file holds no JSON object with a field: there is no column to read (each line is one row: '
                 '{"column": value, ...})'),
    ('\n\n', 'the file holds no JSON object with a field: there is no column to read (each line is one row: '
             '{"column": value, ...})'),
])
def test_json_lines_that_are_no_objects_are_named(tmp_path, body, message):
    """DuckDB's default reads such a file as one column named "json" holding whole documents: READY with a
    column the file does not have, and an object's fields lost beside an array line."""
    from .helpers import eq, p, rule_set, run_files
    path = write(tmp_path, "x.jsonl", body)
    with pytest.raises(InputError) as exc:
        inspect_file(path)
    assert str(exc.value) == message
    other = write(tmp_path, "o.jsonl", '{"a": 1}\n')
    with pytest.raises(InputError) as exc:
        run_files(other, path, rule_set(p("p", eq("a"))), tmp_path / "out")
    assert str(exc.value) == f"target input: {message}"


def test_a_delimiter_at_the_end_of_a_quoted_value_is_data(tmp_path):
    info = inspect_file(write(tmp_path, "q.csv", 'a,b\n1,"x,"\n2,"y\nz,"\n'))
    assert info.row_count == 2


def test_semicolon_and_tab_delimiters_and_quoted_newlines(tmp_path):
    info = inspect_file(write(tmp_path, "semi.csv", "id;name;amount\n1;\"Smith; J\";1,5\n2;Doe;2\n"))
    assert [c.name for c in info.columns] == ["id", "name", "amount"] and info.row_count == 2
    info = inspect_file(write(tmp_path, "tab.csv", "id\tname\n1\t\"two\nlines\"\n"))
    assert info.row_count == 1 and [c.name for c in info.columns] == ["id", "name"]


def test_header_problems(tmp_path):
    with pytest.raises(InputError, match="line 1: the file is empty"):
        inspect_file(write(tmp_path, "empty.csv", ""))
    with pytest.raises(InputError, match="appears twice"):
        inspect_file(write(tmp_path, "dup.csv", "a,b,A\n1,2,3\n"))
    with pytest.raises(InputError, match="column 2 of the header has no name"):
        inspect_file(write(tmp_path, "noname.csv", "a,,c\n1,2,3\n"))
    info = inspect_file(write(tmp_path, "header_only.csv", "a,b\n"))
    assert info.row_count == 0 and [c.name for c in info.columns] == ["a", "b"]


def test_parquet_and_jsonl(tmp_path):
    pq = str(tmp_path / "x.parquet")
    con = duckdb.connect()
    con.execute(f"COPY (SELECT 'A' AS ref, CAST(1.25 AS DECIMAL(10,2)) AS amount, DATE '2026-02-20' AS d "
                f"FROM range(3)) TO '{pq}' (FORMAT parquet)")
    info = inspect_file(pq)
    assert info.format == "PARQUET" and info.row_count == 3
    assert info.columns == [Column("ref", "VARCHAR"), Column("amount", "DECIMAL(10,2)"), Column("d", "DATE")]
    jl = write(tmp_path, "x.jsonl", "\n".join(json.dumps({"ref": f"R{i}", "n": i}) for i in range(4)) + "\n")
    info = inspect_file(jl)
    assert info.format == "JSONL" and info.row_count == 4 and [c.name for c in info.columns] == ["ref", "n"]
    bad = write(tmp_path, "bad.jsonl", '{"a": 1}\n{"a": 2\n')
    with pytest.raises(InputError, match=r"^line 2: not valid JSON \(expecting ',' delimiter at column 8\)$"):
        inspect_file(bad)
    fake = write(tmp_path, "fake.parquet", "not parquet")
    with pytest.raises(InputError, match="not a readable Parquet file") as e:
        inspect_file(fake)
    assert str(tmp_path) not in str(e.value) and "File the file" not in str(e.value)   # no local paths, plain words
    with pytest.raises(InputError, match="^not a readable Parquet file: the file is too small to be a Parquet file$"):
        inspect_file(write(tmp_path, "tiny.parquet", "abc"))


@pytest.mark.parametrize("body,line,why", [
    ('{"a":1}\n{"a":\n', 2, "expecting value at column 6"),              # truncated last record
    ('{"a":1}\n{"a":\n{"a":3}\n', 2, "expecting value at column 6"),      # truncated record inside
    ('{"a":1}\n{"a":2}}\n{"a":3}\n', 2, "extra data at column 8"),        # a stray character
    ('not json\n{"a":1}\n', 1, "expecting value at column 1"),             # the first line
    ('{"a":1}\n{"a":2}\n{"a":3}\n{"a":\n', 4, "expecting value at column 6"),
])
def test_malformed_json_line_is_the_broken_record(tmp_path, body, line, why):
    with pytest.raises(InputError) as exc:
        inspect_file(write(tmp_path, "x.jsonl", body))
    assert str(exc.value) == f"line {line}: not valid JSON ({why})"


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        inspect_file(str(tmp_path / "nope.csv"))


@pytest.mark.parametrize("body, message", [
    (b"\nx\n1\n", "line 1: the header row is empty"),
    (b"\r\nx\n1\n", "line 1: the header row is empty"),
    (b"\xef\xbb\xbf\nx\n", "line 1: the header row is empty"),
    (b"\xef\xbb\xbf", "line 1: the file is empty"),
    (b"\xef\xbb\xbf  \n", "line 1: the file is empty"),
    (b"a\x00,b\n1,2\n", "line 1: column 1 name contains a NUL character"),
    (b"a,\x00\x00\n1,2\n", "line 1: column 2 name contains a NUL character"),
    (b"\x00\x00\x00", "line 1: column 1 name contains a NUL character"),
])
def test_an_empty_header_or_a_nul_in_a_column_name_is_an_input_error(tmp_path, body, message):
    path = tmp_path / "f.csv"
    path.write_bytes(body)
    with pytest.raises(InputError) as e:
        inspect_file(str(path))
    assert str(e.value).startswith(message), str(e.value)


def test_a_json_key_with_a_nul_is_an_input_error(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"ok": 1, "\\u0000": 1}\n')
    with pytest.raises(InputError, match="line 1: column 2 name contains a NUL character"):
        inspect_file(str(path))


@pytest.mark.parametrize("body,line", [
    # a byte that is neither UTF-8 nor Windows-1252 (0x81) in the last bytes of a small file (was taken for a
    # character cut by the sniffing window)
    (b"id,name\n1,caf\x81\n", 2),
    # a UTF-8 file with a damaged byte (a Latin-1 \xe9 after a UTF-8 \xc3\xa9)
    (b"id,name\n1,caf\xc3\xa9\n2,caf\xe9\n", 3),
    # past the first megabyte that the header sniffing reads (only the full scan sees it)
    (b"id,name\n" + b"".join(b"%d,name %d\n" % (i, i) for i in range(120000)) + b"120000,caf\x81\n", 120002),
    (b"id,name\n0,caf\xc3\xa9\n" + b"".join(b"%d,name %d\n" % (i, i) for i in range(120000)) + b"x,caf\xe9\n", 120003),
], ids=["undefined-byte", "damaged-utf8", "undefined-byte-late", "damaged-utf8-late"])
def test_text_that_is_not_utf8_is_an_input_error_at_inspection(tmp_path, body, line):
    """Upload time, not run time: a file whose text cannot be read never becomes READY. (Windows-1252 text
    is read: test_windows_1252_text_as_excel_and_banks_save_csv_is_read.)"""
    path = tmp_path / "latin1.csv"
    path.write_bytes(body)
    assert path.stat().st_size > (1 << 20) or line < 4
    with pytest.raises(InputError) as exc:
        inspect_file(str(path))
    assert str(exc.value) == f"line {line}: not valid UTF-8"


def test_a_line_over_the_readers_size_limit_is_named_with_its_size(tmp_path):
    path = tmp_path / "long.csv"
    path.write_bytes(b"id,note\n1,short\n2," + b"x" * 2_100_000 + b"\n")
    with pytest.raises(InputError) as exc:
        inspect_file(str(path))
    message = str(exc.value)
    assert message.startswith("line 3: ") and "a line may hold at most 2,000,000 bytes" in message, message
    assert "CSV Error" not in message


def test_a_json_lines_column_of_mixed_types_is_read_as_its_text(tmp_path):
    """An id that is a number on one line and a string on the next is typed JSON by the reader, whose
    text keeps a string's quotes: "R-2" never equalled R-2 of the other input, and the outputs wrote
    the key as "R-2" with its quotes."""
    from .helpers import eq, p, read_csv, rule_set, run_files, tol, write_csv
    src = write(tmp_path, "s.jsonl", '{"id": 1, "ref": 77, "amount": "10.50"}\n'
                                     '{"id": "R-2", "ref": "X-9", "amount": 3}\n'
                                     '{"id": "R-3", "ref": "X-5", "amount": "4.00"}\n')
    info = inspect_file(src)
    assert info.columns == [Column("id", "VARCHAR"), Column("ref", "VARCHAR"), Column("amount", "VARCHAR")]
    tgt = write_csv(tmp_path / "t.csv", ["tid", "ref", "amount"],
                    [["T1", "77", "10.5"], ["T2", "X-9", "3.00"], ["T3", "X-5", "4.01"]])
    rs = rule_set(p("p", eq("ref"), tol("amount", absolute="0")), source_key="id", target_key="tid")
    o = run_files(src, tgt, rs, tmp_path / "out")
    assert sorted((m["source_key"], m["target_key"]) for m in o.matched) == [("1", "T1"), ("R-2", "T2")]
    assert [(r["id"], r["ref"], r["amount"], r["_row_key"]) for r in read_csv(o.result.unmatched_source_path)] == [
        ("R-3", "X-5", "4.00", "R-3")]


def test_a_delimiter_at_the_end_of_every_line_is_no_column(tmp_path):
    """Bank and ERP exports often end every line, the header too, with the delimiter: the file was
    refused ('column 4 of the header has no name'). A value after that delimiter is still an error."""
    from .helpers import eq, p, rule_set, run_files, tol
    src = tmp_path / "bank.csv"
    src.write_bytes("\ufeffid;ref;amount;\r\n1;A;10.50;\r\n2;B;;\r\n3;C;7.25;\r\n\r\n".encode("utf-8"))
    info = inspect_file(str(src))
    assert info.row_count == 3 and [c.name for c in info.columns] == ["id", "ref", "amount"]
    tgt = write(tmp_path, "t.csv", "tid,ref,amount\nT1,A,10.5\nT2,B,1\nT3,C,7.25\n")
    o = run_files(src, tgt, rule_set(p("p", eq("ref"), tol("amount", absolute="0")), target_key="tid"),
                  tmp_path / "out")
    assert sorted((m["source_key"], m["target_key"]) for m in o.matched) == [("1", "T1"), ("3", "T3")]
    assert [(r["id"], r["ref"], r["amount"]) for r in o.unmatched_source] == [("2", "B", "")]
    with pytest.raises(InputError, match=r"^line 3: 4 fields, header has 3$"):
        inspect_file(write(tmp_path, "x.csv", "id;ref;amount;\n1;A;10;\n2;B;5;x\n"))


def test_utf16_text_as_excel_saves_unicode_text_is_read(tmp_path):
    """Excel's 'Unicode Text' is tab-separated UTF-16 little-endian with a byte order mark: it was
    refused as 'line 1: not valid UTF-8'."""
    from .helpers import eq, p, rule_set, run_files, tol
    src = tmp_path / "export.txt"
    src.write_bytes('id\tref\tamount\tname\r\n1\tA\t10.50\tCafé €\r\n2\tB\t3\t"two\nlines"\r\n3\tC\t1\tx\r\n'
                    .encode("utf-16"))
    info = inspect_file(str(src), format="CSV")
    assert info.row_count == 3 and [c.name for c in info.columns] == ["id", "ref", "amount", "name"]
    tgt = write(tmp_path, "t.csv", "tid,ref,amount\nT1,A,10.5\nT2,B,3.00\n")
    o = run_files(src, tgt, rule_set(p("p", eq("ref"), tol("amount", absolute="0")), target_key="tid"),
                  tmp_path / "out")
    assert sorted((m["source_key"], m["target_key"]) for m in o.matched) == [("1", "T1"), ("2", "T2")]
    assert [(r["id"], r["name"]) for r in o.unmatched_source] == [("3", "x")]
    bad = tmp_path / "bad.txt"
    bad.write_bytes("id\tamount\r\n1\t2\r\n2\t3\t4\r\n".encode("utf-16"))
    with pytest.raises(InputError, match=r"^line 3: 3 fields, header has 2$"):
        inspect_file(str(bad), format="CSV")
    be = tmp_path / "be.txt"
    be.write_bytes("id\tamount\r\n1\t2\r\n".encode("utf-16-be").join([b"\xfe\xff", b""]))
    with pytest.raises(InputError, match=r"^line 1: the file is UTF-16 big-endian text; save it as CSV UTF-8"):
        inspect_file(str(be), format="CSV")


def test_windows_1252_text_as_excel_and_banks_save_csv_is_read(tmp_path):
    """Excel's "CSV" and many Western European bank exports are Windows-1252 (Latin-1 with €), not UTF-8:
    such a file was refused as 'line 2: not valid UTF-8'. It is read, its text as written (Müller, €), and the
    outputs are UTF-8; a UTF-8 file with a damaged byte is still refused, naming the line."""
    from .helpers import eq, p, rule_set, run_files, tol
    src = tmp_path / "bank.csv"
    src.write_bytes("Name;Betrag;Ref\r\nMüller €;12,50;R1\r\nKöln;3;R2\r\n".encode("cp1252"))
    info = inspect_file(str(src))
    assert info.row_count == 2 and [c.name for c in info.columns] == ["Name", "Betrag", "Ref"]
    tgt = write(tmp_path, "t.csv", "name,amount,ref\nMüller,12.50,R1\n")
    o = run_files(src, tgt, rule_set(p("p", eq("Ref", "ref"), tol("Betrag", "amount", absolute="0")),
                                     source_key="Ref", target_key="ref"), tmp_path / "out")
    assert [(m["source_key"], m["target_key"]) for m in o.matched] == [("R1", "R1")]
    assert [(r["Name"], r["Betrag"]) for r in o.unmatched_source] == [("Köln", "3")]
    # Windows-1252 only after the first megabyte (read from the start as UTF-8 until then)
    late = tmp_path / "late.csv"
    late.write_bytes(("Name;Betrag;Ref\n" + "".join(f"Name {i};{i},25;X{i}\n" for i in range(60000))
                      + "Müller;12,50;R1\n").encode("cp1252"))
    assert inspect_file(str(late)).row_count == 60001
    o = run_files(late, tgt, rule_set(p("p", eq("Ref", "ref"), tol("Betrag", "amount", absolute="0")),
                                      source_key="Ref", target_key="ref"), tmp_path / "out2")
    assert [(m["source_key"], m["target_key"]) for m in o.matched] == [("R1", "R1")]
    assert leftover_copies() == []
    # UTF-8 with a damaged byte, and Windows-1252 followed by UTF-8: refused naming the line
    bad = tmp_path / "bad.csv"
    bad.write_bytes("name;amount\nMüller;1\n".encode() + "Köln;3\n".encode("cp1252"))
    with pytest.raises(InputError, match=r"^line 3: not valid UTF-8$"):
        inspect_file(str(bad))
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(("name;amount\n" + "".join(f"n{i};{i}\n" for i in range(200000))).encode()
                      + "Köln;3\n".encode("cp1252") + "Müller;1\n".encode())
    with pytest.raises(InputError, match=r"^line 200002: not valid UTF-8$"):
        inspect_file(str(mixed))
    first = tmp_path / "first.csv"
    first.write_bytes("name;amount\nKöln;3\n".encode("cp1252") + "".join(f"n{i};{i}\n" for i in range(200000)).encode()
                      + "Müller;1\n".encode())
    with pytest.raises(InputError, match=r"^line 200003: not Windows-1252 text like the lines before it"):
        inspect_file(str(first))
    assert leftover_copies() == []


def leftover_copies():
    return [n for n in os.listdir(tempfile.gettempdir()) if n.startswith(("recon-match-", "recon-inspect-"))]


_CRLF = "id,ref,amount,memo\r\n" + "".join(f"{i},R{i},{i}.25,m{i}\r\n" for i in range(1, 40))


@pytest.mark.parametrize("body,rows", [
    (_CRLF + "40,R40,40.25,m40\n", 40),                          # two exports joined: CRLF lines, then LF
    (_CRLF + "\n", 39),                                          # a blank last line after CRLF lines
    (_CRLF.replace("\r\n", "\n").replace("7,R7,7.25,m7\n", "7,R7,7.25,m7\r\n"), 39),   # one CRLF among LF
    (_CRLF + '40,R40,40.25,"two\r\nlines"\n41,R41,41.25,"a\nb"\r\n', 41),   # quoted breaks kept as they are
], ids=["joined", "blank-last-line", "one-crlf", "quoted-breaks"])
def test_a_csv_whose_lines_end_in_crlf_and_in_lf_is_read(tmp_path, body, rows):
    """DuckDB's reader wants one kind of line ending: a file of CRLF lines with a bare LF after them
    (joined exports, a line added in another editor, a blank last line) failed with 'The CSV Parser state
    machine reached an invalid state.' (or its sniffer's 'Error when sniffing file'). Spreadsheets and
    Python's csv read it: so does the engine, at upload and in a run, with the values as written."""
    from .helpers import eq, p, read_csv, rule_set, run_files, tol
    src = tmp_path / "mixed.csv"
    src.write_bytes(body.encode())
    with open(src, newline="", encoding="utf-8") as fh:
        expected = [r for r in csv.DictReader(fh)]
    assert len(expected) == rows
    info = inspect_file(str(src))
    assert info.row_count == rows
    assert dict((c.name, c.type) for c in info.columns)["amount"] == "DECIMAL(18,2)"
    tgt = write(tmp_path, "t.csv", "tid,ref,amount\nT1,R1,1.25\nT2,R2,2.35\n")
    o = run_files(src, tgt, rule_set(p("p", eq("ref"), tol("amount", absolute="0")), target_key="tid"),
                  tmp_path / "out")
    assert [(m["source_key"], m["target_key"]) for m in o.matched] == [("1", "T1")]
    assert [{k: r[k] for k in ("id", "ref", "amount", "memo")} for r in o.unmatched_source] == expected[1:]
    assert o.unmatched("source")["2"]["_reason"] == "TOLERANCE_EXCEEDED"
    leftovers = [n for n in os.listdir(tempfile.gettempdir()) if n.startswith(("recon-match-", "recon-inspect-"))]
    assert leftovers == [], "the copy read instead of the file is removed"


def test_mixed_line_endings_still_name_a_malformed_line_of_the_file(tmp_path):
    """A file with mixed line endings and a bad line: the message names the line of the file itself."""
    from .helpers import eq, p, rule_set, run_files
    body = _CRLF + "40,R40\n41,R41,41.25,m\n"
    src = tmp_path / "bad.csv"
    src.write_bytes(body.encode())
    with pytest.raises(InputError, match=r"^line 41: 2 fields, header has 4$"):
        inspect_file(str(src))
    tgt = write(tmp_path, "t.csv", "tid,ref\nT1,R1\n")
    with pytest.raises(InputError, match=r"^source input: line 41: 2 fields, header has 4$"):
        run_files(src, tgt, rule_set(p("p", eq("ref")), target_key="tid"), tmp_path / "out")


@pytest.mark.parametrize("body,line", [
    ('a,b\n1,2\n\n\n3,4,5\n', 5),                       # empty lines hold no row
    ('a,b\n1,"two\nlines"\n3,4,5\n', 4),                # a quoted field spans two lines
    ('a,b\r\n1,"x\r\ny\r\nz"\r\n\r\n3,4,5\r\n', 6),
])
def test_a_malformed_line_is_named_by_its_line_in_the_file(tmp_path, body, line):
    """The reader's line count skipped the line breaks inside quoted fields: 'line 3' for a row on
    line 4 of the file."""
    with pytest.raises(InputError) as exc:
        inspect_file(write(tmp_path, "x.csv", body))
    assert str(exc.value) == f"line {line}: 3 fields, header has 2"


@pytest.mark.parametrize("body,line", [
    ('id,amount\n1,10\n\n2,zz\n', 4),                    # was line 3: the empty line was not counted
    ('id,amount,memo\n1,10,"a\nb"\n2,zz,c\n', 4),        # was line 3: nor the line inside the quotes
    ('id,amount\n1,10\n2,zz\n', 3),
])
def test_an_unreadable_value_is_named_by_its_line_in_the_file(tmp_path, body, line):
    from .helpers import eq, p, rule_set, run_files, tol
    src = write(tmp_path, "s.csv", body)
    tgt = write(tmp_path, "t.csv", "id,amount\n1,10\n")
    with pytest.raises(InputError) as exc:
        run_files(src, tgt, rule_set(p("p", eq("id"), tol("amount", absolute="0"))), tmp_path / "out")
    assert str(exc.value).startswith(f"source input: line {line}: amount 'zz' is not an amount")


def test_one_field_is_singular(tmp_path):
    with pytest.raises(InputError, match=r"^line 3: 1 field, header has 2$"):
        inspect_file(write(tmp_path, "x.csv", "a,b\n1,2\n   \n"))


def test_timestamps_with_their_offset_are_typed_with_time_zone(tmp_path):
    # the same on every DuckDB the product runs on (before 1.3 its sniffer said TIMESTAMP for all three)
    path = write(tmp_path, "paid.csv", "id,paid_at,seen_at,booked_at,mixed_at\n"
                 "1,2026-02-20 11:00:00+00,2026-12-02T05:20:18.259000Z,2026-02-20 11:00:00,2026-02-20 11:00:00+01:00\n"
                 "2,2026-02-20 12:00:00-05:30,2026-12-03T10:32:03Z,2026-02-21 08:30:00,2026-02-20 12:00:00\n"
                 "3,,,,\n")
    types = {c.name: c.type for c in inspect_file(path).columns}
    assert types["paid_at"] == types["seen_at"] == "TIMESTAMP WITH TIME ZONE", types
    assert types["booked_at"] == "TIMESTAMP", types
    assert types["mixed_at"] in ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE"), types


def test_whole_numbers_beyond_bigint_are_decimal_38_0(tmp_path):
    # the same on every DuckDB the product runs on (before 1.3 its sniffer read them as DOUBLE: DECIMAL(21,0))
    path = write(tmp_path, "big.csv", "id,big\n1,123456789012345678901\n2,1\n")
    assert [(c.name, c.type) for c in inspect_file(path).columns] == [("id", "BIGINT"), ("big", "DECIMAL(38,0)")]
    # 38 digits still fit; 39 do not (the type said DECIMAL(38,0), which cannot hold them): text, as for 45 digits
    path = write(tmp_path, "bigger.csv", f"a,b,c\n{'9' * 38},{'1' * 39},{'1' * 45}\n1,2,3\n")
    assert [(c.name, c.type) for c in inspect_file(path).columns] == [
        ("a", "DECIMAL(38,0)"), ("b", "VARCHAR"), ("c", "VARCHAR")]


def test_a_json_lines_column_with_no_value_is_text_and_reads(tmp_path):
    """null on every line: DuckDB 1.3 and later type the column NULL and name it "NULL" with its quotes, which
    files then listed as the column's type; before 1.3 it was VARCHAR. It is VARCHAR on both, and a run reads it."""
    from .helpers import eq, p, read_csv, rule_set, run_files, write_csv
    src = write(tmp_path, "s.jsonl", '{"id": "A", "note": null}\n{"id": "B", "note": null}\n')
    assert inspect_file(src).columns == [Column("id", "VARCHAR"), Column("note", "VARCHAR")]
    tgt = write_csv(tmp_path / "t.csv", ["id"], [["A"]])
    o = run_files(src, tgt, rule_set(p("p", eq("id"))), tmp_path / "out")
    assert [(m["source_key"], m["target_key"]) for m in o.matched] == [("A", "A")]
    assert [(r["id"], r["note"]) for r in read_csv(o.result.unmatched_source_path)] == [("B", "")]


def test_json_lines_values_are_matched_and_written_as_written(tmp_path):
    """A JSON-lines input is read as its text, like a CSV: a number's digits (no binary double between: a number of
    23 digits stays whole, 10 is not written 10.0), a timestamp with its offset as written (2.0 wrote it in UTC, 1.2
    as written); amounts and dates still compare as amounts and dates."""
    from .helpers import eq, p, read_csv, rule_set, run_files, tol, window, write_csv
    src = write(tmp_path, "s.jsonl",
                '{"id": "A-1", "ext": 12345678901234567890123, "amount": 10, "paid": "2026-02-21T10:00:00+01:00"}\n'
                '{"id": "A-2", "ext": 1, "amount": 10.25, "paid": "2026-02-20T23:30:00Z"}\n'
                '{"id": "A-3", "ext": 12345678901234567890123, "amount": 99.5, "paid": "2026-03-01T08:00:00Z"}\n')
    types = {c.name: c.type for c in inspect_file(src).columns}
    assert (types["ext"], types["amount"]) == ("DOUBLE", "DOUBLE"), types
    tgt = write_csv(tmp_path / "t.csv", ["ref", "amount", "paid"],
                    [["A-1", "10.00", "2026-02-21"], ["A-2", "10.26", "2026-02-22"], ["A-3", "99.50", "2026-01-01"]])
    rs = rule_set(p("p", eq("id", "ref"), tol("amount", absolute="0.01"), window("paid", before=0, after=2)),
                  source_key="id", target_key="ref")
    o = run_files(src, tgt, rs, tmp_path / "out")
    assert sorted((m["source_key"], m["target_key"]) for m in o.matched) == [("A-1", "A-1"), ("A-2", "A-2")]
    assert [(r["id"], r["ext"], r["amount"], r["paid"], r["_reason"])
            for r in read_csv(o.result.unmatched_source_path)] == [
        ("A-3", "12345678901234567890123", "99.5", "2026-03-01T08:00:00Z", "DATE_OUT_OF_WINDOW")]
