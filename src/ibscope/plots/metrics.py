"""Figures of a run's training metrics (``metrics.csv``): loss, its change per epoch, ROC-AUC."""

from __future__ import annotations

import numpy as np

from ._common import new_axes
from .ib import _check_smooth, _frame, smooth_series


def plot_loss(metrics, *, ax=None, columns=("train_loss", "test_loss"), log_y=False):
    """Loss against epoch.

    Parameters
    ----------
    metrics : pandas.DataFrame or path-like
        ``metrics.csv`` rows (or a run folder).
    ax : Axes or None
    columns : sequence of str, default=("train_loss", "test_loss")
        Columns to draw (negative log-likelihood in nats per sample).
    log_y : bool, default=False

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _metric_lines(metrics, ax, columns, "NLL loss [nats/sample]")
    if log_y:
        ax.set_yscale("log")
    return ax


def _metric_lines(metrics, ax, columns, ylabel):
    """One line per present column of ``metrics.csv`` against epoch."""
    metrics = _frame(metrics, "metrics")
    ax = new_axes(ax)
    for col in columns:
        if col in metrics:
            ax.plot(metrics["epoch"], metrics[col], marker="o", ms=2.5, label=col.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax


def plot_auc(metrics, *, ax=None, columns=("train_auc", "test_auc")):
    """One-vs-one macro ROC-AUC against epoch (the paper's accuracy metric).

    Parameters
    ----------
    metrics : pandas.DataFrame or path-like
        ``metrics.csv`` rows (or a run folder).
    ax : Axes or None
    columns : sequence of str, default=("train_auc", "test_auc")

    Returns
    -------
    matplotlib.axes.Axes
    """
    return _metric_lines(metrics, ax, columns, "ROC-AUC (one-vs-one, macro)")


def plot_loss_change(metrics, *, ax=None, column="train_loss", smooth=None):
    """Loss change between consecutive epochs, loss(e) - loss(e-1) (the paper's "loss delta").

    Parameters
    ----------
    metrics : pandas.DataFrame or path-like
    ax : Axes or None
    column : str, default="train_loss"
    smooth : {None, "savgol", "paper"}, default=None

    Returns
    -------
    matplotlib.axes.Axes
    """
    _check_smooth(smooth)
    metrics = _frame(metrics, "metrics").sort_values("epoch")
    ax = new_axes(ax)
    ep = metrics["epoch"].to_numpy(float)
    delta = np.diff(metrics[column].to_numpy(float))
    ax.plot(ep[1:], delta, marker="o", ms=2.5, lw=0.8 if smooth else 1.2, label=f"change in {column.replace('_', ' ')}")
    if smooth is not None and len(delta) >= 5:
        ax.plot(ep[1:], smooth_series(delta, smooth), color="k", lw=1.5, label=f"smoothed ({smooth})")
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss change [nats/sample per epoch]")
    ax.legend(fontsize="small")
    return ax
