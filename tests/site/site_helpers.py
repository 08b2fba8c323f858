"""Paths and helpers shared by the browser tests."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


def screenshot(page, name: str) -> None:
    """Save a screenshot of a page or an element under artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    options = {"full_page": True} if hasattr(page, "goto") else {}
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), **options)
