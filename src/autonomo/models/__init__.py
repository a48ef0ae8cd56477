"""Models behind one protocol: embedded GGUF (default), hosted through litellm, scripted for tests."""

from __future__ import annotations

from pathlib import Path

from autonomo.models.base import (
    ContextOverflow,
    Model,
    ModelError,
    ModelReply,
    ModelSpecError,
    ToolCall,
    ToolSpec,
    Usage,
)

DEFAULT_MODEL = "local"


def load_model(
    spec: str = DEFAULT_MODEL, api_base: str | None = None, temperature: float = 0.0, seed: int = 0
) -> Model:
    """``local`` (the embedded model), ``gguf:PATH``, ``scripted:PATH`` or ``PROVIDER/MODEL`` via litellm."""
    if spec == "local":
        from autonomo.models.local import LlamaCppModel
        from autonomo.models.weights import embedded_model_path

        path = embedded_model_path()
        return LlamaCppModel(path, name="local:qwen2.5-coder-1.5b-instruct-q4_k_m", temperature=temperature, seed=seed)
    if spec.startswith("gguf:"):
        from autonomo.models.local import LlamaCppModel

        return LlamaCppModel(Path(spec[5:]).expanduser(), temperature=temperature, seed=seed)
    if spec.startswith("scripted:"):
        from autonomo.models.scripted import ScriptedModel

        path = Path(spec[9:])
        if not path.is_file():
            raise ModelSpecError(f"scripted model file not found: {path}")
        return ScriptedModel.from_file(path)
    from autonomo.models.hosted import PROVIDERS, LiteLLMModel

    provider, _, name = spec.partition("/")
    if provider in PROVIDERS and name:
        return LiteLLMModel(spec, api_base=api_base, temperature=temperature)
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
    "load_model",
]
