#!/usr/bin/env bash
# Submits amq's calibration as Slurm jobs: preprocess and calibrate each as
# an array job of N tasks (one shard of the batches each, --shard K/N), a
# merge after each (--dependency=afterok), then amq save. Run it where
# sbatch works (a login node); every path must be visible to the compute
# nodes (a shared file system). It prints the job ids and returns at once.
#
#   scripts/slurm/amq-slurm.sh --model m.onnx --cfg simple.cfg --data calib.npy \
#       --shards 8 --work /shared/amq-run [--batch-num B] [--batch-size S] \
#       [--amq /shared/bin/amq] [--devices 0,1 | --task-devices "0,1 2,3 ..."] \
#       [--joint] [--sbatch "--partition=npu --time=1:00:00"] [-- more amq flags]
#
# The JSON config is made here first (amq create-config), so that every
# shard and merge reads the same file. Outputs in --work:
#   config.json, stats/preprocess-K.stats, stats/calibrate-K.stats,
#   record.txt, m_fake_quant_model.onnx, m_deploy_model.onnx, logs/.
# --devices gives every task the same devices (a board per host);
# --task-devices gives task K the K-th word (several tasks per host).
# --joint goes to preprocess; the amq flags after -- go to every shard of
# both phases (--backend, --threads, data flags such as --image-size).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
model= cfg= config= data= shards= work= amqbin=${AMQ_BIN:-amq} batchnum= batchsize= devices= taskdevices= sbatchargs= joint=
while [ $# -gt 0 ]; do
  case $1 in
    --model) model=$2; shift 2 ;;
    --cfg) cfg=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --shards) shards=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --amq) amqbin=$2; shift 2 ;;
    --batch-num) batchnum=$2; shift 2 ;;
    --batch-size) batchsize=$2; shift 2 ;;
    --devices) devices=$2; shift 2 ;;
    --task-devices) taskdevices=$2; shift 2 ;;
    --sbatch) sbatchargs=$2; shift 2 ;;
    --joint) joint=1; shift ;;
    --) shift; break ;;
    *) echo "amq-slurm.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
for v in model data shards work; do
  [ -n "${!v}" ] || { echo "amq-slurm.sh: --$v is required" >&2; exit 2; }
done
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
model=$(abs "$model") data=$(abs "$data") work=$(abs "$work")
case $amqbin in */*) amqbin=$(abs "$amqbin") ;; esac
mkdir -p "$work/stats" "$work/logs"
if [ -z "$config" ]; then
  config=$work/config.json
  args=(create-config --model "$model" --out "$config")
  [ -n "$cfg" ] && args+=(--cfg "$(abs "$cfg")")
  [ -n "$batchnum" ] && args+=(--batch-num "$batchnum")
  "$amqbin" "${args[@]}" >/dev/null
else
  config=$(abs "$config")
fi

# What the task and merge scripts read (sbatch --export=ALL passes it on).
export AMQ_BIN=$amqbin AMQ_MODEL=$model AMQ_CONFIG=$config AMQ_DATA=$data AMQ_WORK=$work
export AMQ_BATCH_SIZE=$batchsize AMQ_DEVICES=$devices AMQ_TASK_DEVICES=$taskdevices AMQ_EXTRA="$*" AMQ_JOINT=$joint
export AMQ_OUT_NAME=$(basename "$model" .onnx)

# shellcheck disable=SC2086 # $sbatchargs is a list of sbatch options
sub() { sbatch --parsable --export=ALL $sbatchargs "$@"; }
last=$((shards - 1))
pre=$(sub --job-name=amq-pre --array=0-$last --output="$work/logs/preprocess-%a.log" "$here/shard.sbatch" preprocess)
mpre=$(sub --job-name=amq-merge-pre --dependency=afterok:$pre --output="$work/logs/merge-preprocess.log" "$here/merge.sbatch" preprocess)
cal=$(sub --job-name=amq-cal --dependency=afterok:$mpre --array=0-$last --output="$work/logs/calibrate-%a.log" "$here/shard.sbatch" calibrate)
mcal=$(sub --job-name=amq-merge-cal --dependency=afterok:$cal --output="$work/logs/merge-calibrate.log" "$here/merge.sbatch" calibrate)
save=$(sub --job-name=amq-save --dependency=afterok:$mcal --output="$work/logs/save.log" "$here/merge.sbatch" save)
echo "preprocess $pre merge $mpre calibrate $cal merge $mcal save $save"
