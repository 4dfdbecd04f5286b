"""What the Lightning and TensorBoard bridges cost: analysis time per epoch against training time.

Two measurements, each printed as a small table:

* **Lightning.** A ``lightning.Trainer`` fits a noisy net with
  :class:`ibscope.integrations.lightning.InformationPlane` (every epoch analysed) and the
  callback's ``metrics.csv`` gives, per epoch, the analysis time (``analysis_s``) and the
  epoch's wall time (``time_s``); the same fit without the callback gives the training time
  alone.
* **TensorBoard.** :func:`ibscope.ib.run_ib` with a timed
  :class:`ibscope.integrations.tensorboard.TensorBoardCallback`: the callback's own time per
  epoch (scalars, the information-plane image, the flush) beside the epoch's time.

Epoch 1 also fits the layer compressors (and compiles the kNN kernels), so the tables show it
apart from the steady epochs. Run on an otherwise idle machine.

Usage::

    python benchmarks/bench_integrations.py                                   # digits, 4 epochs
    python benchmarks/bench_integrations.py --dataset mnist --data-dir ../shared/data/mnist --epochs 3
"""

from __future__ import annotations

import argparse
import csv
import platform
import tempfile
import time
from pathlib import Path


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _lightning(args, root: Path) -> None:
    import lightning as L
    import torch
    import torch.nn.functional as F

    from ibscope.data import load_dataset, make_dataloader, normalize, probe_set
    from ibscope.integrations.lightning import InformationPlane
    from ibscope.nets import build_model

    kw = {"data_dir": args.data_dir} if args.dataset != "digits" else {}
    x, y = load_dataset(args.dataset, "train", **kw)
    probe = probe_set(args.dataset, "test", n=args.probe_size, random_state=0, stratify=args.probe_size is not None,
                      **kw)

    class Lit(L.LightningModule):
        def __init__(self):
            super().__init__()
            if args.dataset == "digits":
                self.model = build_model("mlp", in_dim=(8, 8), hidden=(16, 8), random_state=0)
            else:
                self.model = build_model("paper-conv", in_shape=tuple(x.shape[1:]), random_state=0)

        def forward(self, inputs):
            return self.model(inputs)

        def training_step(self, batch, batch_idx):
            xb, yb = batch
            loss = F.nll_loss(self(xb), yb)
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    batch = 128 if args.dataset == "digits" else 1024

    def fit(callbacks):
        loader = make_dataloader(x, y, batch_size=batch, shuffle=True, random_state=0, normalize=args.dataset)
        trainer = L.Trainer(max_epochs=args.epochs, accelerator="cpu", callbacks=callbacks, logger=False,
                            enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False)
        t0 = time.perf_counter()
        trainer.fit(Lit(), loader)
        return time.perf_counter() - t0

    bare = fit([]) / args.epochs
    out = root / "lit"
    plane = InformationPlane(normalize(probe.images, args.dataset), probe.labels, module="model", ci=0.9,
                             n_subsamples=args.n_subsamples, random_state=0, out=out)
    fit([plane])
    rows = _rows(out / "metrics.csv")
    print(f"\nLightning, {args.dataset}: {len(probe.labels)} probe images, {len(plane.layers_)} layers, ci=0.9, "
          f"n_subsamples={args.n_subsamples}")
    print(f"{'epoch':>5}  {'analysis_s':>10}  {'epoch time_s':>12}")
    for r in rows:
        print(f"{r['epoch']:>5}  {float(r['analysis_s']):>10.2f}  {float(r['time_s']):>12.2f}")
    steady = [float(r["analysis_s"]) for r in rows[1:]]
    print(f"training epoch without the callback: {bare:.2f} s; steady analysis (epochs 2+): {_mean(steady):.2f} s "
          f"per epoch")


def _tensorboard(args, root: Path) -> None:
    from ibscope.ib import IBConfig, run_ib
    from ibscope.integrations.tensorboard import TensorBoardCallback

    class Timed(TensorBoardCallback):
        seconds: dict[int, float] = {}

        def on_epoch_end(self, trainer, epoch, logs):
            t0 = time.perf_counter()
            super().on_epoch_end(trainer, epoch, logs)
            self.seconds[epoch] = time.perf_counter() - t0

    model = {"model": "mlp", "hidden": [16, 8]} if args.dataset == "digits" else {}
    cfg = IBConfig(dataset=args.dataset, epochs=args.epochs, probe_size=args.probe_size, ci=0.9,
                   n_subsamples=args.n_subsamples, plots=False, seed=0, data_dir=args.data_dir, **model)
    cb = Timed(root / "tb")
    run_ib(cfg, out=root / "run", callbacks=[cb])
    rows = _rows(root / "run" / "metrics.csv")
    print(f"\nTensorBoard, run_ib on {args.dataset}: the callback's time per epoch (scalars + image + flush)")
    print(f"{'epoch':>5}  {'callback_s':>10}  {'epoch time_s (without it)':>25}")
    for r in rows:
        print(f"{r['epoch']:>5}  {cb.seconds[int(r['epoch'])]:>10.3f}  {float(r['time_s']):>25.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits", choices=("digits", "mnist", "fashion-mnist"))
    ap.add_argument("--data-dir", default=None, help="folder with the IDX files (MNIST)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--probe-size", type=int, default=None,
                    help="probe images (default: 300 for digits, the 10 000 test images for MNIST)")
    ap.add_argument("--n-subsamples", type=int, default=5)
    ap.add_argument("--only", choices=("lightning", "tensorboard"), default=None)
    args = ap.parse_args(argv)
    if args.probe_size is None and args.dataset == "digits":
        args.probe_size = 300
    import torch

    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} "
          "threads")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "lightning"):
            _lightning(args, Path(tmp))
        if args.only in (None, "tensorboard"):
            _tensorboard(args, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
