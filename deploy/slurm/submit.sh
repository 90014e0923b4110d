#!/bin/bash
# Queue the study as N array tasks on N GPUs, then the merge once all of them have succeeded.
#   deploy/slurm/submit.sh 8                       # 8 shards of q1a
#   PRESET=q2 DATA=/shared/mnist deploy/slurm/submit.sh 4
#   deploy/slurm/submit.sh 4 --partition=gpu --account=me   # sbatch options for both jobs
# Every variable study.sbatch and merge.sbatch read is passed on from this shell. Options after N go
# to both sbatch calls, before the scripts, so they override their #SBATCH lines.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:?usage: $0 N [sbatch options] (N: the number of shards, one GPU each)}
shift
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive integer, not '$n'" >&2; exit 1; }

study=$(sbatch --parsable "$@" --array="0-$((n - 1))" "$here/study.sbatch")
study=${study%%;*}  # --parsable prints JOBID or JOBID;CLUSTER
merge=$(sbatch --parsable "$@" --dependency="afterok:$study" "$here/merge.sbatch")
merge=${merge%%;*}
echo "study: job array $study ($n shards); merge: job $merge after all of them succeed"
