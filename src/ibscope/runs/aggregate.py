"""Mean and standard deviation over seeds: the one summary kernel of several runs.

A study's ``summary.csv`` (:func:`ibscope.study.summarize_study`) and the figures over
several runs (:func:`ibscope.plots.aggregate_runs`) both come from :func:`seed_table`, so
the two can never disagree. The columns averaged are those the schemas mark
(:attr:`ibscope.runs.schema.Schema.summarised`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .schema import INFO, METRICS

__all__ = ["seed_table", "seed_metrics"]


def seed_table(info: Any, metrics: Any, *, by: Sequence[str] = (), seed: str = "seed",
               values: Sequence[str] | None = None, metric_values: Sequence[str] | None = None) -> Any:
    """Mean and standard deviation over ``seed`` per group, epoch and layer.

    Parameters
    ----------
    info : pandas.DataFrame
        ``info.csv`` rows of every run, with the columns ``by`` and ``seed`` (which run a row is from).
    metrics : pandas.DataFrame
        ``metrics.csv`` rows of those runs, with the same columns.
    by : sequence of str, default=()
        Columns that split the runs into groups (a study's ``point``); empty: all runs are one group.
    seed : str, default="seed"
        The column that tells the runs apart.
    values, metric_values : sequence of str or None
        The columns to average (default: those the ``info.csv`` and ``metrics.csv`` schemas mark).

    Returns
    -------
    pandas.DataFrame
        Columns ``by``, ``epoch``, ``layer``, ``layer_index``, ``n_seeds``, then ``<col>_mean`` and
        ``<col>_std`` for each value and metric (the metrics of the row's epoch), then ``units``.
        Standard deviations use ``ddof=1`` (NaN for a single seed). Groups keep the order of their
        first row; epochs ascend; layers follow ``layer_index``.
    """
    import pandas as pd

    by = list(by)
    values = [c for c in (INFO.summarised if values is None else values) if c in info]
    metric_values = [c for c in (METRICS.summarised if metric_values is None else metric_values) if c in metrics]
    keys = [*by, "epoch", "layer"]
    g = info.groupby(keys, sort=False)
    parts = {"layer_index": g["layer_index"].first(), "n_seeds": g[seed].nunique()}
    for c in values:
        col = pd.to_numeric(info[c], errors="coerce").groupby([info[k] for k in keys], sort=False)
        parts[f"{c}_mean"], parts[f"{c}_std"] = col.mean(), col.std()
    table = pd.DataFrame(parts).reset_index()
    if len(metrics) and metric_values:
        mg = seed_metrics(metrics, by=by, seed=seed, metric_values=metric_values).drop(columns="n_seeds")
        table = table.merge(mg, on=[*by, "epoch"], how="left")
    table["units"] = g["units"].first().to_numpy() if "units" in info and len(info) else pd.Series(dtype=str)
    sort = [*by, "epoch", "layer_index"]
    orders = {k: {v: i for i, v in enumerate(dict.fromkeys(info[k]))} for k in by}
    table = table.sort_values(sort, key=lambda s: s.map(orders[s.name]) if s.name in orders else s,
                              kind="stable").reset_index(drop=True)
    return table


def seed_metrics(metrics: Any, *, by: Sequence[str] = (), seed: str = "seed",
                 metric_values: Sequence[str] | None = None) -> Any:
    """Mean and standard deviation over ``seed`` of the ``metrics.csv`` columns, per group and epoch.

    Returns
    -------
    pandas.DataFrame
        Columns ``by``, ``epoch``, ``<col>_mean``, ``<col>_std`` (``ddof=1``) and ``n_seeds``; every
        trained epoch, analysed or not.
    """
    by = list(by)
    metric_values = [c for c in (METRICS.summarised if metric_values is None else metric_values) if c in metrics]
    g = metrics.groupby([*by, "epoch"], sort=False)
    mg = g[metric_values].agg(["mean", "std"])
    mg.columns = [f"{a}_{b}" for a, b in mg.columns]
    mg["n_seeds"] = g[seed].nunique()
    return mg.reset_index()
