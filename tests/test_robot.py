"""The humanoid body: scenes, the walking task, and training that checkpoints and resumes (no real training)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import autonomo.robot  # noqa: F401  (before mujoco: it picks offscreen rendering)

pytest.importorskip("mujoco")
pytest.importorskip("torch")

from autonomo.robot.env import ACTED, COMMAND_MAX, OBS_SIZE, Randomise, WalkEnv  # noqa: E402
from autonomo.robot.policy import PolicyError, WalkPolicy  # noqa: E402
from autonomo.robot.scene import Scene, SceneError  # noqa: E402
from autonomo.robot.train import TrainConfig, Trainer  # noqa: E402

TINY = TrainConfig(envs=2, horizon=16, epochs=1, minibatches=2, hidden=[32, 32])


@pytest.mark.parametrize("name", ["room", "corridor", "kitchen"])
def test_bundled_scenes_build_with_their_objects(name):
    scene = Scene.load(name)
    model = scene.build()
    assert model.nu == 29 and len(scene.objects) >= 4
    for thing in scene.objects:
        assert model.geom(thing.name).id >= 0
    movable = [t for t in scene.objects if t.movable]
    assert model.npair == 5 + 2 * len(movable)  # the G1's own pairs, then each hand with each movable object


@pytest.mark.parametrize(
    "text, message",
    [
        ("name = [", "not a valid scene"),
        ('[[objects]]\nname = "b"\nshape = "box"\nsize = [1]\npos = [0, 0]', "a box has 3 positive size numbers"),
        ('[[objects]]\nname = "b"\nsize = [1, 1, 1]\npos = [0, 0]\ncolor = "mauve"', "unknown colour 'mauve'"),
        ('[[objects]]\nname = "b"\nsize = [1, 1, 1]\npos = [0, 0]\n' * 2, "object names repeat"),
    ],
)
def test_a_bad_scene_file_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "scene.toml"
    path.write_text(text)
    with pytest.raises(SceneError, match=message):
        Scene.load(path)


def test_the_walking_task_observes_commands_and_detects_a_fall():
    env = WalkEnv(Scene.load("room"))
    obs = env.reset(x=1.0, y=-0.5, heading=np.pi / 2)
    assert obs.shape == (OBS_SIZE,) and obs.dtype == np.float32
    x, y, heading = env.pose()
    assert (x, y) == pytest.approx((1.0, -0.5)) and heading == pytest.approx(np.pi / 2)
    env.set_command(0.5, 0.0, 2.0)
    assert env.observe()[9:12] == pytest.approx([0.5, 0.0, 1.0])  # the turn rate is clipped to its range
    # With no policy the feet-only G1 (low gains) folds within a couple of seconds: the task must say so.
    for _ in range(150):
        _, _, fell, terms = env.step(np.zeros(ACTED))
        if fell:
            break
    assert fell and terms["fall"] < 0 and env.steps < 150
    assert env.object_position("red_box")[:2] == pytest.approx([2.0, 0.8], abs=1e-3)


def test_training_checkpoints_and_resumes_where_it_stopped(tmp_path):
    first = Trainer(tmp_path, TINY)
    stats = first.train(steps=64)
    assert stats["global_step"] == 64 and stats["iteration"] == 2 and 0 <= stats["still_falls"] <= stats["falls"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_0000002.pt", "policy.pt", "train.jsonl"]
    again = Trainer(tmp_path, TINY)
    assert again.resume() and (again.iteration, again.global_step) == (2, 64)
    assert again.normaliser.count == pytest.approx(first.normaliser.count)
    for name, weights in first.actor.state_dict().items():  # the very weights, not just the counters
        assert again.actor.state_dict()[name].equal(weights)
    assert (
        again.lr == first.lr
        and again.optimizer.state_dict()["state"].keys() == first.optimizer.state_dict()["state"].keys()
    )
    again.train(steps=128, save_every=1)
    assert (again.iteration, again.global_step) == (4, 128)
    assert len(list(tmp_path.glob("ckpt_*.pt"))) == 3  # the last three are kept
    assert len((tmp_path / "train.jsonl").read_text().splitlines()) == 4
    policy = WalkPolicy(tmp_path / "policy.pt")
    assert policy(np.zeros(OBS_SIZE, np.float32)).shape == (ACTED,) and policy.trained_steps == 128


def test_a_checkpoint_from_another_config_is_refused(tmp_path):
    Trainer(tmp_path, TINY).train(steps=32)
    other = TrainConfig(envs=2, horizon=16, epochs=1, minibatches=2, hidden=[64, 64])
    with pytest.raises(ValueError, match="another training config"):
        Trainer(tmp_path, other).resume()


def test_a_missing_or_bad_policy_file_is_a_clear_set_up_error(tmp_path):
    import torch

    from autonomo.errors import SetupError

    (tmp_path / "garbage.pt").write_bytes(b"not a policy")
    (tmp_path / "empty.pt").write_bytes(b"")
    torch.save({"critic": {}, "config": {}}, tmp_path / "ckpt.pt")  # a checkpoint's keys, not a policy's
    torch.save([1, 2, 3], tmp_path / "list.pt")
    policy = {"actor": {"0.weight": torch.zeros(3, 3)}, "hidden": [8], "normaliser": {}, "global_step": 0}
    torch.save(policy, tmp_path / "shape.pt")  # weights of another layout
    cases = [
        ("absent.pt", "no walking policy at .*absent.pt"),
        ("garbage.pt", "garbage.pt is not a walking policy"),
        ("empty.pt", "empty.pt is not a walking policy"),
        ("ckpt.pt", "ckpt.pt is not a walking policy: it has no actor, hidden, normaliser, global_step; a training"),
        ("list.pt", "list.pt is not a walking policy: it has no actor"),
        ("shape.pt", "shape.pt is not a walking policy for this robot's task"),
    ]
    for name, message in cases:
        with pytest.raises(PolicyError, match=message) as caught:
            WalkPolicy(tmp_path / name)
        assert isinstance(caught.value, SetupError) and "Traceback" not in str(caught.value)
    from autonomo.robot.assets import RobotExtraMissing

    assert issubclass(SceneError, SetupError) and issubclass(RobotExtraMissing, SetupError)


def test_a_run_can_start_from_a_checkpoint_of_another_task(tmp_path):
    """A curriculum step: the task changed (so the digest did), the policy goes on from where it was."""
    from dataclasses import replace

    Trainer(tmp_path / "old", TINY).train(steps=64)
    (old,) = (tmp_path / "old").glob("ckpt_*.pt")
    new = Trainer(tmp_path / "new", replace(TINY, entropy=0.01))
    assert not new.resume()
    new.start_from(old)
    before = Trainer(tmp_path / "old", TINY)
    before.resume()
    for net in ("actor", "critic"):
        for name, weights in getattr(before, net).state_dict().items():
            assert getattr(new, net).state_dict()[name].equal(weights)
    assert new.log_std.equal(before.log_std) and new.normaliser.count == before.normaliser.count
    assert new.optimizer.state_dict()["state"].keys() == before.optimizer.state_dict()["state"].keys()
    assert (new.iteration, new.global_step, new.lr) == (0, 64, before.lr)
    new.train(steps=96)
    again = Trainer(tmp_path / "new", replace(TINY, entropy=0.01))
    assert again.resume() and (again.iteration, again.global_step, again.started_from) == (1, 96, str(old))
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    for bad in (tmp_path / "old" / "policy.pt", tmp_path / "garbage.pt"):
        with pytest.raises(ValueError, match="not a training checkpoint"):
            again.start_from(bad)
    with pytest.raises(ValueError, match="hidden layers"):
        Trainer(tmp_path / "other", replace(TINY, hidden=[16])).start_from(old)


def test_training_episodes_are_randomised():
    env = WalkEnv(seed=3, randomise=Randomise(still=0.0))
    env.reset()
    first = env.command.copy()
    env.reset()
    assert np.any(env.command != first) and np.all(np.abs(env.command) <= [1.0, 0.5, 1.0])
    commands, changes = [env.command.copy()], [0]
    for _ in range(2000):  # turns on the spot and straight walks come up, at uneven intervals
        env.step(np.zeros(ACTED))  # the robot falls, which does not matter to the commands
        if np.any(env.command != commands[-1]):
            changes.append(env.steps)
        commands.append(env.command.copy())
    gaps = np.diff(changes)
    assert len(set(gaps)) > 1 and min(gaps) >= 100 and max(gaps) < 400
    assert any(np.count_nonzero(c) in (1, 2) for c in commands)
    corners = WalkEnv(seed=3, randomise=Randomise(still=0.0, zero_part=0.0, corner=1.0))
    for _ in range(5):
        corners.reset()
        assert np.all(np.abs(corners.command) >= 0.7 * COMMAND_MAX)


@pytest.fixture(scope="module")
def untrained_policy(tmp_path_factory):
    """A policy that has barely trained: the robot falls with it, which is what the failure paths need."""
    out = tmp_path_factory.mktemp("policy")
    Trainer(out, TINY).train(steps=32)
    return WalkPolicy(out / "policy.pt")


def test_arm_ik_puts_a_palm_on_a_point(untrained_policy):
    from autonomo.robot.env import ACTED
    from autonomo.robot.skills import Humanoid

    robot = Humanoid(Scene.load("room"), untrained_policy)
    env = robot.env
    target = env.data.site_xpos[env.model.site("right_palm").id] + np.array([0.15, -0.05, 0.1])
    arms = robot._arm_ik({"right": target})
    env.data.qpos[env.qadr[ACTED:]] = arms  # kinematics only: where the joints put the palm
    robot.env.mujoco.mj_forward(env.model, env.data)
    assert robot.palm_gap("right", target) < 0.01


def test_walking_and_turning_put_the_arms_down_first(untrained_policy):
    from autonomo.robot.env import ACTED
    from autonomo.robot.skills import Humanoid

    for skill, args in (("turn_to", (1.0,)), ("walk_to", (1.0, 0.0))):
        robot = Humanoid(Scene.load("room"), untrained_policy)
        robot.env.set_arms(robot.env.default[ACTED:] + 0.5)  # held out, as a reach leaves them
        getattr(robot, skill)(*args)
        assert np.array_equal(robot.env.arm_targets, robot.env.default[ACTED:])


def test_no_inverse_kinematics_solution_is_a_failed_reach_not_a_crash(monkeypatch, untrained_policy):
    import mink

    from autonomo.robot.skills import Humanoid

    def no_solution(*args, **kwargs):
        raise mink.NoSolutionFound("daqp")

    monkeypatch.setattr(mink, "solve_ik", no_solution)
    robot = Humanoid(Scene.load("room"), untrained_policy)
    shoulder = robot.env.data.xpos[robot.env.model.body("right_shoulder_pitch_link").id]
    result = robot.reach("right", shoulder + [0.3, 0.0, 0.0])
    assert not result.ok and "the palm is" in result.output


def test_a_point_out_of_arms_reach_fails_at_once(untrained_policy):
    from autonomo.robot.skills import Humanoid

    robot = Humanoid(Scene.load("room"), untrained_policy)
    before = robot.env.data.time
    result = robot.reach("left", robot.position("red_box"))
    assert not result.ok and "out of reach" in result.output and "walk closer" in result.output
    assert robot.env.data.time == before  # no arm moved, no time passed


def test_the_robot_brain_runs_skills_and_reports_a_fall(tmp_path, untrained_policy):
    from autonomo.agent.loop import Budget
    from autonomo.assembly import RunConfig, make_agent
    from autonomo.events import read_events
    from autonomo.models.scripted import ScriptedModel
    from autonomo.robot.tools import RobotTools

    tools = RobotTools(Scene.load("room"), untrained_policy, tmp_path)
    steps = [
        {"tool": "look", "args": {}},
        {"tool": "walk_to", "args": {"target": "red_box"}},
        {"tool": "push", "args": {"object": "red_box", "direction": "forward"}},
        {"tool": "finish", "args": {"summary": "tried"}},
    ]
    config = RunConfig(budget=Budget(max_steps=6))
    agent = make_agent(config, tmp_path, run_dir=tmp_path / ".autonomo" / "runs" / "r1", model=ScriptedModel(steps),
                       body=tools)  # fmt: skip
    log = agent.log
    result = agent.run("walk to the red box and push it")
    assert result.outcome == "completed"
    seen = {e["name"]: e for e in read_events(log.path) if e["type"] == "observation"}
    assert seen["look"]["ok"]
    assert "red_box: a movable red box at x=2.00, y=0.80, top at 0.90 m" in seen["look"]["output"]
    assert not seen["walk_to"]["ok"] and "fell over" in seen["walk_to"]["output"]  # measured, not claimed
    assert not seen["push"]["ok"] and "has fallen" in seen["push"]["output"]
    started = next(e for e in read_events(log.path) if e["type"] == "run_started")
    assert started["body"] == "robot:room" and "Workspace files" not in started["messages"][1]["content"]
    assert "What you see now:\nYou are at" in started["messages"][1]["content"]  # the body's first observation
    assert started["goal"] == "walk to the red box and push it"
    assert tools.save_video().stat().st_size > 1000


def test_the_humanoid_keeps_the_body_contract(tmp_path, untrained_policy):
    from autonomo.body import check_body
    from autonomo.robot.tools import RobotTools

    check_body(RobotTools(Scene.load("room"), untrained_policy, tmp_path, record=False))


def test_the_committed_policy_stands_turns_and_walks():
    """The skills on the policy that ships (robot/policies/g1_walk.pt), for a few simulated seconds."""
    from autonomo.robot.env import CTRL_DT, TOUCHDOWN
    from autonomo.robot.policy import POLICY
    from autonomo.robot.skills import Humanoid

    seen = []  # each control step: whether there was a command to move, and the gait phase
    robot = Humanoid(Scene.load("room"), WalkPolicy(POLICY),
                     frame=lambda env: seen.append((np.any(env.command), env.phase[0])))  # fmt: skip
    assert robot.stop().ok
    assert robot.turn_to(-math.pi / 2).ok and abs(robot.env.pose()[2] + math.pi / 2) <= math.radians(8)
    x, y, _ = robot.env.pose()
    walked = robot.walk_to(x, y - 1.0)
    assert walked.ok and "arrived" in walked.output and not robot.fell
    assert robot.stop().ok and robot.env.steps * CTRL_DT < 14
    # Told to stand after the walk, it stepped on, and its gait clock then stopped at a touchdown.
    stop = max(i for i in range(1, len(seen)) if seen[i - 1][0] and not seen[i][0])
    assert seen[stop + 1][1] != seen[stop][1]
    stood = [k for k in range(stop + 1, len(seen)) if seen[k][1] == seen[k - 1][1]]
    assert stood and all(abs(math.sin(seen[k][1])) < TOUCHDOWN for k in stood)


def test_skill_reports_name_where_the_object_is_not_the_turns_degrees(tmp_path):
    """The embedded model took a turn's reported degrees for a new target and turned to them again and again."""
    from autonomo.robot.policy import POLICY
    from autonomo.robot.tools import RobotTools

    tools = RobotTools(Scene.load("room"), WalkPolicy(POLICY), tmp_path, record=False)
    walked = tools.call("walk_to", {"target": "red_box"})
    assert walked.ok and walked.output.startswith("walk_to red_box: arrived") and "ahead" in walked.output
    assert "degrees" not in walked.output, walked.output
    turned = tools.call("turn_to", {"target": "red_box"})
    assert turned.ok and "facing it" in turned.output and "ahead" in turned.output, turned.output
    time, facing = tools.robot.env.data.time, tools.robot.env.pose()[2]
    again = tools.call("turn_to", {"target": f"{math.degrees(facing) + 5:.0f} degrees"})
    assert again.ok and "already facing that way" in again.output and tools.robot.env.data.time == time


def test_the_committed_policy_recovers_from_shoves_while_standing():
    from autonomo.bench.robot import recovery
    from autonomo.robot.policy import POLICY

    shoves = recovery(WalkPolicy(POLICY), trials=3)
    assert shoves["recovered"] == 3 and max(r["speed"] for r in shoves["rows"]) >= 0.4, shoves["rows"]


def test_the_committed_policy_walks_round_a_box_and_pushes_it():
    """From the far side: the way behind it goes round it, not through it (the hands would shove it back)."""
    from autonomo.robot.policy import POLICY
    from autonomo.robot.skills import Humanoid

    robot = Humanoid(Scene.load("room"), WalkPolicy(POLICY))
    start = robot.position("red_box")
    pushed = robot.push("red_box", math.pi)  # towards the robot's start
    moved = start[:2] - robot.position("red_box")[:2]
    # Sideways it moved 0.07 m with torch's plain kernels and 0.23 m with its AVX2 and AVX-512 ones (2026-12-02,
    # ATEN_CPU_CAPABILITY): the walk amplifies the last bits of the policy's floats, so the bound leaves room.
    assert pushed.ok and not robot.fell and moved[0] >= 0.35 and abs(moved[1]) < 0.3, pushed.output
    assert robot.position("red_box")[2] == pytest.approx(start[2], abs=0.02)  # it slid, it did not tip over


def test_a_box_too_low_for_the_hands_is_not_pushed(untrained_policy):
    from autonomo.robot.skills import Humanoid

    scene = Scene.load("room")
    scene.thing("red_box").size = [0.15, 0.15, 0.15]
    robot = Humanoid(scene, untrained_policy)
    result = robot.push("red_box", 0.0)
    assert not result.ok and "too low to push by hand" in result.output and robot.env.data.time == 0


def test_numbers_in_skill_arguments_may_carry_their_units():
    from autonomo.robot.tools import numbers

    assert numbers("18 degrees", 1) == [18.0] and numbers("-90", 1) == [-90.0]  # a model wrote "18 degrees"
    assert numbers("1.5 m, 2m", 2) == [1.5, 2.0] and numbers("1,2,3", 3) == [1.0, 2.0, 3.0]
    assert numbers("red_box", 1) is None and numbers("inf,0", 2) is None and numbers("1,2", 3) is None


def test_skill_arguments_are_checked(tmp_path, untrained_policy):
    from autonomo.robot.tools import RobotTools

    tools = RobotTools(Scene.load("room"), untrained_policy, tmp_path, record=False)
    assert "no object named 'sofa'" in tools.call("walk_to", {"target": "sofa"}).output
    assert "unknown direction 'up'" in tools.call("push", {"object": "red_box", "direction": "up"}).output
    assert tools.heading("ahead") == tools.heading("forward") == tools.robot.env.pose()[2]  # the reports' word
    assert "hand must be left or right" in tools.call("reach", {"hand": "third", "target": "1,0,1"}).output
    assert "fixed in place" in tools.call("push", {"object": "wall", "direction": "forward"}).output
    assert not tools.call("push", {"object": "sofa", "direction": "forward"}).ok  # a failure, not a crash
    assert not tools.call("turn_to", {"target": "sofa"}).ok
    assert not tools.call("walk_to", {"target": "inf,0"}).ok


def test_robot_benchmarks_judge_from_the_simulator(tmp_path, untrained_policy):
    from autonomo.bench import robot as bench
    from autonomo.models.scripted import ScriptedModel
    from autonomo.robot.tools import RobotTools

    tools = RobotTools(Scene.load("room"), untrained_policy, tmp_path, record=False)
    checks = [
        ({"kind": "near", "object": "red_box", "within": 0.8}, False),
        ({"kind": "facing", "object": "red_box", "degrees": 30}, True),  # 22 degrees to the left
        ({"kind": "heading", "degrees": 0, "within": 5}, True),
        ({"kind": "region", "min": [-1, -1], "max": [1, 1]}, True),
        ({"kind": "moved", "object": "red_box", "direction": 0, "distance": 0.3}, False),
    ]
    verdicts = [bench.judge(c, tools)[0] for c, _ in checks]
    assert verdicts == [want for _, want in checks] and all(type(v) is bool for v in verdicts)  # JSON-ready
    tools.call("walk_to", {"target": "1,0"})  # the untrained policy falls
    assert bench.judge(checks[1][0], tools) == (False, "the robot fell")

    assert len(bench.load_suite()) >= 10 and len({c["scene"] for c in bench.load_suite()}) == 3
    track = bench.tracking(untrained_policy, trials=1, seconds=3)
    assert track["falls"] == len(track["fell_on"]) >= 1 and track["fell_on"][0]["seed"] == 0
    assert track["real_time_factor"] > 0
    walked = bench.walk_to(untrained_policy, trials=2)
    assert walked["success_rate"] == 0.0 and walked["falls"] == 2  # measured: it falls
    elsewhere = bench.walk_to(untrained_policy, trials=2, seed=100)  # other draws, to choose a policy on
    assert [r["target"] for r in elsewhere["rows"]] != [r["target"] for r in walked["rows"]]
    shoved = bench.recovery(untrained_policy, trials=1, seconds=1)
    assert shoved["recovered"] == 0 and shoved["falls"] == 1
    pushed = bench.push(untrained_policy, trials=1)
    assert pushed["succeeded"] == 0 and pushed["falls"] == 1 and not pushed["rows"][0]["ok"]
    case = bench.load_suite()[:1]
    model = ScriptedModel([{"tool": "finish", "args": {"summary": "done"}}])
    result = bench.suite(untrained_policy, model, tmp_path / "suite", cases=case)
    assert result == {"instructions": 1, "scenes": 1, "passed": 0, "success_rate": 0.0}  # a claim is not a pass
    assert bench.suite(untrained_policy, model, tmp_path / "suite", cases=case)["instructions"] == 1  # resumed


def test_worker_processes_change_the_speed_not_the_numbers():
    from autonomo.robot.vec import VecEnv

    actions = np.random.default_rng(0).uniform(-1, 1, size=(5, 3, ACTED))
    runs = []
    for workers in (0, 2):
        envs = VecEnv(None, [11, 12, 13], episode_steps=3, workers=workers)
        seen, ended = [envs.reset()], []
        for a in actions:
            step = envs.step(a)
            seen.append(step.obs)
            ended.append(step.timeout | step.fell)
        envs.close()
        runs.append((np.stack(seen), np.stack(ended)))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    assert runs[0][1][2].all()  # every episode hit the 3-step limit (or fell) by the third step


def test_a_training_run_killed_by_its_process_group_saves_and_resumes(tmp_path):
    """SIGTERM to the whole process group, as a session's end or a terminal sends it: the trainer finishes the
    iteration at hand and saves it, its worker processes exit with it, and the same command then resumes there."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "walk"
    cli = [sys.executable, "-c", "from autonomo.cli import app; app()", "robot-train", "--envs", "2", "--out", str(out)]
    proc = subprocess.Popen([*cli, "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    log = out / "train.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.is_file() and log.read_text().count("\n") >= 2):
        time.sleep(0.2)
    assert log.is_file(), proc.stderr.read().decode() if proc.poll() is not None else "no iteration in 120 s"
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    deadline = time.monotonic() + 10  # the workers went with the trainer (init reaps what it inherits, soon)
    with pytest.raises(ProcessLookupError):
        while time.monotonic() < deadline:
            os.killpg(proc.pid, 0)
            time.sleep(0.2)
    iterations = [json.loads(line)["iteration"] for line in log.read_text().splitlines()]
    (saved,) = sorted(out.glob("ckpt_*.pt"))  # the last iteration logged is the one saved
    assert saved.name == f"ckpt_{iterations[-1]:07d}.pt"
    again = subprocess.run([*cli, "--workers", "0", "--steps", str(64 * (iterations[-1] + 1))],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert again.returncode == 0 and f"resumed at step {64 * iterations[-1]}" in again.stderr
    assert [json.loads(line)["iteration"] for line in log.read_text().splitlines()] == [*iterations, iterations[-1] + 1]


def test_worker_processes_leave_stopping_to_the_trainer():
    """A group's SIGTERM or Ctrl-C reaches the workers too; they must outlive it so the trainer can finish and save."""
    import os
    import signal

    from autonomo.robot.vec import VecEnv

    envs = VecEnv(None, [1, 2], episode_steps=5, workers=2)
    envs.reset()  # a round trip: each worker has set up its signal handling
    for proc in envs.procs:
        os.kill(proc.pid, signal.SIGTERM)
        os.kill(proc.pid, signal.SIGINT)
    assert envs.step(np.zeros((2, ACTED))).obs.shape == (2, OBS_SIZE)
    envs.close()
    assert not any(proc.is_alive() for proc in envs.procs)
