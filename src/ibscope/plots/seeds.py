"""Figures of several IB runs (seeds): mean +- std bands over runs.

* :func:`aggregate_runs` - band frames from run folders; :func:`bands_from_table` from a study's
  mean +- std table;
* :func:`plot_mi_bands` - I(X;L) or I(L;Y) against epoch with bands, one line per layer;
* :func:`plot_ib_runs`, :func:`plot_bands` - the seed figures of a set of runs or of a study.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import new_axes, save_figure
from .ib import (
    _QUANTITY,
    _ceiling,
    _h_y_of,
    _layers,
    _legend_outside,
    _new_figure_grid,
    _runs_text,
    _units,
    _value_cols,
    read_info,
    read_metrics,
)


# ---------------------------------------------------------------------------------------------------------------
def _run_frames(run_dirs):
    """``(info, metrics)`` of several run folders, with a ``run`` column (0, 1, ...)."""
    import pandas as pd

    infos, mets = [], []
    for i, d in enumerate(run_dirs):
        df = read_info(d)
        df["run"] = i
        infos.append(df)
        m = read_metrics(d)
        m["run"] = i
        mets.append(m)
    if not infos:
        raise ValueError("aggregate_runs needs at least one run folder.")
    units = {_units(df) for df in infos}
    if len(units) > 1:
        raise ValueError(f"The runs use different units {sorted(units)}; convert them first.")
    return pd.concat(infos, ignore_index=True), pd.concat(mets, ignore_index=True)


def bands_from_table(table, *, values="clipped"):
    """The band frames of :func:`aggregate_runs` from a mean +- std table over seeds.

    Parameters
    ----------
    table : pandas.DataFrame
        One group of :func:`ibscope.runs.aggregate.seed_table` (e.g. one point of a study's
        ``summary.csv``).
    values : {"clipped", "raw"}, default="clipped"
        The values clipped at 0 (MI is never negative), or the raw estimates.

    Returns
    -------
    info, metrics : pandas.DataFrame
        As :func:`aggregate_runs` returns them.
    """
    cx, cy = _value_cols(values)
    if "xl_lower_mean" in table and np.isfinite(table["xl_lower_mean"].to_numpy(float)).any():
        cx, quantity = "xl_lower", "lower bound on I(X;L)"  # proven; the estimate is often unresolved
    else:
        cx, quantity = cx.replace("i_xl", "i_xl_code"), "code MI (not I(X;L))"
        if f"{cx}_mean" not in table:  # a table written before the code MI had its own column
            cx = _value_cols(values)[0]
    agg = table[["epoch", "layer", "layer_index"]].copy()
    for name, col in (("i_xl", cx), ("i_ly", cy)):
        agg[f"{name}_mean"], agg[f"{name}_std"] = table[f"{col}_mean"], table[f"{col}_std"]
    agg["x_quantity"] = quantity
    # decoder mode records the best decoder's bound beside the layer's own probe
    decoder = "i_ly_best_mean" in table and np.isfinite(table["i_ly_best_mean"].to_numpy(float)).any()
    agg["y_quantity"] = "I(L;Y) >= linear probe" if decoder else "I(L;Y)"
    agg["h_y"] = table["h_y_mean"] if "h_y_mean" in table else np.nan
    agg["n_runs"] = table["n_seeds"]
    agg["units"] = table["units"] if "units" in table else "nats"
    agg = agg.sort_values(["epoch", "layer"], kind="stable").reset_index(drop=True)
    mcols = [c for c in table.columns if c.endswith(("_mean", "_std")) and
             c.rsplit("_", 1)[0] in ("train_loss", "train_acc", "test_loss", "test_acc")]
    magg = table.drop_duplicates("epoch")[["epoch", *mcols, "n_seeds"]].rename(columns={"n_seeds": "n_runs"})
    return agg, magg.sort_values("epoch").reset_index(drop=True)


def aggregate_runs(run_dirs, *, values="clipped"):
    """Mean and standard deviation over runs (e.g. seeds), per epoch and layer.

    Parameters
    ----------
    run_dirs : sequence of path-like
        IB run folders with the same layers and units.
    values : {"clipped", "raw"}, default="clipped"
        The values clipped at 0 (MI is never negative), or the raw estimates.

    Returns
    -------
    info : pandas.DataFrame
        Columns ``epoch, layer, layer_index, i_xl_mean, i_xl_std, i_ly_mean,
        i_ly_std, h_y, n_runs, units`` (std with ddof=1; NaN for a single run;
        ``h_y`` is the mean H(Y) of the runs' probe sets).
    metrics : pandas.DataFrame
        ``epoch`` and ``<column>_mean`` / ``<column>_std`` for the loss and accuracy columns.

    Raises
    ------
    ValueError
        If the runs use different units.

    Notes
    -----
    The means and deviations come from :func:`ibscope.runs.aggregate.seed_table`, the kernel of a
    study's ``summary.csv`` too.
    """
    from ..runs.aggregate import seed_metrics, seed_table

    info, met = _run_frames(run_dirs)
    agg, _ = bands_from_table(seed_table(info, met, seed="run"), values=values)
    cols = ("train_loss", "train_acc", "test_loss", "test_acc")
    magg = seed_metrics(met, seed="run", metric_values=cols).rename(columns={"n_seeds": "n_runs"})
    return agg, magg.sort_values("epoch").reset_index(drop=True)


def plot_mi_bands(agg, quantity="i_xl", *, layers=None, ax=None, legend=True):
    """Mean +- std over runs of I(X;L) or I(L;Y) against epoch (from :func:`aggregate_runs`).

    Parameters
    ----------
    agg : pandas.DataFrame
        The first frame returned by :func:`aggregate_runs`.
    quantity : {"i_xl", "i_ly"}, default="i_xl"
        For ``"i_ly"`` the dotted H(Y) line (the largest possible I(L;Y)) is drawn too.
    layers : list of str or None
        Layers to draw (default: all, in network order).
    ax : Axes or None
    legend : bool, default=True
        Draw the legend, to the right of the axes.

    Returns
    -------
    matplotlib.axes.Axes
        The y label says how many runs the bands are over ("1 run" for a single one, which has no band).
    """
    if quantity not in ("i_xl", "i_ly"):
        raise ValueError(f"The 'quantity' argument must be 'i_xl' or 'i_ly'. Got {quantity!r}.")
    ax = new_axes(ax, layout="constrained")
    units = _units(agg)
    for name in _layers(agg, layers):
        df = agg[agg["layer"].astype(str) == name].sort_values("epoch")
        ep, m, s = (df["epoch"].to_numpy(float), df[f"{quantity}_mean"].to_numpy(float),
                    np.nan_to_num(df[f"{quantity}_std"].to_numpy(float)))
        (line,) = ax.plot(ep, m, lw=1.4, label=name)
        ax.fill_between(ep, m - s, m + s, color=line.get_color(), alpha=0.2, lw=0)
    n = int(agg["n_runs"].max()) if "n_runs" in agg and len(agg) else 0
    h_y = _h_y_of(agg) if quantity == "i_ly" else None
    if h_y is not None:
        _ceiling(ax, h_y)
    ax.set_xlabel("epoch")
    spread = f"mean ± std, {n} runs" if n != 1 else "1 run"
    column = "x_quantity" if quantity == "i_xl" else "y_quantity"
    what = str(agg[column].iloc[0]) if column in agg and len(agg) else _QUANTITY[quantity]
    ax.set_ylabel(f"{what} [{units}] ({spread})", fontsize="small")
    if legend:
        _legend_outside(ax)
    return ax


def _plane_bands(agg, layer, ax, vmin, vmax, cmap="viridis"):
    from matplotlib.colors import Normalize

    df = agg[agg["layer"].astype(str) == layer].sort_values("epoch")
    units = _units(agg)
    x, y = df["i_xl_mean"].to_numpy(float), df["i_ly_mean"].to_numpy(float)
    xs, ys = np.nan_to_num(df["i_xl_std"].to_numpy(float)), np.nan_to_num(df["i_ly_std"].to_numpy(float))
    ax.errorbar(x, y, xerr=xs, yerr=ys, fmt="none", ecolor="0.75", elinewidth=0.8, zorder=1)
    sc = ax.scatter(x, y, c=df["epoch"], cmap=cmap, norm=Normalize(vmin, vmax), s=22, zorder=2, edgecolors="none")
    h_y = _h_y_of(df)
    if h_y is not None:
        _ceiling(ax, h_y)
    what = str(df["x_quantity"].iloc[0]) if "x_quantity" in df and len(df) else "I(X;L)"
    ax.set_xlabel(f"{what} [{units}]", fontsize="small")
    y_what = str(df["y_quantity"].iloc[0]) if "y_quantity" in df and len(df) else "I(L;Y)"
    ax.set_ylabel(f"{y_what} [{units}]", fontsize="small")
    n = int(df["n_runs"].max()) if "n_runs" in df and len(df) else 0
    ax.set_title(f"{layer} (mean ± std)" if n > 1 else str(layer))
    ax.figure.colorbar(sc, ax=ax).set_label("epoch")
    return ax


# ---------------------------------------------------------------------------------------------------------------
# Whole-folder figures
# ---------------------------------------------------------------------------------------------------------------
def plot_ib_runs(run_dirs, *, out, formats=("png", "pdf"), values="clipped", label=None) -> list[Path]:
    """Figures over several runs (e.g. seeds): mean +- std bands and mean information planes.

    Parameters
    ----------
    run_dirs : sequence of path-like
        IB run folders.
    out : path-like
        Output folder (created if needed).
    formats : sequence of str, default=("png", "pdf")
    values : {"clipped", "raw"}, default="clipped"
        The values clipped at 0 (MI is never negative), or the raw estimates.
    label : str or None, default=None
        What the runs are (e.g. a study's grid point, ``"noise=0.01"``), put before the figure titles.

    Returns
    -------
    list of pathlib.Path
        ``seeds_info_plane``, ``seeds_mi_vs_epoch`` and ``seeds_loss`` files. The titles and labels
        say "mean ± std over N runs", or "1 run" when there is a single one.
    """
    agg, magg = aggregate_runs(list(run_dirs), values=values)
    return plot_bands(agg, magg, out=out, formats=formats, label=label)


def plot_bands(agg, magg, *, out, formats=("png", "pdf"), label=None, notes=None) -> list[Path]:
    """Draw the figures of :func:`plot_ib_runs` from band frames (:func:`aggregate_runs`, :func:`bands_from_table`).

    ``notes`` (a dict of layer name to text, e.g. a study's phase verdicts) is printed under each
    layer's plane.

    Returns
    -------
    list of pathlib.Path
        The files written into ``out``.
    """
    from matplotlib.figure import Figure

    n_runs = int(agg["n_runs"].max()) if len(agg) else 0
    prefix = f"{label}: " if label else ""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    names = _layers(agg)
    fig = _new_figure_grid(len(names))
    vmin, vmax = float(agg["epoch"].min()), float(agg["epoch"].max())
    for ax, name in zip(fig.axes, names):
        _plane_bands(agg, name, ax, vmin, vmax)
        if notes and notes.get(name):
            ax.text(0.02, 0.02, notes[name], transform=ax.transAxes, fontsize="x-small", va="bottom", ha="left",
                    bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.85})
    fig.suptitle(f"{prefix}Information plane, {_runs_text(n_runs)}")
    written += save_figure(fig, folder, "seeds_info_plane", formats)

    fig = Figure(figsize=(7.5, 6.0), layout="constrained")
    a1, a2 = fig.subplots(2, 1, sharex=True)
    plot_mi_bands(agg, "i_xl", ax=a1)
    plot_mi_bands(agg, "i_ly", ax=a2, legend=False)
    if label:
        fig.suptitle(str(label))
    written += save_figure(fig, folder, "seeds_mi_vs_epoch", formats)

    fig = Figure(figsize=(5.0, 3.2), layout="constrained")
    ax = fig.subplots()
    for col in ("train_loss", "test_loss"):
        if f"{col}_mean" in magg:
            m, s = magg[f"{col}_mean"].to_numpy(float), np.nan_to_num(magg[f"{col}_std"].to_numpy(float))
            (line,) = ax.plot(magg["epoch"], m, label=col.replace("_", " "))
            ax.fill_between(magg["epoch"], m - s, m + s, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("NLL loss [nats/sample]" + (" (mean ± std)" if n_runs > 1 else ""))
    ax.set_title(f"{prefix}{_runs_text(n_runs)}", fontsize="medium")
    ax.legend(fontsize="small")
    written += save_figure(fig, folder, "seeds_loss", formats)
    return written
