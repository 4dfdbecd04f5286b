"""IB figures: the planes figure, the H(Y) line and label, legends off the data, wording for a single run.

The runs are written by hand (info.csv and metrics.csv with known numbers), so nothing trains here.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ibscope import plots  # noqa: E402
from ibscope.plots.seeds import _plane_bands  # noqa: E402

H_Y = np.log(10)
LAYERS = ("L1", "L2", "L3")


def _info(shift: float = 0.0, epochs: int = 6) -> pd.DataFrame:
    """I(L;Y) climbing to H(Y) itself at the last epoch: the case where the H(Y) label used to leave the frame."""
    rows = []
    for e in range(1, epochs + 1):
        for j, layer in enumerate(LAYERS):
            i_ly = H_Y * (e / epochs) ** (j + 1)
            i_xl = 3.0 - 0.4 * j + 0.1 * e + shift
            rows.append({"epoch": e, "layer": layer, "layer_index": j, "i_xl": i_xl, "i_xl_raw": i_xl,
                         "i_xl_lo": i_xl - 0.1, "i_xl_hi": i_xl + 0.1, "i_ly": i_ly, "i_ly_raw": i_ly,
                         "i_ly_lo": i_ly - 0.05, "i_ly_hi": i_ly + 0.05, "h_y": H_Y, "bound": 0.5 * e / epochs * H_Y,
                         "flags": "", "units": "nats"})
    return pd.DataFrame(rows)


def _run_folder(path: Path, shift: float = 0.0) -> Path:
    path.mkdir(parents=True)
    _info(shift).to_csv(path / "info.csv", index=False)
    pd.DataFrame({"epoch": range(1, 7), "train_loss": np.linspace(2, 0.5, 6) + shift,
                  "test_loss": np.linspace(2.1, 0.6, 6), "train_acc": 0.5, "test_acc": 0.5}).to_csv(
        path / "metrics.csv", index=False)
    return path


def _canvas(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _h_y_text(ax):
    texts = [t for t in ax.texts if t.get_text() == "H(Y)"]
    assert len(texts) == 1, [t.get_text() for t in ax.texts]
    return texts[0]


def _h_y_lines(ax):
    return [ln for ln in ax.get_lines() if ln.get_gid() == "h_y" or
            (ln.get_linestyle() == ":" and np.allclose(ln.get_ydata(), H_Y))]


def _assert_h_y_inside(ax):
    """The H(Y) line is within the y-limits and its label is drawn entirely inside the axes."""
    renderer = _canvas(ax.figure)
    lo, hi = ax.get_ylim()
    assert lo < H_Y < hi, (lo, hi)
    box, frame = _h_y_text(ax).get_window_extent(renderer), ax.get_window_extent(renderer)
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, (box, frame)
    assert _h_y_lines(ax)


def test_information_planes_return_a_figure_with_one_panel_per_layer():
    fig = plots.plot_information_planes(_info())
    assert isinstance(fig, Figure)
    panels = fig.axes[:len(LAYERS)]
    assert [ax.get_title() for ax in panels] == list(LAYERS)
    assert all(ax.get_xlabel() == "code MI [nats] (not I(X;L))" for ax in panels)  # rows without brackets
    for ax in panels:
        _assert_h_y_inside(ax)
    # drawing onto given axes returns their figure
    own = Figure()
    axes = own.subplots(1, 3)
    assert plots.plot_information_planes(_info(), axes=axes) is own
    with pytest.raises(ValueError, match=r"must hold one axes per layer: got 2 axes for 3 layers"):
        plots.plot_information_planes(_info(), axes=axes[:2])


@pytest.mark.parametrize("height", [1.6, 2.4, 4.8])
def test_h_y_label_stays_inside_the_axes(height):
    """Short axes (a panel among several) are where the label used to be clipped by the top of the frame."""
    fig = Figure(figsize=(4.0, height), layout="constrained")
    _assert_h_y_inside(plots.plot_information_plane(_info(), "L1", ax=fig.subplots()))
    fig = Figure(figsize=(4.0, height), layout="constrained")
    _assert_h_y_inside(plots.plot_mi_vs_epoch(_info(), "i_ly", ax=fig.subplots()))
    _assert_h_y_inside(plots.plot_information_plane(_info(), "L1"))
    ax = plots.plot_mi_vs_epoch(_info(), "i_ly")
    _assert_h_y_inside(ax)
    # the data are all still in view (the limits were widened, never cut)
    lo, hi = ax.get_ylim()
    assert lo <= _info()["i_ly"].min() and _info()["i_ly"].max() < hi
    import matplotlib.pyplot as plt

    plt.close("all")


def test_mi_vs_epoch_legend_does_not_cover_the_data():
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    plots.plot_mi_vs_epoch(_info(), "i_ly", ax=ax)
    renderer = _canvas(fig)
    legend = ax.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()][:3] == list(LAYERS)
    box = legend.get_window_extent(renderer)
    frame = ax.get_window_extent(renderer)
    assert box.x0 >= frame.x1  # beside the axes, so over no line or marker
    fig_box = fig.bbox
    assert box.x1 <= fig_box.x1 + 1  # and still inside the figure (the layout made room)
    # a new figure made by the function itself has room for it too
    ax = plots.plot_mi_vs_epoch(_info(), "i_xl")
    renderer = _canvas(ax.figure)
    assert ax.get_legend().get_window_extent(renderer).x1 <= ax.figure.bbox.x1 + 1
    import matplotlib.pyplot as plt

    plt.close("all")


def test_band_plots_draw_h_y_and_say_how_many_runs(tmp_path):
    runs = [_run_folder(tmp_path / "s0"), _run_folder(tmp_path / "s1", shift=1.0)]
    agg, _ = plots.aggregate_runs(runs)
    assert agg["h_y"].to_numpy() == pytest.approx(H_Y)
    fig = Figure(layout="constrained")
    a1, a2 = fig.subplots(2, 1)
    plots.plot_mi_bands(agg, "i_ly", ax=a1)
    plots.plot_mi_bands(agg, "i_xl", ax=a2)
    _assert_h_y_inside(a1)
    assert not _h_y_lines(a2) and not [t for t in a2.texts if t.get_text() == "H(Y)"]  # I(X;L) has no ceiling
    assert a1.get_ylabel() == "I(L;Y) [nats] (mean ± std, 2 runs)"
    fig = Figure(layout="constrained")
    ax = fig.subplots()
    _plane_bands(agg, "L2", ax, 1, 6)
    _assert_h_y_inside(ax)
    assert ax.get_title() == "L2 (mean ± std)"
    # a single run: no "mean ± std" and no "1 runs"
    one, _ = plots.aggregate_runs(runs[:1])
    fig = Figure(layout="constrained")
    a1, a2 = fig.subplots(1, 2)
    plots.plot_mi_bands(one, "i_ly", ax=a1)
    _plane_bands(one, "L2", a2, 1, 6)
    assert a1.get_ylabel() == "I(L;Y) [nats] (1 run)" and a2.get_title() == "L2"
    files = plots.plot_ib_runs(iter(runs[:1]), out=tmp_path / "one", formats=("png",), label="noise=0.01")
    assert len(files) == 3


def test_seed_figures_titles_for_one_and_several_runs(tmp_path, monkeypatch):
    runs = [_run_folder(tmp_path / "s0"), _run_folder(tmp_path / "s1", shift=1.0)]
    titles = []
    real = plots.seeds.save_figure

    def spy(fig, folder, stem, formats, **kw):
        titles.append((stem, fig._suptitle.get_text() if fig._suptitle else "",
                       [ax.get_title() for ax in fig.axes] + [ax.get_ylabel() for ax in fig.axes]))
        return real(fig, folder, stem, formats, **kw)

    monkeypatch.setattr(plots.seeds, "save_figure", spy)
    plots.plot_ib_runs(runs, out=tmp_path / "two", formats=("png",))
    plots.plot_ib_runs(runs[:1], out=tmp_path / "one", formats=("png",), label="lr=0.01")
    two, one = dict((s, (t, rest)) for s, t, rest in titles[:3]), dict((s, (t, rest)) for s, t, rest in titles[3:])
    assert two["seeds_info_plane"][0] == "Information plane, mean ± std over 2 runs"
    assert one["seeds_info_plane"][0] == "lr=0.01: Information plane, 1 run"
    assert "L1 (mean ± std)" in two["seeds_info_plane"][1] and "L1" in one["seeds_info_plane"][1]
    assert not any("mean ± std" in t or "1 runs" in t for t in one["seeds_info_plane"][1]
                   + one["seeds_mi_vs_epoch"][1] + one["seeds_loss"][1])
    assert "lr=0.01: 1 run" in one["seeds_loss"][1] and "NLL loss [nats/sample] (mean ± std)" in two["seeds_loss"][1]


def test_sweep_figure_says_single_seed():
    from matplotlib.figure import Figure

    from ibscope.plots import plot_estimate_vs_true

    def results(seeds):
        return pd.DataFrame([{"task": "gaussian", "n": 500, "method": "ksg", "true_mi": mi, "estimate": mi + 0.01 * s,
                              "seed": s} for mi in (0.0, 1.0, 2.0) for s in seeds])

    ax = Figure().subplots()
    plot_estimate_vs_true(results([0]), ax=ax)
    assert ax.get_title().endswith("estimate vs truth (single seed)")
    assert "over seeds" not in ax.get_title() and "(1 seeds)" not in " ".join(
        t.get_text() for t in ax.get_legend().get_texts())
    ax = Figure().subplots()
    plot_estimate_vs_true(results([0, 1, 2]), ax=ax)
    assert ax.get_title().endswith("estimate vs truth (mean ± std over 3 seeds)")
    assert "ksg (3 seeds)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_seed_bands_name_the_decoder_bound_on_the_y_axis():
    """With decoder rows (the best decoder's bound recorded beside the layer's probe), the seed figures say
    that the y-axis is a linear probe's lower bound on I(L;Y); without them, plain I(L;Y)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from ibscope.plots.seeds import _plane_bands, bands_from_table, plot_mi_bands

    table = pd.DataFrame({"epoch": [1, 2], "layer": ["L1", "L1"], "layer_index": [0, 0], "n_seeds": [2, 2],
                          "units": ["nats", "nats"], "h_y_mean": [2.3, 2.3], "xl_lower_mean": [1.0, 1.2],
                          "xl_lower_std": [0.1, 0.1], "i_ly_mean": [0.5, 0.7], "i_ly_std": [0.1, 0.1],
                          "i_ly_best_mean": [0.6, 0.8]})
    agg, _ = bands_from_table(table)
    fig, (a1, a2) = plt.subplots(1, 2)
    _plane_bands(agg, "L1", a1, 1, 2)
    plot_mi_bands(agg, "i_ly", ax=a2)
    assert a1.get_ylabel() == "I(L;Y) >= linear probe [nats]" and a1.get_xlabel() == "lower bound on I(X;L) [nats]"
    assert a2.get_ylabel() == "I(L;Y) >= linear probe [nats] (mean ± std, 2 runs)"
    agg, _ = bands_from_table(table.drop(columns="i_ly_best_mean"))
    _plane_bands(agg, "L1", a1, 1, 2)
    assert a1.get_ylabel() == "I(L;Y) [nats]"
    plt.close(fig)
