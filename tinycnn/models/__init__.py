"""The model zoo. Each family lives in its own file and registers its
configurations; `create(name)` builds one, `list_models()` lists them."""
from tinycnn.models.registry import create, list_models, register_model  # noqa: F401
