"""The walking policy at inference: the actor network, the observation statistics it was trained with, and the
committed policy file. Loading and acting need only this module (and torch); the trainer (train.py) builds its
networks and writes its ``policy.pt`` files with the same pieces.

A policy file holds plain data only (tensors, lists, numbers and strings; no class pickled by its module path),
so it loads with ``torch.load(weights_only=True)`` wherever these classes live.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from autonomo.errors import SetupError
from autonomo.robot.assets import require
from autonomo.robot.env import ACTED, OBS_SIZE

POLICY = Path(__file__).parent / "policies" / "g1_walk.pt"  # the committed policy the skills load
POLICY_KEYS = ("actor", "hidden", "normaliser", "global_step")  # what acting needs of a policy file


class PolicyError(SetupError, OSError):
    """A walking policy file that is missing or is not a policy. (An OSError too: callers caught that before.)"""


def mlp(torch: Any, hidden: list[int], out: int) -> Any:
    """Observations in, ``out`` numbers out, through ``hidden`` layers with ELU between them."""
    layers, size = [], OBS_SIZE
    for h in hidden:
        layers += [torch.nn.Linear(size, h), torch.nn.ELU()]
        size = h
    return torch.nn.Sequential(*layers, torch.nn.Linear(size, out))


def actor_network(torch: Any, hidden: list[int]) -> Any:
    """The network that acts: an observation in, the mean of each acted joint's target out."""
    return mlp(torch, hidden, ACTED)


class Normaliser:
    """Observation statistics (mean and variance), so inputs stay near unit scale; train.py keeps them up to date."""

    def __init__(self, size: int) -> None:
        self.mean, self.var, self.count = np.zeros(size), np.ones(size), 1e-4

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.clip((obs - self.mean) / np.sqrt(self.var + 1e-8), -5.0, 5.0).astype(np.float32)

    def state(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "var": self.var.tolist(), "count": self.count}

    def load(self, state: dict[str, Any]) -> None:
        self.mean, self.var, self.count = np.array(state["mean"]), np.array(state["var"]), state["count"]


class WalkPolicy:
    """The trained walking policy, for skills: observation in, action out, on the CPU."""

    def __init__(self, path: Path) -> None:
        self.torch = torch = require("torch")
        path = Path(path)
        if not path.is_file():
            raise PolicyError(f"no walking policy at {path}: train one with autonomo robot-train, or pass --policy")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
            raise PolicyError(f"{path} is not a walking policy (a policy.pt of robot-train): {exc}") from None
        missing = [k for k in POLICY_KEYS if k not in state] if isinstance(state, dict) else list(POLICY_KEYS)
        if missing:
            checkpoint = isinstance(state, dict) and "critic" in state
            hint = "; a training checkpoint (ckpt_*.pt) is not one, its policy.pt is" if checkpoint else ""
            raise PolicyError(f"{path} is not a walking policy: it has no {', '.join(missing)}{hint}")
        self.actor = actor_network(torch, state["hidden"])
        try:
            self.actor.load_state_dict(state["actor"])
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise PolicyError(f"{path} is not a walking policy for this robot's task: {exc}") from None
        self.actor.eval()
        torch.set_num_threads(1)  # one observation at a time: threads only add overhead
        self.normaliser = Normaliser(OBS_SIZE)
        self.normaliser.load(state["normaliser"])
        self.trained_steps = state["global_step"]
        self.task: int | None = state.get("task")  # the task version it was trained on; saved since task 7

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            return self.actor(self.torch.as_tensor(self.normaliser(obs))).numpy()
