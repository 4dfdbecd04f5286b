"""Figures of information-bottleneck runs (matplotlib).

Functions read the result files of a run folder (``info.csv``, ``metrics.csv``,
see :mod:`ibscope.ib.run`) or the data frames returned by :func:`read_info` /
:func:`read_metrics`. Every single-panel drawing function takes ``ax=None`` (a
new figure is made when None) and returns the axes it drew on;
:func:`plot_information_planes`, which draws one panel per layer, returns the
figure (its panels are ``fig.axes[:n_layers]``). Every axis names its quantity
and units, and the H(Y) line (the largest possible I(L;Y)) and its label stay
inside the axes. Smoothing is an explicit argument and is **off by
default**, so the raw estimates show; when on, the smoothed curve is drawn over
the raw points, never instead of them.

* :func:`plot_information_plane` - one layer: x = I(X;L), y = I(L;Y), points
  coloured by epoch (colour bar), CI bars.
* :func:`plot_information_planes` - one panel per layer (the paper's Fig. 5), as a figure.
* :func:`plot_mi_vs_epoch` - I(X;L) or I(L;Y) against epoch, one line per layer.
* the training metrics (loss, its change, ROC-AUC): :mod:`ibscope.plots.metrics`.
* several runs (seeds), mean +- std bands: :mod:`ibscope.plots.seeds`.
* :func:`plot_ib_run` - all figures of one run folder into ``RUN_DIR/figures``.

Example
-------
>>> from ibscope.plots import plot_ib_run
>>> plot_ib_run("runs/digits-s0")          # doctest: +SKIP
[PosixPath('runs/digits-s0/figures/info_plane.png'), ...]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import new_axes, save_figure

_QUANTITY = {"i_xl": "I(X;L), estimate", "xl_lower": "I(X;L), proven lower bound",
             "i_xl_code": "code MI I(E_X(X);E_L(L))", "i_ly": "I(L;Y)"}

#: What the x-axis of a plane shows: the estimate of I(X;L) in its bracket, or the paper's code MI.
X_QUANTITIES = ("auto", "estimate", "code")


def _x_quantity(info, x: str) -> str:
    if x not in X_QUANTITIES:
        raise ValueError(f"The 'x' argument must be one of {X_QUANTITIES}. Got {x!r}.")
    if x == "auto":
        has = "xl_lower" in info and np.isfinite(info["xl_lower"].to_numpy(float)).any()
        return "estimate" if has else "code"
    return x


def _x_label(info, x: str, units: str) -> str:
    if x == "code":
        return f"code MI [{units}] (not I(X;L))"
    return f"I(X;L) [{units}]: bound o, bracket, est. x"


def _y_label(info, units: str) -> str:
    kind = str(info["ly_decoder"].dropna().iloc[0]) if "ly_decoder" in info and info["ly_decoder"].notna().any() \
        else ""
    if kind == "linear probe":
        return f"I(L;Y) [{units}] >= linear probe"
    if kind == "codes":
        return f"I(L;Y) [{units}], on the code"
    return f"I(L;Y) [{units}]"
_SMOOTH = (None, "savgol", "paper")


# ---------------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------------
def _frame(data, kind: str):
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    return read_info(data) if kind == "info" else read_metrics(data)


def _results_file(run_dir, name: str) -> Path:
    path = Path(run_dir)
    if path.is_dir():
        path = path / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {Path(run_dir)} is not an ibscope ib run folder.")
    return path


def read_info(run_dir):
    """Read ``RUN_DIR/info.csv`` into a data frame (one row per epoch and layer).

    Parameters
    ----------
    run_dir : str or path-like
        An IB run folder (or the path of an ``info.csv`` file).

    Returns
    -------
    pandas.DataFrame
        Numeric columns (``i_xl``, ``i_xl_lo`` ... in the ``units`` column's units) as floats
        (the schema :data:`ibscope.runs.schema.INFO`); a torn last line is left out.

    Raises
    ------
    FileNotFoundError
        If the folder has no ``info.csv``.
    """
    from ..runs.ibrun import upgrade_info
    from ..runs.schema import INFO

    return upgrade_info(INFO.read_frame(_results_file(run_dir, INFO.filename)))


def read_metrics(run_dir):
    """Read ``RUN_DIR/metrics.csv`` (epoch, train/test loss in nats per sample, accuracies in [0, 1]).

    Raises
    ------
    FileNotFoundError
        If the folder has no ``metrics.csv``.
    """
    from ..runs.schema import METRICS

    return METRICS.read_frame(_results_file(run_dir, METRICS.filename))


def _units(info) -> str:
    if "units" in info and len(info):
        return str(info["units"].iloc[0])
    return "nats"


def _layers(info, layers=None) -> list[str]:
    if layers is not None:
        return list(layers)
    if "layer_index" in info:
        order = info.drop_duplicates("layer").sort_values("layer_index")
        return [str(v) for v in order["layer"]]
    return list(dict.fromkeys(str(v) for v in info["layer"]))


# ---------------------------------------------------------------------------------------------------------------
# Smoothing
# ---------------------------------------------------------------------------------------------------------------
def smooth_series(values, method: str = "savgol", *, window: int | None = None, order: int = 4):
    """Smooth a trajectory sampled at consecutive analysed epochs.

    Parameters
    ----------
    values : array-like of shape (T,)
        Values in epoch order (NaNs are interpolated over first).
    method : {"savgol", "paper"}, default="savgol"
        ``"savgol"``: Savitzky-Golay filter. ``"paper"``: Savitzky-Golay followed
        by a zero-phase Butterworth low-pass (order 8, normalised cut-off 0.125,
        forward-backward), as in Butakov et al.'s figures.
    window : int or None
        Savitzky-Golay window (odd); None takes ``min(30, T)`` made odd, as the paper.
    order : int, default=4
        Polynomial order (reduced when the window is short).

    Returns
    -------
    numpy.ndarray of shape (T,)
        Smoothed values; series shorter than 5 points are returned unchanged.
    """
    from scipy.signal import butter, filtfilt, savgol_filter

    if method not in ("savgol", "paper"):
        raise ValueError(f"The 'method' argument of smooth_series must be 'savgol' or 'paper'. Got {method!r}.")
    y = np.asarray(values, dtype=float).copy()
    t = len(y)
    if t < 5:
        return y
    bad = ~np.isfinite(y)
    if bad.all():
        return y
    if bad.any():
        idx = np.arange(t)
        y[bad] = np.interp(idx[bad], idx[~bad], y[~bad])
    w = min(30, t) if window is None else min(int(window), t)
    if w % 2 == 0:
        w -= 1
    w = max(w, 3)
    p = min(int(order), w - 1)
    out = savgol_filter(y, w, p)
    if method == "paper":
        b, a = butter(8, 0.125)
        padlen = 3 * max(len(a), len(b))
        if t > padlen:
            out = filtfilt(b, a, out)
    return out


def _check_smooth(smooth):
    if smooth not in _SMOOTH:
        raise ValueError(f"The 'smooth' argument must be None, 'savgol' or 'paper'. Got {smooth!r}.")


# ---------------------------------------------------------------------------------------------------------------
# Information plane
# ---------------------------------------------------------------------------------------------------------------
def _value_cols(values: str) -> tuple[str, str]:
    if values == "raw":
        return "i_xl_raw", "i_ly_raw"
    if values == "clipped":
        return "i_xl", "i_ly"
    raise ValueError(f"The 'values' argument must be 'raw' or 'clipped'. Got {values!r}.")


def _err(df, col, lo, hi, floor=None):
    """Error bars of ``col`` from its interval columns; ``floor``: the interval's ends clipped there first."""
    if lo not in df or hi not in df:
        return None
    v = df[col].to_numpy(float)
    lo_v, hi_v = df[lo].to_numpy(float), df[hi].to_numpy(float)
    if floor is not None:
        lo_v, hi_v = np.maximum(lo_v, floor), np.maximum(hi_v, floor)
    low = np.clip(v - lo_v, 0, None)
    high = np.clip(hi_v - v, 0, None)
    if not (np.isfinite(low).any() or np.isfinite(high).any()):
        return None
    return np.vstack([np.nan_to_num(low), np.nan_to_num(high)])


def plot_information_plane(info, layer, *, ax=None, values="clipped", ci=True, smooth=None, cmap="viridis",
                           colorbar=True, title=None, vmin=None, vmax=None, x="auto"):
    """Draw one layer's information plane: x = I(X;L), y = I(L;Y), coloured by epoch.

    Parameters
    ----------
    info : pandas.DataFrame or path-like
        ``info.csv`` rows (or a run folder).
    layer : str
        Layer name, e.g. "L3".
    ax : matplotlib.axes.Axes or None
        Axes to draw on; None makes a new figure.
    values : {"clipped", "raw"}, default="clipped"
        Plot the values clipped at 0, where every MI and every bound on one lies, or the raw estimates
        (the centre of the CIs, negative where an estimator undershoots).
    ci : bool, default=True
        Draw the confidence intervals as grey bars in both directions.
    smooth : {None, "savgol", "paper"}, default=None
        Draw a smoothed trajectory over the raw points (off by default).
    cmap : str, default="viridis"
        Colour map of the epochs.
    colorbar : bool, default=True
        Add a colour bar labelled "epoch".
    title : str or None
        Axes title (default: the layer name).
    vmin, vmax : float or None
        Epoch range of the colour map (default: this layer's epochs).
    x : {"auto", "estimate", "code"}, default="auto"
        The x-axis: ``"estimate"``, I(X;L) of the noisy network with X uniform on the probe set --
        its provable bracket [``xl_lower``, ``xl_upper``] as a light bar, the estimate ``i_xl``
        as a filled point where the noise resolves it, else the lower bound as an open point;
        ``"code"``, the paper's MI of the X and layer codes (``i_xl_code``, a statistic of the
        codes, not I(X;L)); ``"auto"``, the estimate when the rows have brackets. On the
        y-axis, ``i_ly`` with its bracket [``ly_lower``, ``ly_upper``] as a light bar.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.colors import Normalize

    _check_smooth(smooth)
    info = _frame(info, "info")
    ax = new_axes(ax)
    xq = _x_quantity(info, x)
    cx, cy = _value_cols(values)
    if xq == "code":
        cx = cx.replace("i_xl", "i_xl_code")
    df = info[info["layer"].astype(str) == str(layer)].sort_values("epoch")
    if df.empty:
        raise ValueError(f"No rows for layer {layer!r}. Layers in the data: {_layers(info)}.")
    units = _units(info)
    xv, y, ep = df[cx].to_numpy(float) if cx in df else np.full(len(df), np.nan), df[cy].to_numpy(float), \
        df["epoch"].to_numpy(float)
    norm = Normalize(vmin=ep.min() if vmin is None else vmin, vmax=ep.max() if vmax is None else vmax)
    if xq == "estimate":  # x = the proven lower bound, in its bracket; the estimate (where resolved) as a cross
        x = df["xl_lower"].to_numpy(float)
        upper = df["xl_upper"].to_numpy(float)
        ax.hlines(y, x, upper, colors="0.85", lw=2.5, zorder=0)
        if "ly_lower" in df:
            ax.vlines(x, df["ly_lower"].to_numpy(float), df["ly_upper"].to_numpy(float), colors="0.85", lw=2.5,
                      zorder=0)
        resolved = np.isfinite(xv)
        if resolved.any():
            ax.scatter(xv[resolved], y[resolved], marker="x", s=18, linewidths=0.9, zorder=2,
                       c=_cmap_colors(cmap, norm, ep[resolved]))
        if np.isfinite(upper).any():
            ln_n = float(np.nanmax(upper))
            ax.axvline(ln_n, color="0.4", ls=":", lw=0.9, zorder=0)
            ax.text(ln_n, 0.02, " ln N", transform=ax.get_xaxis_transform(), color="0.4", fontsize="x-small")
        xerr = None
    else:
        x = xv
        xerr = _err(df, cx, "i_xl_code_lo", "i_xl_code_hi", floor=0.0 if values == "clipped" else None)
    if ci:
        yerr = _err(df, cy, "i_ly_lo", "i_ly_hi", floor=0.0 if values == "clipped" else None)
        if xerr is not None or yerr is not None:
            ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="none", ecolor="0.6", elinewidth=0.8, zorder=1)
    sc = ax.scatter(x, y, c=ep, cmap=cmap, norm=norm, s=22, zorder=2, edgecolors="none")
    if smooth is not None and len(df) >= 5:
        ax.plot(smooth_series(x, smooth), smooth_series(y, smooth), color="k", lw=1.2, zorder=3,
                label=f"smoothed ({smooth})")
    _last_bound(ax, df)
    if "h_y" in df and np.isfinite(df["h_y"]).any():
        _ceiling(ax, float(df["h_y"].dropna().iloc[0]))
    ax.set_xlabel(_x_label(info, xq, units), fontsize="small")
    ax.set_ylabel(_y_label(info, units), fontsize="small")
    ax.set_title(str(layer) if title is None else title)
    if colorbar:
        cb = ax.figure.colorbar(sc, ax=ax)
        cb.set_label("epoch")
    return ax


def _cmap_colors(cmap, norm, values):
    import matplotlib

    return matplotlib.colormaps[cmap](norm(values))


def _bounds_by_epoch(df):
    """``(epochs, bound)`` of the rows that carry the bound from the net's prediction (None if none do)."""
    if "bound" not in df:
        return None
    per = df[["epoch", "bound"]].dropna().groupby("epoch")["bound"].first().sort_index()
    return None if per.empty else (per.index.to_numpy(float), per.to_numpy(float))


def _last_bound(ax, df) -> None:
    """Dashed line at the last analysed epoch's bound on I(L;Y) from the net's own prediction."""
    per = _bounds_by_epoch(df)
    if per is None:
        return
    epochs, values = per
    ax.axhline(values[-1], color="0.25", ls="--", lw=0.9, zorder=0)
    ax.text(0.99, values[-1], f"bound, epoch {int(epochs[-1])}", transform=ax.get_yaxis_transform(), color="0.25",
            fontsize="x-small", va="top", ha="right")


#: Least head room above the H(Y) line for its label, as a fraction of the axes' height.
_CEILING_ROOM = 0.1


def _ceiling(ax, h_y: float) -> None:
    """Dotted line at H(Y), the largest possible I(L;Y), labelled just above it, inside the axes.

    Call it after everything else is drawn: it raises the top of the y-limits (never lowers
    them, so no data leaves the view) until the line and its label, 1.6 text heights of room,
    lie inside the axes; the label used to sit on or beyond the top of the frame.
    """
    from matplotlib.font_manager import FontProperties

    ax.axhline(h_y, color="tab:red", ls=":", lw=1, zorder=0, gid="h_y")
    lo, hi = ax.get_ylim()
    text_px = FontProperties(size="small").get_size_in_points() * ax.figure.dpi / 72
    axes_px = max(ax.get_window_extent().height, 1.0)
    room = min(max(_CEILING_ROOM, 1.6 * text_px / axes_px), 0.5)  # the label's share of the axes' height
    if not hi > lo:
        lo, hi = h_y - 1.0, h_y + 1.0
    top = (h_y - room * lo) / (1 - room)  # (top - h_y) / (top - lo) = room
    ax.set_ylim(lo, max(hi, top))
    ax.text(0.01, h_y, "H(Y)", transform=ax.get_yaxis_transform(), color="tab:red", fontsize="small",
            va="bottom", ha="left", clip_on=True, gid="h_y_label")


def _legend_outside(ax) -> None:
    """The legend to the right of the axes, so that it never covers a line (the figure should use the
    constrained layout, as every figure made here does)."""
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, framealpha=0.9)


def _h_y_of(df) -> float | None:
    """The H(Y) of a frame's rows (their mean; None when the frame has none)."""
    if "h_y" not in df:
        return None
    v = df["h_y"].to_numpy(float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else None


def _runs_text(n: int, what: str = "runs") -> str:
    """"mean ± std over 3 runs", or "1 run" (a single run has no spread)."""
    return f"mean ± std over {n} {what}" if n != 1 else f"1 {what.rstrip('s')}"


def plot_information_planes(info, *, layers=None, axes=None, values="clipped", ci=True, smooth=None, cmap="viridis",
                            ncols=None, x="auto"):
    """One information plane per layer, sharing the epoch colour scale (the paper's Fig. 5).

    Parameters
    ----------
    info : pandas.DataFrame or path-like
    layers : list of str or None
        Layers to draw (default: all, in network order).
    axes : sequence of Axes or None
        One axes per layer; None makes a new figure.
    values, ci, smooth, cmap, x
        As in :func:`plot_information_plane`.
    ncols : int or None
        Panels per row of a new figure (default: up to 5).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (a new one, or that of ``axes``). Its panels, one per layer in
        ``layers`` order, are ``fig.axes[:len(layers)]``; the colour bars come after them.

        .. versionchanged:: next
           Returns the figure; it used to return the array of panels, which is now
           ``fig.axes[:n_layers]``.

    Raises
    ------
    ValueError
        If fewer ``axes`` than layers are given.
    """
    info = _frame(info, "info")
    names = _layers(info, layers)
    if axes is None:
        fig = _new_figure_grid(len(names), ncols)
        axes = fig.axes
    axes = np.asarray(axes, dtype=object).ravel()
    if len(axes) < len(names):
        raise ValueError(f"The 'axes' argument of plot_information_planes must hold one axes per layer: got "
                         f"{len(axes)} axes for {len(names)} layers ({names}). Pass more axes, or axes=None.")
    vmin, vmax = float(info["epoch"].min()), float(info["epoch"].max())
    for ax, name in zip(axes, names):
        plot_information_plane(info, name, ax=ax, values=values, ci=ci, smooth=smooth, cmap=cmap, vmin=vmin,
                               vmax=vmax, x=x)
    return axes[0].figure


def _new_figure_grid(n: int, ncols=None, size=(3.6, 3.0)):
    from matplotlib.figure import Figure

    ncols = min(n, 5) if ncols is None else int(ncols)
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    for i in range(n):
        fig.add_subplot(nrows, ncols, i + 1)
    return fig


# ---------------------------------------------------------------------------------------------------------------
# MI and loss against epoch
# ---------------------------------------------------------------------------------------------------------------
def plot_mi_vs_epoch(info, quantity="i_xl", *, layers=None, ax=None, values="clipped", ci=True, smooth=None,
                     legend=True):
    """I(X;L) or I(L;Y) against epoch, one line per layer, with CI bands.

    Parameters
    ----------
    info : pandas.DataFrame or path-like
    quantity : {"i_xl", "i_ly"}, default="i_xl"
    layers : list of str or None
    ax : Axes or None
    values : {"clipped", "raw"}, default="clipped"
        The values clipped at 0 (MI is never negative), or the raw estimates.
    ci : bool, default=True
        Shade each layer's confidence interval.
    smooth : {None, "savgol", "paper"}, default=None
        Add a smoothed line over the raw one (thin raw line + markers stay).
    legend : bool, default=True
        Draw the legend, to the right of the axes (outside, so that it covers no line).

    Returns
    -------
    matplotlib.axes.Axes
    """
    _check_smooth(smooth)
    if quantity not in _QUANTITY:
        raise ValueError(f"The 'quantity' argument must be one of {sorted(_QUANTITY)}. Got {quantity!r}.")
    info = _frame(info, "info")
    ax = new_axes(ax, layout="constrained")
    col = {"i_xl": _value_cols(values)[0], "i_ly": _value_cols(values)[1], "xl_lower": "xl_lower",
           "i_xl_code": _value_cols(values)[0].replace("i_xl", "i_xl_code")}[quantity]
    units = _units(info)
    for name in _layers(info, layers):
        df = info[info["layer"].astype(str) == name].sort_values("epoch")
        if col not in df:
            continue
        ep, v = df["epoch"].to_numpy(float), df[col].to_numpy(float)
        (line,) = ax.plot(ep, v, marker="o", ms=2.5, lw=0.8 if smooth else 1.2, label=name)
        if quantity in ("xl_lower", "i_xl") and "xl_upper" in df:  # the bracket, lightly
            ax.fill_between(ep, df["xl_lower"].to_numpy(float), df["xl_upper"].to_numpy(float),
                            color=line.get_color(), alpha=0.08, lw=0)
        if ci and f"{quantity}_lo" in df:
            lo, hi = df[f"{quantity}_lo"].to_numpy(float), df[f"{quantity}_hi"].to_numpy(float)
            if values == "clipped":
                lo, hi = np.maximum(lo, 0.0), np.maximum(hi, 0.0)
            if np.isfinite(lo).any():
                ax.fill_between(ep, lo, hi, color=line.get_color(), alpha=0.18, lw=0)
        if smooth is not None and len(df) >= 5:
            ax.plot(ep, smooth_series(v, smooth), color=line.get_color(), lw=2)
    if quantity == "i_ly":
        per = _bounds_by_epoch(info)
        if per is not None:
            ax.plot(*per, color="0.25", ls="--", lw=1.0, label="bound (net's prediction)")
            ax.annotate("bound", (per[0][-1], per[1][-1]), xytext=(3, -2), textcoords="offset points",
                        color="0.25", fontsize="x-small", va="top")
        if "h_y" in info and np.isfinite(info["h_y"]).any():
            _ceiling(ax, float(info["h_y"].dropna().iloc[0]))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{_QUANTITY[quantity]} [{units}]")
    if legend:
        _legend_outside(ax)
    return ax


def plot_ib_run(run_dir, *, out=None, formats=("png", "pdf"), smooth=None, values="clipped") -> list[Path]:
    """Draw every figure of one IB run folder.

    Writes ``info_plane``, ``mi_vs_epoch`` (I(X;L) and I(L;Y) with the loss
    change below, like the paper's Fig. 6) and ``loss`` in each of ``formats``.

    Parameters
    ----------
    run_dir : path-like
        The run folder (with ``info.csv`` and ``metrics.csv``).
    out : path-like or None
        Output folder (default ``RUN_DIR/figures``, created if needed).
    formats : sequence of str, default=("png", "pdf")
    smooth : {None, "savgol", "paper"}, default=None
    values : {"clipped", "raw"}, default="clipped"
        The values clipped at 0 (MI is never negative), or the raw estimates.

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    FileNotFoundError
        If ``info.csv`` or ``metrics.csv`` is missing.
    ValueError
        If ``info.csv`` has no rows yet (no analysed epoch).
    """
    from matplotlib.figure import Figure

    from .metrics import plot_auc, plot_loss, plot_loss_change

    run_dir = Path(run_dir)
    info, metrics = read_info(run_dir), read_metrics(run_dir)
    if info.empty:
        raise ValueError(f"{run_dir / 'info.csv'} has no rows yet: no epoch has been analysed.")
    folder = run_dir / "figures" if out is None else Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []

    x = _x_quantity(info, "auto")
    fig = plot_information_planes(info, smooth=smooth, values=values, x=x)
    n = int(info["n"].dropna().iloc[0]) if "n" in info and info["n"].notna().any() else "N"
    fig.suptitle("Information plane per layer" + (
        f". x: I(X;L) of the noisy network, X uniform on the {n} probes: proven lower bound (o) in its bracket (grey "
        "bar), estimate (x) where the noise resolves it. y: usable information of a held-out linear probe, a "
        "lower bound on I(L;Y), in its bracket" if x == "estimate" else
        ": MI of the codes, a statistic of their geometry"), fontsize="small")
    written += save_figure(fig, folder, "info_plane", formats)
    if x == "estimate" and "i_xl_code" in info and np.isfinite(info["i_xl_code"].to_numpy(float)).any():
        fig = plot_information_planes(info, smooth=smooth, values=values, x="code")
        fig.suptitle("The paper's plane: MI of the X code and the layer code (not I(X;L))")
        written += save_figure(fig, folder, "code_plane", formats)

    fig = Figure(figsize=(7.5, 8.0), layout="constrained")
    a1, a2, a3 = fig.subplots(3, 1, sharex=True)
    plot_mi_vs_epoch(info, "xl_lower" if x == "estimate" else "i_xl_code", ax=a1, smooth=smooth, values=values)
    plot_mi_vs_epoch(info, "i_ly", ax=a2, smooth=smooth, values=values, legend=False)
    if len(metrics) >= 2:
        plot_loss_change(metrics, ax=a3, smooth=smooth)
    else:
        a3.set_xlabel("epoch")
        a3.set_ylabel("loss change [nats/sample per epoch]")
    written += save_figure(fig, folder, "mi_vs_epoch", formats)

    has_auc = "test_auc" in metrics
    fig = Figure(figsize=(11.0 if has_auc else 7.5, 3.2), layout="constrained")
    panels = fig.subplots(1, 3 if has_auc else 2)
    plot_loss(metrics, ax=panels[0])
    if len(metrics) >= 2:
        plot_loss_change(metrics, ax=panels[1], smooth=smooth)
    if has_auc:
        plot_auc(metrics, ax=panels[2])
    written += save_figure(fig, folder, "loss", formats)
    return written
