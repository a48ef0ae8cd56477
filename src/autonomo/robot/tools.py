"""The humanoid body's tools: the skills, as the agent loop calls them (the Body protocol, see body.py).

Targets are object names from the scene, or coordinates in metres. The run's workspace holds its recording.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from autonomo.body import FINISH, Observation, TestReport
from autonomo.models.base import ToolSpec
from autonomo.robot.assets import require
from autonomo.robot.env import CTRL_DT, WalkEnv
from autonomo.robot.scene import Scene
from autonomo.robot.skills import BELOW_TOP, PUSH_HEIGHT, Humanoid
from autonomo.robot.train import WalkPolicy

SYSTEM = """You are autonomo, the brain of a humanoid robot standing in a room. No human will answer questions.
Carry out the instruction with your skills, one tool call per reply. Use look to see where things are; to look
at or face something, turn_to it (look does not turn you).
Each skill reports whether it worked, measured in the world: if one fails, try another way.
Call finish when the instruction is carried out, or when it cannot be."""
FRAME_EVERY = 5  # control steps per video frame: 10 frames per simulated second
NUMBER = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+))\s*(?:m|metres|meters|deg|degrees|°)?", re.IGNORECASE)
# "ahead": the word of look and the skill reports, which the embedded model then gave push as a direction
RELATIVE = {"forward": 0.0, "ahead": 0.0, "away": 0.0, "left": 90.0, "back": 180.0, "backward": 180.0, "right": -90.0}


def _spec(name: str, description: str, **props: str) -> ToolSpec:
    schema = {
        "type": "object",
        "properties": {k: {"type": "string", "description": d} for k, d in props.items()},
        "required": list(props),
    }
    return ToolSpec(name, description, schema)


SPECS = [
    _spec("look", "Describe where you are and where every object is. It does not move or turn you."),
    _spec("walk_to", "Walk to an object (stopping in front of it) or to a point.",
          target="an object name, or x,y in metres"),
    _spec("turn_to", "Turn on the spot to face (look at) an object, or a heading in degrees (0 = +x, "
                     "counter-clockwise).",
          target="an object name, or a heading in degrees"),
    _spec("stop", "Stand still."),
    _spec("reach", "Reach with one hand to an object or a point, standing where you are. An arm is about half a "
                   "metre long: walk_to the object first.",
          hand="left or right", target="an object name, or x,y,z in metres"),
    _spec("push", "Push a movable object half a metre: walks behind it and pushes it along a direction with both "
                  f"hands. Its top must be at least {PUSH_HEIGHT[0] + BELOW_TOP:.2f} m up.",
          object="the object's name",
          direction="forward, left, right or back (relative to you now), toward:OBJECT, or a heading in degrees"),
    _spec(FINISH, "End the run: the instruction is carried out, or cannot be.", summary="what was done"),
]  # fmt: skip


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
    def __init__(self, scene: Scene, policy: WalkPolicy, workspace: Path, record: bool = True) -> None:
        self.workspace = workspace
        self.protected: set[Path] = set()
        self.scene = scene
        self.recorder: Recorder | None = None
        self.robot = Humanoid(scene, policy)
        if record:
            self.recorder = Recorder(self.robot.env.model)
            self.robot.frame = self.recorder

    @property
    def kind(self) -> str:
        return f"robot:{self.scene.name}"

    @property
    def specs(self) -> list[ToolSpec]:
        return SPECS

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.workspace)) or "."

    def test(self) -> TestReport:
        """Whether an instruction was carried out is judged outside the run (from the simulator's state)."""
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
