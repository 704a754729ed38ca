"""`tinycnn.cuda`: PyTorch's CUDA queries, answered for a CPU-only framework, so the
usual `device = "cuda" if torch.cuda.is_available() else "cpu"` picks the CPU."""


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0
