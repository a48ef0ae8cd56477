"""Benchmarks of the humanoid body, each judged from the simulator's state:

- ``tracking``: velocity tracking under random commands (mean speed error, falls) and simulation speed;
- ``walk_to``: random targets up to 5 m away, success within 0.3 m;
- ``push``: the room's red box 1 to 3 m away in any direction, pushed half a metre in any direction;
- ``recovery``: shoves while standing, as large as those the policy trained with; recovered is slowed down again;
- ``suite``: language instructions over the bundled scenes, carried out by the agent and judged by a check on
  the final state of the world (robot/suite.jsonl).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from autonomo.robot.env import COMMAND_MAX, CTRL_DT, STOPPED, Randomise, WalkEnv
from autonomo.robot.policy import WalkPolicy
from autonomo.robot.scene import Scene

SUITE = Path(__file__).parent.parent / "robot" / "suite.jsonl"
SETTLE = 1.0  # seconds after a new command that tracking error does not count (the robot speeds up)


def tracking(
    policy: WalkPolicy, trials: int = 10, seed: int = 0, seconds: float = 60.0, every: float = 10.0
) -> dict[str, Any]:
    """Random commands, a new one every ``every`` seconds, for ``trials`` seeds from ``seed``; the mean error between
    commanded and measured planar velocity (pelvis frame, m/s) and turn rate, the falls, and how much faster than
    real time it ran. Each fall is listed with its seed, time and command (the robot starts again standing)."""
    errors, turn_errors, falls, steps, busy = [], [], [], 0, 0.0
    for episode in range(seed, seed + trials):
        env = WalkEnv(seed=episode)
        rng = np.random.default_rng(1000 + episode)
        obs = env.reset()
        command = np.zeros(3)
        for t in range(round(seconds / CTRL_DT)):
            if t % round(every / CTRL_DT) == 0:
                command = rng.uniform(-COMMAND_MAX, COMMAND_MAX)
            env.set_command(*command)  # again after a fall's reset, which zeroes it
            start = time.perf_counter()
            obs, _, fell, _ = env.step(policy(obs))
            busy += time.perf_counter() - start
            steps += 1
            if t % round(every / CTRL_DT) >= SETTLE / CTRL_DT:
                velocity = env.data.sensordata[env.linvel]
                errors.append(float(np.linalg.norm(env.command[:2] - velocity[:2])))
                turn_errors.append(abs(float(env.command[2] - env.data.sensordata[env.gyro][2])))
            if fell:
                falls.append({"seed": episode, "second": round(t * CTRL_DT, 1), "command": command.round(2).tolist()})
                obs = env.reset()
    return {
        "seeds": trials,
        "first_seed": seed,
        "seconds_each": seconds,
        "mean_speed_error": round(float(np.mean(errors)), 4),
        "mean_turn_error": round(float(np.mean(turn_errors)), 4),
        "falls": len(falls),
        "real_time_factor": round(steps * CTRL_DT / busy, 1),  # one process, one core
        "fell_on": falls,
    }


def walk_to(policy: WalkPolicy, trials: int = 50, seed: int = 0, max_distance: float = 5.0) -> dict[str, Any]:
    """Random targets 0.5 to ``max_distance`` metres away in any direction, each from a fresh start."""
    from autonomo.robot.skills import WALK_TOLERANCE, Humanoid

    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(trials):
        robot = Humanoid(Scene(), policy)
        distance, angle = rng.uniform(0.5, max_distance), rng.uniform(-math.pi, math.pi)
        x, y = distance * math.cos(angle), distance * math.sin(angle)
        result = robot.walk_to(x, y)
        rx, ry, _ = robot.env.pose()
        off_by = round(math.hypot(x - rx, y - ry), 3)
        rows.append({"target": [round(x, 2), round(y, 2)], "ok": result.ok, "off_by": off_by, "fell": robot.fell,
                     "seconds": round(robot.env.steps * CTRL_DT, 1)})  # fmt: skip
    solved = sum(r["ok"] for r in rows)
    return {"targets": trials, "seed": seed, "tolerance": WALK_TOLERANCE, "succeeded": solved,
            "success_rate": solved / trials,
            "falls": sum(r["fell"] for r in rows), "rows": rows}  # fmt: skip


def push(policy: WalkPolicy, trials: int = 30, seed: int = 0) -> dict[str, Any]:
    """The room's red box placed 1 to 3 m away in any direction, pushed along a random heading, each from a fresh
    start; success is the skill's own measure (0.35 of the 0.5 m along the heading, no fall)."""
    from autonomo.robot.skills import Humanoid

    rng = np.random.default_rng(seed)
    box = Scene.load("room").thing("red_box")
    rows = []
    for _ in range(trials):
        distance, angle, heading = rng.uniform(1.0, 3.0), rng.uniform(-math.pi, math.pi), rng.uniform(-math.pi, math.pi)
        at = [round(distance * math.cos(angle), 2), round(distance * math.sin(angle), 2)]
        robot = Humanoid(Scene(objects=[box.model_copy(update={"pos": at})]), policy)
        start = robot.position(box.name)
        result = robot.push(box.name, heading)
        moved = robot.position(box.name)[:2] - start[:2]
        rows.append({"box": at, "heading_degrees": round(math.degrees(heading)), "ok": result.ok, "fell": robot.fell,
                     "moved": round(float(np.dot(moved, [math.cos(heading), math.sin(heading)])), 3),
                     "seconds": round(robot.env.steps * CTRL_DT, 1)})  # fmt: skip
    solved = sum(r["ok"] for r in rows)
    return {"trials": trials, "seed": seed, "succeeded": solved, "success_rate": solved / trials,
            "falls": sum(r["fell"] for r in rows), "rows": rows}  # fmt: skip


def recovery(policy: WalkPolicy, trials: int = 30, seed: int = 0, seconds: float = 5.0) -> dict[str, Any]:
    """The robot stands for 1-2 s (so that shoves meet the gait at any phase), then its pelvis gets a sudden speed
    in a random direction (a shove, as large as those the policy trained with). Recovered: no fall, and over the
    last second of the next ``seconds`` its mean speed is below the stopped threshold (told to stand, the policy may
    still step in place now and then)."""
    low, high = Randomise().push_speed
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(trials):
        env = WalkEnv()
        obs = env.reset()
        speed, angle, wait = rng.uniform(low, high), rng.uniform(-math.pi, math.pi), rng.uniform(1.0, 2.0)
        speeds, start, kick = [], env.pose(), round(wait / CTRL_DT)
        for t in range(kick + round(seconds / CTRL_DT)):
            if t == kick:
                start = env.pose()
                env.data.qvel[0:2] += speed * np.array([math.cos(angle), math.sin(angle)])
            obs, _, fell, _ = env.step(policy(obs))
            if fell:  # perhaps before the shove: a policy that cannot stand recovers from nothing
                break
            if t >= kick:
                speeds.append(float(np.linalg.norm(env.data.sensordata[env.linvel][:2])))
        x, y, _ = env.pose()
        settled = None if fell else round(float(np.mean(speeds[-round(1.0 / CTRL_DT) :])), 3)
        rows.append({"speed": round(speed, 2), "direction_degrees": round(math.degrees(angle)),
                     "after_seconds": round(wait, 2), "fell": fell,
                     "recovered": settled is not None and settled < STOPPED, "speed_after": settled,
                     "stepped": round(math.hypot(x - start[0], y - start[1]), 2)})  # fmt: skip
    recovered = sum(r["recovered"] for r in rows)
    return {"trials": trials, "seed": seed, "push_speed": [low, high], "recovered": recovered,
            "recovery_rate": recovered / trials, "falls": sum(r["fell"] for r in rows), "rows": rows}  # fmt: skip


def load_suite(path: Path = SUITE) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def judge(check: dict[str, Any], tools: Any) -> tuple[bool, str]:
    """Whether the world is as the instruction asked, from the simulator's state."""
    ok, detail = _judge(check, tools)
    return bool(ok), detail  # not numpy's bool: the verdict goes into JSON


def _judge(check: dict[str, Any], tools: Any) -> tuple[bool, str]:
    robot = tools.robot
    x, y, heading = robot.env.pose()
    kind = check["kind"]
    if robot.fell:
        return False, "the robot fell"
    if kind == "near":  # the robot's centre within ``within`` metres of the object's outline
        gap = robot.gap(check["object"])
        return gap <= check["within"], f"{gap:.2f} m from {check['object']}"
    if kind == "facing":
        p = robot.position(check["object"])
        off = abs(math.degrees(math.atan2(p[1] - y, p[0] - x) - heading) + 180) % 360 - 180
        return abs(off) <= check["degrees"], f"{abs(off):.0f} degrees off"
    if kind == "heading":
        off = abs((math.degrees(heading) - check["degrees"] + 180) % 360 - 180)
        return off <= check["within"], f"{off:.0f} degrees off"
    if kind == "region":  # the robot (or an object) inside an axis-aligned box of the floor
        p = robot.position(check["object"]) if "object" in check else np.array([x, y])
        lo, hi = check["min"], check["max"]
        inside = lo[0] <= p[0] <= hi[0] and lo[1] <= p[1] <= hi[1]
        return inside, f"at ({p[0]:.2f}, {p[1]:.2f})"
    if kind == "moved":  # an object moved at least ``distance`` along a world direction (degrees)
        start = np.array(robot.scene.thing(check["object"]).centre()[:2])
        u = np.array([math.cos(math.radians(check["direction"])), math.sin(math.radians(check["direction"]))])
        moved = float(np.dot(robot.position(check["object"])[:2] - start, u))
        return moved >= check["distance"], f"moved {moved:.2f} m that way"
    raise ValueError(f"unknown check kind {kind!r}")


def suite(
    policy: WalkPolicy, model: Any, out: Path, max_steps: int = 12, log=print, cases: list[dict] | None = None
) -> dict[str, Any]:
    """Each instruction of the suite (or of ``cases``), carried out by the agent on its scene and judged;
    resumable (rows already in ``out/report.jsonl`` are kept)."""
    from autonomo.agent.loop import Budget
    from autonomo.assembly import RunConfig, make_agent
    from autonomo.robot.tools import RobotTools

    report = out / "report.jsonl"
    done = {r["id"]: r for r in map(json.loads, report.read_text().splitlines())} if report.exists() else {}
    for case in cases or load_suite():
        if case["id"] in done:
            continue
        workspace = out / "work" / case["id"]
        workspace.mkdir(parents=True, exist_ok=True)
        tools = RobotTools(Scene.load(case["scene"]), policy, workspace, record=False)
        run_dir = workspace / ".autonomo" / "runs" / case["id"]
        agent = make_agent(RunConfig(budget=Budget(max_steps=max_steps)), workspace, run_dir=run_dir, model=model,
                           body=tools)  # fmt: skip
        start = time.monotonic()
        result = agent.run(case["instruction"])
        ok, detail = judge(case["check"], tools)
        row = {"id": case["id"], "scene": case["scene"], "instruction": case["instruction"], "passed": ok,
               "detail": detail, "outcome": result.outcome, "steps": result.totals["model_calls"],
               "tokens": result.totals["tokens"], "seconds": round(time.monotonic() - start, 1)}  # fmt: skip
        with open(report, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        done[case["id"]] = row
        log(f"{case['id']}: {'PASS' if ok else 'fail'} · {detail} · {row['outcome']} · {row['steps']} steps")
    rows = list(done.values())
    passed = sum(r["passed"] for r in rows)
    return {"instructions": len(rows), "scenes": len({r["scene"] for r in rows}), "passed": passed,
            "success_rate": round(passed / len(rows), 3) if rows else 0.0}  # fmt: skip
