"""The site as readers meet it: on a 390-px phone, clicking solutions, and checked by axe-core.

Every page of the table of contents (and the intro) is opened offline at phone size: it must load
cleanly (page_checks.py: no error, no failed or off-site request, no broken image, its title), not
scroll sideways, its chapter menu (☰) and its contents button must open and close, every figure's
smallest text must be at least 9 CSS pixels high as rendered, every exercise solution must open
and close from a click anywhere on its bar (its link included) without leaving the page or
logging an error, and axe-core must find no serious or critical violation. A notebook figure's
rendered text size comes from its rendered and natural widths, its dpi and the smallest font size
its notebook cell asks for (tools/sphinx/reader_site.py); an SVG diagram's from its rendered width,
its viewBox and its smallest font size (tools/figures.py).
"""

import json
import sys

import pytest
from axe_playwright_python.sync_playwright import Axe

from notebook_contract import solutions, toc_files
from page_checks import check_loaded_cleanly
from site_helpers import ROOT, SCREENSHOTS, book_pages

sys.path.insert(0, str(ROOT / "tools" / "sphinx"))
from figures import DIAGRAMS, diagram_facts, phone_text_px  # noqa: E402  (tools/, on pytest's path)

from reader_site import MIN_TEXT_PX, notebook_figures  # noqa: E402

PHONE = (390, 844)
# Left out of axe's scan: syntax-highlighted code (the theme's accessible-pygments palette, some
# 5,000 spans a chapter that would triple the scan's time) and MathJax's own rendering (readers
# of assistive technology get its hidden MathML).
AXE_CONTEXT = {"exclude": [[".highlight"], ["mjx-container"]]}
# No CSSOM preload: axe would fetch the theme's `@import "../basic.css"` relative to the page
# instead of the stylesheet (a 404); it only feeds css-orientation-lock, which then reports nothing.
AXE_OPTIONS = {"resultTypes": ["violations"], "preload": False}
SEVERE = ("serious", "critical")


def chapter_notebook(relative: str):
    notebook = ROOT / relative.replace(".html", ".ipynb")
    return notebook if notebook.exists() else None


def all_figures() -> dict[str, dict]:
    figures = {}
    for notebook in (ROOT / "chapters").glob("*.ipynb"):
        figures.update(notebook_figures(notebook))
    return figures


@pytest.fixture(scope="module")
def axe():
    return Axe()


def dialog_is_open(page, dialog_id: str) -> bool:
    return page.evaluate(f"document.getElementById('{dialog_id}').open")


def open_and_close(page, button_selector: str, dialog_id: str, close: str) -> int:
    """Click a header button, check its dialog opened, close it; returns the links it showed."""
    button = page.locator(button_selector)
    assert button.is_visible(), f"{button_selector} is not shown"
    button.click()
    page.wait_for_function(f"document.getElementById('{dialog_id}').open", timeout=5_000)
    links = page.locator(f"#{dialog_id} a:visible").count()
    if close == "backdrop":  # a tap on the page beside the drawer
        drawer = page.locator(f"#{dialog_id}").bounding_box()
        width, height = page.viewport_size["width"], page.viewport_size["height"]
        beside = drawer["x"] + drawer["width"] + 10 if drawer["x"] < 10 else drawer["x"] - 10
        assert 0 < beside < width, "the drawer covers the whole screen"
        page.mouse.click(beside, height / 2)
    else:
        page.keyboard.press("Escape")
    page.wait_for_function(f"!document.getElementById('{dialog_id}').open", timeout=5_000)
    assert page.locator(".tooltip:visible").count() == 0, "a tooltip stayed on screen"
    return links


def click_on(page, bar, target: str) -> None:
    if target == "the link in the bar":
        bar.locator("a").first.click()
    elif target == "the bar's left edge":
        edge = bar.bounding_box()
        page.mouse.click(edge["x"] + 3, edge["y"] + edge["height"] / 2)
    else:
        bar.locator(".toggle-button").click()


def click_every_solution_bar(page, notebook) -> None:
    """Each solution opens and closes from a click on the link in its bar, its edge and its chevron."""
    expected = len(solutions(json.loads(notebook.read_text())))
    boxes = page.locator("div.solution.toggle")
    assert boxes.count() == expected
    url = page.url
    for index in range(expected):
        box = boxes.nth(index)
        bar = box.locator(":scope > .admonition-title")
        bar.scroll_into_view_if_needed()
        for target in ("the link in the bar", "the bar's left edge", "the chevron"):
            hidden_before = "toggle-hidden" in box.get_attribute("class")
            click_on(page, bar, target)
            hidden_after = "toggle-hidden" in box.get_attribute("class")
            assert hidden_after != hidden_before, f"solution {index + 1}: a click on {target} did not toggle it"
            assert page.url == url, f"solution {index + 1}: a click on {target} left the page"


@pytest.mark.parametrize("relative", book_pages())
def test_page_works_on_a_phone(open_page, axe, relative):
    page, watcher = open_page(relative, viewport=PHONE)
    check_loaded_cleanly(page, watcher, relative)  # what every page must be (page_checks.py), from this load

    scroll_width, client_width = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll_width <= client_width, f"the page scrolls sideways ({scroll_width} > {client_width} px)"

    menu_links = open_and_close(page, ".bd-header-article .primary-toggle", "pst-primary-sidebar-modal", "Escape")
    assert open_and_close(page, ".bd-header-article .primary-toggle", "pst-primary-sidebar-modal", "backdrop")
    assert menu_links >= len(toc_files()), "the chapter menu should list every chapter"
    if page.locator(".bd-sidebar-secondary .page-toc a").count():
        contents_links = open_and_close(
            page, ".bd-header-article .secondary-toggle", "pst-secondary-sidebar-modal", "backdrop"
        )
        assert contents_links > 0

    figures = all_figures()
    shown = page.evaluate(
        """() => Array.from(document.querySelectorAll("div.cell_output img")).map(img => ({
            name: img.src.split("/").pop().replace(/\\.png$/, ""),
            rendered: img.getBoundingClientRect().width, natural: img.naturalWidth }))"""
    )
    notebook = chapter_notebook(relative)
    if notebook is not None:
        assert len(shown) == len(notebook_figures(notebook)), "every figure of the notebook is on the page"
    for image in shown:
        figure = figures[image["name"]]
        text_px = figure["text_px"] * image["rendered"] / image["natural"]
        assert text_px >= MIN_TEXT_PX - 0.05, (
            f"{image['name'][:12]}: its {figure['font_pt']:g}-pt text is {text_px:.1f} px high at "
            f"{image['rendered']:.0f} of {image['natural']} px"
        )

    diagrams = page.evaluate(
        """() => Array.from(document.querySelectorAll('img[src*="_images/"][src$=".svg"]')).map(img => ({
            name: img.src.split("/").pop(), rendered: img.getBoundingClientRect().width }))"""
    )
    for image in diagrams:  # the book's SVG diagrams: their smallest text at the width they got
        text_px = phone_text_px(diagram_facts(DIAGRAMS / image["name"]), image["rendered"])
        assert text_px >= MIN_TEXT_PX - 0.05, f"{image['name']}: its smallest text is {text_px:.1f} px high on a phone"

    if notebook is not None:
        click_every_solution_bar(page, notebook)

    found = axe.run(page, context=AXE_CONTEXT, options=AXE_OPTIONS).response["violations"]
    violations = [v for v in found if v["impact"] in SEVERE]
    page.evaluate("window.scrollTo(0, 0)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # the first screen only: a full phone page takes seconds
    page.screenshot(path=str(SCREENSHOTS / f"phone-{relative.replace('/', '__').removesuffix('.html')}.png"))
    assert [(v["id"], v["impact"], [n["target"] for n in v["nodes"][:3]]) for v in violations] == []
    assert watcher.console_errors == []


def test_desktop_menu_button_collapses_and_restores_the_sidebar(open_page):
    page, watcher = open_page("intro.html")
    sidebar = page.locator("#pst-primary-sidebar")
    toggle = page.locator(".bd-header-article .primary-toggle")
    assert sidebar.is_visible()
    toggle.click()
    page.wait_for_function("document.getElementById('pst-primary-sidebar').getBoundingClientRect().right <= 0")
    assert not dialog_is_open(page, "pst-primary-sidebar-modal")
    toggle.click()
    page.wait_for_function("document.getElementById('pst-primary-sidebar').getBoundingClientRect().left >= 0")
    assert sidebar.is_visible()
    assert watcher.console_errors == []
