"""JSON objects read back from jsonb, which stores keys sorted by length, in the order the documents write them."""
from __future__ import annotations

from typing import Any, Sequence


def ordered_keys(value: Any, keys: Sequence[str]) -> Any:
    """`value` with `keys` first, in that order; other keys follow as they were. Anything but a dict is
    returned as it is."""
    if not isinstance(value, dict):
        return value
    return {**{k: value[k] for k in keys if k in value}, **{k: v for k, v in value.items() if k not in keys}}
