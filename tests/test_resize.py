"""Resizing image sets (EfficientNet's resolution scaling): PyTorch's bilinear interpolation with
align_corners=False, to naive loops and to torch; and a run at another resolution."""
import numpy as np
import pytest

from tinycnn.data.resize import interpolation_matrix, resize_bilinear, resize_images


def naive_bilinear(x: np.ndarray, size: int) -> np.ndarray:
    """One output pixel at a time, straight from the half-pixel-centre formula."""
    N, C, H, W = x.shape
    out = np.zeros((N, C, size, size))
    for i in range(size):
        for j in range(size):
            y = max((i + 0.5) * H / size - 0.5, 0.0)
            v = max((j + 0.5) * W / size - 0.5, 0.0)
            y0, v0 = min(int(y), H - 1), min(int(v), W - 1)
            y1, v1 = min(y0 + 1, H - 1), min(v0 + 1, W - 1)
            a, b = y - y0, v - v0
            out[:, :, i, j] = ((1 - a) * (1 - b) * x[:, :, y0, v0] + (1 - a) * b * x[:, :, y0, v1]
                               + a * (1 - b) * x[:, :, y1, v0] + a * b * x[:, :, y1, v1])
    return out


@pytest.mark.parametrize("shape,size", [((2, 3, 32, 32), 41), ((1, 1, 5, 7), 9), ((1, 2, 8, 8), 3), ((3, 1, 4, 4), 4)])
def test_bilinear_matches_naive_loops(shape, size):
    x = np.random.default_rng(0).random(shape)
    np.testing.assert_allclose(resize_bilinear(x, size), naive_bilinear(x, size), rtol=0, atol=1e-12)


def test_interpolation_rows_are_convex_weights():
    m = interpolation_matrix(32, 37)
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    assert m.min() >= 0 and ((m > 0).sum(axis=1) <= 2).all()


@pytest.mark.torch
@pytest.mark.parametrize("size", [37, 41, 20])
def test_bilinear_matches_torch(size):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).random((2, 3, 32, 32))
    expected = torch.nn.functional.interpolate(torch.from_numpy(x), size=(size, size), mode="bilinear",
                                               align_corners=False).numpy()
    np.testing.assert_allclose(resize_bilinear(x, size), expected, rtol=0, atol=1e-12)


def test_uint8_images_are_rounded_in_chunks_and_bad_input_is_named():
    x = np.random.default_rng(2).integers(0, 256, (5, 3, 32, 32), dtype=np.uint8)
    out = resize_images(x, 41, chunk=2)
    assert out.dtype == np.uint8 and out.shape == (5, 3, 41, 41)
    expected = np.rint(naive_bilinear(x.astype(np.float64), 41))
    difference = np.abs(out - expected)  # float32 arithmetic may round a tie (k + 0.5) the other way
    assert difference.max() <= 1 and np.mean(difference > 0) < 0.01
    assert resize_images(x, 32) is x
    with pytest.raises(ValueError, match="expected uint8 images .*float32"):
        resize_images(x.astype(np.float32), 41)
    with pytest.raises(ValueError, match="expected a positive int size, got 0"):
        resize_bilinear(x.astype(np.float32), 0)


def test_a_model_registered_at_41_px_trains_on_41_px_images(tmp_path, monkeypatch):
    from cifar_fake import write_archive

    from tinycnn.data import cifar
    from tinycnn.train import load_dataset, make_config, make_loaders, training_resolution

    monkeypatch.setattr(cifar, "PROJECT_DATA_DIR", tmp_path / "project_data")
    archive = tmp_path / "cifar-10-python.tar.gz"
    write_archive(archive, per_batch=20, n_test=20)
    config = make_config("cifar-small", model="efficientnet_cifar_tiny_resolution", batch_size=50)
    assert training_resolution(config) == 41
    assert training_resolution(make_config("cifar-small", model="efficientnet_b0")) == 32  # ImageNet size: no
    dataset = load_dataset(config, archive)
    assert dataset.x_train.shape[1:] == (3, 41, 41) and dataset.x_test.shape[1:] == (3, 41, 41)
    train, _ = make_loaders(config, dataset)
    assert train.transform.padding == 5  # 4 px at 32 px, scaled
    assert next(iter(train))[0].shape == (50, 3, 41, 41)
