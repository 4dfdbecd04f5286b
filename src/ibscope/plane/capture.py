"""Capture layer outputs on a fixed probe set with forward hooks.

:class:`ActivationRecorder` follows the update / compute / reset pattern:
``update(x, y)`` runs one probe batch through the model with forward hooks on
the chosen named modules and stores every layer's output; ``compute()``
returns the aligned arrays; ``reset()`` empties the state for the next epoch.
:meth:`ActivationRecorder.capture` does the whole pass over a probe set in one
call.

Why one pass matters: the reference code of Butakov et al. encoded X from a
shuffled loader but took L from an unshuffled one, so its MI was computed
between unrelated rows. Here
X, every layer's output L and the labels Y come from the *same* forward pass
over an *unshuffled* probe set, and :meth:`ActivationRecorder.compute` checks
that every array has the same number of rows and that the stored row indices
are exactly the ones that were fed in.

Memory: with ``n_samples`` given, every layer gets one preallocated float32
array of shape (n_samples, dim) and batches are streamed into it, so peak
memory is the final size plus one batch (10 000 MNIST probe images give
10 000 x 1352 floats = 54 MB for the paper's L1).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from .._validation import to_numpy

__all__ = ["Activations", "ActivationRecorder", "MisalignedRowsError", "valid_layer_names"]


class MisalignedRowsError(ValueError, AssertionError):
    """Captured rows do not line up with the probe set (wrong count, order or labels).

    A real exception, raised under ``python -O`` too; it subclasses
    ``AssertionError`` as well, for code written against the earlier ``assert`` checks.
    """


@dataclasses.dataclass
class Activations:
    """Layer outputs of one probe pass, row-aligned.

    Attributes
    ----------
    layers : dict of str to numpy.ndarray of shape (n_samples, dim_layer), float32
        Flattened output of each recorded layer, in recording order.
    index : numpy.ndarray of shape (n_samples,), int64
        Probe-set row index of each row (``arange(n)`` unless indices were passed).
    y : numpy.ndarray of shape (n_samples,), int64, or None
        Labels, when they were passed to ``update``.
    x : numpy.ndarray of shape (n_samples, dim_input), float32, or None
        Flattened model inputs, when ``capture_input=True``.
    shapes : dict of str to tuple
        Per-sample shape of each layer's output before flattening, e.g. (8, 13, 13).
    output : numpy.ndarray of shape (n_samples, dim_output), float32, or None
        Flattened model outputs (e.g. log-probabilities), when ``capture_output=True``.
    """

    layers: dict
    index: np.ndarray
    y: np.ndarray | None = None
    x: np.ndarray | None = None
    shapes: dict = dataclasses.field(default_factory=dict)
    output: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        """Number of rows (probe samples)."""
        return int(len(self.index))

    def check_aligned(self, index=None, labels=None) -> None:
        """Check that every array has one row per probe sample, in probe order.

        Parameters
        ----------
        index : array-like of shape (n_samples,) or None
            Expected row indices (e.g. ``probe.indices`` or ``arange(n)``).
        labels : array-like of shape (n_samples,) or None
            Expected labels, in probe order.

        Raises
        ------
        MisalignedRowsError
            If row counts differ or indices / labels are not the expected ones
            (a ``ValueError``; also an ``AssertionError`` for older callers).
        """
        n = self.n_samples

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise MisalignedRowsError(message)

        for name, arr in self.layers.items():
            need(arr.shape[0] == n, f"layer {name!r} has {arr.shape[0]} rows but the index has {n}")
        if self.y is not None:
            need(len(self.y) == n, f"labels have {len(self.y)} rows but the index has {n}")
        if self.x is not None:
            need(len(self.x) == n, f"inputs have {len(self.x)} rows but the index has {n}")
        if self.output is not None:
            need(len(self.output) == n, f"outputs have {len(self.output)} rows but the index has {n}")
        if index is not None:
            index = np.asarray(index)
            need(len(index) == n and np.array_equal(self.index, index),
                 "captured rows are not the probe rows in probe order (shuffled or partial probe pass?)")
        if labels is not None:
            labels = np.asarray(labels)
            y = self.y
            if y is None:
                raise MisalignedRowsError("labels were not captured")
            need(len(labels) == n and np.array_equal(y, labels),
                 "captured labels differ from the probe labels: rows are misaligned")


def valid_layer_names(model) -> list[str]:
    """Names that :class:`ActivationRecorder` accepts for ``model``.

    Every named submodule (as in ``model.named_modules()``) is valid; the
    model's ``layer_names`` (e.g. ``L1 .. L5``), when it has them, come first.
    """
    named = [n for n, _ in model.named_modules() if n]
    preferred = list(getattr(model, "layer_names", ()))
    return preferred + [n for n in named if n not in preferred]


class ActivationRecorder:
    """Record the outputs of named layers of a torch model on a probe set.

    Parameters
    ----------
    model : torch.nn.Module
        The network. Hooks are attached only while :meth:`update` runs, so the
        recorder never slows down training passes.
    layers : sequence of str or None, default=None
        Module names (as in ``model.named_modules()``) whose outputs are
        recorded. None takes ``model.layer_names`` (``("L1", ..., "L5")`` for
        :class:`~ibscope.nets.PaperConvNet`).
    n_samples : int or None, default=None
        Size of the probe set. When given, one float32 array of shape
        (n_samples, dim) per layer is preallocated on the first batch and
        batches are streamed into it (memory-bounded); otherwise batches are
        kept as a list and concatenated by :meth:`compute`.
    capture_input : bool, default=False
        Also store the flattened model inputs X (float32) of each batch.
    capture_output : bool, default=False
        Also store the flattened model outputs (float32) of each batch.

    Attributes
    ----------
    layers : tuple of str
        The recorded layer names.
    n_seen : int
        Rows recorded since the last :meth:`reset`.

    Raises
    ------
    ValueError
        If a layer name does not exist in ``model`` (the message lists the valid
        names) or ``layers`` is empty.

    Examples
    --------
    >>> rec = ActivationRecorder(model)                        # doctest: +SKIP
    >>> acts = rec.capture(probe.images, probe.labels, batch_size=2048)  # doctest: +SKIP
    >>> acts.layers["L3"].shape                               # doctest: +SKIP
    (10000, 32)
    """

    def __init__(self, model, layers=None, *, n_samples=None, capture_input=False, capture_output=False):
        self.model = model
        if layers is None:
            layers = getattr(model, "layer_names", None)
            if not layers:
                raise ValueError(
                    f"ActivationRecorder needs 'layers' for a {type(model).__name__}, which has no "
                    f"'layer_names' attribute. Valid names: {_short_list(valid_layer_names(model))}."
                )
        if isinstance(layers, str):
            layers = [layers]
        layers = list(layers)
        if not layers:
            raise ValueError("The 'layers' argument of ActivationRecorder is empty; pass at least one layer name.")
        modules = dict(model.named_modules())
        missing = [name for name in layers if not isinstance(name, str) or name not in modules or name == ""]
        if missing:
            raise ValueError(
                f"Unknown layer name(s) {missing} for ActivationRecorder on {type(model).__name__}. "
                f"Valid names: {_short_list(valid_layer_names(model))}."
            )
        if len(set(layers)) != len(layers):
            raise ValueError(f"The 'layers' argument of ActivationRecorder repeats a name: {layers}.")
        if n_samples is not None and (isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer))
                                      or n_samples < 1):
            raise ValueError(f"The 'n_samples' parameter of ActivationRecorder must be a positive int or None. "
                             f"Got {n_samples!r}.")
        self.layers = tuple(layers)
        self._modules = {name: modules[name] for name in self.layers}
        self.n_samples = None if n_samples is None else int(n_samples)
        self.capture_input = bool(capture_input)
        self.capture_output = bool(capture_output)
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Drop everything recorded so far (call between epochs)."""
        self.n_seen = 0
        # per layer: a list of row blocks (n_samples unknown) or one preallocated array
        self._store: dict[str, Any] = {}
        self._shapes: dict[str, tuple] = {}
        self._index: list[np.ndarray] = []
        self._y: list[np.ndarray] = []
        self._has_y: bool | None = None
        self._batch: dict[str, np.ndarray] = {}

    def _hook(self, name):
        def hook(module, inputs, output):
            if isinstance(output, (tuple, list)):
                output = output[0]
            out = output.detach()
            self._shapes[name] = tuple(out.shape[1:])
            self._batch[name] = out.reshape(out.shape[0], -1).float().cpu().numpy()

        return hook

    def _put(self, key: str, rows: np.ndarray, start: int) -> None:
        if self.n_samples is None:
            self._store.setdefault(key, []).append(np.array(rows, dtype=np.float32, copy=True))
            return
        buf = self._store.get(key)
        if buf is None:
            buf = np.empty((self.n_samples, rows.shape[1]), dtype=np.float32)
            self._store[key] = buf
        if rows.shape[1] != buf.shape[1]:
            raise ValueError(f"Layer {key!r} changed its output size between batches: {buf.shape[1]} -> "
                             f"{rows.shape[1]} features per sample.")
        buf[start:start + len(rows)] = rows

    def update(self, x, y=None, index=None):
        """Run one probe batch through the model and store every layer's output.

        The model is put in ``eval()`` mode for the pass (dropout off; noise
        layers stay on when their ``active_in_eval`` is True, as in the paper)
        and restored to its previous mode afterwards. Gradients are not tracked.

        Parameters
        ----------
        x : torch.Tensor or array-like of shape (batch, ...)
            Model inputs, already on the model's device or convertible to it.
        y : array-like of shape (batch,) or None
            Labels of the batch (pass them for every batch or for none).
        index : array-like of shape (batch,) or None
            Probe-set row indices of the batch; default: consecutive rows
            following the previous batch.

        Returns
        -------
        torch.Tensor
            The model output for the batch.

        Raises
        ------
        ValueError
            If the batch would exceed ``n_samples``, or a hooked layer did not run.
        """
        import torch

        if not torch.is_tensor(x):
            x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        try:
            device = next(self.model.parameters()).device
        except StopIteration:
            device = x.device
        x = x.to(device)
        b = int(x.shape[0])
        if self.n_samples is not None and self.n_seen + b > self.n_samples:
            raise ValueError(
                f"ActivationRecorder was sized for n_samples={self.n_samples} rows, but this batch of {b} would "
                f"make {self.n_seen + b}. Call reset() between passes or pass the right n_samples."
            )
        has_y = y is not None
        if self._has_y is None:
            self._has_y = has_y
        elif self._has_y != has_y:
            raise ValueError("Pass labels 'y' to ActivationRecorder.update for every batch or for none.")
        self._batch = {}
        handles = [module.register_forward_hook(self._hook(name)) for name, module in self._modules.items()]
        was_training = self.model.training
        try:
            self.model.eval()
            with torch.no_grad():
                out = self.model(x)
        finally:
            for h in handles:
                h.remove()
            self.model.train(was_training)
        not_run = [name for name in self.layers if name not in self._batch]
        if not_run:
            raise ValueError(f"Layer(s) {not_run} did not run in the forward pass of {type(self.model).__name__}; "
                             "record only modules that the model's forward() calls.")
        start = self.n_seen
        for name in self.layers:
            rows = self._batch[name]
            if rows.shape[0] != b:
                raise ValueError(f"Layer {name!r} returned {rows.shape[0]} rows for a batch of {b}; "
                                 "ActivationRecorder needs one output row per input row.")
            self._put(name, rows, start)
        if self.capture_input:
            self._put("__x__", x.detach().reshape(b, -1).float().cpu().numpy(), start)
        if self.capture_output:
            first = out[0] if isinstance(out, (tuple, list)) else out
            self._put("__out__", first.detach().reshape(b, -1).float().cpu().numpy(), start)
        self._batch = {}
        idx = np.arange(start, start + b, dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)
        if idx.shape != (b,):
            raise ValueError(f"The 'index' argument of ActivationRecorder.update must have shape ({b},). "
                             f"Got {idx.shape}.")
        self._index.append(idx)
        if has_y:
            yb = to_numpy(y, "y").astype(np.int64).reshape(-1)
            if len(yb) != b:
                raise ValueError(f"The 'y' argument of ActivationRecorder.update has {len(yb)} labels for a "
                                 f"batch of {b} inputs.")
            self._y.append(yb)
        self.n_seen += b
        return out

    def compute(self) -> Activations:
        """Return the recorded, row-aligned arrays.

        Returns
        -------
        Activations
            ``layers[name]`` of shape (n_seen, dim) float32, ``index``, ``y``
            (or None) and ``x`` (or None).

        Raises
        ------
        ValueError
            If ``n_samples`` was given and fewer rows were recorded.
        """
        if self.n_seen == 0:
            warnings.warn("ActivationRecorder.compute() called before any update(); returning empty arrays.",
                          UserWarning, stacklevel=2)
        if self.n_samples is not None and 0 < self.n_seen < self.n_samples:
            raise ValueError(f"ActivationRecorder recorded {self.n_seen} rows but was sized for "
                             f"n_samples={self.n_samples}; the probe pass was incomplete.")

        def get(key):
            val = self._store.get(key)
            if val is None:
                return np.empty((0, 0), dtype=np.float32)
            if isinstance(val, list):
                return np.concatenate(val, axis=0)
            return val

        layers = {name: get(name) for name in self.layers}
        index = np.concatenate(self._index) if self._index else np.empty(0, dtype=np.int64)
        y = np.concatenate(self._y) if self._y else None
        x = get("__x__") if self.capture_input else None
        output = get("__out__") if self.capture_output else None
        acts = Activations(layers=layers, index=index, y=y, x=x, shapes=dict(self._shapes), output=output)
        if self.n_seen:
            acts.check_aligned()
        return acts

    # ------------------------------------------------------------------ one call
    def capture(self, images, labels=None, *, batch_size=2048, device=None) -> Activations:
        """Record all layers on a whole probe set in one unshuffled pass.

        Resets the recorder, feeds ``images`` in order in batches of
        ``batch_size`` and returns :meth:`compute`'s result, checked for
        alignment against ``arange(n)`` and ``labels``.

        Parameters
        ----------
        images : numpy.ndarray or torch.Tensor of shape (n, ...)
            Probe inputs, already normalised as the model expects.
        labels : array-like of shape (n,) or None
        batch_size : int, default=2048
            Rows per forward pass (the paper's evaluation batch).
        device : str, torch.device or None
            Where to run the pass; default: the model's device.

        Returns
        -------
        Activations
        """
        import torch

        n = len(images)
        if self.n_samples is not None and self.n_samples != n:
            raise ValueError(f"ActivationRecorder was sized for n_samples={self.n_samples} but the probe set has "
                             f"{n} rows.")
        self.reset()
        if self.n_samples is None:
            self.n_samples = n
            sized_here = True
        else:
            sized_here = False
        try:
            xs = images if torch.is_tensor(images) else torch.as_tensor(np.asarray(images, dtype=np.float32))
            if device is not None:
                xs = xs.to(device)
            ys = None if labels is None else to_numpy(labels, "labels").astype(np.int64)
            for start in range(0, n, int(batch_size)):
                stop = min(start + int(batch_size), n)
                self.update(xs[start:stop], None if ys is None else ys[start:stop])
            acts = self.compute()
        finally:
            if sized_here:
                self.n_samples = None
        acts.check_aligned(index=np.arange(n), labels=ys)
        return acts


def _short_list(names: list[str], limit: int = 40) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", ... ({len(names) - limit} more)"
