"""Reading a sweep's ``results.csv``: rows, summaries over seeds, accuracy tables."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np

from ..runs import canonical_json, jsonable

__all__ = ["RESULT_COLUMNS", "load_results", "summarize", "accuracy_table", "result_cell"]

#: Columns of ``results.csv``, in order.
RESULT_COLUMNS = (
    "job_key", "status", "task", "task_params", "true_mi", "method", "estimator", "estimator_params",
    "compress_x", "compress_y", "n", "seed", "sample_seed",
    "estimate", "raw", "units", "ci_low", "ci_high", "ci_level", "std_err", "clipped",
    "dim_x", "dim_y", "time_s", "estimate_time_s", "compress_time_s",
    "recon_error_x", "recon_error_y", "recon_error_val_x", "recon_error_val_y",
    "compressor_x_file", "compressor_y_file", "warnings", "error",
    "ibscope_version", "numpy_version", "torch_version", "sklearn_version", "python_version",
    "host", "pid", "finished_at",
)


def result_cell(value) -> str:
    """CSV text of one value: full-precision floats, empty for None/NaN, no line breaks."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return "" if math.isnan(v) else repr(v)
    if isinstance(value, (dict, list, tuple)):
        value = canonical_json(jsonable(value))
    return str(value).replace("\r", " ").replace("\n", " ")


def load_results(run_dir, *, include_failed: bool = False):
    """Read ``results.csv`` of a run folder into a DataFrame.

    Parameters
    ----------
    run_dir : str or os.PathLike
        Folder written by :func:`run_sweep`, or the ``results.csv`` file itself.
    include_failed : bool, default=False
        Keep ``status == "error"`` rows (and rows of jobs that later succeeded).

    Returns
    -------
    pandas.DataFrame
        One row per job (the last ``ok`` row of each job key), columns :data:`RESULT_COLUMNS`.
        A partial last line (a killed writer) is ignored.

    Raises
    ------
    FileNotFoundError
        If there is no ``results.csv``.
    """
    import pandas as pd

    path = Path(run_dir)
    if path.is_dir():
        path = path / "results.csv"
    if not path.exists():
        raise FileNotFoundError(f"No sweep results at {str(path)!r} (expected a results.csv written by run_sweep).")
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
    if not data:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    df = pd.read_csv(io.BytesIO(data), dtype={"job_key": str, "task_params": str, "estimator_params": str,
                                               "warnings": str, "error": str, "compress_x": str, "compress_y": str},
                     keep_default_na=False, na_values={c: [""] for c in RESULT_COLUMNS
                                                       if c not in ("warnings", "error", "task_params",
                                                                    "estimator_params")})
    missing = [c for c in ("job_key", "status", "estimate") if c not in df.columns]
    if missing:
        raise ValueError(f"{str(path)!r} is not a sweep results file: it has no {', '.join(missing)} column(s) "
                         "(sweeps written by run_sweep have them).")
    if not include_failed:
        df = df[df["status"] == "ok"]
        df = df.drop_duplicates(subset="job_key", keep="last")
    return df.reset_index(drop=True)


def summarize(results, *, by=("task", "method", "n", "true_mi")):
    """Mean, standard deviation and count of the estimates over seeds.

    Parameters
    ----------
    results : pandas.DataFrame or str or os.PathLike
        Output of :func:`load_results`, or a run folder.
    by : sequence of str
        Grouping columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``by`` + ``mean``, ``std`` (0 for a single seed), ``count``,
        ``bias`` (``mean - true_mi``) and ``recon_error`` (mean over sides and seeds, if any).
    """
    df = results if not isinstance(results, (str, os.PathLike)) else load_results(results)
    g = df.groupby(list(by), sort=True)
    out = g["estimate"].agg(["mean", "std", "count"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    out["bias"] = out["mean"] - out["true_mi"]
    recon = df[["recon_error_x", "recon_error_y"]].astype(float).mean(axis=1)
    out["recon_error"] = recon.groupby([df[c] for c in by]).mean().to_numpy()
    return out


def accuracy_table(results, *, mi_max: float = 5.0, by=("task", "method", "n")):
    """Per method: mean absolute error over true MI in [0, mi_max] and how far the estimate rises.

    Parameters
    ----------
    results : pandas.DataFrame or str or os.PathLike
    mi_max : float, default=5.0
        Upper end (nats) of the MI range over which the error is averaged.
    by : sequence of str

    Returns
    -------
    pandas.DataFrame
        ``mae`` (mean over points in [0, mi_max] of the seed-mean estimate's absolute error),
        ``max_abs_err`` on that range, ``monotone_up_to`` (the largest true MI
        up to which the seed-mean estimate increases strictly at every grid
        step), ``max_estimate``, ``n_points``, ``seeds``.
    """
    s = summarize(results, by=tuple(by) + ("true_mi",))
    rows = []
    for key, grp in s.groupby(list(by), sort=True):
        grp = grp.sort_values("true_mi")
        inside = grp[grp["true_mi"] <= mi_max + 1e-9]
        err = (inside["mean"] - inside["true_mi"]).abs()
        means, mis = grp["mean"].to_numpy(), grp["true_mi"].to_numpy()
        upto = mis[0] if len(mis) else float("nan")
        for i in range(1, len(mis)):
            if means[i] > means[i - 1]:
                upto = mis[i]
            else:
                break
        rec = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        rec.update({"mae": float(err.mean()) if len(err) else float("nan"),
                    "max_abs_err": float(err.max()) if len(err) else float("nan"),
                    "monotone_up_to": float(upto), "max_estimate": float(grp["mean"].max()),
                    "n_points": int(len(grp)), "seeds": int(grp["count"].max())})
        rows.append(rec)
    import pandas as pd

    return pd.DataFrame(rows)
