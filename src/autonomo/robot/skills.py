"""Skills: what the brain asks the humanoid to do, each measured in the simulation and reported as success or
failure with numbers (never as the model's claim).

Walking skills turn a goal into velocity commands for the walking policy (policy.py) and run it at 50 Hz. Arm
skills solve inverse kinematics (mink) for the arm joints while the policy keeps the robot balanced at a zero
command. A robot that has fallen stays fallen: every later skill fails and says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from autonomo.body import Observation
from autonomo.robot.assets import require
from autonomo.robot.env import ACTED, CTRL_DT, WalkEnv
from autonomo.robot.policy import WalkPolicy
from autonomo.robot.scene import Scene, Thing

WALK_TOLERANCE = 0.3  # metres from a walk_to target that count as there
TURN_TOLERANCE = math.radians(8)
REACH_TOLERANCE = 0.06  # metres between palm and target
# Pushing: the palms held PALMS_AHEAD of the robot's centre at a height within PUSH_HEIGHT keep the arm joints near
# the pose the walking policy balances with (IK measured 0.5 rad from it at 0.7 m, 0.9 at 0.8 m; more lower down)
PALMS_AHEAD = 0.25
PUSH_HEIGHT = (0.68, 0.8)
BELOW_TOP = 0.15  # metres between the palms and the top of what they push: they bob 0.1 m as the robot walks
PUSH_STANDOFF = 0.3  # metres from the near side of what is pushed to the robot's centre, before the push
ARM_LENGTH = 0.46  # metres from the G1's shoulder to its palm, the arm stretched out
STANDOFF = 0.45  # metres between an object's edge and the robot's centre when walking up to it
PALMS = {"left": "left_palm", "right": "right_palm"}


def wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def degrees(angle: float) -> int:
    """An angle in whole degrees, as reports give it: never "-0"."""
    return round(math.degrees(angle))


def side(bearing: float) -> str:
    """A bearing (radians, left positive) in words; within a turn's tolerance it is ahead, as turning again would
    not change it."""
    if abs(bearing) <= TURN_TOLERANCE:
        return "ahead"
    return f"{abs(degrees(bearing))} degrees to your {'left' if bearing > 0 else 'right'}"


class Humanoid:
    def __init__(self, scene: Scene, policy: WalkPolicy, frame: Callable[[WalkEnv], None] | None = None) -> None:
        """``frame``: called after every control step (to record a video)."""
        self.scene = scene
        self.env = WalkEnv(scene)
        self.obs = self.env.reset()
        self.policy = policy
        self.frame = frame
        self.fell = False

    # -- running the policy --------------------------------------------------------------------------------

    def _run(self, seconds: float, command: Callable[[], tuple[float, float, float]], until=None) -> str:
        """Walks for up to ``seconds`` under ``command`` (called each step). Returns done, timeout or fell."""
        for _ in range(round(seconds / CTRL_DT)):
            self.env.set_command(*command())
            self.obs, _, fell, _ = self.env.step(self.policy(self.obs))
            if self.frame:
                self.frame(self.env)
            if fell:
                self.fell = True
                return "fell"
            if until and until():
                return "done"
        return "timeout"

    def _settle(self, seconds: float = 0.6) -> str:
        """A zero command for ``seconds``: the robot steps on until it has slowed down, then stands (env.py)."""
        return self._run(seconds, lambda: (0.0, 0.0, 0.0))

    def _arms_down(self) -> None:
        """Before walking: the policy learnt to balance with the arms within 0.4 rad of their default, and a walk
        after a reach (the arm held out at the object) fell in the instruction suite."""
        self.env.set_arms(self.env.default[ACTED:])

    def _fallen(self) -> Observation | None:
        if self.fell:
            return Observation(False, "The robot has fallen and cannot act any more.")
        return None

    # -- where things are ------------------------------------------------------------------------------------

    def position(self, name: str) -> np.ndarray:
        try:
            return self.env.object_position(name)
        except KeyError:
            names = ", ".join(t.name for t in self.scene.objects)
            raise ValueError(f"no object named {name!r}; the objects are {names}") from None

    def _relative(self, x: float, y: float) -> tuple[float, float]:
        """Distance and bearing (radians, left positive) of a point from the robot."""
        rx, ry, heading = self.env.pose()
        return math.hypot(x - rx, y - ry), wrap(math.atan2(y - ry, x - rx) - heading)

    def look(self) -> Observation:
        x, y, heading = self.env.pose()
        lines = [
            f"You are at x={x:.2f}, y={y:.2f} (metres), facing {degrees(heading)} degrees "
            "(0 = +x, counter-clockwise)." + (" You have fallen." if self.fell else "")
        ]
        for thing in self.scene.objects:
            p = self.position(thing.name)
            distance, bearing = self._relative(p[0], p[1])
            kind = f"{thing.color if isinstance(thing.color, str) else ''} {thing.shape}".strip()
            lines.append(
                f"- {thing.name}: a {'movable' if thing.movable else 'fixed'} {kind} at x={p[0]:.2f}, y={p[1]:.2f}, "
                f"top at {p[2] + thing.half_height():.2f} m, {distance:.2f} m away, {side(bearing)}"
            )
        return Observation(True, "\n".join(lines))

    # -- walking ---------------------------------------------------------------------------------------------

    def walk_to(self, x: float, y: float, tolerance: float = WALK_TOLERANCE) -> Observation:
        if fallen := self._fallen():
            return fallen
        self._arms_down()
        start, _ = self._relative(x, y)

        def command() -> tuple[float, float, float]:
            distance, bearing = self._relative(x, y)
            forward = min(1.0 * distance, 0.8) * max(0.0, math.cos(bearing))
            side = float(np.clip(0.5 * distance * math.sin(bearing), -0.3, 0.3)) if distance < 1.0 else 0.0
            return forward, side, float(np.clip(2.0 * bearing, -1.0, 1.0))

        ended = self._run(10 + start / 0.3, command, until=lambda: self._relative(x, y)[0] < 0.6 * tolerance)
        if ended != "fell":
            ended = "fell" if self._settle() == "fell" else ended
        distance, _ = self._relative(x, y)
        ok = ended != "fell" and distance <= tolerance
        what = "fell over" if ended == "fell" else "arrived" if ok else "stopped short (time ran out)"
        return Observation(ok, f"walk_to ({x:.2f}, {y:.2f}): {what}; now {distance:.2f} m from the target.")

    def gap(self, name: str) -> float:
        """Metres from the robot's centre to the nearest point of an object's outline on the floor."""
        x, y, _ = self.env.pose()
        p = self.position(name)
        nx, ny = self.scene.thing(name).nearest(x, y, (p[0], p[1]))
        return math.hypot(nx - x, ny - y)

    def walk_to_object(self, name: str) -> Observation:
        """Walks up to an object, stopping ``STANDOFF`` from its nearest side, and turns to face it."""
        p = self.position(name)
        x, y, _ = self.env.pose()
        nx, ny = self.scene.thing(name).nearest(x, y, (p[0], p[1]))
        gap = math.hypot(nx - x, ny - y)
        if gap > STANDOFF + WALK_TOLERANCE:
            k = STANDOFF / gap
            result = self.walk_to(nx + k * (x - nx), ny + k * (y - ny))
            if not result.ok:
                return result
        turned = self.turn_to_point(nx, ny)
        if not turned.ok:
            return Observation(False, f"walk_to {name}: {turned.output}")
        # not the turn's degrees: the embedded model took them for a target and turned to them again and again
        _, bearing = self._relative(nx, ny)
        return Observation(True, f"walk_to {name}: arrived; its near side is {self.gap(name):.2f} m from you, "
                                 f"{side(bearing)}.")  # fmt: skip

    def turn_to(self, heading: float) -> Observation:
        """Turns on the spot to a heading in radians."""
        if fallen := self._fallen():
            return fallen

        def error() -> float:
            return wrap(heading - self.env.pose()[2])

        if abs(error()) <= TURN_TOLERANCE:  # the embedded model chased each turn's last few degrees
            return Observation(True, f"turn_to {degrees(heading)} degrees: already facing that way (now "
                                     f"{degrees(self.env.pose()[2])}; turns are good to {degrees(TURN_TOLERANCE)} "
                                     "degrees).")  # fmt: skip
        self._arms_down()
        ended = self._run(3 + abs(error()) / 0.4, lambda: (0.0, 0.0, float(np.clip(2.0 * error(), -1, 1))),
                          until=lambda: abs(error()) < TURN_TOLERANCE / 2)  # fmt: skip
        if ended != "fell":
            ended = "fell" if self._settle() == "fell" else ended
        ok = ended != "fell" and abs(error()) <= TURN_TOLERANCE
        what = "fell over" if ended == "fell" else "done" if ok else "did not get there"
        return Observation(ok, f"turn_to {degrees(heading)} degrees: {what}; now facing "
                               f"{degrees(self.env.pose()[2])} degrees.")  # fmt: skip

    def turn_to_point(self, x: float, y: float) -> Observation:
        rx, ry, _ = self.env.pose()
        return self.turn_to(math.atan2(y - ry, x - rx))

    def turn_to_object(self, name: str) -> Observation:
        """Faces an object's centre; a second turn when the first, which moved the robot a little, left it beyond
        the tolerance (the report would say "facing it" and "9 degrees to your right" at once)."""
        p = self.position(name)
        for _ in range(2):
            turned = self.turn_to_point(p[0], p[1])
            if not turned.ok:
                return Observation(False, f"turn_to {name}: {turned.output}")
            distance, bearing = self._relative(p[0], p[1])
            if abs(bearing) <= TURN_TOLERANCE:
                break
        return Observation(True, f"turn_to {name}: facing it; it is {distance:.2f} m away, {side(bearing)}.")

    def stop(self) -> Observation:
        if fallen := self._fallen():
            return fallen
        ended = self._run(3.0, lambda: (0.0, 0.0, 0.0), until=self.env.standing)  # it may step on a little first
        speed = float(np.linalg.norm(self.env.data.qvel[:2]))
        if ended == "fell":
            return Observation(False, "fell over")
        what = "stopped" if ended == "done" else "still stepping after 3 s"
        return Observation(ended == "done", f"{what}; moving at {speed:.2f} m/s.")

    # -- arms ------------------------------------------------------------------------------------------------

    def reach(self, hand: str, target: np.ndarray) -> Observation:
        """Puts a palm at a point (x, y, z), arms only, while the policy keeps the robot standing."""
        if fallen := self._fallen():
            return fallen
        if hand not in PALMS:
            return Observation(False, f"hand must be left or right, not {hand!r}")
        target = np.asarray(target, dtype=float)
        shoulder = self.env.data.xpos[self.env.model.body(f"{hand}_shoulder_pitch_link").id]
        if (far := float(np.linalg.norm(target - shoulder))) > ARM_LENGTH + REACH_TOLERANCE:
            # an arm stretched towards a point out of reach leaves the pose the walking policy balances with
            return Observation(False, f"reach with the {hand} hand: the target is {far:.2f} m from that shoulder, "
                                      f"out of reach ({ARM_LENGTH} m): walk closer first.")  # fmt: skip
        self.env.set_arms(self._arm_ik({hand: target}))
        ended = self._run(1.5, lambda: (0.0, 0.0, 0.0))
        gap = self.palm_gap(hand, target)
        ok = ended != "fell" and gap <= REACH_TOLERANCE
        what = "fell over" if ended == "fell" else "reached" if ok else "could not reach"
        return Observation(ok, f"reach with the {hand} hand: {what}; the palm is {gap:.2f} m from the target.")

    def palm_gap(self, hand: str, target: np.ndarray) -> float:
        site = self.env.model.site(PALMS[hand]).id
        return float(np.linalg.norm(self.env.data.site_xpos[site] - np.asarray(target)))

    def _arm_ik(self, targets: dict[str, np.ndarray]) -> np.ndarray:
        """Arm joint targets that put the palms at ``targets``, the rest of the body where it is now."""
        mink = require("mink")
        model, data = self.env.model, self.env.data
        config = mink.Configuration(model)
        config.update(data.qpos.copy())
        tasks = []
        for hand, point in targets.items():
            task = mink.FrameTask(PALMS[hand], "site", position_cost=1.0, orientation_cost=0.0)
            task.set_target(mink.SE3.from_translation(point))
            tasks.append(task)
        posture = mink.PostureTask(model, cost=1e-2)
        posture.set_target_from_configuration(config)
        tasks.append(posture)
        arm_dofs = set(int(d) for d in self.env.vadr[ACTED:])
        frozen = mink.DofFreezingTask(model, dof_indices=[d for d in range(model.nv) if d not in arm_dofs])
        for _ in range(50):
            try:
                velocity = mink.solve_ik(config, tasks, CTRL_DT, solver="daqp", damping=1e-3, constraints=[frozen])
            except mink.NoSolutionFound:  # keep the nearest pose so far: the skill measures how near it got
                break
            config.integrate_inplace(velocity, CTRL_DT)
        return config.q[self.env.qadr[ACTED:]].copy()

    def _around(self, thing: Thing, centre: np.ndarray, side: np.ndarray) -> list[np.ndarray]:
        """Waypoints on a circle round an object, from where the robot is to the object's ``side`` (a unit
        vector), 60 degrees apart: walking straight there could go through it, and the hands would shove it."""
        radius = thing.radius() + STANDOFF
        x, y, _ = self.env.pose()
        at = math.atan2(y - centre[1], x - centre[0])
        left = wrap(math.atan2(side[1], side[0]) - at)
        steps = int(abs(left) // math.radians(60))
        angles = [at + math.copysign(math.radians(60) * (i + 1), left) for i in range(steps)]
        return [centre[:2] + radius * np.array([math.cos(a), math.sin(a)]) for a in angles]

    def push(self, name: str, heading: float, distance: float = 0.5) -> Observation:
        """Pushes a movable object ``distance`` metres along ``heading`` (radians): walks round to behind it, holds
        both palms out in front just below its top, walks on slowly along the line through its centre, and
        measures how far it moved that way."""
        if fallen := self._fallen():
            return fallen
        thing = self.scene.thing(name)
        if not thing.movable:
            return Observation(False, f"{name} is fixed in place and cannot be pushed.")
        p0 = self.position(name)
        top = float(p0[2]) + thing.half_height()
        z = min(top - BELOW_TOP, PUSH_HEIGHT[1])
        if z < PUSH_HEIGHT[0]:
            return Observation(False, f"{name} is too low to push by hand: its top is {top:.2f} m up, and the "
                                      f"palms push no lower than {PUSH_HEIGHT[0]} m with the legs standing, "
                                      f"{BELOW_TOP} m below the top.")  # fmt: skip
        u = np.array([math.cos(heading), math.sin(heading)])
        side = np.array([-u[1], u[0]])
        far = p0[:2] - 10 * u
        behind = np.array(thing.nearest(far[0], far[1], (p0[0], p0[1]))) - u * PUSH_STANDOFF
        for x, y in [*self._around(thing, p0, -u), behind]:
            walked = self.walk_to(float(x), float(y))
            if not walked.ok:
                return Observation(False, f"push {name}: could not get behind it: {walked.output}")
        turned = self.turn_to(heading)
        if not turned.ok:
            return Observation(False, f"push {name}: could not face the push direction: {turned.output}")
        x, y, _ = self.env.pose()
        ahead = np.array([x, y]) + PALMS_AHEAD * u
        self.env.set_arms(self._arm_ik({"left": np.array([*(ahead + 0.15 * side), z]),
                                        "right": np.array([*(ahead - 0.15 * side), z])}))  # fmt: skip
        moved = lambda: float(np.dot(self.position(name)[:2] - p0[:2], u))  # noqa: E731

        def command() -> tuple[float, float, float]:  # slowly ahead, steering onto the line through its centre
            rx, ry, facing = self.env.pose()
            off = float(np.dot(self.position(name)[:2] - (rx, ry), side))
            return 0.25, float(np.clip(off, -0.2, 0.2)), float(np.clip(2.0 * wrap(heading - facing), -0.5, 0.5))

        ended = self._run(6 + distance / 0.2, command, until=lambda: moved() >= distance)
        self._arms_down()
        if ended != "fell":
            ended = "fell" if self._settle() == "fell" else ended
        moved_by = moved()
        ok = ended != "fell" and moved_by >= 0.7 * distance
        what = "fell over" if ended == "fell" else "pushed" if ok else "it did not move enough"
        return Observation(ok, f"push {name}: {what}; it moved {moved_by:.2f} m in the push direction.")
