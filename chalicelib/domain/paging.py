"""A requested page (1-based) as offset/limit, and the page count."""
from __future__ import annotations

from dataclasses import dataclass

MAX_PAGE_SIZE = 100
#: the contracts bound the page size, not the page: the largest page whose offset (bigint) a query can take
MAX_PAGE = (2**63 - 1) // MAX_PAGE_SIZE


@dataclass(frozen=True)
class Page:
    page: int
    page_size: int

    def __post_init__(self):
        if self.page < 1:
            raise ValueError("page must be >= 1")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    @property
    def limit(self) -> int:
        return self.page_size


def total_pages(total_items: int, page_size: int) -> int:
    """ceil(total_items / page_size); 0 when there is nothing to page through."""
    if total_items < 0 or page_size < 1:
        raise ValueError("total_items must be >= 0 and page_size >= 1")
    return -(-total_items // page_size)
