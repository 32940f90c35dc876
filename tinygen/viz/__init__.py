"""Pictures: the computation graph (``graph``, ``render_graph``) and plots of samples and training
(``sample_grid``, ``scatter_2d``, ``density_1d``, ``loss_curves``, ``animate``; ``marker_size``, the dot
size a scatter of n points uses)."""
from .graph import graph, render_graph
from .plots import animate, density_1d, image_mosaic, loss_curves, marker_size, sample_grid, scatter_2d

__all__ = ["animate", "density_1d", "graph", "image_mosaic", "loss_curves", "marker_size", "render_graph",
           "sample_grid", "scatter_2d"]
