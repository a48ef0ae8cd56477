"""PPO for the walking policy (env.py), made to train over many short runs: it checkpoints every few iterations,
when its time budget runs out and on SIGTERM, and ``--resume`` goes on from the latest checkpoint.

On this project's 2-core machines a full training takes many sessions; the same script uses a GPU for the
networks where there is one (the simulation stays on the CPU). Each iteration is a line in ``train.jsonl`` beside
the checkpoints; ``policy.pt`` (the actor and the observation statistics, well under 1 MB) is what the skills load.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autonomo.errors import SetupError
from autonomo.files import replacing
from autonomo.robot.assets import require
from autonomo.robot.env import ACTED, OBS_SIZE, TASK_VERSION
from autonomo.robot.policy import Normaliser, actor_network, mlp
from autonomo.robot.scene import Scene
from autonomo.robot.vec import VecEnv

KEEP = 3  # checkpoints kept


class CheckpointError(SetupError, ValueError):
    """A checkpoint this run cannot go on from or start from."""


@dataclass
class TrainConfig:
    """Everything that shapes the learning; a checkpoint only resumes under the same config."""

    envs: int = 128  # x horizon: 4096 steps per update; fewer made the update and per-step sync half the time
    horizon: int = 32  # steps per env per iteration
    epochs: int = 5
    minibatches: int = 4
    gamma: float = 0.97
    lam: float = 0.95
    clip: float = 0.2
    lr: float = 3e-4
    desired_kl: float = 0.01  # the learning rate adapts to keep each update's KL near this
    entropy: float = 0.005
    value_coef: float = 1.0
    max_grad_norm: float = 1.0
    hidden: list[int] = field(default_factory=lambda: [256, 128, 128])
    init_std: float = 0.5
    episode_steps: int = 1000
    seed: int = 0

    def digest(self) -> str:
        """Of the config and the task's version: a checkpoint only goes on learning the same thing."""
        shaped = json.dumps({**asdict(self), "task": TASK_VERSION}, sort_keys=True)
        return hashlib.sha256(shaped.encode()).hexdigest()[:16]


def networks(torch: Any, config: TrainConfig) -> tuple[Any, Any]:
    """The actor (as policy.py runs it) and the critic."""
    return actor_network(torch, config.hidden), mlp(torch, config.hidden, 1)


class RunningNormaliser(Normaliser):
    """Running mean and variance of observations (merged per batch), so inputs stay near unit scale."""

    def update(self, batch: np.ndarray) -> None:
        mean, var, n = batch.mean(0), batch.var(0), len(batch)
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + var * n + delta**2 * self.count * n / total) / total
        self.count = total


class Trainer:
    def __init__(self, out: Path, config: TrainConfig | None = None, scene: Scene | None = None) -> None:
        self.torch = torch = require("torch")
        self.out = out
        self.config = config = config or TrainConfig()
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cpu":
            torch.set_num_threads(1)  # small networks: more threads only fight the simulation for the cores
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SetupError(f"cannot write checkpoints to {out}: {exc}") from None
        torch.manual_seed(config.seed)
        self.actor, self.critic = (n.to(self.device) for n in networks(torch, config))
        self.log_std = torch.nn.Parameter(torch.full((ACTED,), math.log(config.init_std), device=self.device))
        params = [*self.actor.parameters(), *self.critic.parameters(), self.log_std]
        self.optimizer = torch.optim.Adam(params, lr=config.lr)
        self.lr = config.lr
        self.normaliser = RunningNormaliser(OBS_SIZE)
        self.iteration = 0
        self.global_step = 0
        self.started_from: str | None = None  # the checkpoint of another task this run began from, if any
        self.scene = scene
        self.stop_requested = False

    # -- checkpoints ---------------------------------------------------------------------------------------

    def save(self) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        state = {
            "config": asdict(self.config),
            "digest": self.config.digest(),
            "iteration": self.iteration,
            "global_step": self.global_step,
            "started_from": self.started_from,
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "log_std": self.log_std.detach().cpu(),
            "optimizer": self.optimizer.state_dict(),
            "lr": self.lr,
            "normaliser": self.normaliser.state(),
            "torch_rng": self.torch.get_rng_state(),
            "cuda_rng": self.torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
        }
        path = self.out / f"ckpt_{self.iteration:07d}.pt"
        atomic_save(self.torch, state, path)
        for old in sorted(self.out.glob("ckpt_*.pt"))[:-KEEP]:
            old.unlink()
        atomic_save(self.torch, self.policy_state(), self.out / "policy.pt")
        return path

    def policy_state(self) -> dict[str, Any]:
        """What acting needs: the actor, its layout and the observation statistics."""
        actor = {k: v.cpu() for k, v in self.actor.state_dict().items()}
        return {"actor": actor, "hidden": self.config.hidden, "normaliser": self.normaliser.state(),
                "iteration": self.iteration, "global_step": self.global_step, "task": TASK_VERSION,
                "started_from": self.started_from}  # fmt: skip

    def resume(self) -> bool:
        """Loads the latest checkpoint in ``out``; False when there is none. One made under another config is
        refused: its numbers would not mean the same thing."""
        found = sorted(self.out.glob("ckpt_*.pt"))
        if not found:
            return False
        state = self.torch.load(found[-1], map_location=self.device, weights_only=False)
        if state["digest"] != self.config.digest():
            raise CheckpointError(f"{found[-1]} was made with another training config: {state['config']}")
        self._load(state)
        self.torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and self.device.type == "cuda":
            self.torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.iteration = state["iteration"]
        self.started_from = state.get("started_from")
        return True

    def start_from(self, path: Path) -> None:
        """Begins this run with the policy of a checkpoint made under another task or config (a curriculum step):
        the networks, the exploration noise, the observation statistics, the optimiser with its learning rate, and
        the step count, which stays the experience behind the policy. Only the network layout must match."""
        try:
            state = self.torch.load(path, map_location=self.device, weights_only=False)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
            raise CheckpointError(f"{path} is not a training checkpoint: {exc}") from None
        if not isinstance(state, dict) or "critic" not in state:
            raise CheckpointError(f"{path} is not a training checkpoint (a ckpt_*.pt; policy.pt holds only the actor)")
        if state["config"]["hidden"] != self.config.hidden:
            hidden = state["config"]["hidden"]
            raise CheckpointError(f"{path} has hidden layers {hidden}, this run {self.config.hidden}")
        self._load(state)
        self.started_from = str(path)

    def _load(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        with self.torch.no_grad():
            self.log_std.copy_(state["log_std"].to(self.device))
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr = state["lr"]
        self.normaliser.load(state["normaliser"])
        self.global_step = state["global_step"]

    # -- training ------------------------------------------------------------------------------------------

    def train(self, steps: int, minutes: float | None = None, save_every: int = 20, workers: int = 0) -> dict[str, Any]:
        """Trains until ``global_step`` reaches ``steps``, the time budget ends or SIGTERM comes; saves then.
        ``workers``: processes that step the environments (0: this one)."""
        config = self.config
        # SIGTERM and Ctrl-C end the run after the iteration at hand, which is then saved; a crash mid-iteration
        # saves nothing (its state is half updated) and the last checkpoint stands.
        previous = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        # Episodes start afresh on every run; seeding from the iteration keeps a resumed run reproducible.
        seeds = [config.seed * 100_003 + self.iteration * 1009 + i for i in range(config.envs)]
        deadline = time.monotonic() + 60 * minutes if minutes else math.inf
        last: dict[str, Any] = {}
        envs = None
        try:
            envs = VecEnv(self.scene, seeds, config.episode_steps, workers)
            obs = envs.reset()
            while self.global_step < steps and not self.stop_requested and time.monotonic() < deadline:
                start = time.monotonic()
                batch, obs, stats = self._rollout(envs, obs)
                last = {**stats, **self._update(batch), "iteration": self.iteration + 1}
                self.iteration += 1
                self.global_step += config.envs * config.horizon
                last.update(global_step=self.global_step, steps_per_s=round(config.envs * config.horizon /
                            (time.monotonic() - start)), lr=self.lr)  # fmt: skip
                with open(self.out / "train.jsonl", "a", encoding="utf-8") as f:
                    f.write(json.dumps(last) + "\n")
                if self.iteration % save_every == 0:
                    self.save()
            self.save()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if envs is not None:
                envs.close()
        return last

    def _request_stop(self, *_: Any) -> None:
        self.stop_requested = True

    def _rollout(self, envs: VecEnv, obs: np.ndarray) -> tuple[dict[str, Any], np.ndarray, dict[str, Any]]:
        torch, config = self.torch, self.config
        n, t_max = config.envs, config.horizon
        raw = np.zeros((t_max, n, OBS_SIZE), np.float32)
        seen = np.zeros((t_max, n, OBS_SIZE), np.float32)  # as the policy saw them (normalised)
        actions = np.zeros((t_max, n, ACTED), np.float32)
        means = np.zeros((t_max, n, ACTED), np.float32)
        logps, values = np.zeros((t_max, n), np.float32), np.zeros((t_max + 1, n), np.float32)
        rewards, dones = np.zeros((t_max, n), np.float32), np.zeros((t_max, n), np.float32)
        falls, still_falls, episodes, track = 0, 0, 0, []
        for t in range(t_max):
            raw[t], seen[t] = obs, self.normaliser(obs)
            with torch.no_grad():
                x = torch.as_tensor(seen[t], device=self.device)
                mean = self.actor(x)
                dist = torch.distributions.Normal(mean, self.log_std.exp())
                action = dist.sample()
                logps[t] = dist.log_prob(action).sum(-1).cpu().numpy()
                means[t] = mean.cpu().numpy()
                values[t] = self.critic(x).squeeze(-1).cpu().numpy()
            actions[t] = action.cpu().numpy()
            step = envs.step(actions[t])
            rewards[t] = step.rewards
            if step.timeout.any():  # cut off by the clock, not by a fall: the future still counts
                with torch.no_grad():
                    x = torch.as_tensor(self.normaliser(step.final[step.timeout]), device=self.device)
                    rewards[t, step.timeout] += config.gamma * self.critic(x).squeeze(-1).cpu().numpy()
            dones[t] = step.fell | step.timeout
            falls += int(step.fell.sum())
            still_falls += int((step.fell & step.still).sum())
            episodes += int(dones[t].sum())
            track.append(float(step.speed_error.mean()))
            obs = step.obs
        with torch.no_grad():
            x = torch.as_tensor(self.normaliser(obs), device=self.device)
            values[t_max] = self.critic(x).squeeze(-1).cpu().numpy()
        advantages = np.zeros_like(rewards)
        gae = np.zeros(n, np.float32)
        for t in reversed(range(t_max)):
            alive = 1.0 - dones[t]
            delta = rewards[t] + config.gamma * values[t + 1] * alive - values[t]
            gae = delta + config.gamma * config.lam * alive * gae
            advantages[t] = gae
        self.normaliser.update(raw.reshape(-1, OBS_SIZE))
        batch = {
            "obs": seen.reshape(-1, OBS_SIZE), "actions": actions.reshape(-1, ACTED), "logps": logps.reshape(-1),
            "means": means.reshape(-1, ACTED),
            "advantages": advantages.reshape(-1), "returns": (advantages + values[:-1]).reshape(-1),
        }  # fmt: skip
        stats = {"reward_per_step": round(float(rewards.mean()), 4), "falls": falls, "still_falls": still_falls,
                 "episodes_ended": episodes, "speed_error": round(float(np.mean(track)), 4)}  # fmt: skip
        return batch, obs, stats

    def _update(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        torch, config = self.torch, self.config
        obs = torch.as_tensor(batch["obs"], device=self.device)  # normalised as when they were acted on
        actions = torch.as_tensor(batch["actions"], device=self.device)
        old_logps = torch.as_tensor(batch["logps"], device=self.device)
        old_means = torch.as_tensor(batch["means"], device=self.device)
        old_std = self.log_std.detach().exp()
        adv = torch.as_tensor(batch["advantages"], device=self.device)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        returns = torch.as_tensor(batch["returns"], device=self.device)
        size = len(obs) // config.minibatches
        kls, losses = [], []
        for _ in range(config.epochs):
            order = torch.randperm(len(obs), device=self.device)
            for k in range(config.minibatches):
                idx = order[k * size : (k + 1) * size]
                dist = torch.distributions.Normal(self.actor(obs[idx]), self.log_std.exp())
                logp = dist.log_prob(actions[idx]).sum(-1)
                ratio = (logp - old_logps[idx]).exp()
                policy_loss = -torch.min(
                    ratio * adv[idx], ratio.clamp(1 - config.clip, 1 + config.clip) * adv[idx]
                ).mean()
                value_loss = (self.critic(obs[idx]).squeeze(-1) - returns[idx]).pow(2).mean()
                loss = policy_loss + config.value_coef * value_loss - config.entropy * dist.entropy().sum(-1).mean()
                with torch.no_grad():  # KL(rollout policy || policy before this step), of the two Gaussians
                    std = self.log_std.exp()
                    terms = torch.log(std / old_std) + (old_std**2 + (old_means[idx] - dist.mean) ** 2) / (2 * std**2)
                    kl = float((terms - 0.5).sum(-1).mean())
                self.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(
                    [*self.actor.parameters(), *self.critic.parameters(), self.log_std], config.max_grad_norm
                )
                self.optimizer.step()
                kls.append(kl)
                losses.append(float(loss.detach()))
        # Adaptive learning rate (as rsl_rl does), once per iteration on its mean KL: per minibatch, a small
        # batch's noisy KL drove the rate to its floor within a few iterations.
        kl = float(np.mean(kls))
        if kl > 2 * config.desired_kl:
            self.lr = max(self.lr / 1.5, 1e-5)
        elif kl < config.desired_kl / 2:
            self.lr = min(self.lr * 1.5, 1e-2)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        return {"kl": round(kl, 5), "loss": round(float(np.mean(losses)), 4),
                "std": round(float(self.log_std.detach().exp().mean()), 4)}  # fmt: skip


def atomic_save(torch: Any, state: dict[str, Any], path: Path) -> None:
    """A kill leaves the old file or the new one, never half of one."""
    with replacing(path) as tmp:
        torch.save(state, tmp)
