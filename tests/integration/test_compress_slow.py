"""Slow compressor tests (run with --run-slow): autoencoders that must actually learn."""

import numpy as np
import pytest

from ibscope.compress import ConvAutoencoder

pytestmark = pytest.mark.slow


def test_conv_ae_learns_bump_images():
    """A conv AE on Gaussian-bump images (2 latent coordinates) beats the mean predictor clearly."""
    rng = np.random.default_rng(0)
    mu = rng.uniform(0, 1, size=(1500, 2))
    g = np.linspace(0, 1, 16)
    gx, gy = np.meshgrid(g, g, indexing="xy")
    imgs = np.exp(-10 * ((gx[None] - mu[:, 0, None, None]) ** 2 + (gy[None] - mu[:, 1, None, None]) ** 2))
    ae = ConvAutoencoder(2, channels=(8, 16), epochs=60, batch_size=64, patience=10, random_state=0).fit(imgs)
    mean_error = np.abs(imgs - imgs.mean(axis=0)).mean()
    assert ae.reconstruction_error_["val"] < 0.5 * mean_error
