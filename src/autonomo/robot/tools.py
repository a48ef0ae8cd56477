"""The humanoid body's tools: the skills, as the agent loop calls them (the Body protocol, see body.py).

Targets are object names from the scene, or coordinates in metres. The run's workspace holds its recording.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from autonomo.body import FINISH, Draftable, Observation, Start, TestReport
from autonomo.models.base import ToolSpec
from autonomo.prompts import render, tool
from autonomo.robot.assets import require
from autonomo.robot.env import CTRL_DT, WalkEnv
from autonomo.robot.policy import WalkPolicy
from autonomo.robot.scene import Scene
from autonomo.robot.skills import BELOW_TOP, PUSH_HEIGHT, Humanoid

FRAME_EVERY = 5  # control steps per video frame: 10 frames per simulated second
NUMBER = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+))\s*(?:m|metres|meters|deg|degrees|°)?", re.IGNORECASE)
# "ahead": the word of look and the skill reports, which the embedded model then gave push as a direction
RELATIVE = {"forward": 0.0, "ahead": 0.0, "away": 0.0, "left": 90.0, "back": 180.0, "backward": 180.0, "right": -90.0}


SKILLS = ("look", "walk_to", "turn_to", "stop", "reach", "push", FINISH)


class Recorder:
    """Frames from the scene's overview camera, written as a GIF (software rendering: small and few frames)."""

    def __init__(self, model: Any, width: int = 320, height: int = 240) -> None:
        mujoco = require("mujoco")
        self.renderer = mujoco.Renderer(model, height, width)
        self.frames: list[Any] = []
        self.steps = 0

    def __call__(self, env: WalkEnv) -> None:
        self.steps += 1
        if self.steps % FRAME_EVERY == 0:
            self.renderer.update_scene(env.data, camera="overview")
            self.frames.append(self.renderer.render().copy())

    def save(self, path: Path) -> Path | None:
        if not self.frames:
            return None
        iio = require("imageio.v3")
        iio.imwrite(path, self.frames, duration=1000 * CTRL_DT * FRAME_EVERY, loop=0)
        return path


class RobotTools:
    """The humanoid body. Its workspace holds only the recording; whether an instruction was carried out is judged
    outside the run, from the simulator's state (bench/robot.py)."""

    write_tools: frozenset[str] = frozenset()  # no check runs after a skill: there is none to run
    # Only the calls that change nothing; a robot run is not resumed anyway (the simulation is not kept).
    rerun_safe = frozenset({"look", FINISH})

    def __init__(self, scene: Scene, policy: WalkPolicy, workspace: Path, record: bool = True) -> None:
        self.workspace = workspace
        self.scene = scene
        self.recorder: Recorder | None = None
        self.robot = Humanoid(scene, policy)
        top = {"min_top": f"{PUSH_HEIGHT[0] + BELOW_TOP:.2f}"}  # the lowest top the palms reach (skills.py)
        self._specs = [tool(f"robot.tools.{name}", **(top if name == "push" else {})) for name in SKILLS]
        if record:
            self.recorder = Recorder(self.robot.env.model)
            self.robot.frame = self.recorder

    @property
    def kind(self) -> str:
        return f"robot:{self.scene.name}"

    @property
    def system_prompt(self) -> str:
        return render("robot.system")

    @property
    def specs(self) -> list[ToolSpec]:
        return self._specs

    def reset(self) -> Start:
        return Start(render("robot.first_observation", look=self.robot.look().output))

    def changed(self, baseline: dict[str, str]) -> list[str]:
        return []  # the world changes, not files

    def draftable(self) -> Draftable | None:
        return None

    def test(self) -> TestReport:
        return TestReport(None, True, None, "no check", "")

    def call(self, name: str, arguments: dict[str, Any]) -> Observation:
        robot = self.robot
        try:
            if name == "look":
                return robot.look()
            if name == "stop":
                return robot.stop()
            if name == "walk_to":
                target = str(arguments.get("target", ""))
                point = numbers(target, 2)
                return robot.walk_to(*point) if point else robot.walk_to_object(target)
            if name == "turn_to":
                target = str(arguments.get("target", ""))
                degrees = numbers(target, 1)
                if degrees:
                    return robot.turn_to(math.radians(degrees[0]))
                return robot.turn_to_object(target)
            if name == "reach":
                target = str(arguments.get("target", ""))
                return robot.reach(str(arguments.get("hand", "")), numbers(target, 3) or robot.position(target))
            if name == "push":
                return robot.push(str(arguments.get("object", "")), self.heading(str(arguments.get("direction", ""))))
            if name == FINISH:
                return Observation(True, str(arguments.get("summary", "")))
        except ValueError as exc:  # bad arguments: say what is wrong
            return Observation(False, str(exc))
        except (KeyError, ArithmeticError, RuntimeError) as exc:  # a skill that broke is a failed skill, not a crash
            return Observation(False, f"{name} failed: {type(exc).__name__}: {exc}")
        return Observation(False, f"unknown skill {name!r}")

    def heading(self, direction: str) -> float:
        """A push direction as a world heading in radians."""
        direction = direction.strip().lower()
        _, _, facing = self.robot.env.pose()
        if direction in RELATIVE:
            return facing + math.radians(RELATIVE[direction])
        if direction.startswith("toward:"):
            p = self.robot.position(direction.split(":", 1)[1].strip())
            x, y, _ = self.robot.env.pose()
            return math.atan2(p[1] - y, p[0] - x)
        degrees = numbers(direction, 1)
        if degrees:
            return math.radians(degrees[0])
        raise ValueError(f"unknown direction {direction!r}: forward, left, right, back, toward:OBJECT or degrees")

    def save_video(self) -> Path | None:
        return self.recorder.save(self.workspace / "video.gif") if self.recorder else None


def numbers(text: str, count: int) -> list[float] | None:
    """``count`` comma-separated numbers, each perhaps with its unit ("18 degrees", "1.5 m"), or None when the text
    is not that."""
    parts = [NUMBER.fullmatch(p.strip()) for p in text.split(",")]
    if len(parts) != count or not all(parts):
        return None
    return [float(m[1]) for m in parts if m]
