"""Many walking environments stepped together, split over worker processes (one per core is best): the simulation
is the bulk of training time. Each environment keeps its own seed whatever the split, so the number of workers
changes the speed, never the numbers.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
from dataclasses import dataclass
from typing import Any

import numpy as np

from autonomo.robot.env import OBS_SIZE, Randomise, WalkEnv
from autonomo.robot.scene import Scene


@dataclass
class Steps:
    """One step of every environment. ``final`` holds the last observation of an episode cut off by the clock
    (to bootstrap its value); ``obs`` already holds the next episode's first observation where one ended."""

    obs: np.ndarray
    rewards: np.ndarray
    fell: np.ndarray
    timeout: np.ndarray
    final: np.ndarray
    speed_error: np.ndarray
    still: np.ndarray  # told to stand still


class Group:
    """Some of the environments, stepped in one process."""

    def __init__(self, scene: Scene | None, seeds: list[int], episode_steps: int) -> None:
        model = (scene or Scene()).build()  # one compiled model (meshes and all) for the group
        self.envs = [WalkEnv(scene, seed, Randomise(), model) for seed in seeds]
        self.episode_steps = episode_steps

    def reset(self) -> np.ndarray:
        return np.stack([env.reset() for env in self.envs])

    def step(self, actions: np.ndarray) -> Steps:
        n = len(self.envs)
        out = Steps(np.zeros((n, OBS_SIZE), np.float32), np.zeros(n), np.zeros(n, bool), np.zeros(n, bool),
                    np.zeros((n, OBS_SIZE), np.float32), np.zeros(n), np.zeros(n, bool))  # fmt: skip
        for i, (env, action) in enumerate(zip(self.envs, actions, strict=True)):
            obs, reward, fell, _ = env.step(action)
            out.speed_error[i] = np.linalg.norm(env.command[:2] - env.data.sensordata[env.linvel][:2])
            out.rewards[i], out.fell[i], out.still[i] = reward, fell, env.still()
            out.timeout[i] = not fell and env.steps >= self.episode_steps
            if out.timeout[i]:
                out.final[i] = obs
            out.obs[i] = env.reset() if fell or out.timeout[i] else obs
        return out


def _serve(conn: Any, scene: Scene | None, seeds: list[int], episode_steps: int) -> None:
    # A Ctrl-C or SIGTERM reaches the whole process group: the trainer decides when to stop, and closes us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    group = Group(scene, seeds, episode_steps)
    while True:
        command, payload = conn.recv()
        if command == "reset":
            conn.send(group.reset())
        elif command == "step":
            conn.send(group.step(payload))
        else:
            conn.close()
            return


class VecEnv:
    def __init__(self, scene: Scene | None, seeds: list[int], episode_steps: int, workers: int = 0) -> None:
        """``workers`` 0: all environments in this process."""
        self.n = len(seeds)
        self.local: Group | None = None
        self.pipes: list[Any] = []
        self.procs: list[Any] = []
        if workers <= 0:
            self.local = Group(scene, seeds, episode_steps)
            return
        ctx = mp.get_context("spawn")  # the parent holds torch threads: a fork of it is not safe
        parts = np.array_split(np.arange(self.n), min(workers, self.n))
        self.sizes = [len(part) for part in parts]
        for part in parts:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, scene, [seeds[i] for i in part], episode_steps),
                               daemon=True)  # fmt: skip
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def reset(self) -> np.ndarray:
        if self.local:
            return self.local.reset()
        for pipe in self.pipes:
            pipe.send(("reset", None))
        return np.concatenate([pipe.recv() for pipe in self.pipes])

    def step(self, actions: np.ndarray) -> Steps:
        if self.local:
            return self.local.step(actions)
        start = 0
        for pipe, size in zip(self.pipes, self.sizes, strict=True):
            pipe.send(("step", actions[start : start + size]))
            start += size
        parts = [pipe.recv() for pipe in self.pipes]
        return Steps(*(np.concatenate([getattr(p, f) for p in parts]) for f in Steps.__dataclass_fields__))

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("close", None))
            except OSError:  # that worker is gone already
                pass
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
