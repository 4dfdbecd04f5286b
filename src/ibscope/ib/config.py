"""Configuration of an information-bottleneck run: the :class:`IBConfig` dataclass.

Every parameter of a run lives in one validated dataclass, which is written to
``config.json`` in the run folder and compared on resume. It can be built in
Python, from a TOML file (:meth:`IBConfig.from_toml`) or by the CLI (a TOML file
plus flags; flags win).

Defaults
--------
The network and batch sizes follow the paper's MNIST experiment (Butakov et al.,
ICLR 2024): the noisy LeNet-like ``paper-conv`` net with Gaussian noise at the
input of every conv/linear layer, on in training *and* in the probe passes,
dropout 0.1 before the conv layers in training only, Adam, train batch 1024 and
evaluation batch 2048, KL estimator with k = 5, 4-D PCA codes for every layer.

**The noise is not the paper's by default.** With the paper's relative noise
sigma = 1e-3 every layer identifies its input: I(X;L) is provably within 0.1 nats
of ln N at every epoch, so the information plane has nothing to show on the
x-axis. The default is ``noise_kind="normalized"``, ``noise=0.3``: each sample is
standardised before additive noise of std 0.3, at the input of every layer, so the
network cannot escape the noise by growing its weights, and the deeper layers'
I(X;L) stays well below ln N (the measurements are in the documentation's
"How to read an information plane"). ``--preset paper`` restores the paper's noise.

A few values depend on the dataset (fields left as ``None`` take these):

=================  ======  =====  ==========  ===========  ===========================================
dataset            epochs  lr     batch_size  probe_split  why
=================  ======  =====  ==========  ===========  ===========================================
mnist, fashion-m.  30      1e-3   1024        test         the paper's probe: the 10 000 test images
digits             40      1e-3   128         test         1437 + 360 8x8 images: see below
=================  ======  =====  ==========  ===========  ===========================================

* **Learning rate 1e-3, not the paper's 1e-5.** At 1e-5 the net needs the
  paper's 300 epochs (about 17 700 Adam steps on MNIST) to train; on a CPU with
  a budget of tens of epochs it barely moves. 1e-3 trains in a few epochs. The
  paper's values are one call away: :func:`preset` ``("paper")``, :meth:`IBConfig.paper`
  or ``--preset paper`` on the command line sets lr 1e-5, 300 epochs, a 4-D conv
  autoencoder for X and PCA refitted every epoch, as in the reference code.

Presets fill only the fields left unset (None); a value given explicitly always
wins, however it is given (constructor, :meth:`IBConfig.from_dict`, a TOML file,
CLI flags).
* **digits.** scikit-learn's digits have 1437 train and 360 test images. With
  a batch of 1024 an epoch would be 2 optimiser steps, so the batch is 128
  (12 steps per epoch). The probe set is the 360 **test** images, which the
  network never trains on: on the training images the decoders' bounds on
  I(L;Y) (and the head's) are in-sample, 0.05-0.1 nats too high. The test split
  also gives the test loss and accuracy in ``metrics.csv``.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from pathlib import Path

from .._modelspec import SPEC_FORMS, is_model_spec, parse_model_spec
from .._validation import Interval, Options, Param, check_declared
from ..estimators import registry
from ..neighbors import BACKENDS

__all__ = ["IBConfig", "DATASET_DEFAULTS", "PRESETS", "MUTABLE_ON_RESUME", "FIELD_DEFAULTS", "preset",
           "RENAMED_FIELDS"]

#: Per-dataset values of the fields left as ``None`` (see the module notes).
DATASET_DEFAULTS = {
    "mnist": {"epochs": 30, "lr": 1e-3, "batch_size": 1024, "probe_split": "test", "threads": 0},
    "fashion-mnist": {"epochs": 30, "lr": 1e-3, "batch_size": 1024, "probe_split": "test", "threads": 0},
    "digits": {"epochs": 40, "lr": 1e-3, "batch_size": 128, "probe_split": "test", "threads": 1},
    # any "npz:PATH" dataset of your own (its size is unknown until it is loaded)
    "npz": {"epochs": 30, "lr": 1e-3, "batch_size": 128, "probe_split": "test", "threads": 0},
}

#: Named presets: field values applied on top of the defaults.
PRESETS = {
    "default": {},
    # the paper's MNIST run as in its reference code (Butakov et al., ICLR 2024)
    "paper": {"epochs": 300, "lr": 1e-5, "batch_size": 1024, "compress_x": "conv-ae:4", "refit": "every",
              "probe_split": "test", "label_side": "codes", "noise": 1e-3, "noise_kind": "relative"},
}

#: Values of the fields that default to None, when neither a preset nor the dataset sets them.
FIELD_DEFAULTS = {"compress_x": "pca:4", "refit": "first", "label_side": "decoder", "noise": 0.3,
                  "noise_kind": "normalized"}

#: Fields that may differ when a run is resumed (everything else must match the run folder).
MUTABLE_ON_RESUME = ("epochs", "device", "data_dir", "progress_every", "threads", "knn_backend", "plots",
                     "background_analysis")

#: Deprecated field names and the fields that replaced them (accepted, with a ``DeprecationWarning``).
RENAMED_FIELDS = {"backend": "knn_backend"}

_MODELS = ("paper-conv", "mlp", "resnet-small")
_USER_MODEL_FORMS = f"or a model of your own: {SPEC_FORMS}"
_DATASETS = ("mnist", "fashion-mnist", "digits")


def _is_device(value) -> bool:
    dev = str(value)
    return dev in ("auto", "cpu", "cuda", "mps") or dev.startswith("cuda:")


_INT, _REAL, _STR, _BOOL = (int,), (float, int), (str,), (bool,)

#: What every field accepts, declared once (types, then values; see :class:`ibscope._validation.Param`).
FIELDS = {
    "dataset": Param(_STR),
    "model": Param(_STR),
    "epochs": Param(_INT, Interval(1), nullable=True, allowed="an int >= 1"),
    "lr": Param(_REAL, Interval(0, None, closed="neither"), nullable=True, allowed="a positive float"),
    "batch_size": Param(_INT, Interval(1), nullable=True, allowed="an int >= 1"),
    "eval_batch_size": Param(_INT, Interval(1), allowed="an int >= 1"),
    "noise": Param(_REAL, Interval(0), nullable=True, allowed="a float >= 0"),
    "noise_kind": Param(_STR, Options(("relative", "additive", "normalized")), nullable=True,
                        allowed="'relative', 'additive' or 'normalized'"),
    "noise_in_eval": Param(_BOOL),
    "dropout": Param(_REAL, Interval(0, 1, closed="left"), nullable=True, allowed="a float in [0, 1)"),
    "hidden": Param((list, tuple)),
    "layers": Param((list, tuple), nullable=True),
    "softmax": Param(_BOOL),
    "compress": Param(_STR),
    "compress_x": Param(_STR, nullable=True),
    "label_side": Param(_STR, Options(("decoder", "codes")), nullable=True,
                        allowed="'decoder' (cross-fitted decoders, a lower bound) or 'codes' (the paper's scheme)"),
    "refit": Param(_STR, Options(("first", "every")), nullable=True,
                   allowed="'first' (fit layer compressors once) or 'every' (refit every epoch)"),
    "estimator": Param(_STR),
    "estimator_y": Param(_STR, nullable=True),
    "k": Param(_INT, Interval(1), allowed="an int >= 1"),
    "ci": Param(_REAL, lambda v: v == 0 or 0 < v < 1, nullable=True,
                allowed="a confidence level in (0, 1), or None for no intervals (0 is read as None)"),
    "n_subsamples": Param(_INT, Interval(2), allowed="an int >= 2"),
    "units": Param(_STR, Options(("nats", "bits")), allowed="'nats' or 'bits'"),
    "schedule": Param(_STR, Options(("every", "log")), allowed="'every' or 'log'"),
    "probe_split": Param(_STR, Options(("train", "test")), nullable=True, allowed="'train', 'test' or None"),
    "probe_size": Param(_INT, Interval(2), nullable=True, allowed="an int >= 2 or None (the whole split)"),
    "seed": Param(_INT, Interval(0), allowed="a non-negative int"),
    "device": Param(_STR, _is_device, allowed="'auto', 'cpu', 'cuda' or 'cuda:N'"),
    "knn_backend": Param(_STR, Options(tuple(BACKENDS)), allowed=f"one of {list(BACKENDS)}"),
    "data_dir": Param((str, os.PathLike), nullable=True),
    "preset": Param(_STR, Options(tuple(PRESETS)), allowed=f"one of {sorted(PRESETS)}"),
    "threads": Param(_INT, Interval(0), nullable=True, allowed="an int >= 0 (0: leave torch's setting) or None"),
    "plots": Param(_BOOL),
    "progress_every": Param(_INT, Interval(1), allowed="an int >= 1"),
    "brackets": Param(_BOOL),
    "bracket_trials": Param(_INT, Interval(10), allowed="an int >= 10"),
    "xl_estimate": Param(_BOOL),
    "background_analysis": Param(_BOOL),
}


def make_analysis_estimator(name, *, y_discrete: bool, **params):
    """Build an estimator from the registry, passing only the settings it accepts."""
    what = "I(L;Y) (continuous L, discrete labels Y)" if y_discrete else "I(X;L) (continuous X and L)"
    return registry.build("labels" if y_discrete else "continuous", name, params, what=what)


@dataclasses.dataclass
class IBConfig:
    """All parameters of an IB run (training, noise, compression, estimation).

    Parameters
    ----------
    dataset : {"digits", "mnist", "fashion-mnist"} or "npz:PATH", default="digits"
        Training data; see :func:`ibscope.data.load_dataset`. ``"npz:PATH"`` is a .npz file
        of your own with arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``, standardised
        with the train split's statistics (:mod:`ibscope.data.npz`); its path is stored
        absolute, and ``config.json`` records its SHA-256.
    model : {"paper-conv", "mlp", "resnet-small"} or "FILE.py:CALLABLE" or "MODULE:CALLABLE", default="paper-conv"
        Network: the paper's noisy conv net (layers L1..L5), a noisy MLP, a noisy residual
        net (:class:`~ibscope.nets.ResNetSmall`: stem, block1..block4, head), or a model of
        your own, built by the named callable (the contract is in :mod:`ibscope.nets.user`;
        a file path is stored absolute, and ``config.json`` records the file's SHA-256).
    epochs : int or None
        Training epochs (None: dataset default, 40 for digits, 30 for MNIST).
    lr : float or None
        Adam learning rate (None: 1e-3; the paper used 1e-5 with 300 epochs).
    batch_size : int or None
        Training batch (None: 1024 for MNIST as in the paper, 128 for digits).
    eval_batch_size : int, default=2048
        Batch of the evaluation and probe passes.
    noise : float or None
        Noise scale sigma at the input of every conv and linear layer (0: deterministic net;
        None: the preset's, else 0.3).
    noise_kind : {"relative", "additive", "normalized"} or None
        Relative noise ``x * (1 + sigma * eps)`` (the paper), additive ``x + sigma * eps``, or
        additive noise on the per-sample standardised input (``"normalized"``, see
        :class:`~ibscope.nets.GaussianNoise`); None: the preset's, else ``"normalized"``.
    noise_in_eval : bool, default=True
        Keep the noise on in the probe and test passes (the paper's setting).
    dropout : float or None
        Dropout before the conv layers (None: the model's default, 0.1 for
        paper-conv, 0 for mlp). Dropout is on only in training.
    hidden : list of int, default=[64, 32]
        Hidden widths of the MLP (ignored by paper-conv).
    layers : list of str or None
        Layers to analyse, as module names of ``model.named_modules()`` (None: the model's
        named layers, L1..Ln, or stem..head for resnet-small; for a model of your own
        :func:`ibscope.nets.default_layers`). ``ibscope ib --list-layers`` prints them.
    softmax : bool, default=False
        Also analyse the class probabilities ``exp(L5)`` (the exp of the
        log-softmax output layer, when it is analysed) as an extra row named
        ``exp(L5)``, as the paper does. Off by default: the probabilities
        crowd at the simplex corners and kNN entropies of their codes are
        unreliable (see :class:`ibscope.ib.IBRecorder`).
    compress : str, default="pca:4"
        Compressor of each layer's output (``"pca:4"``, ``"ae:4"``, ``"none"``).
    compress_x : str or None
        Compressor of X, fitted once on the training images before the run and
        kept in the run's checkpoint (``"pca:4"``, ``"conv-ae:4"``, ``"none"``;
        None: the preset's, else ``"pca:4"``).
    refit : {"first", "every"} or None
        Fit layer compressors on the first analysed epoch and keep them fixed, or
        refit them every epoch (the reference code's behaviour); None: the
        preset's, else ``"first"``.
    label_side : {"decoder", "codes"} or None
        How I(L;Y) is estimated: ``"decoder"``, the lower bound H(Y) - held-out
        cross-entropy of the best decoder among cross-fitted linear probes of the
        layer and of later layers and the network's own head (every layer then
        reaches the bound from the net's prediction, and the layer order holds);
        ``"codes"``, the paper's class-conditional estimator (``estimator_y``) on
        each layer's ``compress`` code (the ``paper`` preset's choice); None: the
        preset's, else ``"decoder"``. See :mod:`ibscope.plane.decoders`.
    estimator : str, default="kl"
        Continuous estimator of I(X;L) ("kl", "wkl", "ksg", "kde", ...).
    estimator_y : str or None
        Estimator of I(L;Y) with discrete Y when ``label_side="codes"`` (None: same family as ``estimator``).
    k : int, default=5
        Neighbours of the kNN estimators.
    ci : float or None, default=0.95
        Confidence level of the intervals; None computes none (faster). ``0`` is
        read as None (the spelling of earlier versions and of ``--ci 0``).
    n_subsamples : int, default=10
        Half-samples per interval.
    units : {"nats", "bits"}, default="nats"
    schedule : {"every", "log"}, default="every"
        Analyse every epoch, or log-spaced epochs 1, 2, 3, 4, 5, 6, 8, 10, 13, ...
        plus the last one.
    probe_split : {"train", "test"} or None
        Split the probe set is drawn from (None: "test" for MNIST, "train" for digits).
    probe_size : int or None
        Probe images (None: the whole split), drawn stratified with the run's seed.
    seed : int, default=0
        Base seed: model initialisation and noise streams, loader order, dropout,
        compressors and estimators all derive from it.
    device : str, default="auto"
        "cpu", "cuda", "cuda:1" or "auto" (CUDA when available).
    knn_backend : str, default="auto"
        Neighbour-search backend of the estimators (see :mod:`ibscope.neighbors`;
        every backend finds the same, exact neighbours). "auto" here means the
        compiled backend ("numba") on CPU and "torch" on CUDA. ``backend`` is its
        deprecated name.
    threads : int or None
        Torch intra-op threads during the run (restored afterwards); 0 leaves
        torch's setting alone. None: 1 for digits (an 8x8 conv net is too small
        to gain from threads), 0 otherwise.
    data_dir : str or None
        Folder with the MNIST IDX files (None: the cache, downloading if needed).
    preset : {"default", "paper"}, default="default"
        The preset whose values fill the fields left unset (None) when the
        configuration is resolved (see :data:`PRESETS` and :func:`preset`). A
        field given a value is never changed by a preset.
    plots : bool, default=True
        Draw the figures into ``RUN_DIR/figures`` at the end of the run.
    progress_every : int, default=1
        Update the progress bar every this many epochs.
    brackets : bool, default=True
        Every analysed epoch, compute the provable brackets on I(X;L) and I(L;Y) and the estimate
        of I(X;L) itself (see :class:`~ibscope.ib.IBRecorder`).
    bracket_trials : int, default=1000
        Identification trials of the brackets' lower bounds.
    xl_estimate : bool, default=True
        Also compute the sample-propagation estimate of I(X;L) (off: the brackets only).
    background_analysis : bool, default=False
        Analyse each epoch in one background thread while the next epoch trains
        (:mod:`ibscope.ib.worker`): only the probe pass (and a copy of the model for the
        brackets) stays on the training loop's path. The rows, the training and the
        checkpoints are the same as without it; an epoch's rows and checkpoint are written
        when its analysis completes. It helps where the analysis' CPU work can run beside
        training: GPU training with idle CPU cores, or spare cores. May change on resume.

    Raises
    ------
    ValueError, TypeError
        On construction, for any unknown value or wrong type, naming the field.
    """

    dataset: str = "digits"
    model: str = "paper-conv"
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    eval_batch_size: int = 2048
    noise: float | None = None
    noise_kind: str | None = None
    noise_in_eval: bool = True
    dropout: float | None = None
    hidden: list = dataclasses.field(default_factory=lambda: [64, 32])
    layers: list | None = None
    softmax: bool = False
    compress: str = "pca:4"
    compress_x: str | None = None
    refit: str | None = None
    label_side: str | None = None
    estimator: str = "kl"
    estimator_y: str | None = None
    k: int = 5
    ci: float | None = 0.95
    n_subsamples: int = 10
    units: str = "nats"
    schedule: str = "every"
    probe_split: str | None = None
    probe_size: int | None = None
    seed: int = 0
    device: str = "auto"
    knn_backend: str = "auto"
    data_dir: str | None = None
    preset: str = "default"
    threads: int | None = None
    plots: bool = True
    progress_every: int = 1
    brackets: bool = True
    bracket_trials: int = 1000
    xl_estimate: bool = True
    background_analysis: bool = False

    #: deprecated spelling of ``knn_backend`` (keyword only; removed in a later release)
    backend: dataclasses.InitVar[str | None] = None

    def __post_init__(self, backend: str | None = None) -> None:
        if backend is not None:
            _renamed("backend", stacklevel=4)
            self.knn_backend = backend
        self._check(source=None)

    # ------------------------------------------------------------------ validation
    @classmethod
    def field_names(cls) -> list[str]:
        """Names of all configuration fields (deprecated spellings are not fields)."""
        return [f.name for f in dataclasses.fields(cls)]

    def _check(self, source=None) -> None:
        """Check every field against :data:`FIELDS` (types, then values), then normalise."""
        values = {name: getattr(self, name) for name in self.field_names()}
        check_declared(values, {k: Param(p.types, nullable=p.nullable) for k, p in FIELDS.items()}, "IBConfig",
                       kind="field", source=source)
        check_declared(values, FIELDS, "IBConfig", kind="field")
        self._normalise()

    def _normalise(self) -> None:
        """Canonical spellings and the checks that need more than a declared constraint."""
        from ..compress import parse_compressor
        from ..data import dataset_name

        if self.dataset.strip().lower().startswith("npz:"):
            self.dataset = dataset_name(self.dataset)  # "npz:/absolute/path.npz"; raises for an empty path
        else:
            try:
                self.dataset = dataset_name(self.dataset)
            except ValueError:
                raise ValueError(f"Unknown dataset {self.dataset!r}. Valid names are {list(_DATASETS)}, or "
                                 "'npz:PATH' for arrays of your own.") from None
        if is_model_spec(self.model):
            self.model = parse_model_spec(self.model).text  # syntax only; the file is loaded by run_ib
        else:
            model = self.model.strip().lower().replace("_", "-")
            if model not in _MODELS:
                raise ValueError(f"Unknown model {self.model!r}. Valid names are {list(_MODELS)}, {_USER_MODEL_FORMS}.")
            self.model = model
        if not all(isinstance(h, numbers.Integral) and not isinstance(h, bool) and int(h) >= 1 for h in self.hidden):
            raise ValueError(f"The 'hidden' field of IBConfig must be a list of positive ints. Got {self.hidden!r} "
                             "instead.")
        self.hidden = [int(h) for h in self.hidden]
        if self.layers is not None:
            if not self.layers or not all(isinstance(n, str) and n for n in self.layers):
                raise ValueError("The 'layers' field of IBConfig must be a non-empty list of layer names, or None "
                                 f"for all layers. Got {self.layers!r} instead.")
            self.layers = list(self.layers)
        if self.data_dir is not None:
            self.data_dir = os.fspath(self.data_dir)
        for name in ("compress", "compress_x"):
            parse_compressor(getattr(self, name))  # raises ValueError naming the valid compressors
        make_analysis_estimator(self.estimator, y_discrete=False, k=self.k)
        if self.estimator_y is not None:
            make_analysis_estimator(self.estimator_y, y_discrete=True, k=self.k)
        if isinstance(self.lr, int):
            self.lr = float(self.lr)
        if self.ci is not None and float(self.ci) == 0:
            self.ci = None  # the one spelling of "no interval"
        for name in ("noise", "ci", "dropout"):
            if getattr(self, name) is not None:
                setattr(self, name, float(getattr(self, name)))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: dict, *, source: str | None = None) -> IBConfig:
        """Build a config from a mapping, rejecting unknown keys.

        Parameters
        ----------
        data : dict
            Field values; missing fields take their defaults.
        source : str or None
            Where the mapping came from (e.g. a file name), quoted in errors.

        Raises
        ------
        ValueError
            For a key that is not a field (the message names it and lists the valid ones).
        TypeError
            For a value of the wrong type (the message names the key).
        """
        valid = cls.field_names()
        data = _renamed_keys(data, warn=True)
        unknown = [key for key in data if key not in valid]
        if unknown:
            raise ValueError(
                f"Unknown key {unknown[0]!r} in IBConfig{f' file {source}' if source else ''}. "
                f"Valid keys: {', '.join(valid)}."
            )
        obj = cls.__new__(cls)
        defaults = cls()
        for name in valid:
            setattr(obj, name, data[name] if name in data else getattr(defaults, name))
        obj._check(source=source)
        return obj

    @classmethod
    def from_toml(cls, path) -> IBConfig:
        """Read a config from a TOML file.

        The keys are :class:`IBConfig` fields, at the top level or in an ``[ib]``
        table::

            dataset = "digits"
            epochs = 20
            compress = "pca:4"

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ValueError
            For invalid TOML or an unknown key; ``TypeError`` for a wrong type. The
            message names the file and the key.
        """
        import tomllib

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Config file {path} does not exist.")
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"Config file {path} is not valid TOML: {exc}.") from None
        if set(data) == {"ib"} and isinstance(data["ib"], dict):
            data = data["ib"]
        return cls.from_dict(data, source=str(path))

    @classmethod
    def paper(cls, **overrides) -> IBConfig:
        """The paper's MNIST configuration (lr 1e-5, 300 epochs, conv-AE X code, PCA refit every epoch):
        ``preset("paper", dataset="mnist", **overrides)``."""
        return preset("paper", **{"dataset": "mnist", **overrides})

    def replace(self, **changes) -> IBConfig:
        """A validated copy with some fields changed."""
        values = {name: getattr(self, name) for name in self.field_names()}
        values.update(_renamed_keys(changes, warn=True))
        return type(self)(**values)

    # ------------------------------------------------------------------ resolution
    def resolved(self) -> IBConfig:
        """A copy with every ``None`` default filled in: from the preset, then :data:`FIELD_DEFAULTS`, then
        the dataset (:data:`DATASET_DEFAULTS`).

        Returns
        -------
        IBConfig
            Fields ``epochs``, ``lr``, ``batch_size``, ``probe_split``, ``compress_x``, ``refit`` and
            ``label_side`` are never None. Resolving again changes nothing.
        """
        values = dataclasses.asdict(self)
        for source in (PRESETS[self.preset], FIELD_DEFAULTS,
                       DATASET_DEFAULTS["npz" if self.dataset.startswith("npz:") else self.dataset]):
            for key, val in source.items():
                if values[key] is None:
                    values[key] = val
        return type(self)(**values)

    def to_dict(self) -> dict:
        """JSON-ready dictionary of every field."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    def differences(self, other: IBConfig, *, ignore=MUTABLE_ON_RESUME) -> dict:
        """Fields whose values differ: ``{name: (self_value, other_value)}``."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if k not in ignore and a.get(k) != b.get(k)}


def as_config(config, owner: str) -> IBConfig:
    """``config`` as an :class:`IBConfig`: None is the default configuration, a dict its fields.

    Raises
    ------
    TypeError
        Anything else (the message names ``owner``).
    ValueError
        A dict with unknown or invalid fields.
    """
    if config is None:
        return IBConfig()
    if isinstance(config, dict):
        return IBConfig.from_dict(config)
    if not isinstance(config, IBConfig):
        raise TypeError(f"The 'config' argument of {owner} must be an IBConfig, a dict or None. "
                        f"Got {type(config).__name__} instead.")
    return config


def preset(name: str, **fields) -> IBConfig:
    """A configuration from the named preset (:data:`PRESETS`), with ``fields`` set explicitly.

    The preset's values fill the fields that ``fields`` leaves unset; a field given here is never
    overridden, whatever its value. ``preset("paper", dataset="mnist", label_side="decoder")`` is
    the paper's run with the decoder label side.

    Raises
    ------
    ValueError
        An unknown preset (the message lists them) or an invalid field.
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Valid presets: {', '.join(sorted(PRESETS))}.")
    return IBConfig.from_dict({**fields, "preset": name})


def _renamed(old: str, *, stacklevel: int = 3) -> None:
    import warnings

    warnings.warn(f"The '{old}' field of IBConfig is deprecated and will be removed in a later release; use "
                  f"'{RENAMED_FIELDS[old]}' (the neighbour search; 'executor' is where a study's runs go).",
                  DeprecationWarning, stacklevel=stacklevel)


def _renamed_keys(data: dict, *, warn: bool) -> dict:
    """``data`` with deprecated field names replaced by their new ones (a warning each, with ``warn``)."""
    if not any(k in RENAMED_FIELDS for k in data):
        return dict(data)
    out = {}
    for key, value in data.items():
        if key in RENAMED_FIELDS:
            if warn:
                _renamed(key, stacklevel=5)
            key = RENAMED_FIELDS[key]
        out[key] = value
    return out


def _backend_alias(self: IBConfig) -> str:
    """Deprecated name of :attr:`IBConfig.knn_backend`."""
    _renamed("backend")
    return self.knn_backend


IBConfig.backend = property(_backend_alias)  # type: ignore[attr-defined]
