"""Page/page_size pagination of the CDC dialect (contract: default 50, max 100). The value type is
the domain's (chalicelib/domain/paging.py); the streams dialect's pages are in chalicelib/api/core.py."""
from __future__ import annotations

from chalicelib.domain.paging import MAX_PAGE_SIZE, Page, total_pages  # noqa: F401  (re-exported)

DEFAULT_PAGE_SIZE = 50


def pagination_body(page: Page, total_items: int) -> dict:
    return {
        "page": page.page,
        "page_size": page.page_size,
        "total_pages": total_pages(total_items, page.page_size),
        "total_items": total_items,
    }
