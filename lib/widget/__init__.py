"""The book's widgets: the attention explorer and the text generator, live in Jupyter or on a static page."""

from lib.widget.explorer import AttentionExplorer, static_html
from lib.widget.generator import TextGenerator

__all__ = ["AttentionExplorer", "TextGenerator", "static_html"]
