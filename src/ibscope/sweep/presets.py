"""Built-in sweeps: the paper's synthetic-image grid, a reduced one for 2 cores, a smoke test; custom grids."""

from __future__ import annotations

import numpy as np

from .config import LATENT, Grid, Method, SweepConfig, parse_mi_grid

__all__ = ["PRESETS", "list_presets", "get_preset", "custom_config"]


def _mine_params(steps: int) -> dict:
    return {"critic": "conv", "conv_channels": [8, 16, 16], "hidden_sizes": [64], "max_steps": steps,
            "batch_size": 256, "eval_every": 50, "patience": 10, "lr": 1e-3}


#: KSG on raw pixels (256-D and more): brute-force neighbour search (a KD-tree does not prune in 256-D).
_RAW_KSG = {"backend": "torch"}

#: conv-AE settings of the presets: Adam with lr 3e-3, early stopping on a 10 % validation split. On
#: 16x16 bumps 60 epochs give a reconstruction error of ~0.019 per pixel and codes on which KSG/WKL track
#: the true MI to ~5 nats (about 4-5 minutes on one CPU core).
_PRESET_AE = {"epochs": 60, "lr": 3e-3, "batch_size": 256, "patience": 15}


def _paper() -> SweepConfig:
    mi = np.linspace(0.0, 10.0, 41).tolist()
    seeds = [0, 1, 2]
    knn = ("kl", "wkl", "ksg")
    bump = [Method(e, compress_x="conv-ae:2") for e in knn] + [Method(e, compress_x="pca:2") for e in knn] \
        + [Method("ksg", compress_x=LATENT), Method("ksg", _RAW_KSG, label="ksg | raw"),
           Method("mine", _mine_params(3000), label="mine | raw")]
    rect = [Method(e, compress_x="pca:4") for e in knn] + [Method(e, compress_x="conv-ae:4") for e in knn] \
        + [Method("ksg", compress_x=LATENT), Method("ksg", _RAW_KSG, label="ksg | raw"),
           Method("mine", _mine_params(3000), label="mine | raw")]
    return SweepConfig(
        [Grid(tasks=["bump-16"], mi=mi, methods=bump, n=[5000], seeds=seeds),
         Grid(tasks=["rectangle-32"], mi=mi, methods=rect, n=[5000], seeds=seeds)],
        name="paper",
        compressor_options={"n_train": 6000, "params": {"conv-ae": {**_PRESET_AE, "epochs": 200, "patience": 20}}},
        description="Butakov et al. (ICLR 2024) Figs. 3-4: 16x16 Gaussian bumps (conv AE and PCA to 2-D) and "
                    "32x32 rectangles (PCA and conv AE to 4-D); KL, WKL, KSG on the codes, KSG on the true "
                    "latents, MINE on raw images; true MI linspace(0, 10, 41), n=5000, 3 seeds.",
    )


def _paper_reduced() -> SweepConfig:
    codes = [Method("ksg", compress_x="conv-ae:2"), Method("wkl", compress_x="conv-ae:2"),
             Method("ksg", compress_x="pca:2"), Method("ksg", compress_x=LATENT)]
    raw = [Method("ksg", _RAW_KSG, label="ksg | raw"), Method("mine", _mine_params(600), label="mine | raw")]
    return SweepConfig(
        [Grid(tasks=["bump-16"], mi=np.linspace(0.0, 6.0, 13).tolist(), methods=codes, n=[5000], seeds=[0]),
         Grid(tasks=["bump-16"], mi=np.linspace(0.0, 6.0, 7).tolist(), methods=raw, n=[5000], seeds=[0])],
        name="paper-reduced", compressor_options={"n_train": 6000, "params": {"conv-ae": dict(_PRESET_AE)}},
        description="A reduced version of the paper's bump experiment for 2 CPU cores (about 15-20 minutes): "
                    "16x16 Gaussian bumps, n=5000, 1 seed; KSG and WKL on conv-AE:2 codes, KSG on PCA:2 codes "
                    "and on the true latents at true MI 0..6 in 13 points; KSG on raw pixels and MINE (conv "
                    "critic, 600 steps) on raw images at 0..6 in 7 points.",
    )


def _smoke() -> SweepConfig:
    return SweepConfig(
        [Grid(tasks=["gaussian"], task_params={"dim_x": 2, "dim_y": 2}, mi=[0.0, 1.0, 2.0],
              methods=[Method("ksg"), Method("kl")], n=[300], seeds=[0]),
         Grid(tasks=["bump-16"], mi=[0.0, 2.0], methods=[Method("ksg", compress_x="pca:2"), Method("ksg")],
              n=[300], seeds=[0])],
        name="smoke", compressor_options={"n_train": 300, "params": {}},
        description="A few seconds: KSG and KL on 2+2-D Gaussians, KSG on PCA codes and raw pixels of 16x16 bumps.",
    )


#: name -> (builder, one-line description with the runtime estimate)
PRESETS = {
    "paper": (_paper, "the paper's synthetic-image figures: bump-16 (conv-AE:2, PCA:2) and rectangle-32 (PCA:4, "
                      "conv-AE:4) x {KL, WKL, KSG}, plus KSG on the latents and on raw pixels and MINE (3000 steps) "
                      "on raw images; MI 0..10 in 41 points, n=5000, 3 seeds; 2214 jobs, about 39 CPU core-hours "
                      "(~20 h on 2 cores, ~1.5 h on 32), 85 % of it the 246 MINE runs"),
    "paper-reduced": (_paper_reduced, "bump-16, n=5000, 1 seed: KSG/WKL on conv-AE:2 codes, KSG on PCA:2 codes "
                                      "and latents at MI 0..6 (13 points), KSG on raw pixels and MINE (600 steps) "
                                      "on raw images (7 points); 66 jobs, about 15-20 minutes on 2 CPU cores"),
    "smoke": (_smoke, "a few seconds: KSG/KL on 2+2-D Gaussians, KSG on PCA codes and raw 16x16 bumps, n=300"),
}


def list_presets() -> list[str]:
    """Names of the built-in sweep presets, sorted."""
    return sorted(PRESETS)


def get_preset(name: str) -> SweepConfig:
    """Build a built-in sweep configuration.

    Parameters
    ----------
    name : {"paper", "paper-reduced", "smoke"}

    Returns
    -------
    SweepConfig

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"Unknown sweep preset {name!r}. Valid presets: {', '.join(list_presets())}.")
    return PRESETS[name][0]()


def custom_config(tasks, mi, estimators, *, compress=(None,), n=(5000,), seeds=(0,), estimator_params=None,
                  task_params=None, compressor_options=None) -> SweepConfig:
    """Build a one-grid sweep: every estimator with every compression.

    Parameters
    ----------
    tasks : str or sequence of str
    mi : str or sequence of float
        True MI values in nats, or a grid text for :func:`parse_mi_grid`.
    estimators : str or sequence of str
    compress : str, None or sequence of them, default=(None,)
        Compressor specs applied to both sides ("none" or None for raw data,
        "latent" for the true latents).
    n, seeds : int or sequence of int
    estimator_params : dict or None
        Parameters given to every estimator.
    task_params : dict or None
    compressor_options : dict or None
        See :class:`SweepConfig`.

    Returns
    -------
    SweepConfig
    """
    if isinstance(tasks, str):
        tasks = [t for t in tasks.split(",") if t.strip()]
    if isinstance(estimators, str):
        estimators = [e for e in estimators.split(",") if e.strip()]
    if compress is None or isinstance(compress, str):
        compress = [compress]
    methods = [Method(e, dict(estimator_params or {}), compress_x=c) for c in compress for e in estimators]
    grid = Grid(tasks=tasks, mi=parse_mi_grid(mi), methods=methods, n=n, seeds=seeds, task_params=task_params or {})
    return SweepConfig([grid], name="custom", compressor_options=compressor_options)
