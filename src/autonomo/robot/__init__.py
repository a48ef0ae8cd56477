"""The second body: a simulated Unitree G1 humanoid in MuJoCo (extra ``[robot]``).

assets.py finds the robot model, scene.py builds a room from a scene file, env.py is the walking task a policy
is trained on (train.py, PPO with checkpoints), skills.py turns goals into commands and arm poses, and tools.py
makes the skills a body the agent loop drives, recording what happened.
"""

import os

# MuJoCo picks its OpenGL backend when it is imported: EGL renders offscreen on a CPU (llvmpipe) with no display.
os.environ.setdefault("MUJOCO_GL", "egl")
