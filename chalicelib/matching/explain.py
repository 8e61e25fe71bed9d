"""Explanations of unmatched rows (streams platform §8): reason, closest candidate, failed condition.

For every unmatched row and every pass, the candidates are the rows of the other side in the pass's
block (equal on its EQUALS keys; with none, inside its DATE_WINDOW), whether or not they were matched.
The closest candidate fails the fewest conditions, then has the smallest amount and date differences,
the highest similarity, the lowest key; across passes the fewest failures win, then the later (more
lenient) pass. Its first failed condition gives the reason:

* AMOUNT_TOLERANCE (or a group SUM) → TOLERANCE_EXCEEDED, DATE_WINDOW → DATE_OUT_OF_WINDOW,
  SIMILARITY → BELOW_SIMILARITY;
* none failed (the candidate satisfied every condition but went to another row, or stayed contested)
  → AMBIGUOUS;
* no candidate in any pass → NO_CANDIDATE.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import duckdb

from .inputs import sql_str
from .rules import Cardinality, Operator
from .sqlparts import CondSQL, _q, allowance_sql, fmt_decimal, window_text

if TYPE_CHECKING:   # pragma: no cover
    from .engine import Side, _Runner

NEAR_DAYS = 31

_REASON = {Operator.AMOUNT_TOLERANCE: "TOLERANCE_EXCEEDED", Operator.DATE_WINDOW: "DATE_OUT_OF_WINDOW",
           Operator.SIMILARITY: "BELOW_SIMILARITY", Operator.EQUALS: "TOLERANCE_EXCEEDED"}


def explain_unmatched(r: "_Runner", s: "Side", t: "Side") -> dict:
    """Explain the unmatched rows of the source, then of the target, into the TEMP tables expl_s /
    expl_t. Returns the counts per side and reason."""
    reasons = {}
    # DuckDB's common-subplan optimizer shares a scan that the candidates' queries repeat, and then plans a date
    # window's range join as a piecewise merge join instead of an IE join: 10-30x slower on a block of millions
    # of pairs (measured 56 s against 4 s on 60,000 rows a side)
    # (older DuckDB, as on Lambda, has no such optimizer)
    try:
        r.sql("SET disabled_optimizers = 'common_subplan'")
        changed = True
    except duckdb.Error:
        changed = False
    try:
        _explain_sides(r, s, t, reasons)
    finally:
        if changed:
            r.sql("RESET disabled_optimizers")
    return reasons


def _explain_sides(r: "_Runner", s: "Side", t: "Side", reasons: dict) -> None:
    for i, (x, y) in enumerate(((s, t), (t, s))):
        r.stage(75 + 10 * i, 85 + 10 * i)   # progress: each side's explanations a tenth, the outputs after them
        r.sql(f"CREATE OR REPLACE TEMP TABLE um_{x.letter} AS SELECT __rid AS rid FROM {r.rest[x.letter]}")
        parts = []
        for pi, p in enumerate(r.rs.passes):
            r.check_cancel()
            if pi in r.nothing_to_explain:
                continue
            if p.cardinality is Cardinality.ONE_TO_ONE:
                q = _pairs(r, pi, x, y)
            else:
                q = _groups(r, pi, x, y)
            if q is not None:
                parts.append(q)
        ex = f"expl_{x.letter}"
        no_cand, no_join = no_candidate_detail(r, x, y)
        if parts:
            union = " UNION ALL ".join(f"SELECT * FROM ({q})" for q in parts)
            r.sql(f"""CREATE OR REPLACE TEMP TABLE best_{x.letter} AS SELECT * FROM ({union})
                QUALIFY row_number() OVER (PARTITION BY rid ORDER BY failed, pass DESC) = 1""")
            best = f"best_{x.letter}"
            far = [pi for pi, p in enumerate(r.rs.passes) if pi not in r.nothing_to_explain
                   and p.cardinality is Cardinality.ONE_TO_ONE and bounded(r, pi)]
            if far:
                _beyond_the_bound(r, x, y, far)
        else:
            r.sql(f"""CREATE OR REPLACE TEMP TABLE best_{x.letter} AS SELECT CAST(NULL AS BIGINT) AS rid,
                0 AS pass, 0 AS failed, CAST(NULL AS VARCHAR) AS reason, CAST(NULL AS VARCHAR) AS closest_key,
                CAST(NULL AS VARCHAR) AS failed_condition, CAST(NULL AS VARCHAR) AS detail, CAST(NULL AS BIGINT) AS cid
                WHERE false""")
            best = f"best_{x.letter}"
        names = " ".join(f"WHEN {i + 1} THEN {sql_str(p.name)}" for i, p in enumerate(r.rs.passes))
        other_rid = "t_rid" if x.letter == "s" else "s_rid"
        my_rid = "s_rid" if x.letter == "s" else "t_rid"
        # without a key column both keys are row numbers ('1 ... was matched to 1'): named as rows of
        # their side; a group (the closest of a row of the one side of a grouped pass) as a group
        # (a row whose key value is empty is named by its row number, as without a key column)
        partner_key = (f"coalesce(xx.__m_key, '{x.name} row ' || (m.pid + 1))" if x.key_column
                       else f"'{x.name} row ' || (m.pid + 1)")
        closest = (f"coalesce(b.closest_key, '{y.name} row ' || (b.cid + 1))" if y.key_column
                   else f"'{y.name} row ' || b.closest_key")
        group_passes = [str(i + 1) for i, p in enumerate(r.rs.passes)
                        if p.cardinality is (Cardinality.ONE_TO_MANY if x.letter == "s" else Cardinality.MANY_TO_ONE)]
        if group_passes:
            closest = (f"CASE WHEN b.pass IN ({', '.join(group_passes)}) THEN '{y.name} group ' || b.closest_key "
                       f"ELSE {closest} END")
        # a candidate taken by a grouped pass was matched with a group, or as a member of one: the
        # sentence names the group (it named the group's first row as if it were the whole match)
        x_groups, partner_group = _taken_groups(r, x, "xx")
        y_groups, member_of = _taken_groups(r, y, "yy")
        if partner_group:
            partner_key = f"coalesce({partner_group}, {partner_key})"
        matched = "' meets every condition of this pass but was matched to '"
        if member_of:
            in_group = f"', in ' || {member_of} || ','"
            if group_passes:
                in_group = f"CASE WHEN b.pass NOT IN ({', '.join(group_passes)}) THEN {in_group} END"
            matched = f"' meets every condition of this pass but was matched' || coalesce({in_group}, '') || ' to '"
        r.sql(f"""CREATE OR REPLACE TEMP TABLE {ex} AS
            WITH taken AS (SELECT {other_rid} AS cid, min({my_rid}) AS pid, min(pass) AS mpass
                           FROM matches WHERE {other_rid} IN (SELECT cid FROM {best} WHERE failed = 0)
                           GROUP BY {other_rid})
            SELECT u.rid,
                   coalesce(b.reason, 'NO_CANDIDATE') AS reason,
                   b.closest_key,
                   CASE b.pass {names} END AS closest_pass,
                   b.failed_condition,
                   CASE WHEN b.rid IS NULL THEN {no_cand}
                        WHEN b.reason = 'AMBIGUOUS' AND m.cid IS NOT NULL THEN
                             {closest} || {matched} || {partner_key} || ' in pass ' || m.mpass
                        WHEN b.reason = 'AMBIGUOUS' THEN 'several equally good candidates; none could be chosen'
                        ELSE b.detail END AS detail
            FROM um_{x.letter} u
            LEFT JOIN {best} b ON b.rid = u.rid
            LEFT JOIN taken m ON m.cid = b.cid
            LEFT JOIN (SELECT rowid AS rid, __m_key{x_groups} FROM {x.table}
                       WHERE rowid IN (SELECT pid FROM taken)) xx ON xx.rid = m.pid
            {f"LEFT JOIN (SELECT rowid AS rid{y_groups} FROM {y.table} WHERE rowid IN (SELECT cid FROM taken)) yy ON yy.rid = m.cid"
             if y_groups else ""}
            {no_join}""")
        rows = r.sql(f"SELECT reason, count(*) FROM {ex} GROUP BY reason ORDER BY reason").fetchall()
        reasons["SOURCE" if x.letter == "s" else "TARGET"] = {k: v for k, v in rows}


def _taken_groups(r: "_Runner", z: "Side", alias: str) -> tuple[str, str]:
    """For the grouped passes in which side z is the side of the groups: the columns of z's rows that
    name their group (``, CAST(.. AS VARCHAR) AS __pg<pass>_<i>``), and the SQL of the group's name
    for the row ``alias`` matched in pass ``m.mpass`` ('target group P-9'; NULL for other passes)."""
    many = Cardinality.ONE_TO_MANY if z.letter == "t" else Cardinality.MANY_TO_ONE
    cols, whens = [], []
    for i, p in enumerate(r.rs.passes):
        if p.cardinality is not many:
            continue
        gcols = list((p.group_by.target if many is Cardinality.ONE_TO_MANY else p.group_by.source) or [])
        names = [f"__pg{i}_{j}" for j in range(len(gcols))]
        cols += [f", CAST({z.col(g)} AS VARCHAR) AS {n}" for g, n in zip(gcols, names)]
        whens.append(f"WHEN {i + 1} THEN '{z.name} group ' || " + " || '|' || ".join(f"{alias}.{n}" for n in names))
    return "".join(cols), (f"CASE m.mpass {' '.join(whens)} END" if whens else "")


def _aliases(r: "_Runner", x: "Side", y: "Side"):
    """SQL sources for aliases s and t: the unmatched rows of x (the rest after the last pass, which
    keeps the derived columns) against all rows of y."""
    um = f"(SELECT * FROM {r.rest[x.letter]})"
    al = f"(SELECT rowid AS __rid, * FROM {y.table})"
    return (um, al) if x.letter == "s" else (al, um)


def _pairs(r: "_Runner", pi: int, x: "Side", y: "Side"):
    conds: list[CondSQL] = r.conds[pi]
    eq = [c for c in conds if c.op is Operator.EQUALS]
    dates = [c for c in conds if c.op is Operator.DATE_WINDOW]
    if not eq:
        return _nearest(r, pi, x, y, conds)
    block = eq
    rest = [c for c in conds if c not in block]
    join = [c.test() for c in block]
    s_src, t_src = _aliases(r, x, y)
    if bounded(r, pi):
        # equal amounts (or dates) alone are no identity: thousands of rows may share 100.00, so
        # candidates are also kept within a month of the date window (still explaining near misses),
        # and the pairs in which a date is empty
        d = dates[0]
        b, a = d.cond.days()
        near = f"{d.t} BETWEEN {d.s} - {b + NEAR_DAYS} AND {d.s} + {a + NEAR_DAYS}"
        return _closest(r, pi, x, y, rest, [f"{s_src} s JOIN {t_src} t ON {' AND '.join(join + [near])}",
                                             *_undated(r, x, y, eq, d)])
    return _closest(r, pi, x, y, rest, [f"{s_src} s JOIN {t_src} t ON {' AND '.join(join)}"])


def bounded(r: "_Runner", pi: int) -> bool:
    """Is pass pi's block of EQUALS bounded by the dates in the explanations: its EQUALS are amounts or dates
    alone (thousands of rows may share 100.00) and it has a DATE_WINDOW?"""
    conds: list[CondSQL] = r.conds[pi]
    eq = [c for c in conds if c.op is Operator.EQUALS]
    return (bool(eq) and any(c.op is Operator.DATE_WINDOW for c in conds)
            and all(r.kinds[pi][c.index] != "text" for c in eq))


def _beyond_the_bound(r: "_Runner", x: "Side", y: "Side", passes: list[int]) -> None:
    """The rows of x left without a candidate in any pass although rows of y share their keys in a bounded pass
    (further than the month around its window): §8 keeps NO_CANDIDATE for rows no row shares the equality keys
    with, so such a row is explained by the rows sharing its keys with the nearest date before and after its own
    (it has a date, and so have they: pairs with an empty date are candidates of the pass already). Only for
    those rows (usually few), against the rows of y that share keys with them: the month's bound keeps the
    explanations of every other row small."""
    orphans = f"orphan_{x.letter}"
    n = r.one(f"CREATE OR REPLACE TEMP TABLE {orphans} AS SELECT * FROM {r.rest[x.letter]}"
              f" WHERE __rid NOT IN (SELECT rid FROM best_{x.letter})")[0]
    if not n:
        return
    parts = []
    for pi in passes:
        conds: list[CondSQL] = r.conds[pi]
        eq = [c for c in conds if c.op is Operator.EQUALS]
        d = next(c for c in conds if c.op is Operator.DATE_WINDOW)
        parts.append(_closest(r, pi, x, y, [c for c in conds if c not in eq],
                              _beyond(r, x, y, eq, d, orphans, f"{orphans}_{pi}")))
    union = " UNION ALL ".join(f"SELECT * FROM ({q})" for q in parts)
    r.sql(f"""INSERT INTO best_{x.letter} SELECT * FROM ({union})
        QUALIFY row_number() OVER (PARTITION BY rid ORDER BY failed, pass DESC) = 1""")


def _beyond(r: "_Runner", x: "Side", y: "Side", eq: list[CondSQL], d: CondSQL, orphans: str,
            sharing: str) -> list[str]:
    """FROM clauses binding s and t: for each row of ``orphans`` (rows of x), the rows of y that share its EQUALS
    keys and hold the nearest date before and after its own (ASOF joins over their distinct keys and dates, then
    every row holding them)."""
    xa, ya = x.letter, y.letter
    s_src, t_src = _aliases(r, x, y)
    y_all = t_src if xa == "s" else s_src
    x_src = f"(SELECT * FROM {orphans})"
    md, td = (d.s, d.t) if xa == "s" else (d.t, d.s)
    # the rows of y that share keys with the orphans and have a date, stored once (TEMP table ``sharing``)
    r.sql(f"CREATE OR REPLACE TEMP TABLE {sharing} AS SELECT {ya}.* FROM {y_all} {ya} SEMI JOIN {x_src} {xa}"
          f" ON {' AND '.join(c.test() for c in eq)} WHERE {td} IS NOT NULL")
    y_src = f"(SELECT * FROM {sharing})"
    mine = [(c.s, c.t) if xa == "s" else (c.t, c.s) for c in eq]
    keys = ", ".join(f"{th} AS __k{i}" for i, (_, th) in enumerate(mine))
    on = " AND ".join(f"{mi} = n.__k{i}" for i, (mi, _) in enumerate(mine))
    back = " AND ".join(f"{th} = {mi}" for mi, th in mine)
    parts = []
    for op in (">=", "<="):
        found = (f"(SELECT {xa}.*, n.v AS __near FROM {x_src} {xa} ASOF JOIN "
                 f"(SELECT DISTINCT {keys}, {td} AS v FROM {y_src} {ya}) n ON {on} AND {md} {op} n.v)")
        parts.append(f"{found} {xa} JOIN {y_src} {ya} ON {back} AND {td} = {xa}.__near")
    return parts


def _undated(r: "_Runner", x: "Side", y: "Side", eq: list[CondSQL], d: CondSQL) -> list[str]:
    """FROM clauses binding s and t: the pairs sharing the EQUALS keys in which either row has no date (the
    month's bound cannot hold them, and without them a row without a date, or whose block's rows have none,
    would read NO_CANDIDATE although rows share its keys). Each side's filter applies before the join."""
    s_src, t_src = _aliases(r, x, y)
    join = " AND ".join(c.test() for c in eq)
    parts = []
    # (only where a side has a row without a date: a join that finds nothing still reads the whole other side)
    if r.one(f"SELECT EXISTS (SELECT 1 FROM {s_src} s WHERE {d.s} IS NULL)")[0]:
        parts.append(f"(SELECT * FROM {s_src} s WHERE {d.s} IS NULL) s JOIN {t_src} t ON {join}")
    if r.one(f"SELECT EXISTS (SELECT 1 FROM {t_src} t WHERE {d.t} IS NULL)")[0]:
        parts.append(f"{s_src} s JOIN (SELECT * FROM {t_src} t WHERE {d.t} IS NULL) t ON {join}")
    return parts


def _closest(r: "_Runner", pi: int, x: "Side", y: "Side", checked: list[CondSQL], pairs: list[str]) -> str:
    """The closest candidate of each row of x among ``pairs`` (FROM clauses binding s and t: a row of x and a
    candidate; a pair may come twice), explained by the conditions ``checked``: fewest failed conditions,
    then the smallest amount and date differences, the highest similarity, the lowest key, the lowest row.

    The candidate is chosen on those values alone (one ``arg_min`` per row, over as many pairs as the blocks
    hold — millions when a block is a date) and only the chosen pair's sentences are written: writing them
    for every pair and sorting the wide rows cost 30× the pass itself on a date-window block."""
    xa, ya = x.letter, y.letter
    ykey = f"{ya}.__m_key" if y.key_column else f"CAST({ya}.__rid + 1 AS VARCHAR)"
    flags = [f"NOT coalesce({c.test()}, false)" for c in checked]
    failed = " + ".join(f"CAST({f} AS INTEGER)" for f in flags) if flags else "0"
    # several tolerances (windows) in a pass: the difference farthest from 0, as the matching ranks pairs
    amounts = [f"abs({c.amount_diff()})" for c in checked if c.op is Operator.AMOUNT_TOLERANCE]
    dates = [f"abs({c.date_diff()})" for c in checked if c.op is Operator.DATE_WINDOW]
    sims = [c for c in checked if c.op is Operator.SIMILARITY]
    adiff = (f"greatest({', '.join(amounts)})" if len(amounts) > 1 else amounts[0]) if amounts else "0"
    ddiff = (f"greatest({', '.join(dates)})" if len(dates) > 1 else dates[0]) if dates else "0"
    sim = sims[0].similarity() if sims else "1.0"
    # the order of ORDER BY failed, adiff NULLS LAST, ddiff NULLS LAST, sim DESC NULLS LAST, key, row (as a row
    # value: each NULL sorts last through the flag before it)
    # without a key column the key is the row number, compared as a number (as text, row 10 came before row 2)
    by_key = f"{ykey} IS NULL, coalesce({ykey}, ''), " if y.key_column else ""
    order = (f"({failed}, ({adiff}) IS NULL, coalesce({adiff}, 0), ({ddiff}) IS NULL, coalesce({ddiff}, 0), "
             f"({sim}) IS NULL, -coalesce({sim}, 0), {by_key}{ya}.__rid)")
    union = " UNION ALL ".join(f"SELECT {xa}.__rid AS rid, {ya}.__rid AS cid, {order} AS k FROM {q}" for q in pairs)
    reason = ("CASE " + " ".join(f"WHEN {f} THEN '{_REASON[c.op]}'" for f, c in zip(flags, checked))
              + " ELSE 'AMBIGUOUS' END") if flags else "'AMBIGUOUS'"
    fcol = ("CASE " + " ".join(f"WHEN {f} THEN {sql_str(c.cond.source)}" for f, c in zip(flags, checked))
            + " END") if flags else "CAST(NULL AS VARCHAR)"
    details = [f"CASE WHEN {f} THEN coalesce({c.detail()}, {_empty(c)}) END" for f, c in zip(flags, checked)]
    detail = f"concat_ws('; ', {', '.join(details)})" if details else "CAST(NULL AS VARCHAR)"
    s_src, t_src = _aliases(r, x, y)
    srid, trid = ("b.rid", "b.cid") if xa == "s" else ("b.cid", "b.rid")
    return f"""SELECT b.rid AS rid, {pi + 1} AS pass, {failed} AS failed, {reason} AS reason,
                  {ykey} AS closest_key, {fcol} AS failed_condition, {detail} AS detail, b.cid AS cid
        FROM (SELECT rid, arg_min(cid, k) AS cid FROM ({union}) GROUP BY rid) b
        JOIN {s_src} s ON s.__rid = {srid} JOIN {t_src} t ON t.__rid = {trid}"""


def _nearest(r: "_Runner", pi: int, x: "Side", y: "Side", conds: list[CondSQL]):
    """Explanations from a pass without an EQUALS condition: every row of the other side shares its (no) equality
    keys, so a row is never without a candidate (§8: NO_CANDIDATE is for rows no row shares the keys with). The
    candidates are, for each amount and date the pass compares, the nearest row of the other side below and above
    (ASOF joins: a handful of rows per row, never all pairs), with a date window the rows inside it, and the row
    with the lowest key; the best is chosen as in _pairs: fewest failed conditions, then the smallest differences."""
    s_src, t_src = _aliases(r, x, y)
    xa, ya = x.letter, y.letter
    date = next((c for c in conds if c.op is Operator.DATE_WINDOW), None)
    x_src, y_src = (s_src, t_src) if xa == "s" else (t_src, s_src)

    def inside(c: CondSQL) -> str:
        # the nearest date inside the window: its rows are among the window's pairs below already
        if c is not date:
            return ""
        near = replace(c, t="n.v") if xa == "s" else replace(c, s="n.v")
        return f" WHERE NOT coalesce({near.test()}, false)"

    parts = []
    for c in conds:
        if c.op not in (Operator.AMOUNT_TOLERANCE, Operator.DATE_WINDOW):
            continue
        mine, theirs = (c.s, c.t) if xa == "s" else (c.t, c.s)
        for op in (">=", "<="):
            # the nearest value (ASOF over the distinct values), then every row holding it: an ASOF join keeps
            # one of several rows of one value, whichever its input order gives, and the choice among them
            # must not depend on that order
            near = (f"(SELECT {xa}.*, n.v AS __near FROM {x_src} {xa} ASOF JOIN "
                    f"(SELECT DISTINCT {theirs} AS v FROM {y_src} {ya}) n ON {mine} {op} n.v{inside(c)})")
            parts.append(f"{near} {xa} JOIN {y_src} {ya} ON {theirs} = {xa}.__near")
    if date is not None:
        parts.append(f"{s_src} s JOIN {t_src} t ON {date.test()}")
    # and the row with the lowest key: a row whose compared values are empty still has a candidate
    by_key = f"{ya}.__m_key IS NULL, {ya}.__m_key, " if y.key_column else ""
    first = f"(SELECT * FROM {y_src} {ya} ORDER BY {by_key}{ya}.__rid LIMIT 1)"
    parts.append(f"{x_src} {xa} CROSS JOIN {first} {ya}")
    return _closest(r, pi, x, y, conds, parts)


def mcol_name(c: CondSQL, one_to_many: bool) -> str:
    """The column a condition of a grouped pass reads on the side of the groups."""
    return c.cond.target if one_to_many else c.cond.source


def _empty(c: CondSQL) -> str:
    """SQL: the sentence of a pair that fails a condition because a value is empty, naming the side
    ('amount or amount is empty' said neither which row nor, for columns of the same name, which side)."""
    return (f"CASE WHEN {c.s} IS NULL THEN {sql_str(f'{c.cond.source} of the source row is empty')} "
            f"ELSE {sql_str(f'{c.cond.target} of the target row is empty')} END")


def _groups(r: "_Runner", pi: int, x: "Side", y: "Side"):
    """Explanations from a ONE_TO_MANY / MANY_TO_ONE pass: one row against the SUM of a group."""
    p = r.rs.passes[pi]
    conds: list[CondSQL] = r.conds[pi]
    one_to_many = p.cardinality is Cardinality.ONE_TO_MANY
    s_side_many = not one_to_many
    many_letter = "s" if s_side_many else "t"
    many = x if x.letter == many_letter else y
    one = y if many is x else x
    gcols = list((p.group_by.target if one_to_many else p.group_by.source) or [])
    eq = [c for c in conds if c.op is Operator.EQUALS and c.cond.aggregate is None]
    dates = [c for c in conds if c.op is Operator.DATE_WINDOW]
    agg = next(c for c in conds if c.cond.aggregate is not None)

    def mcol(c):
        return (c.t if one_to_many else c.s)[2:]

    def ocol(c):
        return (c.s if one_to_many else c.t)[2:]

    gsel = ", ".join(f"CAST({many.col(g)} AS VARCHAR) AS __g{i}" for i, g in enumerate(gcols))
    gk = ", ".join(f"__g{i}" for i in range(len(gcols)))
    gnn = " AND ".join(f"{many.col(g)} IS NOT NULL" for g in gcols)
    # restrict the groups to those that can explain an unmatched row
    if x is one:
        keys = " OR ".join(f"{mcol(c)} IN (SELECT o.{ocol(c)} FROM {r.rest[x.letter]} o)" for c in eq)
        restrict = (f"AND ({gk}) IN (SELECT ({gk}) FROM (SELECT {gsel} FROM {many.table} WHERE {keys}))"
                    if eq else "")
    else:
        restrict = f"AND ({gk}) IN (SELECT ({gk}) FROM (SELECT {gsel} FROM {r.rest[x.letter]}))"
    amt = mcol(agg)
    # what makes a group a candidate beyond its sum and dates (engine._grouped): every member
    # shares the row's EQUALS values and has an amount and a date
    parts = ["min(__rid) AS g", "count(*) AS n", f"sum({amt}) AS total", f"count({amt}) = count(*) AS amt_ok"]
    for i, c in enumerate(eq):
        parts.append(f"min({mcol(c)}) AS k{i}")
        parts.append(f"(count({mcol(c)}) = count(*) AND count(DISTINCT {mcol(c)}) = 1) AS k{i}_ok")
    for i, c in enumerate(dates):
        parts += [f"min({mcol(c)}) AS dmin{i}", f"max({mcol(c)}) AS dmax{i}",
                  f"count({mcol(c)}) = count(*) AS d{i}_ok"]
    feats = sorted({mcol(c) for c in conds})
    # a group is what was left of it when the pass ran (§3: a row matched in a pass is consumed): its rows
    # matched by an earlier pass are not in it (with them it read 'sum of 2 rows' for one row left, or met
    # every condition and 'was matched' though it never was)
    if pi:
        restrict += f" AND rowid NOT IN (SELECT {many.letter}_rid FROM matches WHERE pass <= {pi})"
    grp = f"""(SELECT {gk}, {', '.join(parts)} FROM (SELECT rowid AS __rid, {gsel}, {', '.join(feats)}
               FROM {many.table} WHERE {gnn} {restrict}) GROUP BY {gk})"""
    if not eq:
        return None
    on = " AND ".join(f"o.{ocol(c)} = g.k{i}" for i, c in enumerate(eq))
    oa = f"o.{ocol(agg)}"
    src_amt, tgt_amt = (oa, "g.total") if one_to_many else ("g.total", oa)
    gname = " || '|' || ".join(f"g.__g{i}" for i in range(len(gcols)))
    many_name = many.name
    flags, dets, ops, cols = [], [], [], []
    for i, c in enumerate(eq):
        # a group whose rows do not all carry the key is no candidate: not a near miss on its sum
        flags.append(f"NOT g.k{i}_ok")
        dets.append(f"'the {many_name} rows of ' || {gname} || ' do not all have the same {_q(mcol_name(c, one_to_many))}; "
                    f"a group matches as a whole'")
        ops.append("NO_CANDIDATE")
        cols.append(c.cond.source)
    if agg.op is Operator.EQUALS:
        sum_ok = f"coalesce({tgt_amt} = {src_amt}, false)"
        allow = "'0'"
    else:
        c2 = CondSQL(agg.index, agg.cond, src_amt, tgt_amt, agg.scale)
        sum_ok = f"coalesce({c2.test()}, false)"
        allow = fmt_decimal(allowance_sql(agg.cond, src_amt), agg.scale)
    amt_name = _q(mcol_name(agg, one_to_many))

    def one_empty(c: CondSQL) -> str:
        # the row of the one side has no value: the sentence says so (it was NULL, an empty detail)
        name = c.cond.source if one_to_many else c.cond.target
        return f"WHEN o.{ocol(c)} IS NULL THEN '{_q(name)} of the {one.name} row is empty'"

    flags.append(f"NOT (g.amt_ok AND {sum_ok})")
    dets.append(f"CASE WHEN NOT g.amt_ok THEN 'a {many_name} row of ' || {gname} || ' has no {amt_name}' "
                f"{one_empty(agg)} ELSE "
                f"'sum of ' || g.n || ' {many_name} row' || (CASE WHEN g.n = 1 THEN '' ELSE 's' END) || "
                f"' differs by ' || {fmt_decimal(f'abs({tgt_amt} - {src_amt})', agg.scale)} || '; tolerance ' || {allow} END")
    ops.append("TOLERANCE_EXCEEDED")
    cols.append(agg.cond.source)
    for i, c in enumerate(dates):
        b, a = c.cond.days()
        od = f"o.{ocol(c)}"
        test = (f"g.dmin{i} >= {od} - {b} AND g.dmax{i} <= {od} + {a}" if one_to_many
                else f"g.dmin{i} >= {od} - {a} AND g.dmax{i} <= {od} + {b}")
        flags.append(f"NOT (g.d{i}_ok AND coalesce({test}, false))")
        dets.append(f"CASE WHEN NOT g.d{i}_ok THEN 'a {many_name} row of ' || {gname} || ' has no "
                    f"{_q(mcol_name(c, one_to_many))}' {one_empty(c)} "
                    f"ELSE '{many_name} dates ' || g.dmin{i} || '..' || g.dmax{i} || "
                    # (MANY_TO_ONE: the source dates around the target date, the window seen from there)
                    f"' fall outside the window ({window_text(c.cond, around_target=not one_to_many)}) around ' "
                    f"|| {od} END")
        ops.append("DATE_OUT_OF_WINDOW")
        cols.append(c.cond.source)
    failed = " + ".join(f"CAST({f} AS INTEGER)" for f in flags)
    reason = "CASE " + " ".join(f"WHEN {f} THEN '{o}'" for f, o in zip(flags, ops)) + " ELSE 'AMBIGUOUS' END"
    fcol = "CASE " + " ".join(f"WHEN {f} THEN {sql_str(cn)}" for f, cn in zip(flags, cols)) + " END"
    detail = "concat_ws('; ', " + ", ".join(f"CASE WHEN {f} THEN {d} END" for f, d in zip(flags, dets)) + ")"
    okey = "o.__m_key" if one.key_column else "CAST(o.__rid + 1 AS VARCHAR)"
    order = f"{failed}, abs({tgt_amt} - {src_amt}) NULLS LAST"
    if dates:   # then the smallest date difference (the group's farthest row, over every window), as for pairs
        order += ", greatest(" + ", ".join(
            f"abs(date_diff('day', o.{ocol(c)}, g.dmin{i})), abs(date_diff('day', o.{ocol(c)}, g.dmax{i}))"
            for i, c in enumerate(dates)) + ") NULLS LAST"
    if x is one:
        o_src = f"(SELECT * FROM {r.rest[x.letter]})"
        return f"""SELECT o.__rid AS rid, {pi + 1} AS pass, {failed} AS failed, {reason} AS reason,
                      {gname} AS closest_key, {fcol} AS failed_condition, {detail} AS detail, g.g AS cid
            FROM {o_src} o JOIN {grp} g ON {on}
            QUALIFY row_number() OVER (PARTITION BY o.__rid ORDER BY {order}, {gname}) = 1"""
    o_src = f"(SELECT rowid AS __rid, * FROM {one.table})"
    # many side: the group's best one-side row explains each unmatched member
    return f"""WITH gb AS (
            SELECT g.{gk.replace(', ', ', g.')}, {pi + 1} AS pass, {failed} AS failed, {reason} AS reason,
                   {okey} AS closest_key, {fcol} AS failed_condition, {detail} AS detail, o.__rid AS cid
            FROM {grp} g JOIN {o_src} o ON {on}
            QUALIFY row_number() OVER (PARTITION BY {', '.join(f'g.__g{i}' for i in range(len(gcols)))}
                                       ORDER BY {order}, {'o.__m_key, ' if one.key_column else ''}o.__rid) = 1)
        SELECT m.__rid AS rid, gb.pass, gb.failed, gb.reason, gb.closest_key, gb.failed_condition,
               gb.detail, gb.cid
        FROM (SELECT __rid, {gsel} FROM {r.rest[x.letter]}) m
        JOIN gb ON {' AND '.join(f'm.__g{i} = gb.__g{i}' for i in range(len(gcols)))}"""


def no_candidate_detail(r: "_Runner", x: "Side", y: "Side", alias: str = "nk") -> tuple[str, str]:
    """SQL for the NO_CANDIDATE sentence of an unmatched row u of x, and the join it needs (which
    gives the row's derived columns the alias ``nk``; with another alias they are already there)."""
    for pi, p in enumerate(r.rs.passes):
        eq = [c for c in r.conds[pi] if c.op is Operator.EQUALS and c.cond.aggregate is None]
        if not eq:
            continue
        cols = [(c.cond.source if x.letter == "s" else c.cond.target) for c in eq]
        feats = [(c.s if x.letter == "s" else c.t)[2:] for c in eq]
        # a value that normalizing empties (DIGITS_ONLY of 'N/A') reads 'empty after DIGITS_ONLY'
        after = [f" after {', '.join(n.value for n in c.cond.normalize)}" if c.cond.normalize else "" for c in eq]
        empty = " ".join(f"WHEN {alias}.{f} IS NULL THEN {sql_str(col + ' is empty' + a + '; empty keys never match')}"
                         for f, col, a in zip(feats, cols, after))
        pairs = ", ".join(f"{c.cond.source} = {c.cond.target}" for c in eq)
        join = f"LEFT JOIN (SELECT __rid AS rid, {', '.join(feats)} FROM {r.rest[x.letter]}) nk ON nk.rid = u.rid"
        return (f"CASE {empty} ELSE {sql_str(f'no {y.name} row with the same {pairs} in any pass')} END", join)
    return sql_str(f"no {y.name} row to compare with in any pass"), ""
