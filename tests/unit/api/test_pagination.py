import pytest

from chalicelib.api.pagination import Page, pagination_body, total_pages


@pytest.mark.parametrize(
    "items, size, pages",
    [(0, 50, 0), (1, 50, 1), (50, 50, 1), (51, 50, 2), (87, 20, 5), (100, 100, 1), (101, 100, 2), (7, 1, 7)],
)
def test_total_pages_is_the_ceiling(items, size, pages):
    assert total_pages(items, size) == pages


def test_offsets():
    assert (Page(1, 20).offset, Page(3, 20).offset, Page(5, 20).limit) == (0, 40, 20)


@pytest.mark.parametrize("page, size", [(0, 10), (1, 0), (1, 101)])
def test_page_bounds(page, size):
    with pytest.raises(ValueError):
        Page(page, size)


def test_body_matches_the_contract_example():
    assert pagination_body(Page(1, 20), 87) == {"page": 1, "page_size": 20, "total_pages": 5, "total_items": 87}
