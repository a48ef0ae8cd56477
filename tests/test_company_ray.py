"""Company mode on Ray: a local cluster (a head and one more worker node, on this machine) started by the test
gives the same result as local mode."""

from __future__ import annotations

import os
import subprocess

import pytest
from test_company import maths_company

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # Both nodes on this machine, at its own address (Ray maps a loopback bootstrap address to it anyway).
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    c.add_node(num_cpus=2)
    yield c
    ray.shutdown()
    c.shutdown()


def main_tree(workspace):
    return subprocess.run(["git", "ls-tree", "-r", "main"], cwd=workspace, capture_output=True, text=True).stdout


def test_ray_backend_gives_the_local_result(cluster, tmp_path):
    from autonomo.company.backends import ray_backend

    local_ws, ray_ws = tmp_path / "local", tmp_path / "ray"
    local_ws.mkdir(), ray_ws.mkdir()
    local, _ = maths_company(local_ws)
    on_ray, events = maths_company(ray_ws, backend=ray_backend(cluster.address))
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    assert (
        (on_ray.outcome, on_ray.items)
        == (local.outcome, local.items)
        == ("delivered", {"add": "merged", "mul": "merged"})
    )
    assert main_tree(ray_ws) == main_tree(local_ws)  # the same files, byte for byte, on main
    runs = [e["run_id"] for e in events if e["type"] == "item_attempt_finished"]
    assert all((ray_ws / ".autonomo" / "runs" / r / "events.jsonl").is_file() for r in runs)  # agents' logs kept
