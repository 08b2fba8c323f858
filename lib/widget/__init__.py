"""The attention explorer: a widget that shows a model's attention, live or on a static page."""

from lib.widget.explorer import AttentionExplorer, static_html

__all__ = ["AttentionExplorer", "static_html"]
