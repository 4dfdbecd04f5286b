"""The layout in which run folders of format 1 kept the recorder's fitted compressors (``compressors/``).

Since format 2 the state travels in the checkpoint (:meth:`ibscope.ib.IBRecorder.state_dict`); this
mixin keeps writing and reading the old layout for tools and folders that use it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..runs import atomic_write_json


class _FolderState:
    """``save_state`` / ``load_state`` of :class:`~ibscope.ib.IBRecorder` (mixed into it)."""

    fit_epoch_: Any
    refit: str
    x_compressor_: Any
    layer_compressors_: dict
    probes_: Any

    if TYPE_CHECKING:
        def _code_x(self, comp) -> None: ...  # IBRecorder's

    def save_state(self, folder) -> None:
        """Write the fitted compressors to ``folder`` (``x.npz``, ``layer-<name>.npz``, the decoders' bases
        ``decoder-<name>.npz``, ``state.json``): the layout of run folders written before the state moved
        into the checkpoint (:meth:`state_dict`), kept for tools that read it.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {"fit_epoch": self.fit_epoch_, "refit": self.refit, "x": None, "layers": {}}
        if self.x_compressor_ is not None and hasattr(self.x_compressor_, "save"):
            self.x_compressor_.save(folder / "x.npz")
            meta["x"] = "x.npz"
        if self.refit == "first":
            for name, comp in self.layer_compressors_.items():
                if comp is None:
                    meta["layers"][name] = None
                elif hasattr(comp, "save"):
                    fname = f"layer-{_safe(name)}.npz"
                    comp.save(folder / fname)
                    meta["layers"][name] = fname
            meta["decoder_bases"] = {}
            for name, basis in self.probes_.bases_.items():
                base_file: str | None = None
                if basis is not None:
                    base_file = f"decoder-{_safe(name)}.npz"
                    basis.save(folder / base_file)
                meta["decoder_bases"][name] = base_file
        atomic_write_json(folder / "state.json", meta)

    def load_state(self, folder, *, max_fit_epoch=None) -> bool:
        """Load compressors written by :meth:`save_state` (run folders of earlier versions).

        Parameters
        ----------
        folder : path-like
        max_fit_epoch : int or None
            Ignore saved layer compressors fitted after this epoch (a run killed
            after fitting but before its checkpoint refits them).

        Returns
        -------
        bool
            Whether layer compressors were restored.
        """
        from ..compress import load_compressor

        folder = Path(folder)
        path = folder / "state.json"
        if not path.is_file():
            return False
        meta = json.loads(path.read_text(encoding="utf-8"))
        if meta.get("x") and (folder / meta["x"]).is_file():
            self._code_x(load_compressor(folder / meta["x"]))
        fit_epoch = meta.get("fit_epoch")
        if self.refit != "first" or fit_epoch is None or not meta.get("layers"):
            return False
        if max_fit_epoch is not None and fit_epoch > max_fit_epoch:
            return False
        comps = {}
        for name, fname in meta["layers"].items():
            comps[name] = None if fname is None else load_compressor(folder / fname)
        self.layer_compressors_ = comps
        self.probes_.bases_ = {name: None if fname is None else load_compressor(folder / fname)
                               for name, fname in meta.get("decoder_bases", {}).items()}
        self.fit_epoch_ = int(fit_epoch)
        return True


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)



