"""The training chain, driven by Slurm itself rather than by the Snakemake controller.

`python -m cpt.chain segment --step K` is the controller's `train_segment`
job (a localrule). It returns at once when step K's checkpoint is complete and
valid (cpt.rundir.lineage); otherwise, under the run's writer lock
(cpt.chain.lease), it adopts the chain's live or queued Slurm job, or submits
one (the request cpt.cluster computes for train_segment), and waits, logging,
until step K is complete or the chain ends without it (then it fails, naming
the job's log). Without a Slurm profile it runs the trainer itself (torchrun),
to step K, holding the record with a heartbeat.

`python -m cpt.chain job` is each chain job's batch script. Under the
lock it checks that no other job of the run trains, queues its own successor
(`--dependency=afterany:<own id>`), then trains to the run's last step with
srun. A job stopped by the time-limit signal saves and exits 0: the queued
successor continues (a continuation, not a failure); a job that fails counts
against train.resubmits, and its successor retries. So training runs to the
end with no controller alive; a controller that returns adopts the chain.
"""
