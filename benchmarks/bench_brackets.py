"""Validation and cost of the information-plane brackets and estimate (:mod:`ibscope.plane.brackets`).

Part 1 (``--part validate``) compares the estimate of I(X;L~) with ground truth:

* a **linear-Gaussian chain** X -> noise -> Linear 4->6 -> noise -> Linear 6->3 (additive noise
  sigma at every layer, X uniform on N = 200 points): given X, each read-out L~ is Gaussian with a
  known covariance, so I(X;L~) = h(mixture) - h(Gaussian) is computed by Monte Carlo with exact
  densities (200 000 draws, standard error <= 0.003 nats);
* a **small nonlinear net** X (1-D, N = 40 points) -> noise -> Linear 1->2 -> tanh, additive or
  relative noise: the density of L~ given x is a one-dimensional integral over the input noise,
  computed on a grid (quadrature), and I(X;L~) by Monte Carlo over those densities.

For each case it prints the truth, the sides of the estimate (fresh draws and the moment-matched
posterior, biased low; the replicas' own mixture, Goldfeld et al.'s plug-in, biased high; "-" where
a side was not needed), the reported ``i_xl`` with its interval, and the bracket
[xl_lower, xl_upper], for 4, 16 and 64 replicas.

Part 2 (``--part cost``) times :func:`~ibscope.plane.brackets.xl_brackets` on the 10 000 MNIST test
images with the paper's conv net, beside one training epoch of the same net measured in the same
run (the anchor), for a saturated net (relative 1e-3) and a noisier one (additive 0.3), with the
decoder references supplied by the caller (as the recorder's probe pass can) or computed.

Usage::

    python benchmarks/bench_brackets.py --part validate
    python benchmarks/bench_brackets.py --part cost --data-dir ../shared/data/mnist [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np


# ---------------------------------------------------------------------------------------------------------------
# ground truths
# ---------------------------------------------------------------------------------------------------------------
def chain(sigma: float, seed: int = 0):
    import torch
    from torch import nn

    from ibscope.nets import GaussianNoise

    g = torch.Generator().manual_seed(seed)
    a, b = nn.Linear(4, 6), nn.Linear(6, 3)
    with torch.no_grad():
        for lin in (a, b):
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) / math.sqrt(lin.in_features))
            lin.bias.zero_()
    return nn.Sequential(GaussianNoise(sigma, kind="additive", random_state=1), a,
                         GaussianNoise(sigma, kind="additive", random_state=2), b)


def gaussian_mixture_mi(means: np.ndarray, cov: np.ndarray, n_mc: int = 200_000, seed: int = 0):
    """I(X;T), X uniform on the rows of ``means``, T | i ~ N(mean_i, cov): Monte Carlo with exact densities."""
    rng = np.random.default_rng(seed)
    w = means @ np.linalg.inv(np.linalg.cholesky(cov)).T
    i = rng.integers(0, len(w), n_mc)
    t = w[i] + rng.standard_normal((n_mc, w.shape[1]))
    out = []
    for s in range(0, n_mc, 10_000):
        tt, ii = t[s:s + 10_000], i[s:s + 10_000]
        d2 = ((tt[:, None, :] - w[None]) ** 2).sum(-1)
        out.append(-0.5 * d2[np.arange(len(tt)), ii] - (np.logaddexp.reduce(-0.5 * d2, axis=1) - math.log(len(w))))
    v = np.concatenate(out)
    return float(v.mean()), float(v.std() / math.sqrt(n_mc))


W1D, B1D = (2.5, -1.5), (0.3, 0.1)


def net1d(kind: str, sigma: float):
    import torch
    from torch import nn

    from ibscope.nets import GaussianNoise

    lin = nn.Linear(1, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(W1D).reshape(2, 1))
        lin.bias.copy_(torch.tensor(B1D))
    return nn.Sequential(GaussianNoise(sigma, kind=kind, random_state=3), lin, nn.Tanh())


def quadrature_mi(x: np.ndarray, kind: str, sigma: float, n_mc: int = 6000, n_grid: int = 600, seed: int = 0):
    """I(X;L~) of :func:`net1d` with the same read-out noise, by quadrature over the input noise."""
    rng = np.random.default_rng(seed)
    w, b = np.asarray(W1D), np.asarray(B1D)
    z = np.linspace(-7, 7, n_grid)
    log_pz = -0.5 * z ** 2
    log_pz -= np.logaddexp.reduce(log_pz)

    def act(xv, zz):
        u = xv * (1 + sigma * zz) if kind == "relative" else xv + sigma * zz
        return np.tanh(u[..., None] * w + b)

    grid = act(x[:, None], z[None, :])  # (N, grid, 2)
    var = (sigma * grid) ** 2 if kind == "relative" else np.full_like(grid, sigma ** 2)
    i = rng.integers(0, len(x), n_mc)
    centre = act(x[i], rng.standard_normal(n_mc))
    t = centre * (1 + sigma * rng.standard_normal(centre.shape)) if kind == "relative" else \
        centre + sigma * rng.standard_normal(centre.shape)
    vals = []
    for s in range(0, n_mc, 250):
        tt = t[s:s + 250]
        lp = -0.5 * (((tt[:, None, None, :] - grid[None]) ** 2) / var[None] + np.log(2 * np.pi * var[None])).sum(-1)
        lpx = np.logaddexp.reduce(lp + log_pz[None, None], axis=2)  # (b, N)
        own = lpx[np.arange(len(tt)), i[s:s + 250]]
        vals.append(own - (np.logaddexp.reduce(lpx, axis=1) - math.log(len(x))))
    v = np.concatenate(vals)
    return float(v.mean()), float(v.std() / math.sqrt(n_mc))


def part_validate(args) -> None:
    import torch

    from ibscope.plane.brackets import xl_brackets

    cases = []
    n = 200
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = rng.integers(0, 3, n)
    for sigma in (0.3, 0.6):
        net = chain(sigma)
        aw, bw = net[1].weight.detach().double().numpy(), net[3].weight.detach().double().numpy()
        s2 = sigma ** 2
        covs = {"1": s2 * aw @ aw.T + s2 * np.eye(6),
                "3": s2 * bw @ aw @ aw.T @ bw.T + s2 * bw @ bw.T + s2 * np.eye(3)}
        means = {"1": x @ aw.T, "3": x @ aw.T @ bw.T}
        truth = {k: gaussian_mixture_mi(means[k].astype(np.float64), covs[k]) for k in covs}
        cases.append((f"linear chain, additive {sigma:g}", net, torch.as_tensor(x), y, ["1", "3"], truth, n))
    x1 = np.linspace(-2, 2, 40).astype(np.float32)
    y1 = (x1 > 0).astype(int)
    for kind, sigma in (("additive", 0.3), ("relative", 0.3), ("additive", 0.1)):
        truth = {"2": quadrature_mi(x1.astype(np.float64), kind, sigma)}
        cases.append((f"1-D tanh net, {kind} {sigma:g}", net1d(kind, sigma), torch.as_tensor(x1[:, None]), y1, ["2"],
                      truth, 40))
    print("| case | layer | ln N | truth (se) | R | fresh | moment-matched | plug-in | estimate i_xl [interval] | "
          "error | bracket [xl_lower, xl_upper] | contains truth |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, net, xs, ys, layers, truth, n_pts in cases:
        for reps in (4, 16, 64):
            t0 = time.perf_counter()
            res = xl_brackets(net, xs, ys, layers=layers, n_trials=2000, n_estimate=2000, n_replicas=reps)
            dt = time.perf_counter() - t0
            for k in layers:
                r, (tv, tse) = res[k], truth[k]
                e = r["estimate"]
                inside = r["xl_lower"] <= tv <= r["xl_upper"]
                def num(v):
                    return "-" if not math.isfinite(v) else f"{v:.3f}"

                est = "unresolved" if r["i_xl_method"] == "unresolved" else \
                    f"{r['i_xl']:.3f} [{r['i_xl_lo']:.3f}, {r['i_xl_hi']:.3f}]"
                err = "-" if not math.isfinite(r["i_xl"]) else f"{r['i_xl'] - tv:+.3f}"
                print(f"| {name} | {k} | {math.log(n_pts):.3f} | {tv:.3f} ({tse:.3f}) | {reps} | {num(e['fresh'])} | "
                      f"{num(e['moment_matched'])} | {num(e['plugin'])} | {est} | {err} | "
                      f"[{r['xl_lower']:.3f} ({r['xl_lower_by']}), {r['xl_upper']:.3f} ({r['xl_upper_by']})] | "
                      f"{'yes' if inside else 'NO'} |")
            print(f"<!-- {name}, R={reps}: {dt:.1f} s -->")


# ---------------------------------------------------------------------------------------------------------------
# cost on MNIST
# ---------------------------------------------------------------------------------------------------------------
def part_cost(args) -> None:
    import torch

    from ibscope.data import load_dataset, make_dataloader, normalize
    from ibscope.nets import PaperConvNet
    from ibscope.plane.brackets import xl_brackets
    from ibscope.plane.capture import ActivationRecorder

    torch.set_num_threads(args.threads)
    x_tr, y_tr = load_dataset("mnist", "train", data_dir=args.data_dir)
    x_te, y_te = load_dataset("mnist", "test", data_dir=args.data_dir)
    probe = torch.as_tensor(normalize(x_te, "mnist"))
    model = PaperConvNet(noise_sigma=1e-3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = make_dataloader(x_tr, y_tr, batch_size=1024, shuffle=True, random_state=0, normalize="mnist")
    t0 = time.perf_counter()
    model.train()
    for xb, yb in loader:
        opt.zero_grad()
        torch.nn.functional.nll_loss(model(xb), yb).backward()
        opt.step()
    epoch_s = time.perf_counter() - t0
    print(f"anchor: one training epoch of the paper's conv net on 60 000 MNIST images: {epoch_s:.1f} s "
          f"({args.threads} thread(s), shared machine)")
    print()
    print("| probe noise | decoder references | settings | input-bound cache | time (s) | x epoch | shared passes (s) | "
          "per layer L1..L5 (s) | estimate computed for | saturated |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    settings = [dict(n_trials=1000, n_replicas=4, n_inner=1000, n_estimate=300),
                dict(n_trials=1000, n_replicas=8, n_inner=2000, n_estimate=500)]
    for kind, sigma in (("relative", 1e-3), ("additive", 0.3)):
        for _, layer in model.noise_layers():
            layer.kind, layer.sigma = kind, sigma
        t0 = time.perf_counter()
        refs = ActivationRecorder(model).capture(probe, y_te).layers  # the recorder's own noisy probe pass
        print(f"<!-- {kind} {sigma:g}: one noisy probe pass over the 10 000 test images: "
              f"{time.perf_counter() - t0:.1f} s -->")
        cache: dict = {}
        runs = [(settings[0], True), (settings[0], True), (settings[0], False), (settings[1], True)]
        for i, (s, supplied) in enumerate(runs):
            t0 = time.perf_counter()
            res = xl_brackets(model, probe, y_te, references=refs if supplied else None, cache=cache, **s)
            dt = time.perf_counter() - t0
            shared = next(iter(res.values()))["time_shared_s"]
            per = " / ".join(f"{r['time_s']:.2f}" for r in res.values())
            est = ",".join(k for k, r in res.items() if r["i_xl_method"] == "sample-propagation") or "none"
            sat = ",".join(k for k, r in res.items() if r["saturated"]) or "none"
            print(f"| {kind} {sigma:g} | {'the probe pass' if supplied else 'a noise-free pass'} | "
                  f"{s} | {'cold' if i == 0 else 'warm'} | {dt:.1f} | {dt / epoch_s:.2f} | {shared:.1f} | {per} | "
                  f"{est} | {sat} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="validate", choices=("validate", "cost"))
    ap.add_argument("--data-dir", default=None, help="folder with the MNIST IDX files (cost part)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    print(f"# bench_brackets part={args.part} (python {sys.version.split()[0]}, torch {torch.__version__}, "
          f"{args.threads} thread(s) of {os.cpu_count()} CPUs, shared machine)")
    part_validate(args) if args.part == "validate" else part_cost(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
