"""Tests of ibscope.compress: PCA, random projection, autoencoders, specs and the compressed estimator."""

from __future__ import annotations

import numpy as np
import pytest
import torch  # noqa: E402

from ibscope._result import MIResult  # noqa: E402
from ibscope.compress import (  # noqa: E402
    CompressedEstimator,
    ConvAutoencoder,
    DenseAutoencoder,
    NotFittedError,
    PCACompressor,
    RandomProjectionCompressor,
    compressor_names,
    is_fitted,
    load_compressor,
    parse_compressor,
)
from ibscope.compress.autoencoder import conv_block_sizes


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny networks train fastest on one thread (and CPU results depend on the thread count)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def tiny_dense(latent_dim=2, **kw):
    params = dict(hidden=(16,), epochs=3, batch_size=32, random_state=0)
    params.update(kw)
    return DenseAutoencoder(latent_dim, **params)


def tiny_conv(latent_dim=2, **kw):
    params = dict(epochs=2, batch_size=16, random_state=0)
    params.update(kw)
    return ConvAutoencoder(latent_dim, **params)


def subspace_data(n=120, d=10, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, k)) @ rng.normal(size=(k, d)) + rng.normal(size=d)


def manifold_data(n=300, d=8, seed=0):
    """Points on a smooth 2-D manifold in d dimensions."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1, 1, size=(n, 2))
    return np.tanh(z @ rng.normal(size=(2, d))) + 0.3 * np.sin(3 * z @ rng.normal(size=(2, d)))


def images(n=40, shape=(1, 8, 8), seed=0):
    return np.random.default_rng(seed).random((n,) + shape)


ALL_FACTORIES = {
    "pca": lambda: PCACompressor(3),
    "rp": lambda: RandomProjectionCompressor(3, random_state=0),
    "ae": lambda: tiny_dense(latent_dim=3),
}


# --------------------------------------------------------------------- PCA
def test_pca_reconstructs_data_in_a_linear_subspace_exactly():
    x = subspace_data(k=3)
    pca = PCACompressor(n_components=3).fit(x)
    z = pca.transform(x)
    assert z.shape == (120, 3)
    np.testing.assert_allclose(pca.inverse_transform(z), x, atol=1e-9)
    assert pca.reconstruction_error_["train"] < 1e-10
    assert pca.reconstruction_error_["val"] is None
    np.testing.assert_allclose(pca.explained_variance_ratio_.sum(), 1.0)


def test_pca_is_deterministic_and_whitens():
    x = subspace_data(k=5, seed=3)
    a = PCACompressor(4, whiten=True).fit_transform(x)
    b = PCACompressor(4, whiten=True).fit(x).transform(x)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a.var(axis=0, ddof=1), 1.0, rtol=1e-10)


def test_pca_flattens_images_and_reshapes_back():
    imgs = images(n=30, shape=(2, 4, 4))
    pca = PCACompressor(5).fit(imgs)
    assert pca.n_features_in_ == 32 and pca.input_shape_ == (2, 4, 4)
    assert pca.transform(imgs).shape == (30, 5)
    assert pca.inverse_transform(pca.transform(imgs)).shape == (30, 2, 4, 4)


def test_pca_component_limits():
    x = subspace_data(n=6, d=10)
    with pytest.raises(ValueError, match=r"'n_components' parameter of PCACompressor must be <= n_samples"):
        PCACompressor(8).fit(x)
    with pytest.raises(ValueError, match=r"'n_components' parameter of PCACompressor must be <= the input dimension"):
        PCACompressor(11).fit(subspace_data())
    with pytest.raises(ValueError, match=r"must be an int in the range \[1, inf\)"):
        PCACompressor(0).fit(x)
    # equal dimension is a rotation: allowed
    assert PCACompressor(10).fit(subspace_data()).transform(subspace_data()).shape == (120, 10)


# --------------------------------------------------------------------- random projection
def test_random_projection_is_seeded():
    x = subspace_data()
    a = RandomProjectionCompressor(4, random_state=7).fit_transform(x)
    b = RandomProjectionCompressor(4, random_state=7).fit_transform(x)
    c = RandomProjectionCompressor(4, random_state=8).fit_transform(x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    rp = RandomProjectionCompressor(4).fit(x)
    assert isinstance(rp.seed_, int)
    np.testing.assert_array_equal(rp.transform(x), RandomProjectionCompressor(4, random_state=rp.seed_).fit_transform(x))
    assert rp.inverse_transform(rp.transform(x)).shape == x.shape


# --------------------------------------------------------------------- dense autoencoder
def test_dense_ae_beats_the_mean_predictor():
    x = manifold_data(n=200)
    ae = DenseAutoencoder(2, hidden=(32, 16), epochs=12, batch_size=32, lr=5e-3, patience=None, random_state=0)
    ae.fit(x)
    mean_error = np.abs(x - x.mean(axis=0)).mean()
    recon = ae.inverse_transform(ae.transform(x))
    assert recon.shape == x.shape
    assert np.abs(recon - x).mean() < 0.5 * mean_error
    assert ae.reconstruction_error_["train"] < 0.5 * mean_error
    assert ae.reconstruction_error_["val"] < 0.5 * mean_error
    assert len(ae.history_["train_loss"]) == len(ae.history_["val_loss"]) == ae.n_epochs_ == 12
    assert ae.history_["val_loss"][ae.best_epoch_] == min(ae.history_["val_loss"])


def test_dense_ae_is_deterministic_for_a_seed_and_leaves_global_rngs_alone():
    x = manifold_data(n=120)
    torch_state = torch.random.get_rng_state()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 - the legacy global RNG must stay untouched
    a = tiny_dense().fit(x)
    b = tiny_dense().fit(x)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002 - see above
    np.testing.assert_array_equal(a.transform(x), b.transform(x))
    assert a.history_ == b.history_
    c = tiny_dense(random_state=1).fit(x)
    assert not np.allclose(a.transform(x), c.transform(x))


def test_dense_ae_code_ranges_and_fit_transform():
    x = manifold_data(n=100)
    z = tiny_dense(code_activation="tanh").fit_transform(x)
    assert z.shape == (100, 2) and z.dtype == np.float64 and np.all(np.abs(z) < 1)
    z = tiny_dense(code_activation="sigmoid").fit_transform(x)
    assert np.all((z > 0) & (z < 1))
    ae = tiny_dense()
    np.testing.assert_array_equal(ae.fit_transform(x), ae.transform(x))


def test_dense_ae_early_stopping_and_no_validation():
    x = manifold_data(n=100)
    ae = tiny_dense(epochs=200, lr=0.5, patience=2).fit(x)  # huge lr: val loss stops improving quickly
    assert ae.n_epochs_ < 200
    assert ae.n_epochs_ - 1 - ae.best_epoch_ == 2
    ae = tiny_dense(validation_fraction=0.0).fit(x)
    assert ae.history_["val_loss"] == [] and ae.reconstruction_error_["val"] is None


def test_dense_ae_progress_bar(capsys):
    tiny_dense(epochs=1, progress=True).fit(manifold_data(n=50))
    assert "DenseAutoencoder fit" in capsys.readouterr().err
    tiny_dense(epochs=1).fit(manifold_data(n=50))
    assert capsys.readouterr().err == ""


def test_dense_ae_float32_overflow_is_reported():
    x = manifold_data(n=50) * 1e40  # finite in float64, overflows the float32 network
    with pytest.raises(ValueError, match=r"'x' argument of DenseAutoencoder has values too large for the float32"):
        tiny_dense(standardize=False).fit(x)
    tiny_dense().fit(x)  # standardised: fine


# --------------------------------------------------------------------- conv autoencoder
def test_conv_block_sizes():
    assert len(conv_block_sizes(16, 16)) - 1 == 4
    assert len(conv_block_sizes(32, 32)) - 1 == 5
    assert conv_block_sizes(28, 28)[-3:] == [(4, 4), (2, 2), (1, 1)]
    assert conv_block_sizes(8, 32)[-1] == (1, 1)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 6, 10)])
def test_conv_ae_shapes(shape):
    x = images(shape=shape)
    ae = tiny_conv(latent_dim=3).fit(x)
    assert ae.input_shape_ == shape and ae.n_features_in_ == int(np.prod(shape))
    z = ae.transform(x)
    assert z.shape == (40, 3) and np.all(np.abs(z) < 1)
    assert ae.inverse_transform(z).shape == (40,) + shape
    assert set(ae.reconstruction_error_) == {"train", "val"}


def test_conv_ae_accepts_images_without_channel_axis():
    x = images(shape=(1, 8, 8))
    ae = tiny_conv(image_shape=(8, 8)).fit(x[:, 0])
    np.testing.assert_array_equal(ae.transform(x[:, 0]), ae.transform(x))
    assert ae.input_shape_ == (1, 8, 8)


def test_conv_ae_is_deterministic_for_a_seed():
    x = images()
    a = tiny_conv().fit(x).transform(x)
    b = tiny_conv().fit(x).transform(x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, tiny_conv(random_state=5).fit(x).transform(x))


def test_conv_ae_rescales_data_outside_unit_interval():
    x = images() * 10 - 3
    ae = tiny_conv().fit(x)
    assert ae.data_min_ == pytest.approx(x.min()) and ae.data_max_ == pytest.approx(x.max())
    recon = ae.inverse_transform(ae.transform(x))
    assert recon.min() >= x.min() - 1e-6 and recon.max() <= x.max() + 1e-6


def test_conv_ae_rejects_bad_images():
    x = images(shape=(1, 8, 8))
    with pytest.raises(ValueError, match=r"'x' argument of ConvAutoencoder must hold images of shape \(n_samples"):
        tiny_conv().fit(x.reshape(40, -1))
    with pytest.raises(ValueError, match=r"\(1, 16, 16\), as in the configured image_shape. Got images of shape \(1, 8, 8\)"):
        tiny_conv(image_shape=(1, 16, 16)).fit(x)
    ae = tiny_conv().fit(x)
    with pytest.raises(ValueError, match=r"as in the images passed to 'fit'. Got images of shape \(1, 8, 6\)"):
        ae.transform(x[:, :, :, :6])
    with pytest.raises(ValueError, match=r"'latent_dim' parameter of ConvAutoencoder must be < the input dimension"):
        tiny_conv(latent_dim=16).fit(images(shape=(1, 4, 4)))
    with pytest.raises(ValueError, match=r"'image_shape' parameter of ConvAutoencoder must be"):
        tiny_conv(image_shape=(1, 2, 8, 8)).fit(x)


# --------------------------------------------------------------------- bad input, shared
@pytest.mark.parametrize("name", sorted(ALL_FACTORIES))
def test_not_fitted_errors(name, tmp_path):
    comp = ALL_FACTORIES[name]()
    assert not is_fitted(comp)
    with pytest.raises(NotFittedError, match=r"instance is not fitted yet. Call 'fit'"):
        comp.transform(subspace_data())
    with pytest.raises(NotFittedError, match="not fitted yet"):
        comp.save(tmp_path / "c.npz")
    with pytest.raises(NotFittedError, match="not fitted yet"):
        comp.inverse_transform(np.zeros((2, 3)))


def test_conv_not_fitted():
    with pytest.raises(NotFittedError, match="ConvAutoencoder instance is not fitted yet"):
        tiny_conv().transform(images())


@pytest.mark.parametrize("name", sorted(ALL_FACTORIES))
def test_bad_data_messages(name):
    x = subspace_data()
    bad = x.copy()
    bad[5, 2] = np.nan
    with pytest.raises(ValueError, match=r"'x' argument contains non-finite values \(1 NaN, 0 inf; first in row 5\)"):
        ALL_FACTORIES[name]().fit(bad)
    with pytest.raises(TypeError, match=r"'x' argument must hold numeric data"):
        ALL_FACTORIES[name]().fit(np.array([["a", "b", "c", "d"]] * 10))
    comp = ALL_FACTORIES[name]().fit(x)
    with pytest.raises(ValueError, match=r"must have 10 features per sample \(sample shape \(10,\)\)"):
        comp.transform(x[:, :9])
    with pytest.raises(ValueError, match=r"'z' argument of .*inverse_transform must have 3 columns"):
        comp.inverse_transform(np.zeros((2, 4)))


def test_dense_latent_dim_must_be_smaller_than_input():
    with pytest.raises(
        ValueError, match=r"'latent_dim' parameter of DenseAutoencoder must be < the input dimension.*latent_dim=5 for inputs with 5 features"
    ):
        tiny_dense(latent_dim=5).fit(np.random.default_rng(0).normal(size=(50, 5)))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"code_activation": "relu"}, r"'code_activation' parameter of DenseAutoencoder must be one of \['sigmoid', 'tanh'\]"),
        ({"input_noise": -0.1}, r"'input_noise' parameter of DenseAutoencoder must be a float in the range \[0.0, inf\]"),
        ({"epochs": 0}, r"'epochs' parameter of DenseAutoencoder must be an int in the range \[1, inf\)"),
        ({"loss": "huber"}, r"'loss' parameter .* must be one of \['l1', 'mse'\]"),
        ({"validation_fraction": 1.0}, r"'validation_fraction' parameter .* range \[0.0, 1.0\)"),
        ({"hidden": (16, 0)}, r"'hidden' parameter of DenseAutoencoder must be a tuple of positive ints"),
        ({"device": "tpu"}, r"'device' parameter of DenseAutoencoder must be 'cpu', 'cuda'"),
    ],
)
def test_dense_ae_parameter_errors(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        tiny_dense(**params).fit(manifold_data(n=40))


def test_too_few_samples_for_validation():
    with pytest.raises(ValueError, match=r"needs at least 2 training samples after holding out validation_fraction=0.5"):
        tiny_dense(validation_fraction=0.5).fit(manifold_data(n=3))


# --------------------------------------------------------------------- save / load
@pytest.mark.parametrize("name", sorted(ALL_FACTORIES))
def test_save_load_round_trip(name, tmp_path):
    x = subspace_data()
    comp = ALL_FACTORIES[name]().fit(x)
    path = tmp_path / "comp.bin"
    comp.save(path)
    assert path.exists()  # no suffix added
    loaded = type(comp).load(path)
    assert type(loaded) is type(comp)
    assert repr(loaded) == repr(comp)
    np.testing.assert_array_equal(loaded.transform(x), comp.transform(x))
    np.testing.assert_array_equal(load_compressor(path).transform(x), comp.transform(x))
    assert loaded.reconstruction_error_ == comp.reconstruction_error_
    assert loaded.input_shape_ == comp.input_shape_


def test_save_load_dense_ae_keeps_training_record(tmp_path):
    x = manifold_data(n=80)
    ae = tiny_dense(hidden=(8, 4), code_activation="sigmoid").fit(x)
    ae.save(tmp_path / "ae.npz")
    loaded = DenseAutoencoder.load(tmp_path / "ae.npz", device="cpu")
    assert loaded.hidden == (8, 4) and loaded.code_activation == "sigmoid"
    assert loaded.history_ == ae.history_ and loaded.seed_ == ae.seed_ and loaded.best_epoch_ == ae.best_epoch_
    np.testing.assert_array_equal(loaded.inverse_transform(ae.transform(x)), ae.inverse_transform(ae.transform(x)))


def test_save_load_conv_ae(tmp_path):
    x = images(shape=(2, 6, 6))
    ae = tiny_conv(channels=(3, 5)).fit(x)
    ae.save(tmp_path / "conv.npz")
    loaded = ConvAutoencoder.load(tmp_path / "conv.npz")
    np.testing.assert_array_equal(loaded.transform(x), ae.transform(x))
    assert loaded.channels == (3, 5) and loaded.data_min_ == ae.data_min_


def test_load_errors(tmp_path):
    PCACompressor(2).fit(subspace_data()).save(tmp_path / "pca.npz")
    with pytest.raises(TypeError, match=r"holds a PCACompressor, not a DenseAutoencoder"):
        DenseAutoencoder.load(tmp_path / "pca.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a compressor")
    with pytest.raises(ValueError, match=r"Could not read a compressor file"):
        load_compressor(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match=r"is not an ibscope compressor file"):
        load_compressor(tmp_path / "other.npz")


def test_generator_seed_is_saved(tmp_path):
    x = subspace_data()
    rp = RandomProjectionCompressor(3, random_state=np.random.default_rng(4)).fit(x)
    rp.save(tmp_path / "rp.npz")
    loaded = RandomProjectionCompressor.load(tmp_path / "rp.npz")
    assert loaded.random_state == rp.seed_
    np.testing.assert_array_equal(loaded.transform(x), rp.transform(x))


# --------------------------------------------------------------------- params
def test_params_and_repr():
    ae = DenseAutoencoder(4, epochs=5, random_state=0)
    assert repr(ae) == "DenseAutoencoder(latent_dim=4, epochs=5, random_state=0)"
    assert ae.get_params()["hidden"] == (128, 64)
    assert ae.set_params(epochs=7) is ae and ae.epochs == 7
    with pytest.raises(ValueError, match=r"Unknown parameter 'epoch' for DenseAutoencoder. Valid parameters: latent_dim"):
        ae.set_params(epoch=3)


# --------------------------------------------------------------------- spec parser
@pytest.mark.parametrize(
    "spec, cls, dim",
    [
        ("pca:4", PCACompressor, 4),
        ("rp:8", RandomProjectionCompressor, 8),
        ("ae:4", DenseAutoencoder, 4),
        ("conv-ae:2", ConvAutoencoder, 2),
        (" CAE:3 ", ConvAutoencoder, 3),
        ("random-projection:5", RandomProjectionCompressor, 5),
    ],
)
def test_parse_compressor(spec, cls, dim):
    comp = parse_compressor(spec, random_state=3)
    assert type(comp) is cls
    assert comp.get_params().get("n_components", comp.get_params().get("latent_dim")) == dim
    assert comp.random_state == 3


def test_parse_compressor_objects_and_errors():
    pca = PCACompressor(2)
    assert parse_compressor(pca) is pca
    assert parse_compressor(None) is None and parse_compressor("none") is None
    assert compressor_names() == ["pca", "rp", "ae", "conv-ae"]
    with pytest.raises(ValueError, match=r"Unknown compressor 'umap:2'. Valid names: 'pca', 'rp', 'ae', 'conv-ae'"):
        parse_compressor("umap:2")
    with pytest.raises(ValueError, match=r"'pca' needs a code dimension, e.g. 'pca:4'"):
        parse_compressor("pca")
    with pytest.raises(ValueError, match=r"must be a positive integer, e.g. 'ae:4'. Got 'x'"):
        parse_compressor("ae:x")
    with pytest.raises(ValueError, match=r"must be >= 1. Got 0"):
        parse_compressor("rp:0")
    with pytest.raises(TypeError, match=r"must be a string such as 'pca:4'"):
        parse_compressor(4)


# --------------------------------------------------------------------- compressed estimator
class GaussianStandIn:
    """Closed-form Gaussian MI, returning an MIResult (a stand-in for ibscope.estimators)."""

    name = "gaussian-standin"
    y_discrete = False

    def __init__(self, random_state=0):
        self.random_state = random_state
        self.seen = []

    def estimate(self, x, y):
        x, y = np.asarray(x, float), np.asarray(y, float)
        x = x[:, None] if x.ndim == 1 else x
        y = y[:, None] if y.ndim == 1 else y
        self.seen.append((x.shape, y.shape))

        def logdet(a):
            return np.linalg.slogdet(np.atleast_2d(np.cov(a, rowvar=False)))[1]

        raw = 0.5 * (logdet(x) + logdet(y) - logdet(np.hstack([x, y])))
        return MIResult(
            value=max(raw, 0.0), units="nats", raw_value=raw, n_samples=len(x), dim_x=x.shape[1],
            dim_y=y.shape[1], estimator=self.name, params={"random_state": self.random_state},
            warnings=["inner"], extra={"inner": 1},
        )


class LabelStandIn(GaussianStandIn):
    y_discrete = True


def gaussian_pair(n=400, seed=0):
    """x: a 3-D latent embedded linearly in 10-D; y: 2-D, correlated with the latent."""
    rng = np.random.default_rng(seed)
    xi = rng.normal(size=(n, 3))
    y = xi[:, :2] + 0.5 * rng.normal(size=(n, 2))
    x = xi @ rng.normal(size=(3, 10))
    return xi, x, y


def test_compressed_estimator_lossless_pca_keeps_the_mi():
    xi, x, y = gaussian_pair()
    est = GaussianStandIn()
    res = CompressedEstimator(est, compressor_x=PCACompressor(3)).estimate(x, y)
    direct = GaussianStandIn().estimate(xi, y)
    assert res.value == pytest.approx(direct.value, rel=1e-8)
    assert est.seen == [((400, 3), (400, 2))]
    info = res.extra["compression"]
    assert info["y"] is None and info["refit"] is True and res.extra["inner"] == 1
    assert info["x"]["input_dim"] == 10 and info["x"]["latent_dim"] == 3
    assert info["x"]["compressor"] == "PCACompressor(n_components=3)"
    assert info["x"]["reconstruction_error"]["train"] < 1e-10
    assert res.warnings[0] == "inner"
    assert "data-processing inequality" in res.warnings[-1] and "lower bound" in res.warnings[-1]
    assert res.params["compressor_x"] == "PCACompressor(n_components=3)"


def test_compressed_estimator_refit_and_reuse():
    _, x, y = gaussian_pair()
    pca = PCACompressor(2).fit(x[:100])
    comp_before = pca.components_.copy()
    CompressedEstimator(GaussianStandIn(), pca, refit=False).estimate(x, y)
    np.testing.assert_array_equal(pca.components_, comp_before)
    res = CompressedEstimator(GaussianStandIn(), pca, refit=True).estimate(x, y)
    assert not np.array_equal(pca.components_, comp_before)
    assert res.extra["compression"]["x"]["fitted_here"] is True


def test_compressed_estimator_specs_images_and_both_sides():
    x = images(n=60, shape=(1, 8, 8))
    y = x.reshape(60, -1)[:, :12] + 0.1
    wrapped = CompressedEstimator(GaussianStandIn(random_state=2), "conv-ae:2", "rp:3", refit=False)
    res = wrapped.estimate(x, y)
    cx = wrapped.compressor_x_
    assert isinstance(cx, ConvAutoencoder) and cx.random_state == 2
    assert res.extra["compression"]["x"]["input_shape"] == [1, 8, 8]
    assert res.extra["compression"]["y"]["latent_dim"] == 3
    assert res.dim_x == 2 and res.dim_y == 3
    wrapped.estimate(x, y)  # refit=False: the spec-built compressor is reused
    assert wrapped.compressor_x_ is cx


def test_compressed_estimator_plain_pass_through_and_errors():
    _, x, y = gaussian_pair(n=50)
    res = CompressedEstimator(GaussianStandIn()).estimate(x[:, :3], y)
    assert res.extra["compression"] == {"x": None, "y": None, "refit": True}
    assert res.warnings == ["inner"]
    with pytest.raises(ValueError, match=r"same number of rows \(samples\). Got 50 and 49"):
        CompressedEstimator(GaussianStandIn(), "pca:2").estimate(x, y[:-1])
    with pytest.raises(ValueError, match=r"'compressor_y' parameter of CompressedEstimator must be None when"):
        CompressedEstimator(LabelStandIn(), None, "pca:1").estimate(x, y)
    with pytest.raises(TypeError, match=r"'compressor_x' parameter of CompressedEstimator must be a compressor"):
        CompressedEstimator(GaussianStandIn(), 3).estimate(x, y)
    with pytest.raises(TypeError, match=r"'estimator' parameter of CompressedEstimator must have an 'estimate"):
        CompressedEstimator(object(), "pca:2").estimate(x, y)


def test_compressed_estimator_with_library_estimator():
    from ibscope.estimators import gaussian as gm
    xi, x, y = gaussian_pair()
    res = CompressedEstimator(gm.GaussianMI(), PCACompressor(3)).estimate(x, y)
    assert isinstance(res, MIResult)
    assert res.value == pytest.approx(GaussianStandIn().estimate(xi, y).value, rel=1e-6)
    assert res.extra["compression"]["x"]["latent_dim"] == 3


def test_compressed_estimator_accepts_sklearn_transformers():
    from sklearn.decomposition import PCA

    xi, x, y = gaussian_pair()
    res = CompressedEstimator(GaussianStandIn(), PCA(3)).estimate(x, y)
    assert res.extra["compression"]["x"]["reconstruction_error"] is None
    assert res.value == pytest.approx(GaussianStandIn().estimate(xi, y).value, rel=1e-8)


def test_front_door_compress_spec():
    """``mutual_information(..., compress="pca:k")`` equals estimating on the PCA codes."""
    import ibscope
    from ibscope.synthetic import correlated_gaussian

    x, y, true = correlated_gaussian(2000, 2, 2, 1.0, random_state=0)
    rng = np.random.default_rng(1)
    embed = rng.standard_normal((2, 12))  # 2-D signal linearly embedded in 12-D
    xh, yh = x @ embed, y @ embed
    res = ibscope.mutual_information(xh, yh, compress="pca:2", random_state=0)
    assert abs(res.value - true) < 0.1
    assert res.extra["compression"]["x"]["latent_dim"] == 2
    assert any("data-processing" in w for w in res.warnings)
    labels = (x[:, 0] > 0).astype(int)
    res2 = ibscope.mutual_information(xh, labels, y_discrete=True, estimator="kl", compress="pca:2", random_state=0)
    assert res2.extra["compression"]["y"] is None
