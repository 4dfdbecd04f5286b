"""An autoencoder compressor in an IB run says what it costs and shows its progress (with progress on only)."""

from __future__ import annotations

import pytest

from ibscope.ib import IBConfig, run_ib


def _cfg(**kw):
    return IBConfig(dataset="digits", epochs=1, ci=0, plots=False, probe_size=300, **kw)


@pytest.mark.slow
def test_autoencoder_fit_announces_its_cost(tmp_path, capsys):
    run_ib(_cfg(compress_x="ae:4"), out=tmp_path / "a", progress=True)
    err = capsys.readouterr().err
    assert "ibscope: fitting the X compressor DenseAutoencoder(latent_dim=4) on 1437 rows for up to 200 epochs" in err
    assert "DenseAutoencoder fit" in err  # the bar


@pytest.mark.slow
def test_no_note_without_progress_or_for_pca(tmp_path, capsys):
    run_ib(_cfg(compress_x="ae:4"), out=tmp_path / "b", progress=False)
    run_ib(_cfg(), out=tmp_path / "c", progress=True)
    assert "fitting the" not in capsys.readouterr().err
