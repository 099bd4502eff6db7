#!/usr/bin/env bash
# Multi-node training with Slurm: one task per GPU, Lightning reads the Slurm environment.
#   sbatch --nodes 2 --gpus-per-node 8 scripts/slurm_fit.sh lightning_configs/pcnet_m/cocoa.yaml
#   DRY_RUN=1 scripts/slurm_fit.sh <config> prints the command instead of running it.
#SBATCH --job-name=amodal_compose
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=8
#SBATCH --time=48:00:00
#SBATCH --output=runs/slurm/%x-%j.out
set -euo pipefail

config="${1:?usage: slurm_fit.sh <config.yaml> [extra LightningCLI arguments]}"
shift
nodes="${SLURM_JOB_NUM_NODES:-${SLURM_NNODES:-1}}"
gpus="${SLURM_GPUS_PER_NODE:-${SLURM_NTASKS_PER_NODE:-8}}"
gpus="${gpus##*:}"   # "h100:8" -> 8
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd=(amodal-compose fit --config "$config" --config "$here/lightning_configs/common/cluster.yaml"
     --trainer.devices "$gpus" --trainer.num_nodes "$nodes" "$@")
if [[ "${DRY_RUN:-0}" == "1" ]]; then
    printf '%q ' srun "${cmd[@]}"; echo
    exit 0
fi
mkdir -p runs/slurm
export NO_ALBUMENTATIONS_UPDATE=1
exec srun "${cmd[@]}"
