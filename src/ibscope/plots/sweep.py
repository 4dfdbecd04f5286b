"""Figures of a known-MI sweep: estimated vs true mutual information, one panel per task.

:func:`plot_sweep` reads a run folder written by :func:`ibscope.sweep.run_sweep`
and writes ``figures/estimate_vs_true_<task>[_n<n>].png`` and ``.pdf``;
:func:`plot_estimate_vs_true` draws one task onto a given matplotlib axes.
Each method (estimator + compression) is a line of the mean over seeds with a
band of +- one standard deviation over seeds, as in the paper's Figs. 3-4, and
the dashed diagonal is the truth. Estimates are drawn raw (no smoothing).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ._common import new_axes, save_figure, unit_factor

__all__ = ["plot_estimate_vs_true", "plot_sweep"]


def plot_estimate_vs_true(results, *, task: str | None = None, n: int | None = None, units: str = "nats", ax=None,
                          methods=None, title: str | None = None):
    """Draw estimated vs true MI (mean +- std over seeds) for the methods of one task.

    The default title says how many seeds the mean and band are over, or "single seed"
    when every point has one (there is no band then).

    Parameters
    ----------
    results : pandas.DataFrame
        Rows of :func:`ibscope.sweep.load_results` (values in nats).
    task : str or None, default=None
        Task to draw; None requires ``results`` to hold a single task.
    n : int or None, default=None
        Sample size to draw; None requires a single one.
    units : {"nats", "bits"}, default="nats"
        Units of both axes.
    ax : matplotlib.axes.Axes or None, default=None
        Axes to draw on; a new figure is made when None.
    methods : sequence of str or None, default=None
        Method labels to draw, in this order (default: all, sorted).
    title : str or None, default=None

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If ``results`` holds several tasks or sample sizes and none is chosen, or nothing matches.
    """
    import matplotlib
    import numpy as np

    factor = unit_factor(units)
    df = results
    for col, value in (("task", task), ("n", n)):
        if value is None:
            values = sorted(df[col].unique())
            if len(values) > 1:
                raise ValueError(f"The results hold several values of {col!r} ({values}); pass {col}=... to pick one.")
        else:
            df = df[df[col] == value]
    if df.empty:
        raise ValueError(f"No results for task={task!r}, n={n!r}.")
    ax = new_axes(ax, figsize=(6.0, 4.8))
    labels = list(methods) if methods is not None else sorted(df["method"].unique())
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    markers = "osD^vP*Xh<>"
    for i, label in enumerate(labels):
        sub = df[df["method"] == label]
        if sub.empty:
            continue
        stats = sub.groupby("true_mi")["estimate"].agg(["mean", "std", "count"]).reset_index()
        stats = stats.sort_values("true_mi")
        x = stats["true_mi"].to_numpy(float) * factor
        m = stats["mean"].to_numpy(float) * factor
        s = stats["std"].fillna(0.0).to_numpy(float) * factor
        c = colors[i % len(colors)]
        seeds = int(stats["count"].max())
        text = label if len(label) <= 40 else label[:37] + "..."
        ax.plot(x, m, marker=markers[i % len(markers)], markersize=3.5, lw=1.4, color=c,
                label=text + (f" ({seeds} seeds)" if seeds > 1 else ""))
        if np.any(s > 0):
            ax.fill_between(x, m - s, m + s, color=c, alpha=0.18, lw=0)
    lo = 0.0
    hi = float(df["true_mi"].max()) * factor
    ax.plot([lo, hi], [lo, hi], ls="--", color="0.3", lw=1.0, label="true MI", zorder=0)
    ax.set_xlabel(f"true I(X;Y), {units}")
    ax.set_ylabel(f"estimated I(X;Y), {units}")
    ax.set_xlim(lo, hi if hi > lo else 1.0)
    ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", frameon=False)
    if title is None:
        tasks = sorted(df["task"].unique())
        ns = sorted(df["n"].unique())
        per_point = df[df["method"].isin(labels)].groupby(["method", "true_mi"]).size()
        n_seeds = int(per_point.max()) if len(per_point) else 0
        spread = f"mean ± std over {n_seeds} seeds" if n_seeds > 1 else "single seed"
        title = f"{', '.join(tasks)}, n={', '.join(str(v) for v in ns)}: estimate vs truth ({spread})"
    ax.set_title(title, fontsize=9)
    return ax


def _safe(text: str) -> str:
    """``text`` reduced to characters that are safe in a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-")


def plot_sweep(run_dir, *, units: str = "nats", formats=("png", "pdf"), out_dir=None) -> list:
    """Write estimate-vs-true-MI figures for every task (and sample size) of a sweep.

    Parameters
    ----------
    run_dir : str or os.PathLike
        Folder holding ``results.csv`` (written by :func:`ibscope.sweep.run_sweep`).
    units : {"nats", "bits"}, default="nats"
    formats : sequence of str, default=("png", "pdf")
        File formats to write.
    out_dir : str, os.PathLike or None, default=None
        Folder for the figures; default ``run_dir/figures``.

    Returns
    -------
    list of pathlib.Path
        The files written, ``estimate_vs_true_<task>[_n<n>].<format>``.

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` has no ``results.csv``.
    ValueError
        If it holds no finished jobs.
    """
    from matplotlib.figure import Figure

    # imported here, not at the top: ibscope.sweep may itself import ibscope.plots
    from ..sweep import load_results

    unit_factor(units)
    df = load_results(run_dir)
    if df.empty:
        raise ValueError(f"{os.fspath(run_dir)!r} holds no finished jobs to plot.")
    folder = Path(out_dir) if out_dir is not None else Path(run_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for task in sorted(df["task"].unique()):
        sub = df[df["task"] == task]
        ns = sorted(sub["n"].unique())
        for n in ns:
            fig = Figure(figsize=(6.4, 5.0))  # no pyplot: works without a display, leaves user figures alone
            ax = fig.subplots()
            plot_estimate_vs_true(sub, task=task, n=n, units=units, ax=ax)
            fig.tight_layout()
            stem = f"estimate_vs_true_{_safe(task)}" + (f"_n{int(n)}" if len(ns) > 1 else "")
            written += save_figure(fig, folder, stem, formats)
    return written
