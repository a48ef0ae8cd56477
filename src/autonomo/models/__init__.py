"""Models behind one protocol: embedded GGUF (default), hosted through litellm, scripted for tests."""

from __future__ import annotations

import atexit
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from autonomo.models.base import (
    ContextOverflow,
    Model,
    ModelError,
    ModelReply,
    ModelSpecError,
    ToolCall,
    ToolSpec,
    Usage,
    call_seed,
)

if TYPE_CHECKING:
    from autonomo.models.local import LlamaCppModel

DEFAULT_MODEL = "local"
_loaded: dict[Path, LlamaCppModel] = {}  # in-process models, loaded once per process and shared by every agent in it
_loading = threading.Lock()


def gguf_file(spec: str) -> Path | None:
    """The GGUF file a local model spec names (assembling the embedded one on first use); None for other specs."""
    if spec == "local":
        from autonomo.models.weights import embedded_model_path

        return embedded_model_path()
    if spec.startswith("gguf:"):
        return Path(spec[5:]).expanduser()
    return None


def _unload() -> None:
    """Frees the loaded models while the interpreter still works: freed later, at shutdown, llama.cpp's bindings
    are already gone and each model prints a TypeError traceback (seen after every test run that loaded one)."""
    while _loaded:
        _loaded.popitem()[1].close()


def load_model(spec: str = DEFAULT_MODEL, api_base: str | None = None) -> Model:
    """``local`` (the embedded model), ``gguf:PATH``, ``scripted:PATH`` or ``PROVIDER/MODEL`` via litellm.
    A GGUF is loaded once per process: every agent, engineer, reviewer and planner in it shares that one (a
    second copy would double the memory and, on 2 cores, slow both 6-9x)."""
    path = gguf_file(spec)
    if path is not None:
        from autonomo.models.local import LlamaCppModel

        with _loading:
            key = path.resolve()
            if key not in _loaded:
                name = "local:qwen2.5-coder-1.5b-instruct-q4_k_m" if spec == "local" else None
                if not _loaded:
                    atexit.register(_unload)
                _loaded[key] = LlamaCppModel(path, name=name)
            return _loaded[key]
    if spec.startswith("scripted:"):
        from autonomo.models.scripted import ScriptedModel

        path = Path(spec[9:])
        if not path.is_file():
            raise ModelSpecError(f"scripted model file not found: {path}")
        return ScriptedModel.from_file(path)
    from autonomo.models.hosted import PROVIDERS, LiteLLMModel

    provider, _, name = spec.partition("/")
    if provider in PROVIDERS and name:
        return LiteLLMModel(spec, api_base=api_base)
    raise ModelSpecError(
        f"unknown model {spec!r}: use local, gguf:PATH, scripted:PATH or PROVIDER/MODEL "
        f"with PROVIDER one of {', '.join(PROVIDERS)}"
    )


__all__ = [
    "DEFAULT_MODEL",
    "ContextOverflow",
    "Model",
    "ModelError",
    "ModelReply",
    "ModelSpecError",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "call_seed",
    "gguf_file",
    "load_model",
]
