"""The steps of one analysed epoch, as methods of :class:`~ibscope.ib.IBRecorder`.

:meth:`_AnalysisSteps._probe` is the part that needs the live model (the probe pass, with the
noise streams it used recorded); :meth:`_AnalysisSteps._finish` turns its activations into rows:
the decoders of the label, the brackets (:func:`ibscope.plane.brackets.xl_brackets`), the code MI
of each layer with its checks, the bounds from the network's head and the flags. Split this way,
the synchronous path runs both in turn and the background worker (:mod:`ibscope.ib.worker`) runs
the second on its own thread.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .._random import child_seed
from .._result import UNIT_FACTORS
from ..compress import CompressedEstimator, is_fitted
from ..compress.wrapper import DPI_NOTE, DPI_NOTE_SHORT, Coded
from ..plane.bounds import HeadBounds, head_bounds
from ..plane.decoders import decoder_bounds
from ..plane.flags import flag_rows
from .config import make_analysis_estimator as _make_estimator

#: ``MIResult.to_row`` column maps of the two estimates in a row
_XL_COLUMNS = {"value": "i_xl_code", "ci_low": "i_xl_code_lo", "ci_high": "i_xl_code_hi",
               "raw_value": "i_xl_code_raw", "estimator": "estimator"}
_LY_COLUMNS = {"value": "i_ly", "ci_low": "i_ly_lo", "ci_high": "i_ly_hi", "raw_value": "i_ly_raw",
               "estimator": "estimator_y"}
#: the compression notes every code estimate carries (said once, in the run's documentation, not per row)
DPI_NOTES = (DPI_NOTE, DPI_NOTE_SHORT)


def _spec_text(spec) -> str:
    if spec is None:
        return "none"
    if isinstance(spec, str):
        return spec
    return repr(spec)


class _AnalysisSteps:
    """The analysis of one epoch, split into the probe pass and the rest (mixed into ``IBRecorder``)."""

    # attributes that IBRecorder sets (its configuration and fitted state)
    ci: Any
    units: str
    fit_epoch_: int | None
    bounds_: HeadBounds | None
    _noise_before: tuple[int, dict] | None
    _copy_exact: bool | None

    if TYPE_CHECKING:  # the rest of IBRecorder's attributes and methods, for the type checker
        def __getattr__(self, name: str) -> Any: ...

    def _decode(self, names: list[str], acts, bounds: HeadBounds):
        """Per layer, the decoder bound on I(L;Y) in nats (:func:`ibscope.plane.decoders.decoder_bounds`) and the
        seconds its own probe took."""
        own, seconds = {}, {}
        for name in names:
            t0 = time.perf_counter()
            own[name] = self.probes_.cross_entropies(name, acts.layers[name], acts.y, refit=self.refit == "every")
            seconds[name] = time.perf_counter() - t0
        head = None
        if not bounds.note and acts.output is not None:
            out = np.asarray(acts.output, dtype=np.float64)
            head = -out[np.arange(len(out)), self.probe_labels_.astype(np.int64)]
        level = None if self.ci is None else float(self.ci)
        return decoder_bounds(bounds.h_y, own, head, names, level), seconds

    def _submit(self, worker, model, epoch: int, logs: dict) -> list[dict]:
        """The background mode (:mod:`ibscope.ib.worker`): the probe pass now, the rest in ``worker``; the
        future of the epoch's rows goes to ``logs["pending"]``. Returns no rows (they come with the future)."""
        from .worker import draws_global_rng, frozen_copy

        t0 = time.perf_counter()
        probe = self._probe(model, epoch)
        target, brackets = None, None
        if self.brackets:
            target = frozen_copy(model)
            if self._copy_exact is None:  # once per run: may the copy's passes skip seeding the global generators?
                self._copy_exact = not draws_global_rng(target, self._probe_batch())
            if not self._copy_exact:  # the brackets need the global generators: here, as in the synchronous mode
                brackets, target = self._brackets(model, probe["names"], probe["acts"], epoch), None
        probe["seconds"] = time.perf_counter() - t0
        logs["pending"] = worker.submit(self._finish_job, probe, target, brackets)
        metrics = logs.setdefault("metrics", {})
        metrics["analysed"] = 1
        metrics["analysis_wait_s"] = probe["seconds"]  # the trainer adds the time it waits for the rest
        return []

    def _finish_job(self, probe: dict, model, brackets) -> dict[str, Any]:
        """The worker's part of a background analysis: the rows and the analysis' own seconds."""
        rows = self._finish(probe, model, brackets, fork_global_rng=False)
        return {"rows": rows, "metrics": {"analysis_s": self.last_analysis_s}}

    def _probe_batch(self):
        """A few probe rows, on the model's side (for :func:`~ibscope.ib.worker.draws_global_rng`)."""
        import torch

        x = self.probe_x[:8]
        return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float32))

    def _probe(self, model, epoch: int) -> dict[str, Any]:
        """The part of an analysis that needs the live model: the probe pass (it draws from the model's
        noise streams, whose state before it is kept so that a lost row can be redone exactly)."""
        t_start = time.perf_counter()
        self.prepare()
        self._emit("probe pass", epoch=int(epoch))
        self._noise_before = (int(epoch), _noise_state(model))  # so that a lost row can be redone exactly
        names, acts = self.capture(model)
        if self.refit == "first" and self.fit_epoch_ is None:
            self.fit_epoch_ = int(epoch)
        return {"epoch": epoch, "names": names, "acts": acts, "seconds": time.perf_counter() - t_start}

    def _finish(self, probe: dict[str, Any], model, brackets: dict | None = None, *,
                fork_global_rng: bool = True) -> list[dict]:
        """The rest of an analysis, from the probe pass' activations: codes, estimates, decoders, brackets
        (through ``model``, unless ``brackets`` are given), flags. Sets :attr:`last_analysis_s`."""
        t_start = time.perf_counter() - probe["seconds"]
        epoch, names, acts = probe["epoch"], probe["names"], probe["acts"]
        x_coded = self.x_coded_
        if x_coded is None:  # pragma: no cover - prepare() sets it
            raise RuntimeError("IBRecorder.prepare() did not compute the X code.")
        bounds = head_bounds(acts.output, self.probe_labels_) if acts.output is not None else \
            HeadBounds(h_y=float("nan"), note="the model's output was not captured")
        self.bounds_ = bounds
        self.bounds_history.append({"epoch": int(epoch), **bounds.to_dict()})
        factor = UNIT_FACTORS[self.units]
        bound_cells = bounds.in_units(factor)
        bound_note = [] if not bounds.note else [f"bound: not computed, {bounds.note}"]
        if self.label_side == "decoder":
            self._emit("decoders", epoch=int(epoch))
        decoded, decode_time = self._decode(names, acts, bounds) if self.label_side == "decoder" else ({}, {})
        if brackets is None:
            brackets = self._brackets(model, names, acts, epoch, fork_global_rng=fork_global_rng)
        rows = []
        for li, name in enumerate(names):
            self._emit("estimates", layer=name, index=li, total=len(names), epoch=int(epoch))
            t0 = time.perf_counter()
            layer = acts.layers[name]
            comp = self._layer_compressor(name, li, layer)
            if comp is not None and not is_fitted(comp):
                self._announce_fit(comp, f"layer {name}", layer)
            common = dict(k=self.k, ci=self.ci, n_subsamples=self.n_subsamples, units=self.units,
                          backend=self.knn_backend, device=self.device)
            est_xl = _make_estimator(self.estimator, y_discrete=False,
                                     random_state=child_seed(self.random_state, epoch, li + 1, 1), **common)
            # Algorithm 1: the layer coded once (its compressor fitted now if new), the estimates on the codes
            coded = CompressedEstimator(est_xl, compressor_y=comp, refit="first").encode("y", layer)
            if coded.info is None:
                coded = Coded(layer.astype(np.float64), None)
            r_xl = CompressedEstimator(est_xl, self.x_compressor_, comp, refit="never").estimate_coded(x_coded, coded)
            checks = self._code_checks(x_coded.codes, coded.codes, epoch, li, factor)
            warns = [f"I(X;L) code MI: {w}" for w in r_xl.warnings if w not in DPI_NOTES]
            best = None
            if self.label_side == "decoder":
                d = decoded[name]
                ly = {"i_ly": max(d["own"], 0.0) * factor, "i_ly_lo": _times(d["own_ci_low"], factor),
                      "i_ly_hi": _times(d["own_ci_high"], factor), "i_ly_raw": d["own"] * factor,
                      "i_ly_best": d["value"] * factor, "ly_decoder": "linear probe", "ly_best_by": d["decoder"],
                      "estimator_y": "decoder"}
                best = d["value"] if d["ci_low"] is None else d["ci_low"]
                if d["own"] < 0:
                    warns.append(f"I(L;Y): the layer's decoder bound {d['own']:.4g} nats is negative (the linear "
                                 "probe does not beat the label frequencies); the value was clipped to 0.")
            else:
                est_ly = _make_estimator(self.estimator_y, y_discrete=True,
                                         random_state=child_seed(self.random_state, epoch, li + 1, 2), **common)
                r_ly = CompressedEstimator(est_ly, comp, refit="never").estimate_coded(coded, Coded(acts.y))
                ly = {**r_ly.to_row(_LY_COLUMNS), "i_ly_best": None, "ly_decoder": "codes", "ly_best_by": None}
                warns += [f"I(L;Y): {w}" for w in r_ly.warnings if w not in DPI_NOTES]
            xl, notes = self._bracket_cells(brackets, name, best, factor)
            warns += notes
            rows.append({
                "epoch": int(epoch),
                "layer": name,
                "layer_index": li,
                **xl,
                **r_xl.to_row(_XL_COLUMNS),
                **checks,
                **ly,
                "h_y": self.h_y_,
                **bound_cells,
                "flags": "",
                "units": self.units,
                "n": acts.n_samples,
                "k": self.k,
                "ci_level": self.ci,
                "compressor": _spec_text(self.compress) if comp is not None else "none",
                "compressor_x": _spec_text(self.compress_x) if self.x_compressor_ is not None else "none",
                "refit": self.refit,
                "fit_epoch": int(epoch) if self.refit == "every" else self.fit_epoch_,
                "dim_layer": int(layer.shape[1]),
                "dim_code": int(np.shape(coded.codes)[1]),
                "recon_mae": 0.0 if coded.info is None else coded.info["sample_reconstruction_error"],
                "seed": self.random_state,
                "time_s": time.perf_counter() - t0 + decode_time.get(name, 0.0),
                "warnings": " | ".join([*dict.fromkeys(warns), *bound_note]),
            })
        flag_rows(rows, self.h_y_, ln_n=math.log(len(self.probe_y)) * factor)
        self.history.extend(rows)
        self.last_analysis_s = time.perf_counter() - t_start
        self._emit("done", epoch=int(epoch))
        return rows

    def _code_checks(self, x_codes, l_codes, epoch: int, index: int, factor: float) -> dict[str, Any]:
        """The code MI by a second estimator (KSG) and of a second code dimension (the first two components),
        without intervals: what a study's phase gate compares (raw values, in ``units``)."""
        import warnings

        out: dict[str, Any] = {"i_xl_code_ksg": None, "i_xl_code_2d": None}
        if not self.code_checks:
            return out
        x, z = np.asarray(x_codes, dtype=np.float64), np.asarray(l_codes, dtype=np.float64)
        seed = child_seed(self.random_state, epoch, index + 1, 3)
        common = dict(k=self.k, ci=None, units="nats", backend=self.knn_backend, device=self.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the row's own estimate carries the warnings
            try:
                ksg = _make_estimator("ksg", y_discrete=False, random_state=seed, **common)
                out["i_xl_code_ksg"] = ksg.estimate(x, z).raw_value * factor
                if x.shape[1] > 2 or z.shape[1] > 2:
                    est = _make_estimator(self.estimator, y_discrete=False, random_state=seed, **common)
                    out["i_xl_code_2d"] = est.estimate(x[:, :2], z[:, :2]).raw_value * factor
            except (ValueError, ArithmeticError):  # too few rows or a degenerate code: no check value
                pass
        return out

    def _brackets(self, model, names: list[str], acts, epoch: int, *,
                  fork_global_rng: bool = True) -> dict[str, dict[str, Any]]:
        """Per layer, the provable brackets on I(X;L) and I(L;Y) and the estimate of I(X;L)
        (:func:`ibscope.plane.brackets.xl_brackets`, nats); empty when ``brackets`` is off.

        The probe pass of this epoch gives the decoding references (its noise is independent of the
        identification trials). ``exp(L5)``, a bijection of L5, shares L5's values.
        """
        if not self.brackets:
            return {}
        from ..plane.brackets import xl_brackets

        self._emit("brackets", epoch=int(epoch))
        modules = [n for n in names if n in acts.layers and not n.startswith("exp(")]
        refs = {n: np.asarray(acts.layers[n], dtype=np.float64) for n in modules}
        out = xl_brackets(model, self.probe_x, self.probe_y, modules, n_trials=self.bracket_trials,
                          estimate=self.xl_estimate, references=refs, cache=self._bracket_cache,
                          random_state=child_seed(self.random_state, epoch, 0, 7), batch_size=self.batch_size,
                          device=self.device, fork_global_rng=fork_global_rng)
        for n in names:
            if n.startswith("exp(") and n[4:-1] in out:
                out[n] = out[n[4:-1]]
        return out

    def _bracket_cells(self, brackets: dict, name: str, decoder_lower: float | None,
                       factor: float) -> tuple[dict[str, Any], list[str]]:
        """The ``info.csv`` cells of one layer's brackets and estimate (in ``units``), and their notes."""
        b = brackets.get(name)
        if b is None:
            cells = {"i_xl": None, "i_xl_lo": None, "i_xl_hi": None, "i_xl_raw": None, "i_xl_method": "off",
                     "xl_lower": None, "xl_upper": None, "xl_bounds_by": None, "ly_lower": None,
                     "ly_upper": self.h_y_}
            if decoder_lower is not None:
                cells["ly_lower"] = max(decoder_lower, 0.0) * factor
            return cells, []
        raw = b["i_xl"]
        lower_y = [v for v in (b.get("ly_lower_ident"), decoder_lower) if v is not None and math.isfinite(v)]
        # Y is a function of X, so I(X;L) >= I(L;Y) >= ly_lower: a decoder that reads more of Y than the
        # identification trials can show of X raises the lower bound on I(X;L) too
        xl_lower, xl_by = _finite(b["xl_lower"]), b.get("xl_lower_by") or "-"
        ly_lower = max(max(lower_y), 0.0) if lower_y else None
        if ly_lower is not None and (xl_lower is None or ly_lower > xl_lower):
            xl_lower, xl_by = ly_lower, "I(L;Y) lower bound"
        cells = {
            "i_xl": None if not math.isfinite(raw) else max(raw, 0.0) * factor,
            "i_xl_lo": _times(_finite(b["i_xl_lo"]), factor), "i_xl_hi": _times(_finite(b["i_xl_hi"]), factor),
            "i_xl_raw": None if not math.isfinite(raw) else raw * factor, "i_xl_method": b["i_xl_method"],
            "xl_lower": _times(xl_lower, factor), "xl_upper": _times(_finite(b["xl_upper"]), factor),
            "xl_bounds_by": f"{xl_by} / {b.get('xl_upper_by') or '-'}",
            "ly_lower": _times(ly_lower, factor),
            "ly_upper": _times(_finite(b["ly_upper"]), factor),
        }
        notes = [f"brackets: {n}" for n in b.get("notes", [])]
        return cells, notes


def _noise_state(model) -> dict:
    """The generator states of the model's noise layers (empty without any)."""
    from ..nets import get_noise_rng_state

    try:
        return get_noise_rng_state(model)
    except Exception:  # a model without ibscope noise layers, or not a module
        return {}


def _finite(value):
    """A float, or None when it is missing or not finite."""
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _times(value, factor: float):
    return None if value is None else value * factor
