"""Helpers shared by the IB-run and the sweep figures: axes, saving, units.

Nothing here imports matplotlib at module level, so importing :mod:`ibscope.plots`
stays cheap; pyplot is only touched when a function is asked to make a new figure.
"""

from __future__ import annotations

from pathlib import Path

from .._result import UNIT_FACTORS, check_units

__all__ = ["new_axes", "save_figure", "unit_factor"]


def new_axes(ax=None, *, figsize=None, layout=None):
    """Return ``ax``, or the axes of a new pyplot figure when ``ax`` is None.

    Parameters
    ----------
    ax : matplotlib.axes.Axes or None, default=None
        Axes to draw on.
    figsize : tuple of float or None, default=None
        Size in inches of a new figure (None: matplotlib's default).
    layout : {"constrained", "tight"} or None, default=None
        Layout engine of a new figure (None: matplotlib's default). Figures with a
        legend outside the axes use ``"constrained"`` so that the legend is not cut off.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout=layout)
    return ax


def save_figure(fig, folder, stem: str, formats, *, dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``folder/stem.<format>`` for each of ``formats``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    folder : path-like
        Existing output folder.
    stem : str
        File name without suffix.
    formats : sequence of str
        Suffixes matplotlib can write, e.g. ``("png", "pdf")``.
    dpi : int, default=150
        Resolution of raster formats.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of ``formats``.
    """
    paths = []
    for fmt in formats:
        p = Path(folder) / f"{stem}.{fmt}"
        fig.savefig(p, dpi=dpi)
        paths.append(p)
    return paths


def unit_factor(units: str) -> float:
    """Factor from nats to ``units`` (1 for nats, 1/ln 2 for bits).

    Raises
    ------
    ValueError
        If ``units`` is not a supported unit name (see :func:`ibscope._result.check_units`).
    """
    return UNIT_FACTORS[check_units(units)]
