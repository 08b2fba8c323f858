"""Every page of the built site loads offline in Chromium without errors, with a title and working images,
and every exercise solution's toggle button is named by the exercise it solves.

The book's own pages (the intro, the chapters, the references) get these checks in the phone test
of test_reader.py, from the same load that checks them at phone size; here are the rest.
"""

import pytest

from page_checks import check_loaded_cleanly
from site_helpers import SITE, book_pages, screenshot


def site_pages() -> list[str]:
    return sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html") if "_static" not in p.parts)


def test_site_has_a_page_per_toc_entry():
    pages = set(site_pages()) if SITE.exists() else set()
    assert set(book_pages()) <= pages


def test_every_page_is_checked_by_one_test_or_the_other():
    """The pages left to this file are the few the table of contents does not list."""
    others = sorted(set(site_pages()) - set(book_pages()))
    assert others == ["genindex.html", "index.html", "search.html"]


@pytest.mark.parametrize("relative", sorted(set(site_pages()) - set(book_pages())))
def test_page_loads_offline_cleanly(open_page, relative):
    page, watcher = open_page(relative)
    screenshot(page, relative.replace("/", "__").removesuffix(".html"))
    check_loaded_cleanly(page, watcher, relative)
