"""One rank of the communication-check tests: join a real gloo group, run cpt.train.comm_check,
print its report or its error as JSON. argv: require_fabric (1/0), then each rank's node count."""

import json
import os
import sys

import torch.distributed as dist

from cpt.train import comm_check

require, nodes = sys.argv[1] == "1", sys.argv[2:]
dist.init_process_group("gloo")
rank = dist.get_rank()
try:
    report = comm_check.check(require_fabric=require, env={**os.environ, "SLURM_JOB_NUM_NODES": nodes[rank]})
    print(json.dumps({"report": report.line(), "nodes": report.nodes, "plugins": list(report.plugins)}))
    code = 0
except comm_check.CommCheckError as e:
    print(json.dumps({"error": str(e)}))
    code = 3
dist.destroy_process_group()
sys.exit(code)
