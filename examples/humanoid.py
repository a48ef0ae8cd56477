"""The same agent as the brain of a simulated Unitree G1 (pip install 'autonomo[robot]'): skills are its tools.

    python examples/humanoid.py ["walk to the red box and push it"] [MODEL]
"""

import sys
import tempfile
from pathlib import Path

from autonomo import Budget, RunConfig, make_agent
from autonomo.robot.policy import POLICY, WalkPolicy
from autonomo.robot.scene import Scene
from autonomo.robot.tools import RobotTools

instruction = sys.argv[1] if len(sys.argv) > 1 else "walk to the red box and push it"
out = Path(tempfile.mkdtemp(prefix="humanoid-"))
body = RobotTools(Scene.load("room"), WalkPolicy(POLICY), out)
config = RunConfig(model=sys.argv[2] if len(sys.argv) > 2 else "local", budget=Budget(max_steps=12))
result = make_agent(config, out, body=body).run(instruction)
print(result.outcome, "·", result.summary, "· video:", body.save_video())
