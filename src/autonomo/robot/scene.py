"""Scenes: a room for the robot, described in a small TOML file, built onto the G1 model with MjSpec.

    name = "room"
    [robot]
    pos = [0.0, 0.0]    # x, y in metres
    heading = 0         # degrees, counter-clockwise from +x
    [[objects]]
    name = "red_box"
    shape = "box"       # box (size: half-extents x, y, z) | sphere (radius) | cylinder (radius, half-height)
    size = [0.2, 0.2, 0.2]
    pos = [2.0, 0.5]    # x, y; it rests on the floor unless a z is given
    color = "red"       # a colour name or [r, g, b, a]
    movable = true      # a free body the robot can push; false: fixed (walls, tables)
    mass = 2.0

Only the robot's feet touch the floor and only its hands touch objects (MuJoCo Playground's feet-only G1): the
rest of the body passes through things, so skills keep it clear of them.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from autonomo.errors import SetupError
from autonomo.robot.assets import g1_scene, require

COLORS = {
    "red": (0.85, 0.15, 0.15, 1), "green": (0.2, 0.7, 0.25, 1), "blue": (0.2, 0.35, 0.85, 1),
    "yellow": (0.95, 0.85, 0.2, 1), "orange": (0.95, 0.55, 0.15, 1), "white": (0.95, 0.95, 0.95, 1),
    "grey": (0.55, 0.55, 0.55, 1), "brown": (0.55, 0.35, 0.2, 1), "black": (0.1, 0.1, 0.1, 1),
}  # fmt: skip
HANDS = ("left_hand_collision", "right_hand_collision")
SCENES = Path(__file__).parent / "scenes"
SLIDING = 0.2  # friction of movable objects


class SceneError(SetupError, ValueError):
    """A scene file that cannot be used."""


class Thing(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    shape: Literal["box", "sphere", "cylinder"] = "box"
    size: list[float] = Field(min_length=1, max_length=3)
    pos: list[float] = Field(min_length=2, max_length=3)
    color: str | list[float] = "grey"
    movable: bool = False
    mass: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _size_fits_shape(self) -> Thing:
        want = {"box": 3, "sphere": 1, "cylinder": 2}[self.shape]
        if len(self.size) != want or min(self.size) <= 0:
            raise ValueError(f"a {self.shape} has {want} positive size numbers, not {self.size}")
        return self

    @field_validator("color")
    @classmethod
    def _color(cls, color: str | list[float]) -> str | list[float]:
        if isinstance(color, str) and color not in COLORS:
            raise ValueError(f"unknown colour {color!r}; one of {', '.join(COLORS)} or [r, g, b, a]")
        if isinstance(color, list) and len(color) != 4:
            raise ValueError("an rgba colour has 4 numbers")
        return color

    def half_height(self) -> float:
        return {"box": self.size[-1], "sphere": self.size[0], "cylinder": self.size[-1]}[self.shape]

    def radius(self) -> float:
        """Of the smallest circle round its outline on the floor."""
        return math.hypot(*self.size[:2]) if self.shape == "box" else self.size[0]

    def nearest(self, x: float, y: float, centre: tuple[float, float]) -> tuple[float, float]:
        """The point of its outline on the floor nearest to (x, y), for an object now at ``centre`` (boxes stay
        axis-aligned: a push moves them more than it turns them)."""
        cx, cy = centre
        if self.shape == "box":
            return min(max(x, cx - self.size[0]), cx + self.size[0]), min(max(y, cy - self.size[1]), cy + self.size[1])
        d = math.hypot(x - cx, y - cy) or 1.0
        r = min(self.size[0], d)
        return cx + (x - cx) * r / d, cy + (y - cy) * r / d

    def rgba(self) -> list[float]:
        return list(COLORS[self.color]) if isinstance(self.color, str) else self.color

    def centre(self) -> list[float]:
        return self.pos if len(self.pos) == 3 else [*self.pos, self.half_height()]


class Start(BaseModel):
    pos: list[float] = Field(default=[0.0, 0.0], min_length=2, max_length=2)
    heading: float = 0.0  # degrees


class Scene(BaseModel):
    name: str = "flat"
    description: str = ""
    robot: Start = Field(default_factory=Start)
    objects: list[Thing] = Field(default_factory=list)

    @field_validator("objects")
    @classmethod
    def _unique(cls, objects: list[Thing]) -> list[Thing]:
        names = [o.name for o in objects]
        if len(set(names)) != len(names):
            raise ValueError(f"object names repeat: {names}")
        return objects

    @classmethod
    def load(cls, path: Path | str) -> Scene:
        """A scene file, or the name of a bundled scene (``room``, ``corridor``, ``kitchen``)."""
        path = Path(path)
        if not path.suffix and (SCENES / f"{path}.toml").is_file():
            path = SCENES / f"{path}.toml"
        try:
            return cls.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise SceneError(f"cannot read scene {path}: {exc}") from None
        except (tomllib.TOMLDecodeError, ValidationError) as exc:
            raise SceneError(f"{path}: not a valid scene: {exc}") from None

    def thing(self, name: str) -> Thing:
        for thing in self.objects:
            if thing.name == name:
                return thing
        raise KeyError(name)

    def build(self) -> Any:
        """The MuJoCo model: the G1, the objects, a pair for each hand and movable object, an overview camera."""
        mujoco = require("mujoco")
        spec = mujoco.MjSpec.from_file(str(g1_scene()))
        shapes = {"box": mujoco.mjtGeom.mjGEOM_BOX, "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
                  "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER}  # fmt: skip
        for thing in self.objects:
            geom: dict[str, Any] = {"name": thing.name, "type": shapes[thing.shape], "size": thing.size,
                                    "rgba": thing.rgba()}  # fmt: skip
            if thing.movable:
                body = spec.worldbody.add_body(name=thing.name, pos=thing.centre())
                body.add_freejoint()
                # its own friction, not the floor's 1.0, in contacts (priority): a box pushed at hand height slides
                # instead of tipping over
                body.add_geom(mass=thing.mass, friction=[SLIDING, 0.005, 0.0001], priority=1, **geom)
                for hand in HANDS:
                    spec.add_pair(geomname1=hand, geomname2=thing.name, condim=3)
            else:
                spec.worldbody.add_geom(pos=thing.centre(), **geom)
        spec.worldbody.add_camera(name="overview", pos=[-3.5, -3.5, 4.0], xyaxes=[1, -1, 0, 0.45, 0.45, 0.77])
        spec.visual.quality.shadowsize = 0  # shadows halve the frame rate of software rendering
        return spec.compile()

    def start_qpos(self) -> tuple[float, float, float]:
        """x, y and heading in radians of the robot at the start."""
        return self.robot.pos[0], self.robot.pos[1], math.radians(self.robot.heading)
