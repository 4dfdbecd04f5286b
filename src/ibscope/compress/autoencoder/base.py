"""Autoencoders as compressors: a dense one for vectors and a convolutional one for images (torch).

Both follow the scheme of the paper (Butakov et al., ICLR 2024, Fig. 1 and the
synthetic-image autoencoders of its reference code): Gaussian noise on the input
and on the code during training only, a bounded code (``tanh`` or ``sigmoid``),
an L1 reconstruction loss and Adam. ibscope adds a validation split with early
stopping (the best weights are restored), a recorded training curve and the
final reconstruction error, which is the practical proxy for how much
information the compression may lose.

Reproducibility: every random step (weight initialisation, the validation
split, batch order and the training noise) draws from a local
``torch.Generator`` seeded from ``random_state``; the global torch seed is never
touched. On the CPU the same seed gives the same weights and codes. On a GPU,
results can differ from the CPU ones and, for some kernels, from run to run.
"""

from __future__ import annotations

import math

import numpy as np

from ..._random import make_rng
from ..._torch import init_weights_, resolve_device
from ..._validation import check_choice, check_float, check_int
from .._base import BaseCompressor

#: Rows per forward pass when encoding or decoding outside training.
_INFERENCE_BATCH = 4096


def _torch():
    import torch

    return torch


def _device(device, owner: str):
    """The torch device for ``device`` (see :func:`ibscope._torch.resolve_device`)."""
    return _torch().device(resolve_device(device, owner))


class _AutoencoderBase(BaseCompressor):
    """Training loop, inference, persistence and checks shared by the autoencoders."""

    _json_attrs = BaseCompressor._json_attrs + ("seed_", "history_", "best_epoch_", "n_epochs_", "device_")

    def __init__(self, latent_dim, *, code_activation="tanh", input_noise=0.1, code_noise=0.02, epochs=200,
                 batch_size=256, lr=1e-3, loss="l1", validation_fraction=0.1, patience=20, device=None,
                 random_state=None, progress=False):
        self.latent_dim = latent_dim
        self.code_activation = code_activation
        self.input_noise = input_noise
        self.code_noise = code_noise
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.loss = loss
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.progress = progress

    # hooks -----------------------------------------------------------------
    def _build_network(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _to_net(self, rows: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Flat rows in data units -> float32 network input."""
        raise NotImplementedError

    def _from_net(self, out: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Network output -> flat rows in data units."""
        raise NotImplementedError

    # checks -----------------------------------------------------------------
    def _check_training_params(self) -> dict:
        owner = self._owner
        return {
            "code_activation": check_choice(self.code_activation, "code_activation", owner, {"tanh", "sigmoid"}),
            "input_noise": check_float(self.input_noise, "input_noise", owner, low=0.0),
            "code_noise": check_float(self.code_noise, "code_noise", owner, low=0.0),
            "epochs": check_int(self.epochs, "epochs", owner, low=1),
            "batch_size": check_int(self.batch_size, "batch_size", owner, low=1),
            "lr": check_float(self.lr, "lr", owner, low=0.0, low_open=True),
            "loss": check_choice(self.loss, "loss", owner, {"l1", "mse"}),
            "validation_fraction": check_float(
                self.validation_fraction, "validation_fraction", owner, low=0.0, high=1.0, high_open=True
            ),
            "patience": None if self.patience is None else check_int(self.patience, "patience", owner, low=1),
            "progress": bool(self.progress),
        }

    def _begin_fit(self, n_features: int, shape: tuple, check_architecture):
        """Checks and seed shared by every ``fit``: returns ``(latent_dim, training settings, device, seed)``
        and records ``seed_``, ``n_features_in_`` and ``input_shape_``."""
        latent = check_int(self.latent_dim, "latent_dim", self._owner, low=1)
        self._check_latent(latent, n_features, shape, "latent_dim", allow_equal=False)
        check_architecture()
        cfg = self._check_training_params()
        device = _device(self.device, self._owner)
        _, seed = make_rng(self.random_state)
        self.__dict__.pop("n_components_", None)
        self.seed_ = seed
        self.n_features_in_ = n_features
        self.input_shape_ = shape
        return latent, cfg, device, seed

    # training ---------------------------------------------------------------
    def _fit_network(self, data: np.ndarray, rows: np.ndarray, cfg: dict, device, seed: int, min_batch: int):
        """Train ``self.model_`` on ``data`` (network space); ``rows`` are the same samples in data units."""
        torch = _torch()
        n = len(data)
        n_val = math.ceil(cfg["validation_fraction"] * n) if cfg["validation_fraction"] > 0 else 0
        if n - n_val < 2:
            raise ValueError(
                f"{self._owner} needs at least 2 training samples after holding out validation_fraction="
                f"{cfg['validation_fraction']} for validation. Got n_samples={n}. Pass more samples or a smaller "
                "validation_fraction."
            )
        gen = torch.Generator().manual_seed(seed)
        with torch.device("meta"):
            net = self._build_network()
        net = net.to_empty(device="cpu")
        init_weights_(net, gen)
        net = net.to(device)
        if device.type == "cpu":
            noise_gen = gen
        else:
            noise_gen = torch.Generator(device=device).manual_seed(seed + 1)

        perm = torch.randperm(n, generator=gen)
        val_idx, train_idx = perm[:n_val], perm[n_val:]
        tensor = torch.from_numpy(data).to(device)
        val_data = tensor[val_idx.to(device)]
        loss_fn = torch.nn.L1Loss() if cfg["loss"] == "l1" else torch.nn.MSELoss()
        opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])

        history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
        best, best_state, best_epoch, wait = math.inf, None, 0, 0
        bar = None
        if cfg["progress"]:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg["epochs"], desc=f"{self._owner} fit", unit="epoch", leave=False)
        bs = cfg["batch_size"]
        try:
            for epoch in range(cfg["epochs"]):
                net.train()
                order = train_idx[torch.randperm(len(train_idx), generator=gen)].to(device)
                total, count = 0.0, 0
                for start in range(0, len(order), bs):
                    idx = order[start : start + bs]
                    if len(idx) < min_batch:
                        continue
                    clean = tensor[idx]
                    noisy = clean
                    if cfg["input_noise"] > 0:
                        noisy = clean + cfg["input_noise"] * torch.randn(
                            clean.shape, generator=noise_gen, device=device, dtype=clean.dtype
                        )
                    code = net.encode(noisy)
                    if cfg["code_noise"] > 0:
                        code = code + cfg["code_noise"] * torch.randn(
                            code.shape, generator=noise_gen, device=device, dtype=code.dtype
                        )
                    loss = loss_fn(net.decode(code), clean)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                    count += len(idx)
                train_loss = total / max(count, 1)
                if not math.isfinite(train_loss):
                    raise RuntimeError(
                        f"{self._owner} training diverged: the training loss became {train_loss} at epoch "
                        f"{epoch}. Pass a smaller 'lr' (got {cfg['lr']:g}) or check the scale of the data."
                    )
                history["train_loss"].append(train_loss)
                if n_val:
                    val_loss = self._eval_loss(net, val_data, loss_fn)
                    history["val_loss"].append(val_loss)
                monitor = history["val_loss"][-1] if n_val else train_loss
                if monitor < best:
                    best, best_epoch, wait = monitor, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    wait += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(train=f"{train_loss:.4g}", val=f"{history['val_loss'][-1]:.4g}" if n_val else "-")
                if cfg["patience"] is not None and wait >= cfg["patience"]:
                    break
        finally:
            if bar is not None:
                bar.close()
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        self.model_ = net
        self.device_ = str(device)
        self.history_ = history
        self.best_epoch_ = int(best_epoch)
        self.n_epochs_ = len(history["train_loss"])
        recon = self._from_net(self._run(net.decode, self._run(net.encode, data)))
        err = np.abs(recon - rows).mean(axis=1)
        train_np, val_np = train_idx.numpy(), val_idx.numpy()
        self.reconstruction_error_ = {
            "train": float(err[train_np].mean()),
            "val": float(err[val_np].mean()) if n_val else None,
        }

    def _eval_loss(self, net, data, loss_fn) -> float:
        torch = _torch()
        net.eval()
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(data), _INFERENCE_BATCH):
                chunk = data[start : start + _INFERENCE_BATCH]
                total += float(loss_fn(net.decode(net.encode(chunk)), chunk)) * len(chunk)
        return total / len(data)

    def _run(self, fn, arr: np.ndarray) -> np.ndarray:
        """Apply ``fn`` (encode or decode) in eval mode, in chunks, and return float32 numpy."""
        torch = _torch()
        self.model_.eval()
        device = next(self.model_.parameters()).device
        outs = []
        with torch.no_grad():
            for start in range(0, len(arr), _INFERENCE_BATCH):
                chunk = torch.from_numpy(np.ascontiguousarray(arr[start : start + _INFERENCE_BATCH])).to(device)
                outs.append(fn(chunk).cpu().numpy())
        return np.concatenate(outs, axis=0)

    def _net_input(self, rows: np.ndarray, name: str = "x") -> np.ndarray:
        """``_to_net`` with a clear error when scaled values overflow float32."""
        with np.errstate(over="ignore", invalid="ignore"):
            data = self._to_net(rows)
        if not np.all(np.isfinite(data)):
            raise ValueError(
                f"The '{name}' argument of {self._owner} has values too large for the float32 network after "
                f"scaling (largest |{name}| = {np.max(np.abs(rows)):.3g}). Keep the default input scaling "
                "(standardize=True / rescale=True) or rescale the data."
            )
        return data

    # public -----------------------------------------------------------------
    def _encode(self, rows: np.ndarray) -> np.ndarray:
        """Encode rows in data units (no noise, eval mode)."""
        return self._run(self.model_.encode, self._net_input(rows)).astype(np.float64)

    def _decode(self, codes: np.ndarray) -> np.ndarray:
        """Decode codes back to rows in the units of the training data."""
        return self._from_net(self._run(self.model_.decode, codes.astype(np.float32)))

    # persistence ------------------------------------------------------------
    def _state_arrays(self) -> dict:
        arrays = super()._state_arrays()
        for key, value in self.model_.state_dict().items():
            arrays[f"state/{key}"] = value.detach().cpu().numpy()
        return arrays

    def _restore(self, attrs: dict, arrays: dict) -> None:
        torch = _torch()
        super()._restore(attrs, arrays)
        device = _device(self.device, self._owner)
        with torch.device("meta"):
            net = self._build_network()
        net = net.to_empty(device="cpu")
        state = {k[len("state/") :]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("state/")}
        net.load_state_dict(state)
        self.model_ = net.to(device).eval()
        self.device_ = str(device)
