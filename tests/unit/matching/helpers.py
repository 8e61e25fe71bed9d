"""Small helpers for the matching engine tests: write inputs, run, read outputs."""
from __future__ import annotations

import csv
from dataclasses import dataclass

from chalicelib.matching import EngineLimits, RuleSet, run_match


def write_csv(path, header, rows, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])
    return str(path)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def header_of(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


@dataclass
class Outcome:
    result: object
    matched: list
    unmatched_source: list
    unmatched_target: list

    def pairs(self):
        return sorted((m["pass"], m["source_key"], m["target_key"]) for m in self.matched)

    def reasons(self, side="source"):
        rows = self.unmatched_source if side == "source" else self.unmatched_target
        return {r["_row_key"]: r["_reason"] for r in rows}

    def unmatched(self, side="source"):
        rows = self.unmatched_source if side == "source" else self.unmatched_target
        return {r["_row_key"]: r for r in rows}


def rule_set(*passes, source_key="id", target_key="id", name="test"):
    d = {"name": name, "passes": list(passes)}
    if source_key:
        d["sourceKey"] = source_key
    if target_key:
        d["targetKey"] = target_key
    return RuleSet.model_validate(d)


def p(name, *conditions, cardinality="ONE_TO_ONE", group_by=None):
    d = {"name": name, "cardinality": cardinality, "conditions": list(conditions)}
    if group_by:
        d["groupBy"] = group_by
    return d


def eq(s, t=None, normalize=None):
    d = {"source": s, "target": t or s, "operator": "EQUALS"}
    if normalize:
        d["normalize"] = normalize
    return d


def tol(s, t=None, absolute=None, percent=None, aggregate=None):
    d = {"source": s, "target": t or s, "operator": "AMOUNT_TOLERANCE"}
    if absolute is not None:
        d["absolute"] = absolute
    if percent is not None:
        d["percent"] = percent
    if aggregate:
        d["aggregate"] = aggregate
    return d


def window(s, t=None, before=0, after=0):
    return {"source": s, "target": t or s, "operator": "DATE_WINDOW", "daysBefore": before, "daysAfter": after}


def sim(s, t=None, algorithm="JARO_WINKLER", threshold=0.9, normalize=None):
    d = {"source": s, "target": t or s, "operator": "SIMILARITY", "algorithm": algorithm, "threshold": threshold}
    if normalize:
        d["normalize"] = normalize
    return d


def match(tmp_path, src_header, src_rows, tgt_header, tgt_rows, rs, *, threads=1, out="out", **kw):
    s = write_csv(tmp_path / "source.csv", src_header, src_rows)
    t = write_csv(tmp_path / "target.csv", tgt_header, tgt_rows)
    return run_files(s, t, rs, tmp_path / out, threads=threads, **kw)


def run_files(s, t, rs, out_dir, *, threads=1, **kw):
    res = run_match(str(s), str(t), rs, str(out_dir),
                    limits=kw.pop("limits", EngineLimits(memory_limit="256MB", threads=threads)), **kw)
    return Outcome(res, read_csv(res.matched_path), read_csv(res.unmatched_source_path),
                   read_csv(res.unmatched_target_path))
