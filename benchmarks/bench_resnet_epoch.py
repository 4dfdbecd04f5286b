"""resnet-small on MNIST: one training epoch and one analysis epoch, timed on the CPU.

What it measures, in one process, with the pieces :func:`ibscope.ib.run_ib` uses:

* **train**: one epoch of Adam on the 60 000 training images (batch 1024, noise on);
  with ``--max-batches`` only that many batches run and the epoch time is
  extrapolated linearly (the table says so);
* **fit X**: the X compressor (PCA of the 784-D images, fitted once per run);
* **analysis, fit epoch**: the first analysed epoch: the probe pass over the probe
  images, the layer compressors' fit (``pca:4``; the 12 544-D stem and the other
  layers wider than 2000 use the randomized SVD), the decoders' PCA bases, every
  layer's I(X;L) and I(L;Y) with their intervals;
* **analysis, steady epoch**: a later analysed epoch (compressors and bases kept,
  ``refit="first"``): what every further epoch costs.

Per-layer seconds (the ``time_s`` column of ``info.csv``) follow the summary.

Usage::

    python benchmarks/bench_resnet_epoch.py                                   # the full measurement
    python benchmarks/bench_resnet_epoch.py --max-batches 3 --probe-size 1000  # a quick check
    python benchmarks/bench_resnet_epoch.py --data-dir /path/to/mnist --threads 2
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist", "digits"))
    ap.add_argument("--data-dir", default="/work/shared/data/mnist",
                    help="folder with the IDX files (default /work/shared/data/mnist; ignored for digits)")
    ap.add_argument("--batch-size", type=int, default=1024, help="training batch (default 1024, the MNIST run's)")
    ap.add_argument("--max-batches", type=int, default=None,
                    help="train only this many batches and extrapolate the epoch time (default: the whole epoch)")
    ap.add_argument("--probe-size", type=int, default=None,
                    help="probe images of the analysis (default: the whole test split, 10 000)")
    ap.add_argument("--compress", default="pca:4", help="layer compressor (default pca:4)")
    ap.add_argument("--n-subsamples", type=int, default=10, help="half-samples per CI (run default 10)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's setting)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    import torch.nn.functional as F

    import ibscope
    from ibscope._random import child_seed
    from ibscope.data import load_dataset, make_dataloader, normalize, probe_set
    from ibscope.ib import IBRecorder
    from ibscope.nets import build_model

    if args.threads:
        torch.set_num_threads(args.threads)
    print("# resnet-small: one training epoch and one analysis epoch (CPU)\n")
    print(f"ibscope {ibscope.__version__}, python {platform.python_version()}, torch {torch.__version__}, "
          f"cores {os.cpu_count()}, torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
    kw = {} if args.dataset == "digits" else {"data_dir": args.data_dir}
    x_train, y_train = load_dataset(args.dataset, "train", **kw)
    split = "train" if args.dataset == "digits" else "test"
    probe = probe_set(args.dataset, split, n=args.probe_size, random_state=args.seed,
                      stratify=args.probe_size is not None, **kw)
    model = build_model("resnet-small", in_shape=tuple(x_train.shape[1:]), n_classes=10, random_state=args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{args.dataset}: {len(x_train)} train images {tuple(x_train.shape[1:])}, {len(probe.labels)} probe images; "
          f"resnet-small with {n_params:,} parameters\n")

    loader = make_dataloader(x_train, y_train, batch_size=args.batch_size, shuffle=True,
                             random_state=child_seed(args.seed, 1), normalize=args.dataset)
    full_batches = math.ceil(len(x_train) / args.batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    torch.manual_seed(child_seed(args.seed, 2))
    model.train()
    t0 = time.perf_counter()
    ran = 0
    for xb, yb in loader:
        if args.max_batches is not None and ran >= args.max_batches:
            break
        opt.zero_grad(set_to_none=True)
        loss = F.nll_loss(model(xb), yb)
        loss.backward()
        opt.step()
        ran += 1
    t_batches = time.perf_counter() - t0
    t_train = t_batches * full_batches / ran
    probe_x = torch.as_tensor(normalize(probe.images, args.dataset))
    rec = IBRecorder(probe_x, probe.labels, compress=args.compress, x_fit=normalize(x_train, args.dataset),
                     n_subsamples=args.n_subsamples, random_state=child_seed(args.seed, 3))
    t0 = time.perf_counter()
    rec.prepare()
    t_x = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows_fit = rec.analyse(model, 1)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows_steady = rec.analyse(model, 2)
    t_steady = time.perf_counter() - t0

    extrapolated = f" (extrapolated from {ran} of {full_batches} batches: {t_batches:.1f} s)" if ran < full_batches else ""
    print("| phase | seconds |")
    print("|---|---:|")
    print(f"| train, one epoch{extrapolated} | {t_train:.1f} |")
    print(f"| fit X compressor (once per run) | {t_x:.1f} |")
    print(f"| analysis, fit epoch (probe pass, layer compressors, decoders, estimates) | {t_fit:.1f} |")
    print(f"| analysis, steady epoch (compressors kept) | {t_steady:.1f} |")
    print(f"\nanalysis / training, steady: {t_steady / t_train:.2f}; fit epoch: {t_fit / t_train:.2f}\n")
    print("| layer | dim | fit epoch s | steady epoch s | I(X;L) | I(L;Y) |")
    print("|---|---:|---:|---:|---:|---:|")
    for a, b in zip(rows_fit, rows_steady):
        print(f"| {a['layer']} | {a['dim_layer']} | {a['time_s']:.1f} | {b['time_s']:.1f} | {b['i_xl']:.2f} | "
              f"{b['i_ly']:.2f} |")
    if not np.all([r["layer"] == s["layer"] for r, s in zip(rows_fit, rows_steady)]):  # pragma: no cover
        print("warning: the two analyses returned different layers", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
