"""Figures (matplotlib) of IB runs and of known-MI sweeps.

Every drawing function takes ``ax=None`` (a new figure is made when None) and
returns the axes it drew on; every axis names its quantity and units.
Smoothing is an explicit argument and is off by default, so the raw
estimates show. Whole-folder functions read a result folder and write
``figures/*.png|pdf`` into it.

IB runs (:mod:`ibscope.plots.ib`, folders written by :func:`ibscope.ib.run_ib`):

* :func:`read_info`, :func:`read_metrics` - a run's ``info.csv`` / ``metrics.csv``.
* :func:`smooth_series` - Savitzky-Golay (or the paper's Savitzky-Golay + Butterworth) smoothing.
* :func:`plot_information_plane`, :func:`plot_information_planes` - x = I(X;L), y = I(L;Y) per layer.
* :func:`plot_mi_vs_epoch`, :func:`plot_loss`, :func:`plot_loss_change`, :func:`plot_auc` - against epoch.
* :func:`aggregate_runs`, :func:`plot_mi_bands`, :func:`plot_ib_runs` - mean +- std over runs (seeds).
* :func:`plot_ib_run` - all figures of one run folder.

Sweeps (:mod:`ibscope.plots.sweep`, folders written by :func:`ibscope.sweep.run_sweep`):

* :func:`plot_estimate_vs_true` - estimated vs true MI of one task, mean +- std over seeds.
* :func:`plot_sweep` - those figures for every task of a sweep folder.

Example
-------
>>> from ibscope.plots import plot_ib_run, plot_sweep
>>> plot_ib_run("runs/digits-s0")          # doctest: +SKIP
[PosixPath('runs/digits-s0/figures/info_plane.png'), ...]
>>> plot_sweep("runs/smoke")               # doctest: +SKIP
[PosixPath('runs/smoke/figures/estimate_vs_true_bump-16.png'), ...]
"""

from .ib import (
    plot_ib_run,
    plot_information_plane,
    plot_information_planes,
    plot_mi_vs_epoch,
    read_info,
    read_metrics,
    smooth_series,
)
from .metrics import plot_auc, plot_loss, plot_loss_change
from .seeds import aggregate_runs, plot_ib_runs, plot_mi_bands
from .sweep import plot_estimate_vs_true, plot_sweep

__all__ = [
    "read_info",
    "read_metrics",
    "smooth_series",
    "plot_information_plane",
    "plot_information_planes",
    "plot_mi_vs_epoch",
    "plot_loss",
    "plot_loss_change",
    "plot_auc",
    "aggregate_runs",
    "plot_mi_bands",
    "plot_ib_run",
    "plot_ib_runs",
    "plot_estimate_vs_true",
    "plot_sweep",
]
