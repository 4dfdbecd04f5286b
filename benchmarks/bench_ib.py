"""IB analysis cost against training cost: one run of the paper's MNIST net, timed phase by phase.

The issue's target: analysing every layer on the 10 000 MNIST test images
(I(X;L) and I(L;Y) for each layer, each with its confidence interval) costs less
than one training epoch of the paper's network on the same machine.

Both are measured in the same process, on the same data, by
:func:`ibscope.ib.run_ib` itself (its ``metrics.csv`` splits every epoch into
``train_s``, ``eval_s`` and ``analysis_s``, the wall time the training loop
waits for each), so the comparison is the one a user gets. Next to the wall
times, the CPU time of the whole process (every thread) is recorded during each
training pass and each analysis, so that work moved aside (to other threads or
idle cores) is not mistaken for work removed. Epoch 1's analysis also fits the layer compressors (PCA of the 1352-D L1,
...); later epochs reuse them (the default ``refit="first"``), which is the
steady-state cost. ``--refit every`` times the reference code's per-epoch refit.
The X compressor is fitted once before training and timed separately.

Usage::

    python benchmarks/bench_ib.py --data-dir ../shared/data/mnist            # 3 epochs, defaults
    python benchmarks/bench_ib.py --data-dir ../shared/data/mnist --refit every --epochs 2
    python benchmarks/bench_ib.py --dataset digits                           # no download, small
    python benchmarks/bench_ib.py --data-dir ../shared/data/mnist --phases  # + CPU and wall per phase

``--phases`` also splits every analysis into its parts (probe pass, PCA fits,
the decoders' bases and L-BFGS fits, the I(X;L) estimates and their
half-sample intervals, the brackets), each timed in wall and process CPU time.

``--background`` runs the same configuration a second time with the background
analysis (``background_analysis=True``, :mod:`ibscope.ib.worker`) and prints,
per epoch and mode, the seconds the training loop waited for the analysis
(``analysis_wait_s``) next to the analysis' own seconds and the CPU time the
whole process used during the epoch (every thread, the worker's included), and
whether the two runs wrote the same rows::

    python benchmarks/bench_ib.py --dataset digits --epochs 3 --background
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist", "digits"))
    ap.add_argument("--data-dir", default=None, help="folder with the IDX files (default: the ibscope cache)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs to time (default 3: one fit epoch, two steady)")
    ap.add_argument("--refit", default="first", choices=("first", "every"))
    ap.add_argument("--estimator", default="kl")
    ap.add_argument("--compress-x", default="pca:4")
    ap.add_argument("--n-subsamples", type=int, default=10, help="half-samples per CI (run default 10)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", default=None, help="keep the run folder here instead of a temporary one")
    ap.add_argument("--bracket-trials", type=int, default=1000, help="identification trials of the brackets")
    ap.add_argument("--no-xl-estimate", action="store_true", help="brackets without the I(X;L) estimate")
    ap.add_argument("--no-brackets", action="store_true", help="no brackets (the analysis before they existed)")
    ap.add_argument("--phases", action="store_true", help="time the parts of every analysis (wall and CPU)")
    ap.add_argument("--background", action="store_true",
                    help="also run with the background analysis worker; compare the loop's waits and CPU per epoch")
    args = ap.parse_args(argv)

    import torch

    import ibscope
    from ibscope.ib import IBConfig, run_ib
    from ibscope.plots import read_info, read_metrics

    cpu = _count_cpu()
    phases = _count_phases() if args.phases else None

    print("# ibscope IB analysis vs training benchmark\n")
    print(f"ibscope {ibscope.__version__}, python {platform.python_version()}, torch {torch.__version__}, "
          f"cores {os.cpu_count()}, torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
    cfg = IBConfig(dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs, refit=args.refit,
                   estimator=args.estimator, compress_x=args.compress_x, n_subsamples=args.n_subsamples,
                   seed=args.seed, plots=False, bracket_trials=args.bracket_trials, xl_estimate=not args.no_xl_estimate,
                   brackets=not args.no_brackets)
    tmp = None
    if args.keep:
        out = Path(args.keep)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="ibscope-bench-ib-")
        out = Path(tmp.name) / "run"
    epoch_cpu = _EpochCPU()
    t0 = time.perf_counter()
    res = run_ib(cfg, out=out, callbacks=[epoch_cpu])
    total = time.perf_counter() - t0
    met = read_metrics(out)
    info = read_info(out)
    c = res.config
    print(f"dataset {c.dataset}: {c.model}, batch {c.batch_size}, lr {c.lr}, noise {c.noise} ({c.noise_kind}), "
          f"probe set {int(info['n'].iloc[0])} images ({c.probe_split} split), layers {info['layer'].nunique()} "
          f"({', '.join(dict.fromkeys(info['layer']))}), estimator {c.estimator} k={c.k}, compress {c.compress}, "
          f"compress_x {c.compress_x}, CI {c.ci} from {c.n_subsamples} half-samples, refit {c.refit}")
    setup = total - float(met["time_s"].sum())
    print(f"set-up before epoch 1 (data, model, X compressor fit on the train images): {setup:.1f} s\n")

    print(f"X compressor fit and X code (before epoch 1): CPU {cpu['prepare'][1]:.1f} s, wall {cpu['prepare'][0]:.1f} s\n")
    print("| epoch | train epoch [s] | test eval [s] | analysis [s] | of which probe pass, decoders, brackets [s] | "
          "of which estimates+codes [s] | analysis / train (wall) | train CPU [s] | analysis CPU [s] | "
          "analysis / train (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for _, m in met.iterrows():
        e = int(m["epoch"])
        rows = info[info["epoch"] == e]
        est = float(rows["time_s"].sum())
        ratio = float(m["analysis_s"]) / float(m["train_s"])
        tc, ac = cpu["train"].get(e, float("nan")), cpu["analyse"].get(e, float("nan"))
        print(f"| {e} | {m['train_s']:.1f} | {m['eval_s']:.1f} | {m['analysis_s']:.1f} | "
              f"{float(m['analysis_s']) - est:.1f} | {est:.1f} | {ratio:.2f} | {tc:.1f} | {ac:.1f} | {ac / tc:.2f} |")
    last = info[info["epoch"] == info["epoch"].max()]
    print("\nper layer, last epoch (nats; time: the layer's code MI with its checks and its decoders):")
    print("| layer | dim | I(X;L) bracket | I(X;L) estimate | code MI [95 % CI] | I(L;Y), own probe | time [s] |")
    print("|---|---|---|---|---|---|---|")
    for _, r in last.iterrows():
        est = f"{r['i_xl']:.2f}" if np.isfinite(r["i_xl"]) else str(r["i_xl_method"])
        print(f"| {r['layer']} | {int(r['dim_layer'])} | [{r['xl_lower']:.2f}, {r['xl_upper']:.2f}] | {est} | "
              f"{r['i_xl_code']:.2f} [{r['i_xl_code_lo']:.2f}, {r['i_xl_code_hi']:.2f}] | "
              f"{r['i_ly']:.2f} [{r['i_ly_lo']:.2f}, {r['i_ly_hi']:.2f}] | {r['time_s']:.2f} |")
    steady = met[met["epoch"] > 1]
    if len(steady):
        a, t = float(np.median(steady["analysis_s"])), float(np.median(steady["train_s"]))
        verdict = "below" if a < t else "ABOVE"
        print(f"\nsteady state (median over epochs 2..{args.epochs}): analysis {a:.1f} s vs training epoch "
              f"{t:.1f} s: ratio {a / t:.2f}, {verdict} one training epoch")
        ac = float(np.median([cpu["analyse"][e] for e in steady["epoch"].astype(int)]))
        tc = float(np.median([cpu["train"][e] for e in steady["epoch"].astype(int)]))
        print(f"steady state CPU (all threads): analysis {ac:.1f} s vs training epoch {tc:.1f} s: ratio {ac / tc:.2f}")
    if phases is not None:
        _print_phases(phases)
    if args.background:
        bg_out = out.with_name(out.name + "-background")
        bg_cpu = _EpochCPU()
        t1 = time.perf_counter()
        run_ib(cfg.replace(background_analysis=True), out=bg_out, callbacks=[bg_cpu])
        _print_background({"synchronous": (out, epoch_cpu, total), "background": (bg_out, bg_cpu,
                                                                                 time.perf_counter() - t1)})
    print(f"first epoch (fits the layer compressors): analysis {met['analysis_s'].iloc[0]:.1f} s vs training "
          f"{met['train_s'].iloc[0]:.1f} s; test accuracy after the run {met['test_acc'].iloc[-1]:.4f}, "
          f"ROC-AUC {met['test_auc'].iloc[-1]:.4f}")
    if tmp is not None:
        tmp.cleanup()
    return 0


class _EpochCPU:
    """A callback that records the process CPU time (every thread) and wall time between epoch starts."""

    def __init__(self) -> None:
        self.marks: list[tuple[int, float, float]] = []

    def on_epoch_begin(self, trainer, epoch):
        self.marks.append((int(epoch), time.perf_counter(), time.process_time()))

    def on_train_end(self, trainer, result):
        self.marks.append((-1, time.perf_counter(), time.process_time()))

    def per_epoch(self) -> dict:
        """{epoch: (wall, cpu)} of each epoch's interval (up to the next epoch's start, or the end)."""
        return {e: (w1 - w0, c1 - c0) for (e, w0, c0), (_, w1, c1) in zip(self.marks, self.marks[1:])}


def _print_background(runs: dict) -> None:
    """Per epoch and mode: the loop's wait for the analysis against the analysis' own time and the CPU."""
    from ibscope.plots import read_info, read_metrics

    print("\nbackground analysis: the loop's wait for the analysis vs its own time and the CPU of the epoch")
    print("| mode | epoch | train [s] | analysis [s] | loop waited [s] | epoch wall [s] | CPU, all threads [s] |")
    print("|---|---|---|---|---|---|---|")
    infos = {}
    for mode, (folder, cpu, total) in runs.items():
        met, intervals = read_metrics(folder), cpu.per_epoch()
        infos[mode] = read_info(folder).drop(columns=["time_s"])
        for _, m in met.iterrows():
            e = int(m["epoch"])
            wall, c = intervals.get(e, (float("nan"), float("nan")))
            print(f"| {mode} | {e} | {m['train_s']:.2f} | {m['analysis_s']:.2f} | {m['analysis_wait_s']:.2f} | "
                  f"{wall:.2f} | {c:.2f} |")
        print(f"| {mode} | all | {met['train_s'].sum():.2f} | {met['analysis_s'].sum():.2f} | "
              f"{met['analysis_wait_s'].sum():.2f} | {total:.2f} (run) | {sum(v[1] for v in intervals.values()):.2f} |")
    a, b = infos.values()
    same = a.equals(b)
    print(f"\ninfo.csv rows (all columns but time_s) identical in both modes: {'yes' if same else 'NO'}")


def _count_cpu() -> dict:
    """Record wall and process CPU time (all threads) of each training pass, each analysis and the
    X compressor's fit, by wrapping the methods that do them (the recorder's ``analyse``, the
    trainer's ``train_epoch``, the recorder's ``prepare``)."""
    import functools
    import time

    from ibscope.ib import IBRecorder, Trainer

    out: dict = {"train": {}, "analyse": {}, "prepare": [0.0, 0.0]}

    def timed(cls, name, record):
        inner = getattr(cls, name)

        @functools.wraps(inner)
        def wrapper(self, *a, **kw):
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                return inner(self, *a, **kw)
            finally:
                record(a, time.perf_counter() - w0, time.process_time() - c0)

        setattr(cls, name, wrapper)

    def per_epoch(key):
        def record(args, wall, cpu):
            out[key][int(args[0 if key == "train" else 1])] = cpu
        return record

    def prepare(args, wall, cpu):
        out["prepare"][0] += wall
        out["prepare"][1] += cpu

    timed(Trainer, "train_epoch", per_epoch("train"))
    timed(IBRecorder, "analyse", per_epoch("analyse"))
    timed(IBRecorder, "prepare", prepare)
    return out


#: the parts of an analysis timed by --phases: (label, module, owner attribute or None, function name)
PHASES = (
    ("probe pass", "ibscope.ib.recorder", "IBRecorder", "capture"),
    ("brackets on I(X;L), I(L;Y) and the I(X;L) estimate", "ibscope.ib.recorder", "IBRecorder", "_brackets"),
    ("code MI checks (KSG, 2-D codes)", "ibscope.ib.recorder", "IBRecorder", "_code_checks"),
    ("PCA fits (layer codes and decoder bases)", "ibscope.compress.pca", "PCACompressor", "fit"),
    ("decoder features (basis fit + transform)", "ibscope.plane.decoders", "LinearProbes", "features"),
    ("decoder L-BFGS fits", "ibscope.plane.decoders", None, "_fit_softmax"),
    ("decoders in all", "ibscope.plane.decoders", "LinearProbes", "cross_entropies"),
    ("estimates: code MI with intervals, its checks", "ibscope.estimators.base", "MIEstimator", "estimate"),
    ("of which the half-sample intervals", "ibscope.estimators.base", None, "_half_sample_interval"),
)


def _count_phases() -> dict:
    """Wall and CPU time of each part of every analysis (see :data:`PHASES`), by epoch."""
    import functools
    import importlib
    import time

    from ibscope.ib import IBRecorder

    out: dict = {"epoch": None, "t": {}}
    active: set = set()

    def wrap(label, owner, name):
        inner = getattr(owner, name)

        @functools.wraps(inner)
        def wrapper(*a, **kw):
            if label in active or out["epoch"] is None:  # nested or outside an analysis: not counted again
                return inner(*a, **kw)
            active.add(label)
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                return inner(*a, **kw)
            finally:
                active.discard(label)
                cell = out["t"].setdefault((label, out["epoch"]), [0.0, 0.0])
                cell[0] += time.perf_counter() - w0
                cell[1] += time.process_time() - c0

        setattr(owner, name, wrapper)

    for label, module, owner, name in PHASES:
        mod = importlib.import_module(module)
        wrap(label, getattr(mod, owner) if owner else mod, name)
    analyse = IBRecorder.analyse

    @functools.wraps(analyse)
    def tagged(self, model, epoch, *a, **kw):
        out["epoch"] = int(epoch)
        try:
            return analyse(self, model, epoch, *a, **kw)
        finally:
            out["epoch"] = None

    IBRecorder.analyse = tagged
    return out


def _print_phases(phases: dict) -> None:
    epochs = sorted({e for _, e in phases["t"]})
    print("\nparts of each analysis, CPU [s] (wall [s]):")
    print("| part | " + " | ".join(f"epoch {e}" for e in epochs) + " |")
    print("|---|" + "---|" * len(epochs))
    for label, *_ in PHASES:
        cells = [phases["t"].get((label, e)) for e in epochs]
        print(f"| {label} | " + " | ".join("-" if c is None else f"{c[1]:.1f} ({c[0]:.1f})" for c in cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
