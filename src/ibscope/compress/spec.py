"""Build compressors from short text specs such as ``"pca:4"`` (used by the CLI and by sweeps)."""

from __future__ import annotations

import importlib

#: spec name -> (module, class, name of the dimension parameter)
_SPECS = {
    "pca": ("ibscope.compress.pca", "PCACompressor", "n_components"),
    "rp": ("ibscope.compress.random_projection", "RandomProjectionCompressor", "n_components"),
    "ae": ("ibscope.compress.autoencoder", "DenseAutoencoder", "latent_dim"),
    "conv-ae": ("ibscope.compress.autoencoder", "ConvAutoencoder", "latent_dim"),
}

#: accepted alternative spellings
_ALIASES = {
    "random-projection": "rp",
    "dense-ae": "ae",
    "autoencoder": "ae",
    "conv_ae": "conv-ae",
    "cae": "conv-ae",
}


def compressor_names() -> list[str]:
    """The spec names :func:`parse_compressor` accepts (aliases excluded)."""
    return list(_SPECS)


def parse_compressor(spec, *, random_state=None, device=None):
    """Turn a spec into a compressor.

    Parameters
    ----------
    spec : str, compressor object or None
        ``"<name>:<dim>"`` with name one of ``"pca"``, ``"rp"`` (Gaussian random
        projection), ``"ae"`` (dense autoencoder) or ``"conv-ae"`` (convolutional
        autoencoder), e.g. ``"pca:4"`` or ``"conv-ae:2"``. Aliases:
        ``"random-projection"``, ``"dense-ae"``, ``"autoencoder"``, ``"cae"``.
        Names are case-insensitive. An object with ``fit`` and ``transform``
        methods is returned unchanged; ``None`` or ``"none"`` returns ``None``
        (no compression).
    random_state : int, numpy.random.Generator or None, default=None
        Seed given to a compressor built from a string; ignored for objects.
    device : str or None, default=None
        Device of a torch compressor (``"ae"``, ``"conv-ae"``) built from a string
        (see :func:`ibscope._torch.resolve_device`); ignored by the others and for objects.

    Returns
    -------
    BaseCompressor or None
        An unfitted compressor with default settings besides the dimension and seed.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones) or a missing or
        non-integer dimension.
    TypeError
        For anything that is neither a string, None, nor an object with ``fit`` and ``transform``.

    Examples
    --------
    >>> parse_compressor("pca:4", random_state=0)
    PCACompressor(n_components=4, random_state=0)
    """
    if spec is None:
        return None
    if not isinstance(spec, str):
        if callable(getattr(spec, "fit", None)) and callable(getattr(spec, "transform", None)):
            return spec
        raise TypeError(
            "A compressor spec must be a string such as 'pca:4', an object with 'fit' and 'transform' "
            f"methods, or None. Got {spec!r} of type {type(spec).__name__}."
        )
    text = spec.strip().lower()
    if text == "none":
        return None
    valid = ", ".join(f"'{n}'" for n in _SPECS)
    name, sep, dim_text = text.partition(":")
    name = _ALIASES.get(name.strip(), name.strip())
    if name not in _SPECS:
        raise ValueError(
            f"Unknown compressor {spec!r}. Valid names: {valid} (written as '<name>:<dim>', e.g. 'pca:4'), "
            "or 'none'."
        )
    if not sep or not dim_text.strip():
        raise ValueError(
            f"The compressor spec {spec!r} needs a code dimension, e.g. '{name}:4'."
        )
    try:
        dim = int(dim_text.strip())
    except ValueError:
        raise ValueError(
            f"The code dimension in the compressor spec {spec!r} must be a positive integer, e.g. '{name}:4'. "
            f"Got {dim_text.strip()!r}."
        ) from None
    if dim < 1:
        raise ValueError(f"The code dimension in the compressor spec {spec!r} must be >= 1. Got {dim}.")
    module, cls_name, dim_param = _SPECS[name]
    cls = getattr(importlib.import_module(module), cls_name)
    params = {dim_param: dim, "random_state": random_state}
    if device is not None and "device" in cls._param_names():
        params["device"] = device
    return cls(**params)
