"""The legacy reconciliations' matchRate: matched source rows as a percent of the source rows."""
import pytest

from chalicelib.streams.legacy import match_rate


@pytest.mark.parametrize("matched, rows, rate", [
    (3, 4, 75.0), (1, 3, 33.33), (2, 3, 66.67), (100_000, 100_000, 100.0), (0, 100_000, 0.0),
    (99_996, 100_000, 99.99),      # 99.996 rounds to 100.00: a row is unmatched, so it reads 99.99
    (4, 1_000_000, 0.01),          # 0.0004 rounds to 0.00: rows matched, so it reads 0.01
    (0, 0, None), (None, 10, None)])
def test_match_rate(matched, rows, rate):
    assert match_rate(matched, rows) == rate
