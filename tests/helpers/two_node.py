"""Run a pipeline on a two-node Ray cluster started on this machine; print the run's manifest.ray."""

import json
import sys

import ray
from ray.cluster_utils import Cluster

import curate


def main(pipeline: str, output: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        run = curate.run(pipeline, output=output, ray_address=cluster.address)
        print(json.dumps({"ray": run.manifest["ray"], "nodes": [node.node_id for node in cluster.list_all_nodes()]}))
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:])
