"""The columns of the files an IB run writes: one typed schema, one cell writer, one parser.

``info.csv`` (one row per analysed epoch and layer) and ``metrics.csv`` (one row per
trained epoch) are declared here once, column by column, with each column's type and
meaning. Everything that writes or reads them uses these declarations: the writers
(:func:`ibscope.ib.run_ib`, the Lightning callback), the readers (:func:`ibscope.ib.load_run`,
the figures, the study summary, the TensorBoard and Lightning loggers). A new column is
added in one place: :data:`INFO` or :data:`METRICS`.

Cells are written by :func:`cell` (None as an empty cell, NaN as ``nan``, floats at full
precision) and read back by :meth:`Schema.parse` (ints, floats, strings; an empty cell is
None) or, for a whole file, as a pandas data frame by :meth:`Schema.frame` (numeric
columns as floats, missing values as NaN).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Column", "Schema", "INFO", "METRICS", "cell", "number", "number_or_nan", "epoch_of", "parse_flags"]

#: Column kinds: how a cell is parsed.
KINDS = ("int", "float", "str", "flags")


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of a results file.

    Attributes
    ----------
    name : str
        The header name.
    kind : {"int", "float", "str", "flags"}
        How a cell is read back (``"flags"``: a ``;``-separated list of names).
    doc : str
        What the column holds (units included).
    summary : bool
        Whether a study averages it over seeds (``<name>_mean``, ``<name>_std`` in ``summary.csv``).
    """

    name: str
    kind: str
    doc: str
    summary: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Column {self.name!r}: kind must be one of {KINDS}. Got {self.kind!r}.")


def number(value: Any) -> float | None:
    """A cell as a float (``"nan"`` is NaN), or None when it is empty or not a number."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def number_or_nan(value: Any) -> float:
    """A cell as a float, NaN when it is empty or not a number (for comparisons that must not fail)."""
    f = number(value)
    return math.nan if f is None else f


def _integer(value: Any) -> int | None:
    f = number(value)
    if f is None or not math.isfinite(f):
        return None
    return int(f)


def epoch_of(row: Mapping[str, Any]) -> int | None:
    """The ``epoch`` of a row as an int (None when missing or malformed)."""
    return _integer(row.get("epoch"))


def parse_flags(value: Any) -> list[str]:
    """The names in a ``flags`` cell (``"a;b"`` -> ``["a", "b"]``; empty -> ``[]``)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v]
    if isinstance(value, float) and math.isnan(value):
        return []
    return [f for f in str(value).split(";") if f]


def cell(value: Any) -> Any:
    """How a results file writes a value: None as an empty cell, NaN as ``nan``, floats at full precision."""
    import numpy as np

    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, np.floating):
        return repr(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


class Schema:
    """The ordered, typed columns of one results file.

    Parameters
    ----------
    filename : str
        The file's name in a run folder (``"info.csv"``).
    columns : sequence of Column
    """

    def __init__(self, filename: str, columns: Iterable[Column]) -> None:
        self.filename = filename
        self.columns = tuple(columns)
        self.by_name = {c.name: c for c in self.columns}
        if len(self.by_name) != len(self.columns):
            raise ValueError(f"{filename}: repeated column names.")

    def __repr__(self) -> str:
        return f"Schema({self.filename!r}, {len(self.columns)} columns)"

    @property
    def names(self) -> tuple[str, ...]:
        """The header, in order."""
        return tuple(c.name for c in self.columns)

    def of_kind(self, *kinds: str) -> tuple[str, ...]:
        """Names of the columns of the given kinds, in order."""
        return tuple(c.name for c in self.columns if c.kind in kinds)

    @property
    def numeric(self) -> tuple[str, ...]:
        """Names of the int and float columns."""
        return self.of_kind("int", "float")

    @property
    def summarised(self) -> tuple[str, ...]:
        """Names of the columns a study averages over seeds."""
        return tuple(c.name for c in self.columns if c.summary)

    # ------------------------------------------------------------------ reading
    def parse_value(self, name: str, value: Any) -> Any:
        """One cell as its column's type (unknown columns are returned unchanged)."""
        col = self.by_name.get(name)
        if col is None:
            return value
        if col.kind == "int":
            return _integer(value)
        if col.kind == "float":
            return number(value)
        if col.kind == "flags":
            return ";".join(parse_flags(value))
        return None if value is None or value == "" else str(value)

    def parse(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A row (strings as read from the file, or values as produced) with typed values."""
        return {k: self.parse_value(k, v) for k, v in row.items()}

    def frame(self, rows: Iterable[Mapping[str, Any]] | Any = ()) -> Any:
        """Rows (dicts, or a data frame read from the file) as a pandas data frame.

        Numeric columns become floats (an empty or malformed cell is NaN), ``flags`` and
        ``str`` columns strings (``flags`` never NaN). A frame of no rows has every column
        of the schema; columns the rows lack are not added, so files of an older version
        keep their own columns.
        """
        import pandas as pd

        df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        if df.empty and not len(df.columns):
            return pd.DataFrame({c.name: pd.Series(dtype=float if c.kind in ("int", "float") else object)
                                 for c in self.columns})
        for c in self.columns:
            if c.name not in df:
                continue
            if c.kind in ("int", "float"):
                df[c.name] = pd.to_numeric(df[c.name], errors="coerce")
            elif c.kind == "flags":
                df[c.name] = df[c.name].fillna("").astype(str)
        if "layer" in df:
            df["layer"] = df["layer"].astype(str)
        return df

    def read_frame(self, path: Any) -> Any:
        """The complete rows of a file of this schema as a data frame (see :meth:`frame`).

        A torn last line (a writer killed mid-row) is left out. Raises ``FileNotFoundError``
        when the file does not exist.
        """
        import io
        from pathlib import Path

        import pandas as pd

        from .csvlog import CSVLog

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist.")
        text = CSVLog(path, self.names).complete_text()
        if not text.strip():
            return self.frame()
        strings = {c.name: str for c in self.columns if c.kind in ("str", "flags")}
        return self.frame(pd.read_csv(io.StringIO(text), keep_default_na=True, dtype=strings))


#: ``info.csv``: one row per analysed epoch and layer. MI values are in the row's ``units``.
INFO = Schema("info.csv", [
    Column("epoch", "int", "analysed epoch (1-based)"),
    Column("layer", "str", "layer name (a module name of the model)"),
    Column("layer_index", "int", "position of the layer, input side first"),
    Column("i_xl", "float", "estimate of I(X;L) itself (X uniform on the probe set, the network's own noise), "
                            "clipped at 0; NaN where the noise does not resolve it (the bracket is then all that "
                            "is known)", summary=True),
    Column("i_xl_lo", "float", "lower end of the I(X;L) estimate's interval", summary=True),
    Column("i_xl_hi", "float", "upper end of the I(X;L) estimate's interval", summary=True),
    Column("i_xl_raw", "float", "the I(X;L) estimate before clipping", summary=True),
    Column("i_xl_method", "str", "how i_xl was obtained: 'sample-propagation', 'pinned' (bracket narrower than "
                                 "0.1 nats), 'unresolved' or 'none'"),
    Column("xl_lower", "float", "provable lower bound on I(X;L) (identification: Fano or Barber-Agakov, jointly "
                                "at 95 %; or ly_lower where that is larger, since I(X;L) >= I(L;Y))", summary=True),
    Column("xl_upper", "float", "upper bound on I(X;L) (ln N, the distinct probes' entropy, Kolchinsky-Tracey and "
                                "Gaussian-channel bounds on the first noisy variable)", summary=True),
    Column("xl_bounds_by", "str", "which bounds attain xl_lower and xl_upper"),
    Column("i_xl_code", "float", "the paper's compressed estimate: MI of the X code and the layer code "
                                 "I(E_X(X); E_L(L)), clipped at 0 (a statistic of the codes, not I(X;L))",
           summary=True),
    Column("i_xl_code_lo", "float", "lower end of the code MI's interval", summary=True),
    Column("i_xl_code_hi", "float", "upper end of the code MI's interval", summary=True),
    Column("i_xl_code_raw", "float", "the code MI before clipping", summary=True),
    Column("i_xl_code_ksg", "float", "the code MI by a second estimator (KSG on the same codes, raw): for the phase "
                                     "gate of studies", summary=True),
    Column("i_xl_code_2d", "float", "the code MI of the codes' first two components (the same estimator, raw): a "
                                    "second code dimension for the phase gate", summary=True),
    Column("i_ly", "float", "I(L;Y): usable information of the layer for its own held-out decoder "
                            "(ly_decoder), clipped at 0; with label_side='codes' the paper's estimate on the code",
           summary=True),
    Column("i_ly_lo", "float", "lower end of the I(L;Y) interval", summary=True),
    Column("i_ly_hi", "float", "upper end of the I(L;Y) interval", summary=True),
    Column("i_ly_raw", "float", "I(L;Y) before clipping", summary=True),
    Column("ly_lower", "float", "lower bound on I(L;Y): the best of the decoders' lower confidence limits and the "
                                "identification bound carried to Y", summary=True),
    Column("ly_upper", "float", "upper bound on I(L;Y): min(H(Y), xl_upper)", summary=True),
    Column("i_ly_best", "float", "the best held-out decoder bound over this layer's probe, later layers' probes and "
                                 "the network's head (a check)"),
    Column("ly_decoder", "str", "decoder family of i_ly ('linear probe', or 'codes'); the best decoder in "
                                "ly_best_by"),
    Column("ly_best_by", "str", "which decoder gave i_ly_best ('linear(L3)' or 'head')"),
    Column("h_y", "float", "plug-in entropy of the probe labels H(Y), the ceiling of I(L;Y)", summary=True),
    Column("bound", "float", "largest lower bound on I(L;Y) from the network's own prediction", summary=True),
    Column("bound_ba", "float", "Barber-Agakov bound H(Y) - NLL of the network's head"),
    Column("bound_plugin", "float", "plug-in I(Y_hat;Y) of the arg-max predictions"),
    Column("bound_fano", "float", "Fano's bound from the prediction's error rate"),
    Column("flags", "flags", "sanity flags, ';'-separated (see ibscope.plane.flags)"),
    Column("units", "str", "'nats' or 'bits'"),
    Column("n", "int", "probe rows"),
    Column("k", "int", "neighbours of the kNN estimators"),
    Column("ci_level", "float", "confidence level of the intervals (empty: none)"),
    Column("estimator", "str", "estimator of I(X;L)"),
    Column("estimator_y", "str", "estimator of I(L;Y) ('decoder' or a label estimator)"),
    Column("compressor", "str", "compressor of the layer ('none': used as it is)"),
    Column("compressor_x", "str", "compressor of X"),
    Column("refit", "str", "'first' (layer compressors fitted once) or 'every'"),
    Column("fit_epoch", "int", "epoch on which the layer compressor was fitted"),
    Column("dim_layer", "int", "dimension of the layer's output"),
    Column("dim_code", "int", "dimension of the layer's code"),
    Column("recon_mae", "float", "mean absolute reconstruction error of the layer code"),
    Column("seed", "int", "analysis seed (derived from the run's seed)"),
    Column("time_s", "float", "seconds spent on this row"),
    Column("warnings", "str", "warnings of the estimates, ' | '-separated"),
])

#: ``metrics.csv``: one row per trained epoch.
METRICS = Schema("metrics.csv", [
    Column("epoch", "int", "trained epoch (1-based)"),
    Column("train_loss", "float", "mean training NLL over the epoch's batches [nats/sample]", summary=True),
    Column("train_acc", "float", "training accuracy over the epoch's batches", summary=True),
    Column("train_auc", "float", "one-vs-one macro ROC-AUC of the training outputs"),
    Column("test_loss", "float", "NLL on the test split after the epoch [nats/sample]", summary=True),
    Column("test_acc", "float", "accuracy on the test split", summary=True),
    Column("test_auc", "float", "one-vs-one macro ROC-AUC on the test split", summary=True),
    Column("lr", "float", "learning rate"),
    Column("analysed", "int", "1 when the epoch has rows in info.csv"),
    Column("time_s", "float", "wall-clock seconds of the epoch, analysis included"),
    Column("train_s", "float", "seconds of the training pass"),
    Column("eval_s", "float", "seconds of the test-split evaluation"),
    Column("analysis_s", "float", "seconds of the information-plane analysis (probe pass, estimates, writing)"),
    Column("analysis_wait_s", "float", "seconds the training loop waited for the analysis (analysis_s, unless it "
           "ran in the background: ibscope.ib.worker)"),
])
