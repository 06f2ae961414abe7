"""Run a pipeline on a two-node Ray cluster started on this machine; print the run's manifest.ray."""

import json
import os
import sys

import ray
from ray.cluster_utils import Cluster

import curate


def main(pipeline: str, output: str) -> None:
    """`output` is relative to its parent folder, which is entered only after the cluster has started:
    the workers' working directory is not the driver's, as on a real cluster."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    os.chdir(os.path.dirname(output))
    try:
        run = curate.run(pipeline, output=os.path.basename(output), ray_address=cluster.address)
        print(json.dumps({"ray": run.manifest["executor"], "nodes": [node.node_id for node in cluster.list_all_nodes()]}))
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:])
