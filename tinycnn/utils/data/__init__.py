"""`tinycnn.utils.data`: PyTorch's Dataset / DataLoader, for scripts written against
`torch.utils.data`. Data loading sits above autograd and nn: nothing below imports it."""
from tinycnn.utils.data.collate import default_collate  # noqa: F401
from tinycnn.utils.data.dataloader import DataLoader  # noqa: F401
from tinycnn.utils.data.dataset import Dataset, Subset, TensorDataset  # noqa: F401
