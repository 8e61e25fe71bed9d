"""run_match: the passes of a rule set over two input files, on DuckDB, with outputs and summary."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from .inputs import InputError  # noqa: F401  (re-exported by the package)
from .rules import RuleSet


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


def run_match(source_path: str, target_path: str, rule_set: RuleSet, out_dir: str, *,
              limits: Optional[EngineLimits] = None,
              progress: Optional[Callable[[int], None]] = None,
              should_cancel: Optional[Callable[[], bool]] = None) -> MatchResult:
    raise NotImplementedError("matching passes are being implemented")
