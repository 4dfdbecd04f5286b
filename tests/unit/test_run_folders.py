"""One contract for every writer of a results folder: run_ib, the Lightning callback, studies, sweeps.

Each writer is driven through the same cases:

* a kill (an exception no handler catches, as a signal would stop the process) at a write point --
  an append to a CSV log or the rename that lands an atomic write -- then the writer's own way to
  continue, must end with the rows of an uninterrupted run (for Lightning, whose data loading and
  noise streams are the user's and are not checkpointed: the same epochs and layers, once each, and
  the rows before the checkpoint unchanged);
* a torn last line (a writer killed mid-row), then continuing: the same rows;
* a folder holding the same kind of results made with another configuration: ConfigMismatchError,
  nothing changed; another kind of ibscope folder: ForeignFolderError; unrelated files:
  FolderNotEmptyError; a file in the folder's place: NotAFolderError (also an OSError).

The default suite runs a few write points per writer; ``--run-slow`` runs every one.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import importlib.util
import math
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from ibscope.ib import IBConfig, load_run, run_ib
from ibscope.runs import ConfigMismatchError, FolderNotEmptyError, ForeignFolderError, NotAFolderError
from ibscope.study import run_study
from ibscope.sweep import Grid, Method, SweepConfig, run_sweep


def _tiny(**kw) -> IBConfig:
    params = dict(dataset="digits", model="mlp", hidden=[16, 8], epochs=2, batch_size=256, probe_size=200,
                  n_subsamples=3, ci=0.9, plots=False, threads=1, seed=0)
    params.update(kw)
    return IBConfig(**params)


def _sweep(**kw) -> SweepConfig:
    g = dict(tasks=["gaussian"], task_params={"dim_x": 2, "dim_y": 2}, mi=[0.0, 1.0],
             methods=[Method("ksg"), Method("ksg", compress_x="pca:1")], n=[300], seeds=[0])
    g.update(kw)
    return SweepConfig([Grid(**g)], compressor_options={"n_train": 200})


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


_KEYS = ("epoch", "layer", "i_xl_raw", "i_xl_lo", "i_xl_hi", "i_ly_raw", "i_ly_lo", "i_ly_hi", "flags")


def _ib_rows(folder: Path) -> list:
    info = [tuple(r[k] for k in _KEYS) for r in _read(folder / "info.csv")]
    metrics = [(r["epoch"], r["test_loss"], r["test_acc"]) for r in _read(folder / "metrics.csv")]
    return [info, metrics]


@dataclasses.dataclass
class Writer:
    """How to start, continue and read one kind of writer."""

    name: str
    start: Callable[[Path], object]
    resume: Callable[[Path], object]
    rows: Callable[[Path], list]
    other: Callable[[Path], object]  # the same writer with another configuration
    exact: bool = True  # a continued run gives exactly the uninterrupted rows


def _study_rows(folder: Path) -> list:
    return [_ib_rows(folder / "runs" / "base" / f"seed{s}") for s in (0, 1)]


def _sweep_rows(folder: Path) -> list:
    rows = [r for r in _read(folder / "results.csv") if r["status"] == "ok"]
    return sorted((r["job_key"], r["estimate"], r["raw"]) for r in rows)


def _lightning_writer() -> Writer | None:
    if importlib.util.find_spec("lightning") is None:
        return None
    import lightning as L
    import torch
    import torch.nn.functional as F
    from lightning.pytorch.callbacks import ModelCheckpoint

    from ibscope.data import load_dataset, make_dataloader, normalize, probe_set
    from ibscope.integrations.lightning import InformationPlane
    from ibscope.nets import MLP

    x, y = load_dataset("digits", "train")
    probe = probe_set("digits", "test", n=200, random_state=0, stratify=True)
    px, py = normalize(probe.images, "digits"), probe.labels

    class Lit(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = MLP(in_dim=(8, 8), hidden=(16, 8), noise_sigma=1e-3, random_state=0)

        def forward(self, xb):
            return self.model(xb)

        def training_step(self, batch, batch_idx):
            xb, yb = batch
            loss = F.nll_loss(self(xb), yb)
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-2)

    def fit(out: Path, *, resume: bool, k: int = 5):
        ckpts = out.parent / (out.name + "-ckpt")
        last = ckpts / "last.ckpt"
        cb = InformationPlane(px, py, module="model", ci=0.9, n_subsamples=3, random_state=0, k=k, out=out)
        trainer = L.Trainer(max_epochs=2, accelerator="cpu", devices=1, enable_progress_bar=False,
                            enable_model_summary=False, logger=False, log_every_n_steps=1,
                            callbacks=[cb, ModelCheckpoint(dirpath=ckpts, save_last=True)])
        loader = make_dataloader(x, y, batch_size=256, shuffle=True, random_state=0, normalize="digits")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Lightning's own notes (checkpoint folder exists, ...)
            trainer.fit(Lit(), loader, ckpt_path=last if resume and last.is_file() else None)

    return Writer("lightning", lambda o: fit(o, resume=False), lambda o: fit(o, resume=True), _ib_rows,
                  lambda o: fit(o, resume=True, k=3), exact=False)


def _same(w: Writer, got: list, want: list, checkpoint_epoch: int | None = None) -> bool:
    if w.exact:
        return got == want
    (info, metrics), (ref_info, ref_metrics) = got, want
    keys = [r[:2] for r in info] == [r[:2] for r in ref_info] and [m[0] for m in metrics] == [m[0] for m in ref_metrics]
    first = [r for r in info if r[0] == "1"] == [r for r in ref_info if r[0] == "1"]
    return keys and first


def _writers() -> list[Writer]:
    out = [
        Writer("run_ib", lambda o: run_ib(_tiny(), out=o), lambda o: run_ib(_tiny(), out=o, resume=True), _ib_rows,
               lambda o: run_ib(_tiny(lr=1e-2), out=o, resume=True)),
        Writer("study", lambda o: run_study(_tiny(), seeds=[0, 1], out=o, executor="sequential"),
               lambda o: run_study(_tiny(), seeds=[0, 1], out=o, executor="sequential"), _study_rows,
               lambda o: run_study(_tiny(noise=1e-2), seeds=[0, 1], out=o, executor="sequential")),
        Writer("sweep", lambda o: run_sweep(_sweep(), o, executor="sequential"),
               lambda o: run_sweep(_sweep(), o, executor="sequential"), _sweep_rows,
               lambda o: run_sweep(_sweep(mi=[0.0, 2.0]), o, executor="sequential")),
    ]
    lit = _lightning_writer()
    return out + ([lit] if lit is not None else [])


WRITERS = {w.name: w for w in _writers()}
#: writers whose contract tests run in the slow tier (``--run-slow``; CI runs it): the others share their
#: code paths (the lifecycle, the schema) and keep the default suite short
SLOW_WRITERS = ("lightning", "study")


def _writer_params():
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_WRITERS else n for n in WRITERS]


class _References(dict):
    """The rows of one uninterrupted run of a writer, and how many writes it made; computed on first use."""

    def __init__(self, root):
        super().__init__()
        self.root = root

    def __missing__(self, name):
        w = WRITERS[name]
        counts = _count_writes(w.start, self.root / name)
        self[name] = (w.rows(self.root / name), counts)
        return self[name]


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    return _References(tmp_path_factory.mktemp("ref"))


class _Kill(BaseException):
    """A kill: not an Exception (nothing handles it), not a KeyboardInterrupt (Lightning would exit)."""


def _count_writes(fn, *args) -> dict:
    """Run ``fn(*args)`` and count the calls of every write point."""
    from ibscope.runs import atomic, csvlog

    counts = {"append": 0, "replace": 0}
    real_append, real_replace = csvlog.CSVLog.append, atomic.os.replace

    def append(self, rows):
        counts["append"] += 1
        return real_append(self, rows)

    def replace(a, b):
        counts["replace"] += 1
        return real_replace(a, b)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(csvlog.CSVLog, "append", append)
        m.setattr(atomic.os, "replace", replace)
        fn(*args)
    return counts


def _kill_at(m, point: str, call: int) -> None:
    """Make the ``call``-th call of a write point raise before it writes."""
    from ibscope.runs import atomic, csvlog

    seen = {"n": 0}
    if point == "append":
        real = csvlog.CSVLog.append

        def append(self, rows):
            seen["n"] += 1
            if seen["n"] == call:
                raise _Kill(f"killed before append #{call}")
            return real(self, rows)

        m.setattr(csvlog.CSVLog, "append", append)
    else:
        real_replace = atomic.os.replace

        def replace(a, b):
            seen["n"] += 1
            if seen["n"] == call:
                raise _Kill(f"killed before rename #{call}")
            return real_replace(a, b)

        m.setattr(atomic.os, "replace", replace)


def _continue(w: Writer, out: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "set up but finished no epoch": a fresh start
        w.resume(out)


def _points(counts: dict, every: bool) -> list[tuple[str, int]]:
    points = [(p, i) for p, n in counts.items() for i in range(1, n + 1)]
    if every:
        return points
    # in the default suite, one of each kind of write per writer: a middle append and a middle rename
    return [(p, max(1, n // 2)) for p, n in counts.items() if n]


@pytest.mark.parametrize("name", _writer_params())
def test_a_kill_at_a_write_point_then_continuing_gives_the_uninterrupted_rows(tmp_path, name, references, request):
    w = WRITERS[name]
    want, counts = references[name]
    every = request.config.getoption("--run-slow")
    for point, call in _points(counts, every):
        out = tmp_path / f"{point}{call}"
        with pytest.MonkeyPatch.context() as m:
            _kill_at(m, point, call)
            with pytest.raises(_Kill):
                w.start(out)
        _continue(w, out)
        assert _same(w, w.rows(out), want), (name, point, call)


@pytest.mark.parametrize("name", _writer_params())
def test_a_torn_last_line_is_dropped_and_redone(tmp_path, name, references):
    w = WRITERS[name]
    want, _ = references[name]
    out = tmp_path / "run"
    w.start(out)
    log = {"sweep": out / "results.csv", "study": out / "runs" / "base" / "seed1" / "info.csv"}.get(
        name, out / "info.csv")
    data = log.read_bytes()
    log.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 12])  # the last row cut mid-line
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        w.resume(out)
    assert _same(w, w.rows(out), want)


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".ibscope.lock"}


@pytest.mark.parametrize("name", _writer_params())
def test_foreign_folders_are_refused_with_one_exception_per_condition(tmp_path, name, references):
    w = WRITERS[name]
    out = tmp_path / "run"
    w.start(out)
    before = _digest(out)
    with pytest.raises(ConfigMismatchError):
        w.other(out)
    assert _digest(out) == before
    # another kind of ibscope folder
    kinds = {"run_ib": "sweep", "lightning": "sweep", "study": "run_ib", "sweep": "run_ib"}
    other = tmp_path / "other"
    WRITERS[kinds[name]].start(other)
    snapshot = _digest(other)
    with pytest.raises(ForeignFolderError):
        w.resume(other)
    assert _digest(other) == snapshot
    # files ibscope did not write
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("mine")
    with pytest.raises(FolderNotEmptyError):
        w.start(notes)
    assert [p.name for p in notes.iterdir()] == ["notes.txt"]
    # a file where the folder should be
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(NotAFolderError) as info:
        w.start(blocker)
    assert isinstance(info.value, OSError) and blocker.read_text() == "x"


@pytest.mark.slow
def test_load_run_reads_every_ib_writer(tmp_path, references):
    for name in ("run_ib", "lightning", "study"):
        if name not in WRITERS:
            continue
        out = tmp_path / name
        WRITERS[name].start(out)
        folder = out / "runs" / "base" / "seed0" if name == "study" else out
        run = load_run(folder)
        assert run.finished and len(run.info) and len(run.metrics), name
        assert all(math.isfinite(v) for v in run.info["i_xl_code_raw"]), name
        assert run.writer == ("lightning" if name == "lightning" else "ibscope ib")


def test_load_run_of_a_cut_info_csv_is_not_finished_and_says_why(tmp_path):
    out = tmp_path / "run"
    run_ib(_tiny(), out=out)
    data = (out / "info.csv").read_bytes().splitlines(keepends=True)
    (out / "info.csv").write_bytes(b"".join(data[: 1 + (len(data) - 1) // 2]))
    with pytest.warns(RuntimeWarning, match=r"info\.csv has \d+ complete rows where summary\.json recorded \d+"):
        run = load_run(out)
    assert not run.finished and run.problems
