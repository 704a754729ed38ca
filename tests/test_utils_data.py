"""tinycnn.utils.data: Dataset, TensorDataset, DataLoader and default_collate, as PyTorch's."""
import numpy as np
import pytest

import tinycnn
from tinycnn.utils.data import DataLoader, Dataset, TensorDataset, default_collate


class Squares(Dataset):
    def __init__(self, n, shape=(2,)):
        self.n, self.shape = n, shape

    def __getitem__(self, i):
        return np.full(self.shape, i, np.float32), i

    def __len__(self):
        return self.n


def test_batches_in_order_with_len_and_drop_last():
    loader = DataLoader(Squares(7), batch_size=3)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    x, y = batches[0]
    assert isinstance(x, tinycnn.Tensor) and x.shape == (3, 2) and x.dtype == np.float32
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 2]
    assert batches[2][1].tolist() == [6]
    assert len(DataLoader(Squares(7), batch_size=3, drop_last=True)) == 2
    assert [b[1].tolist() for b in DataLoader(Squares(7), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    assert len(DataLoader(Squares(3))) == 3  # PyTorch's default batch_size=1


def test_seeded_generator_repeats_the_shuffle_and_epochs_differ():
    def epochs(seed):
        loader = DataLoader(Squares(10), batch_size=4, shuffle=True, generator=tinycnn.Generator().manual_seed(seed))
        return [np.concatenate([y.numpy() for _, y in loader]).tolist() for _ in range(2)]

    first, again = epochs(5), epochs(5)
    assert first == again and first[0] != first[1] and sorted(first[0]) == list(range(10))
    tinycnn.manual_seed(1)
    a = [y.tolist() for _, y in DataLoader(Squares(10), batch_size=10, shuffle=True)]
    tinycnn.manual_seed(1)
    assert a == [y.tolist() for _, y in DataLoader(Squares(10), batch_size=10, shuffle=True)]


def test_tensor_dataset_and_collate_of_nested_items():
    x, y = tinycnn.randn(5, 3), tinycnn.tensor(np.arange(5))
    ds = TensorDataset(x, y)
    assert len(ds) == 5
    bx, by = next(iter(DataLoader(ds, batch_size=4)))
    np.testing.assert_array_equal(bx.numpy(), x.numpy()[:4])
    assert by.tolist() == [0, 1, 2, 3]
    batch = default_collate([{"a": 1.5, "b": (np.zeros(2), "s")}, {"a": 2.5, "b": (np.ones(2), "t")}])
    assert batch["a"].dtype == np.float32 and batch["a"].tolist() == [1.5, 2.5]
    assert batch["b"][0].shape == (2, 2) and batch["b"][1] == ["s", "t"]
    with pytest.raises(ValueError, match=r"same first dimension, got sizes \[5, 4\]"):
        TensorDataset(x, tinycnn.zeros(4))


@pytest.mark.torch
def test_collate_matches_torch():
    torch = pytest.importorskip("torch")
    items = [(np.full((2, 2), i, np.float32), i, {"k": np.arange(3) + i}) for i in range(4)]
    ours, theirs = default_collate(items), torch.utils.data.default_collate(items)
    np.testing.assert_array_equal(ours[0].numpy(), theirs[0].numpy())
    np.testing.assert_array_equal(ours[1].numpy(), theirs[1].numpy())
    assert ours[1].dtype == np.int64 and theirs[1].dtype == torch.int64
    np.testing.assert_array_equal(ours[2]["k"].numpy(), theirs[2]["k"].numpy())
    assert len(DataLoader(Squares(10), batch_size=4)) == len(torch.utils.data.DataLoader(Squares(10), batch_size=4))


def test_items_of_different_shapes_name_the_shapes_and_items():
    class Ragged(Squares):
        def __getitem__(self, i):
            return np.zeros((3,) if i == 5 else (2,), np.float32), i

    loader = DataLoader(Ragged(8), batch_size=4)
    with pytest.raises(RuntimeError, match=r"expected \(2,\) \(item 4\), got \(3,\) \(item 5\)"):
        list(loader)


@pytest.mark.parametrize("batch_size", [0, -2, 2.5, None])
def test_batch_size_must_be_positive(batch_size):
    with pytest.raises(ValueError, match=f"batch_size must be a positive integer, got {batch_size!r}"):
        DataLoader(Squares(3), batch_size=batch_size)
