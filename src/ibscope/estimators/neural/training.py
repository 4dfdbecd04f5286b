"""The training loop of the neural estimators: split, train, select, evaluate.

1. split the rows, with a seeded ``torch.Generator``, into a *held-out* part
   (``test_fraction``) and a training part, and carve a *validation* part
   (``val_fraction`` of the training part) out of the latter;
2. train the critic with Adam on minibatches of ``batch_size`` rows; every
   ``eval_every`` steps, evaluate the bound on the validation and held-out
   parts (the training curve), keep the critic with the best validation
   estimate, and stop after ``patience`` evaluations without improvement;
3. report the bound of the kept critic on the held-out part, with a standard
   error from the held-out terms.

The functions take the estimator ``est`` for its settings and its bound
(``est._loss``, ``est._batch_value``, ``est._row_terms``, ``est._pooled``).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch

from ..._torch import memory_guarded
from ._optim import Adam, cpu_threads
from .critics import score_matrix

#: smallest improvement (nats) of the validation estimate that resets the patience counter
_MIN_DELTA = 1e-3
#: a held-out estimate rising by more than this (nats) over the last half of training is "not converged"
_RISE_TOL = 0.03
#: fluctuations (sd, nats) of the held-out estimate above this flag unstable training
_UNSTABLE_TOL = 0.1


def evaluate(est, critic, x, y, batch: int) -> tuple[float, float, int]:
    """Bound on consecutive batches of ``batch`` rows of (x, y): (estimate, se, rows used)."""
    n_batches = len(x) // batch
    if n_batches == 0:
        return float("nan"), float("nan"), 0
    was_training = critic.training
    critic.eval()
    terms = []
    with torch.no_grad():
        for b in range(n_batches):
            sl = slice(b * batch, (b + 1) * batch)
            s = score_matrix(critic, x[sl], y[sl]).double()
            terms.append(est._row_terms(s).cpu().numpy())
    critic.train(was_training)
    est, se = est._pooled(np.concatenate(terms, axis=0))
    return est, se, n_batches * batch


def train(est, x: np.ndarray, y: np.ndarray, seed: int, warnings: list) -> dict:
    """Split, train, select and evaluate the critic of estimator ``est``; returns everything
    ``estimate`` reports (see the module notes). On the CPU it runs on one torch thread
    (:func:`._optim.cpu_threads`)."""
    dev = est._device()
    data_mib = (x.nbytes + y.nbytes) / 2**20
    with cpu_threads(dev):
        return memory_guarded(
            lambda: _train(est, x, y, seed, warnings), est._owner, dev,
            f"training the critic (the data, {len(x)} rows, {data_mib:.1f} MiB for x and y, live on the device with "
            f"the critic and batches of {est.batch_size} rows)",
            "Use a smaller batch_size, fewer samples or a smaller critic (hidden), or pass device='cpu'.")


def _train(est, x: np.ndarray, y: np.ndarray, seed: int, warnings: list) -> dict:
    n = len(x)
    n_train, n_val, n_test = est._split_sizes(n)
    dev = torch.device(est._device())
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)
    idx_test, idx_val, idx_train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    xt = torch.from_numpy(x).to(dev)
    yt = torch.from_numpy(y).to(dev)
    x_tr, y_tr = xt[idx_train.to(dev)], yt[idx_train.to(dev)]
    x_va, y_va = xt[idx_val.to(dev)], yt[idx_val.to(dev)]
    x_te, y_te = xt[idx_test.to(dev)], yt[idx_test.to(dev)]

    critic = est._build_critic(x.shape[1:], y.shape[1:], gen, seed).to(dev)
    critic.train()
    opt = Adam(critic.parameters(), lr=float(est.lr))
    b = int(est.batch_size)
    b_val = min(b, n_val)
    max_steps, eval_every = int(est.max_steps), int(est.eval_every)
    patience = None if est.patience is None else int(est.patience)
    use_val = n_val > 0

    bar = None
    if est.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_steps, desc=f"{est.name} training", leave=False)

    curve: list[dict] = []
    state: dict = {}
    best: dict[str, Any] = {"val": -math.inf, "step": 0, "state": None}
    wait = 0
    stop_reason = "max_steps"
    order = torch.empty(0, dtype=torch.long)
    pos = 0
    recent: list[float] = []
    step = 0
    try:
        for step in range(1, max_steps + 1):
            if pos + b > len(order):
                order = torch.randperm(n_train, generator=gen).to(dev)
                pos = 0
            bi = order[pos:pos + b]
            pos += b
            s = score_matrix(critic, x_tr[bi], y_tr[bi])
            loss = est._loss(s, state)
            if not torch.isfinite(loss):
                stop_reason = "diverged"
                warnings.append(
                    f"{est._owner} training diverged at step {step} (non-finite loss); the critic with the "
                    "best validation estimate before that point was kept. Try a smaller lr or a smaller "
                    "critic; NWJ is unstable at high MI."
                )
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            recent.append(float(est._batch_value(s.detach())))
            if bar is not None:
                bar.update(1)
            if step % eval_every == 0 or step == max_steps:
                val_est = evaluate(est, critic, x_va, y_va, b_val)[0] if use_val else float("nan")
                te_est = evaluate(est, critic, x_te, y_te, b)[0]
                curve.append({
                    "step": step,
                    "train_estimate": float(np.mean(recent)),
                    "val_estimate": val_est,
                    "heldout_estimate": te_est,
                })
                recent = []
                if bar is not None:
                    bar.set_postfix(heldout=f"{te_est:.3f}")
                if use_val and math.isfinite(val_est):
                    if val_est > best["val"] + _MIN_DELTA or best["state"] is None:
                        best.update(val=val_est, step=step, state=copy.deepcopy(critic.state_dict()))
                        wait = 0
                    else:
                        wait += 1
                        if patience is not None and wait >= patience:
                            stop_reason = "early_stopping"
                            break
    finally:
        if bar is not None:
            bar.close()

    if best["state"] is not None:
        critic.load_state_dict(best["state"])
        kept_step = best["step"]
    else:
        kept_step = step
    est, se, n_used = evaluate(est, critic, x_te, y_te, b)
    return {
        "estimate": est,
        "se": se,
        "curve": curve,
        "n_steps": step,
        "stop_reason": stop_reason,
        "kept_step": kept_step,
        "best_val": best["val"] if use_val else None,
        "sizes": (n_train, n_val, n_test, n_used),
        "device": str(dev),
        "critic_module": type(critic).__name__,
        "n_parameters": int(sum(p.numel() for p in critic.parameters())),
    }


def convergence_warnings(est, fit: dict, warnings: list) -> None:
    """Warn when the held-out estimate was still rising at ``max_steps`` or fluctuates."""
    curve = [c for c in fit["curve"] if math.isfinite(c["heldout_estimate"])]
    if len(curve) < 3:
        if fit["stop_reason"] == "max_steps":
            warnings.append(
                f"Only {len(curve)} held-out evaluation(s) during {fit['n_steps']} steps; convergence could "
                "not be checked. Lower eval_every or raise max_steps."
            )
        return
    w = max(3, len(curve) // 2)
    tail = curve[-w:]
    steps = np.array([c["step"] for c in tail], dtype=float)
    vals = np.array([c["heldout_estimate"] for c in tail])
    se = fit["se"] if math.isfinite(fit["se"]) else 0.0
    slope, icept = np.polyfit(steps, vals, 1)
    resid = float(np.std(vals - (slope * steps + icept), ddof=2)) if w > 2 else 0.0
    rise = float(slope * (steps[-1] - steps[0]))
    if fit["stop_reason"] == "max_steps" and rise > max(_RISE_TOL, 2.0 * se, 2.0 * resid):
        warnings.append(
            f"{est._owner} did not converge: the held-out estimate was still rising at max_steps="
            f"{est.max_steps} (by {rise:.3f} nats over the last {w} evaluations). The estimate is probably "
            "too low; raise max_steps or lr."
        )
    if resid > max(_UNSTABLE_TOL, 0.1 * abs(float(vals.mean())), 3.0 * se):
        warnings.append(
            f"{est._owner} training is unstable: the held-out estimate fluctuates with sd {resid:.3f} nats "
            f"over the last {w} evaluations. Lower lr, raise batch_size, or compare several random_state values."
        )

