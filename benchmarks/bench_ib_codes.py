"""What each X code keeps: reconstruction error and I(code;Y) against H(Y), on the MNIST probe set.

An IB run estimates I(X;L) between a code of X and a code of L, so the X code
bounds what the plane can show: I(code;L) <= I(X;L). This script fits each
candidate X compressor once on the training images (as ``ibscope ib`` does),
codes the 10 000 test images and reports

* the mean absolute reconstruction error per pixel (in normalised units);
* I(code;Y) two ways: the class-conditional weighted KL estimate (kNN, the
  estimator the codes are made for) and the decoder bound H(Y) - held-out
  cross-entropy of a cross-fitted linear probe (a lower bound);
* the time to fit.

Usage::

    python benchmarks/bench_ib_codes.py --data-dir ../shared/data/mnist
    python benchmarks/bench_ib_codes.py --data-dir ../shared/data/mnist --codes pca:4,pca:8,conv-ae:4 --ae-epochs 15
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist"))
    ap.add_argument("--data-dir", default=None, help="folder with the IDX files (default: the ibscope cache)")
    ap.add_argument("--codes", default="pca:4,pca:8,pca:16,conv-ae:4,conv-ae:8",
                    help="comma-separated compressor specs for X")
    ap.add_argument("--ae-epochs", type=int, default=15, help="epochs of each autoencoder (early stopping on)")
    ap.add_argument("--fit-size", type=int, default=60000, help="training images to fit on (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import ibscope
    from ibscope.compress import parse_compressor
    from ibscope.compress.wrapper import reconstruction_error
    from ibscope.data import load_dataset, normalize
    from ibscope.estimators.discrete import label_entropy
    from ibscope.plane.decoders import LinearProbes, decoder_bounds

    kw = {"data_dir": args.data_dir} if args.data_dir else {}
    x_train, _ = load_dataset(args.dataset, "train", **kw)
    x_test, y_test = load_dataset(args.dataset, "test", **kw)
    fit = normalize(x_train[: args.fit_size], args.dataset)
    probe = normalize(x_test, args.dataset)
    h_y = label_entropy(y_test)
    print(f"# X codes on {args.dataset}: fit on {len(fit)} training images, probe = {len(probe)} test images\n")
    print(f"python {platform.python_version()}, ibscope {ibscope.__version__}, cores {os.cpu_count()}, "
          f"H(Y) = {h_y:.4f} nats\n")
    rows = []
    for spec in [s.strip() for s in args.codes.split(",") if s.strip()]:
        comp = parse_compressor(spec, random_state=args.seed)
        if spec.startswith(("conv-ae", "ae")):
            comp.set_params(epochs=args.ae_epochs, patience=5, lr=3e-3)
        t0 = time.perf_counter()
        comp.fit(fit)
        t_fit = time.perf_counter() - t0
        code = np.asarray(comp.transform(probe), dtype=np.float64)
        mae = reconstruction_error(comp, probe, code)
        kl = ibscope.mutual_information(code, y_test, y_discrete=True, estimator="wkl", ci=0.95, random_state=0)
        ce = LinearProbes(random_state=0).cross_entropies("x", code, y_test)
        dec = decoder_bounds(h_y, {"x": ce}, None, ["x"], 0.95)["x"]
        rows.append((spec, code.shape[1], mae, kl, dec, t_fit))
        print(f"{spec}: fitted in {t_fit:.1f} s", flush=True)
    print("\n| X code | dim | recon MAE / pixel | I(code;Y) class-cond. WKL [nats] | I(code;Y) linear-probe bound "
          "[nats] | fit time |")
    print("|---|---:|---:|---:|---:|---:|")
    for spec, dim, mae, kl, dec, t_fit in rows:
        print(f"| {spec} | {dim} | {mae:.3f} | {kl.value:.3f} [{kl.ci_low:.3f}, {kl.ci_high:.3f}] | "
              f"{dec['value']:.3f} [{dec['ci_low']:.3f}, {dec['ci_high']:.3f}] | {t_fit:.1f} s |")
    print(f"\nH(Y) = {h_y:.4f} nats: the most any code of X can keep about the label.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
