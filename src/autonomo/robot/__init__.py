"""The second body: a simulated Unitree G1 humanoid in MuJoCo (extra ``[robot]``).

assets.py finds the robot model, scene.py builds a room from a scene file, env.py is the walking task a policy
is trained on (train.py, PPO with checkpoints), render.py records what happened.
"""
