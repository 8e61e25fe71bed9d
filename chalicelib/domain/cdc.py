"""The CDC reconciliation vocabulary (contract: cdc-reconciliation-api.md). Values are the contract's."""
from __future__ import annotations

from enum import Enum


class ValidationStrategy(str, Enum):
    ROW_COUNT = "ROW_COUNT"
    CHECKSUM = "CHECKSUM"
    TIMESTAMP_RANGE = "TIMESTAMP_RANGE"
    SAMPLE = "SAMPLE"


class Priority(str, Enum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"


PRIORITY_TO_DB = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2}
PRIORITY_FROM_DB = {v: k for k, v in PRIORITY_TO_DB.items()}


class JobStatus(str, Enum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class JobType(str, Enum):
    HOURLY_SCHEDULED = "HOURLY_SCHEDULED"
    MANUAL_ONDEMAND = "MANUAL_ONDEMAND"


class MismatchType(str, Enum):
    MISSING_IN_POSTGRES = "MISSING_IN_POSTGRES"
    MISSING_IN_CASSANDRA = "MISSING_IN_CASSANDRA"
    DATA_MISMATCH = "DATA_MISMATCH"

    def __str__(self) -> str:
        return self.value


class ResolutionStatus(str, Enum):
    PENDING = "PENDING"
    AUTO_RESOLVED = "AUTO_RESOLVED"
    MANUAL_RESOLVED = "MANUAL_RESOLVED"
    IGNORED = "IGNORED"


STRATEGIES = tuple(s.value for s in ValidationStrategy)
MISMATCH_TYPES = tuple(t.value for t in MismatchType)
# resolutions a user may set by hand, and the legal moves between them (docs/api.md)
MANUAL_TARGETS = frozenset({ResolutionStatus.MANUAL_RESOLVED.value, ResolutionStatus.IGNORED.value})
