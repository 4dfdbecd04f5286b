"""Noise kinds and levels against accuracy and the width of the information-plane brackets.

For every configuration a network is trained by :func:`ibscope.ib.run_ib` (one seed, one
thread), reloaded from its run folder's checkpoint, and then measured with the noise of the
*probe pass* either as trained or changed afterwards ("trained at relative 1e-3, probed with
additive 0.3"):

* the test accuracy with that probe-pass noise (noise on, dropout off; one noisy pass);
* per layer, the bracket ``[xl_lower, xl_upper]`` of I(X;L) and the estimate
  (:func:`ibscope.plane.brackets.xl_brackets`), and whether the layer is saturated
  (``xl_lower >= ln N - 0.1``).

Parts (``--part``):

* ``noise``: the table above, on digits (40 epochs, the default job) and MNIST (a few epochs);
* ``decoders``: held-out usable information H(Y) - CE of a linear probe and of a calibrated small
  MLP per layer (:class:`ibscope.plane.decoders.LinearProbes`, :class:`~ibscope.plane.decoders.MLPProbes`),
  and the head's Barber-Agakov value, on probe rows the network trained on or not;
* ``split``: the digits probe split: the y-axis values on the train split (in-sample), on the
  360-image test split, and on a 720-image held-out part of a 60/40 re-split (an ``npz:`` dataset);
* ``epochs``: the brackets during training (a :class:`ibscope.ib.Callback` calling
  :func:`~ibscope.plane.brackets.xl_brackets` at log-spaced epochs), and a check that training with
  that callback gives exactly the losses and accuracies of training without it;
* ``seeds``: test accuracy of the candidate defaults over three seeds.

Trained run folders are kept in ``--out`` and reused. Usage::

    python benchmarks/bench_noise.py --out runs/noise --part noise --datasets digits
    python benchmarks/bench_noise.py --out runs/noise --part noise --datasets mnist --data-dir ../shared/data/mnist
    python benchmarks/bench_noise.py --out runs/noise --part decoders --datasets digits,mnist --data-dir ...
    python benchmarks/bench_noise.py --out runs/noise --part split
    python benchmarks/bench_noise.py --out runs/noise --part epochs --epoch-runs rel1e-3,norm0.3
    python benchmarks/bench_noise.py --out runs/noise --part seeds --epoch-runs rel1e-3,rel0.1,add0.1,norm0.3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

#: Training configurations: name -> IBConfig fields (noise kind and sigma in training and in the probe pass).
DIGITS_RUNS = {
    "rel1e-3": {"noise": 1e-3, "noise_kind": "relative"},
    "rel0.1": {"noise": 0.1, "noise_kind": "relative"},
    "rel0.3": {"noise": 0.3, "noise_kind": "relative"},
    "rel0.5": {"noise": 0.5, "noise_kind": "relative"},
    "add0.1": {"noise": 0.1, "noise_kind": "additive"},
    "add0.3": {"noise": 0.3, "noise_kind": "additive"},
    "add1": {"noise": 1.0, "noise_kind": "additive"},
    "norm0.3": {"noise": 0.3, "noise_kind": "normalized"},
    "norm0.5": {"noise": 0.5, "noise_kind": "normalized"},
    "norm1": {"noise": 1.0, "noise_kind": "normalized"},
}
MNIST_RUNS = {
    "rel1e-3": {"noise": 1e-3, "noise_kind": "relative"},
    "rel0.1": {"noise": 0.1, "noise_kind": "relative"},
    "rel0.3": {"noise": 0.3, "noise_kind": "relative"},
    "norm0.3": {"noise": 0.3, "noise_kind": "normalized"},
    "add0.3": {"noise": 0.3, "noise_kind": "additive"},
    "norm0.5": {"noise": 0.5, "noise_kind": "normalized"},
}
#: Probe-pass-only changes of a trained net: (trained run, probe kind, probe sigma).
PROBE_ONLY = [("rel1e-3", "additive", 0.3), ("rel1e-3", "additive", 1.0), ("rel1e-3", "relative", 0.3)]


def train(out: Path, dataset: str, name: str, fields: dict, *, epochs: int, data_dir, seed: int = 0) -> Path:
    """Train one configuration into ``out/dataset-name-s<seed>`` (reused when complete)."""
    from ibscope.ib import IBConfig, run_ib

    folder = out / f"{Path(dataset).stem if dataset.startswith('npz:') else dataset}-{name}-s{seed}"
    if (folder / "summary.json").exists():
        return folder
    cfg = IBConfig(dataset=dataset, epochs=epochs, seed=seed, threads=1, plots=False, ci=0.0, schedule="log",
                   data_dir=None if dataset in ("digits",) or dataset.startswith("npz:") else data_dir, **fields)
    t0 = time.perf_counter()
    if folder.exists() and any(folder.iterdir()):
        run_ib(cfg, out=folder, resume=True)
    else:
        run_ib(cfg, out=folder)
    print(f"  trained {folder.name} in {time.perf_counter() - t0:.0f} s", flush=True)
    return folder


def load_trained(folder: Path, *, probe_split: str | None = None, data_dir=None):
    """(model, cfg, probe (x, y), test (x, y)) of a trained run folder; the probe split may be changed."""
    import torch

    from ibscope.data import load_dataset, normalize, probe_set
    from ibscope.ib import IBConfig, load_run_config
    from ibscope.ib.network import build_network

    record = load_run_config(folder)
    cfg = IBConfig.from_dict(record["config"]).resolved()
    kw = {} if cfg.dataset == "digits" or cfg.dataset.startswith("npz:") else {"data_dir": data_dir or cfg.data_dir}
    x_train, y_train = load_dataset(cfg.dataset, "train", **kw)
    x_test, y_test = load_dataset(cfg.dataset, "test", **kw)
    split = probe_split or cfg.probe_split
    probe = probe_set(cfg.dataset, split, **kw)
    px = torch.as_tensor(normalize(probe.images, cfg.dataset))
    n_classes = int(max(y_train.max(), y_test.max()) + 1)
    net = build_network(cfg, in_shape=tuple(x_train.shape[1:]), n_classes=n_classes, probe_x=px, device="cpu",
                        warn=False)
    state = torch.load(folder / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
    net.model.load_state_dict(state["model"])
    net.model.eval()
    return net.model, cfg, (px, probe.labels), (torch.as_tensor(normalize(x_test, cfg.dataset)), y_test)


def set_probe_noise(model, kind: str, sigma: float) -> None:
    """Change every noise layer's kind and sigma (the probe pass only; the weights stay)."""
    from ibscope.nets import noise_layers

    for _, layer in noise_layers(model):
        layer.kind = kind
        layer.sigma = float(sigma)


def accuracy(model, x, y, *, batch: int = 2048) -> float:
    import torch

    from ibscope.nets import get_noise_rng_state, reseed_noise, set_noise_rng_state

    state = get_noise_rng_state(model)
    reseed_noise(model, 12345)
    model.eval()
    right = 0
    with torch.no_grad():
        for s in range(0, len(y), batch):
            right += int((model(x[s:s + batch]).argmax(1).numpy() == np.asarray(y[s:s + batch])).sum())
    set_noise_rng_state(model, state)
    return right / len(y)


def _cell(r: dict) -> str:
    if not math.isfinite(r["xl_lower"]):
        return "n/a"
    est = "pinned" if r["i_xl_method"] == "pinned" else f"{r['i_xl']:.2f}"
    return f"{r['xl_lower']:.2f}-{r['xl_upper']:.2f} ({est})"


def part_noise(args, out: Path) -> list[dict]:
    from ibscope.plane.brackets import xl_brackets

    rows = []
    for ds in args.datasets:
        runs = DIGITS_RUNS if ds == "digits" else MNIST_RUNS
        epochs = args.epochs_digits if ds == "digits" else args.epochs_mnist
        folders = {name: train(out, ds, name, f, epochs=epochs, data_dir=args.data_dir) for name, f in runs.items()}
        combos = [(name, f["noise_kind"], f["noise"]) for name, f in runs.items()]
        combos += [c for c in PROBE_ONLY if c[0] in folders]
        for name, kind, sigma in combos:
            model, cfg, (px, py), (tx, ty) = load_trained(folders[name], data_dir=args.data_dir)
            set_probe_noise(model, kind, sigma)
            acc = accuracy(model, tx, ty)
            settings = dict(n_trials=1000, n_replicas=16 if ds == "digits" else 8,
                            n_inner=2000, n_estimate=500, random_state=0)
            t0 = time.perf_counter()
            res = xl_brackets(model, px, py, **settings)
            dt = time.perf_counter() - t0
            row = {"dataset": ds, "trained": name, "probe": f"{kind} {sigma:g}", "test_acc": acc,
                   "n_probes": len(py), "ln_n": math.log(len(py)), "time_s": dt,
                   "layers": {k: {kk: v[kk] for kk in ("xl_lower", "xl_upper", "ly_lower_ident", "i_xl", "i_xl_lo",
                                                        "i_xl_hi", "i_xl_method", "saturated", "xl_lower_by",
                                                        "xl_upper_by", "errors_x", "errors_y")}
                              for k, v in res.items()}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print("| data | trained with | probed with | test acc | " + " | ".join(f"L{i}" for i in range(1, 6))
          + " | saturated | bracket time |")
    print("|---|---|---|---|" + "---|" * 5 + "---|---|")
    for r in rows:
        cells = [_cell(v) for v in r["layers"].values()]
        sat = ",".join(k for k, v in r["layers"].items() if v["saturated"]) or "none"
        print(f"| {r['dataset']} (ln N={r['ln_n']:.2f}) | {r['trained']} | {r['probe']} | {100 * r['test_acc']:.1f} % | "
              + " | ".join(cells) + f" | {sat} | {r['time_s']:.1f} s |")
    return rows


def _usable(model, px, py, *, mlp_kwargs=None) -> dict:
    """Per layer: held-out H(Y) - CE of the linear and the MLP probe; the head's Barber-Agakov value."""
    from ibscope.nets import get_noise_rng_state, reseed_noise, set_noise_rng_state
    from ibscope.plane.bounds import head_bounds
    from ibscope.plane.capture import ActivationRecorder
    from ibscope.plane.decoders import LinearProbes, MLPProbes

    state = get_noise_rng_state(model)
    reseed_noise(model, 777)
    acts = ActivationRecorder(model, capture_output=True).capture(px, py)
    set_noise_rng_state(model, state)
    y = np.asarray(py)
    counts = np.bincount(y)
    p = counts[counts > 0] / len(y)
    h_y = float(-(p * np.log(p)).sum())
    lin, mlp = LinearProbes(random_state=0), MLPProbes(random_state=0, **(mlp_kwargs or {}))
    out = {"h_y": h_y, "head": head_bounds(acts.output, y).ba, "layers": {}}
    for name, a in acts.layers.items():
        t0 = time.perf_counter()
        ce_l = lin.cross_entropies(name, a, y)
        t1 = time.perf_counter()
        ce_m = mlp.cross_entropies(name, a, y)
        t2 = time.perf_counter()
        se = lambda ce: float(ce.std(ddof=1) / math.sqrt(len(ce)))  # noqa: E731
        out["layers"][name] = {"linear": h_y - float(ce_l.mean()), "linear_se": se(ce_l),
                               "mlp": h_y - float(ce_m.mean()), "mlp_se": se(ce_m),
                               "mlp_temperature": mlp.temperatures_[name], "linear_s": t1 - t0, "mlp_s": t2 - t1}
    return out


def _usable_table(rows: list[dict]) -> None:
    print("| data | net | probe rows | H(Y) | head BA | " + " | ".join(f"L{i} linear / MLP" for i in range(1, 6))
          + " |")
    print("|---|---|---|---|---|" + "---|" * 5)
    for r in rows:
        cells = [f"{v['linear']:.3f} / {v['mlp']:.3f}" for v in r["layers"].values()]
        print(f"| {r['dataset']} | {r['trained']} | {r['probe_rows']} | {r['h_y']:.3f} | {r['head']:.3f} | "
              + " | ".join(cells) + " |")
    se = [v[k] for r in rows for v in r["layers"].values() for k in ("linear_se", "mlp_se")]
    t_l = [v["linear_s"] for r in rows for v in r["layers"].values()]
    t_m = [v["mlp_s"] for r in rows for v in r["layers"].values()]
    print(f"\nstandard errors {min(se):.3f}-{max(se):.3f} nats; seconds per layer: linear {np.median(t_l):.2f}, "
          f"MLP {np.median(t_m):.2f} (medians)")


def part_decoders(args, out: Path) -> list[dict]:
    rows = []
    for ds in args.datasets:
        runs = DIGITS_RUNS if ds == "digits" else MNIST_RUNS
        epochs = args.epochs_digits if ds == "digits" else args.epochs_mnist
        for name in args.decoder_runs:
            if name not in runs:
                continue
            folder = train(out, ds, name, runs[name], epochs=epochs, data_dir=args.data_dir)
            splits = ("train", "test") if ds == "digits" else ("test",)
            for split in splits:
                model, cfg, (px, py), _ = load_trained(folder, probe_split=split, data_dir=args.data_dir)
                res = _usable(model, px, py)
                trained_on = split == "train"
                rows.append({"dataset": ds, "trained": name, "probe_rows": f"{split} ({len(py)}, "
                             f"{'trained on' if trained_on else 'held out'})", **res})
                print(json.dumps(rows[-1], default=float), flush=True)
    _usable_table(rows)
    return rows


def part_split(args, out: Path) -> list[dict]:
    """The digits y-axis on held-out rows: the standard split's test images and a 60/40 re-split."""
    from sklearn.model_selection import train_test_split

    from ibscope.data import load_dataset

    xa, ya = load_dataset("digits", "train")
    xb, yb = load_dataset("digits", "test")
    x = np.concatenate([xa, xb])
    y = np.concatenate([ya, yb])
    tr, te = train_test_split(np.arange(len(y)), test_size=0.4, stratify=y, random_state=0)
    path = out / "digits-60-40.npz"
    if not path.exists():
        out.mkdir(parents=True, exist_ok=True)
        np.savez(path, x_train=x[np.sort(tr)], y_train=y[np.sort(tr)], x_test=x[np.sort(te)], y_test=y[np.sort(te)])
    rows = []
    for name in args.decoder_runs:
        if name not in DIGITS_RUNS:
            continue
        std = train(out, "digits", name, DIGITS_RUNS[name], epochs=args.epochs_digits, data_dir=None)
        resplit = train(out, f"npz:{path.resolve()}", name, DIGITS_RUNS[name], epochs=args.epochs_digits,
                        data_dir=None)
        for folder, split, what in ((std, "train", "1437 train images (trained on)"),
                                    (std, "test", "360 test images (held out)"),
                                    (resplit, "test", "720 held-out images of a 60/40 re-split")):
            model, cfg, (px, py), (tx, ty) = load_trained(folder, probe_split=split)
            res = _usable(model, px, py)
            rows.append({"dataset": "digits", "trained": name, "probe_rows": what, "test_acc": accuracy(model, tx, ty),
                         **res})
            print(json.dumps(rows[-1], default=float), flush=True)
    _usable_table(rows)
    return rows


def part_epochs(args, out: Path) -> list[dict]:
    """Brackets during training (a run_ib callback), and a check that the analysis leaves training unchanged."""
    import torch

    from ibscope.data import normalize, probe_set
    from ibscope.ib import Callback, IBConfig, run_ib
    from ibscope.plane.brackets import xl_brackets

    probe = probe_set("digits", "train")
    px, py = torch.as_tensor(normalize(probe.images, "digits")), probe.labels
    when = {1, 2, 3, 5, 8, 13, 20, 30, 40}
    rows: list[dict] = []

    class Brackets(Callback):
        def __init__(self, name):
            self.name = name
            self.cache: dict = {}

        def on_epoch_end(self, trainer, epoch, logs):
            if epoch not in when:
                return None
            t0 = time.perf_counter()
            res = xl_brackets(trainer.model, px, py, cache=self.cache, random_state=epoch)
            rows.append({"trained": self.name, "epoch": epoch, "time_s": time.perf_counter() - t0,
                         "layers": {k: {kk: v[kk] for kk in ("xl_lower", "xl_upper", "i_xl", "i_xl_method",
                                                              "ly_lower_ident", "saturated")} for k, v in res.items()}})
            print(json.dumps(rows[-1], default=float), flush=True)
            return None

    for name in args.epoch_runs:
        plain = train(out, "digits", name, DIGITS_RUNS[name], epochs=args.epochs_digits, data_dir=None)
        folder = out / f"digits-{name}-epochs-s0"
        if not (folder / "summary.json").exists():
            cfg = IBConfig(dataset="digits", epochs=args.epochs_digits, seed=0, threads=1, plots=False, ci=0.0,
                           schedule="log", **DIGITS_RUNS[name])
            run_ib(cfg, out=folder, callbacks=[Brackets(name)])
        a = (plain / "metrics.csv").read_text().splitlines()
        b = (folder / "metrics.csv").read_text().splitlines()
        cols = a[0].split(",")
        keep = [cols.index(c) for c in ("train_loss", "train_acc", "test_loss", "test_acc")]
        same = all([x.split(",")[i] for i in keep] == [y.split(",")[i] for i in keep] for x, y in zip(a[1:], b[1:]))
        print(f"{name}: training with the bracket callback gives the same losses and accuracies as without it, "
              f"every epoch: {same}")
    print("\n| trained with | epoch | " + " | ".join(f"L{i} lower / estimate" for i in range(1, 6)) + " | time |")
    print("|---|---|" + "---|" * 5 + "---|")
    for r in rows:
        cells = []
        for v in r["layers"].values():
            est = "pinned" if v["i_xl_method"] == "pinned" else ("-" if not math.isfinite(v["i_xl"])
                                                                  else f"{v['i_xl']:.2f}")
            cells.append(f"{v['xl_lower']:.2f} / {est}")
        print(f"| {r['trained']} | {r['epoch']} | " + " | ".join(cells) + f" | {r['time_s']:.1f} s |")
    return rows


def part_seeds(args, out: Path) -> list[dict]:
    """Test accuracy of the candidate defaults over three seeds (digits, 40 epochs)."""
    rows = []
    for name in args.epoch_runs:
        accs = []
        for seed in (0, 1, 2):
            folder = train(out, "digits", name, DIGITS_RUNS[name], epochs=args.epochs_digits, data_dir=None, seed=seed)
            summary = json.loads((folder / "summary.json").read_text())
            accs.append(float(summary["final_metrics"]["test_acc"]))
        rows.append({"trained": name, "test_acc": accs})
        print(f"| {name} | " + " | ".join(f"{100 * a:.1f} %" for a in accs)
              + f" | {100 * np.mean(accs):.1f} ± {100 * np.std(accs, ddof=1):.1f} % |", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for the trained runs and the JSON results")
    ap.add_argument("--part", default="noise", choices=("noise", "decoders", "split", "epochs", "seeds", "train"))
    ap.add_argument("--datasets", default="digits", help="comma-separated: digits,mnist")
    ap.add_argument("--data-dir", default=None, help="folder with the MNIST IDX files")
    ap.add_argument("--epochs-digits", type=int, default=40)
    ap.add_argument("--epochs-mnist", type=int, default=3)
    ap.add_argument("--runs", default=None, help="only these configurations (comma-separated names)")
    ap.add_argument("--decoder-runs", default="rel1e-3", help="configurations of the decoders/split parts")
    ap.add_argument("--epoch-runs", default="rel1e-3,norm0.3", help="configurations of the epochs/seeds parts")
    args = ap.parse_args(argv)
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    args.decoder_runs = [d.strip() for d in args.decoder_runs.split(",") if d.strip()]
    args.epoch_runs = [d.strip() for d in args.epoch_runs.split(",") if d.strip()]
    if args.runs:
        keep = {r.strip() for r in args.runs.split(",")}
        for table in (DIGITS_RUNS, MNIST_RUNS):
            for k in list(table):
                if k not in keep:
                    del table[k]
        PROBE_ONLY[:] = [c for c in PROBE_ONLY if c[0] in keep]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"# bench_noise part={args.part} datasets={args.datasets} (python {sys.version.split()[0]}, "
          f"torch {torch.__version__}, {os.cpu_count()} CPUs, shared machine)", flush=True)
    if args.part == "train":
        for ds in args.datasets:
            runs = DIGITS_RUNS if ds == "digits" else MNIST_RUNS
            epochs = args.epochs_digits if ds == "digits" else args.epochs_mnist
            for name, f in runs.items():
                train(out, ds, name, f, epochs=epochs, data_dir=args.data_dir)
        return 0
    parts = {"noise": part_noise, "decoders": part_decoders, "split": part_split, "epochs": part_epochs,
             "seeds": part_seeds}
    rows = parts[args.part](args, out)
    (out / f"{args.part}-{'-'.join(args.datasets)}.json").write_text(json.dumps(rows, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
