"""Weight initialisation (PyTorch conventions)."""
