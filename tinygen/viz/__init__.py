"""Pictures: the computation graph (``graph``, ``render_graph``)."""
from .graph import graph, render_graph

__all__ = ["graph", "render_graph"]
