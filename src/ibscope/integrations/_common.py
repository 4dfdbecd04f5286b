"""What the Lightning and TensorBoard bridges share: scalar names, the figure, optional imports, folder checks.

Nothing here imports Lightning or TensorBoard at module level.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["SCALARS", "FIGURE_TAG", "ib_scalars", "rows_frame", "information_plane_image", "require",
           "check_log_dir"]

#: ``info.csv`` column -> name of the logged scalar (``<prefix>/<layer>/<name>``).
SCALARS = {
    "i_xl": "i_xl", "i_xl_lo": "i_xl_low", "i_xl_hi": "i_xl_high", "xl_lower": "xl_lower", "xl_upper": "xl_upper",
    "i_xl_code": "i_xl_code", "i_xl_code_lo": "i_xl_code_low", "i_xl_code_hi": "i_xl_code_high",
    "ly_lower": "ly_lower",
    "i_ly": "i_ly", "i_ly_lo": "i_ly_low", "i_ly_hi": "i_ly_high",
}

#: Tag of the information-plane image (under the prefix: ``ib/information_plane``).
FIGURE_TAG = "information_plane"

def require(module: str, *, owner: str, what: str, extra: str) -> ModuleType:
    """Import ``module`` or raise a one-line ImportError naming the ibscope extra that installs it.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``"tensorboard"``.
    owner : str
        Who needs it, for the message ("TensorBoardCallback").
    what : str
        The package's name as people know it ("TensorBoard").
    extra : str
        The ibscope extra that installs it ("tensorboard").

    Returns
    -------
    module
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{owner} needs {what}: pip install 'ibscope[{extra}]' (importing {module!r} failed: "
                          f"{exc}).") from None


def ib_scalars(rows: Iterable[Mapping[str, Any]], *, prefix: str = "ib") -> dict[str, float]:
    """The scalars of information-plane rows: ``{"<prefix>/<layer>/i_xl": value, ...}``.

    Parameters
    ----------
    rows : iterable of dict
        ``info.csv`` rows (:data:`ibscope.ib.INFO_COLUMNS` keys), e.g. the rows of one epoch.
    prefix : str, default="ib"

    Returns
    -------
    dict of str to float
        Every column of :data:`SCALARS` that the row has a value for (an interval that was not
        computed, ``ci=None``, gives no ``_low``/``_high`` entries), in the rows' units.
    """
    out: dict[str, float] = {}
    for row in rows:
        for column, name in SCALARS.items():
            value = row.get(column)
            if value is None or value == "":
                continue
            out[f"{prefix}/{row['layer']}/{name}"] = float(value)
    return out


def rows_frame(rows: Iterable[Mapping[str, Any]]) -> Any:
    """Information-plane rows (dicts as produced, or strings as read from ``info.csv``) as a data frame.

    The columns are converted by the ``info.csv`` schema (:data:`ibscope.runs.schema.INFO`), as
    :func:`ibscope.plots.ib.read_info` converts them, so the frame can be passed to every function of
    :mod:`ibscope.plots.ib`.
    """
    from ..runs.schema import INFO

    return INFO.frame(rows)


def information_plane_image(rows: Iterable[Mapping[str, Any]], *, dpi: int = 80) -> np.ndarray:
    """Render the information planes of ``rows`` (one panel per layer) to an RGB image.

    Draws :func:`ibscope.plots.ib.plot_information_planes` on a matplotlib ``Figure`` with the
    Agg canvas (no pyplot, no display needed).

    Parameters
    ----------
    rows : iterable of dict
        ``info.csv`` rows of every epoch so far.
    dpi : int, default=80

    Returns
    -------
    numpy.ndarray of shape (height, width, 3), uint8
        For ``SummaryWriter.add_image(tag, image, step, dataformats="HWC")``.

    Raises
    ------
    ValueError
        If there are no rows.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..plots.ib import plot_information_planes

    df = rows_frame(rows)
    if df.empty:
        raise ValueError("information_plane_image needs at least one information-plane row.")
    n = int(df["layer"].nunique())
    ncols = min(n, 5)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(3.6 * ncols, 3.0 * nrows), layout="constrained")
    panels = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n)]
    plot_information_planes(df, axes=panels)
    fig.suptitle(f"Information plane per layer (epochs {int(df['epoch'].min())}-{int(df['epoch'].max())})")
    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    return image


def check_log_dir(path: Any, *, owner: str, param: str = "log_dir") -> Path:
    """Check that the folder ``path`` exists or can be created and written, without creating it.

    Parameters
    ----------
    path : str or path-like
    owner : str
        Who asks, for the message.
    param : str, default="log_dir"
        The parameter's name, for the message.

    Returns
    -------
    pathlib.Path
        ``path``, with ``~`` expanded.

    Raises
    ------
    TypeError
        If ``path`` is not a str or path-like.
    OSError
        One line naming the folder and why it cannot be used (a file is in the way, no write
        permission, an empty name).
    """
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"The '{param}' parameter of {owner} must be a str or path-like folder. "
                        f"Got {type(path).__name__} instead.")
    if str(path).strip() == "":
        raise OSError(f"The '{param}' parameter of {owner} is an empty path. Pass a folder.")
    folder = Path(path).expanduser()
    from ..runs.errors import NotAFolderError

    if folder.exists() and not folder.is_dir():
        raise NotAFolderError(f"The '{param}' folder {str(folder)!r} of {owner} is a file, not a folder. Pass another "
                              "folder.")
    parent = folder
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise NotAFolderError(f"The '{param}' folder {str(folder)!r} of {owner} cannot be created: {str(parent)!r} "
                              "is a file, not a folder. Pass another folder.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OSError(f"The '{param}' folder {str(folder)!r} of {owner} cannot be written: {str(parent)!r} is not "
                      "writable (Permission denied). Pass another folder.")
    return folder
