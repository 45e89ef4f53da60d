#!/usr/bin/env bash
# Runs scripts/slurm/amq-slurm.sh on a real one-node Slurm cluster started
# here, and checks that the record and models it makes equal, byte for
# byte, those of one process. Installs Debian's slurm-wlm and munge when
# missing; the munge key, the Slurm config and all state live in a
# temporary folder; the daemons it starts (munged, slurmctld, slurmd) are
# stopped on exit. Needs root (the daemons and jobs run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

tmp=$(mktemp -d /tmp/amq-slurm.XXXXXX)
pids=()
stop() {
  status=$?
  if [ -f "$tmp/slurm.conf" ]; then
    SLURM_CONF=$tmp/slurm.conf timeout 10 scancel --quiet --user="$(id -un)" 2>/dev/null || true
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ $status -ne 0 ]; then
    for f in "$tmp"/*.log "$tmp"/*.out "$tmp"/work/logs/*.log; do
      [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }
    done
  fi
  rm -rf "$tmp"
  if [ $status -eq 0 ]; then
    echo "slurm test: PASS ($(($(date +%s) - start)) s)"
  else
    echo "slurm test: FAIL"
  fi
}
trap stop EXIT

go build -o "$tmp/amq" ./cmd/amq
host=$(hostname -s)
mkdir -p "$tmp/state" "$tmp/spool"

# munge: a fresh key and a private socket, as this user.
dd if=/dev/urandom of="$tmp/munge.key" bs=1024 count=1 status=none
chmod 600 "$tmp/munge.key"
munged -F --force --key-file="$tmp/munge.key" --socket="$tmp/munge.socket" \
  --pid-file="$tmp/munged.pid" --seed-file="$tmp/munged.seed" --log-file="$tmp/munged.log" >"$tmp/munged.out" 2>&1 &
pids+=($!)

user=$(id -un)
cat >"$tmp/slurm.conf" <<CONF
ClusterName=amqtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge.socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/builtin
SchedulerParameters=kill_invalid_depend
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=amq Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$tmp/slurm.conf
slurmctld -D -i -f "$SLURM_CONF" >"$tmp/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$host" >"$tmp/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 60); do
  sinfo -h -N -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)' && break
  sleep 0.5
done
sinfo -h -N -o '%N %t %c' | grep -qE ' (idle|mix|alloc) ' || { echo "the node did not come up"; sinfo -N; exit 1; }

# The fixture: the outlier transformer, HFMG with DMQ, 8 batches of 8,
# in 3 shards (3, 3 and 2 batches).
fx=testdata/quant/transformer
"$tmp/amq" create-config --model $fx/model_op13.onnx --cfg testdata/quant/hfmg.cfg --batch-num 8 --out "$tmp/config.json" >/dev/null
one=(--model $fx/model_op13.onnx --config "$tmp/config.json" --data $fx/calib.npy --batch-size 8 --quiet)
mkdir -p "$tmp/one"
"$tmp/amq" preprocess "${one[@]}" --record "$tmp/one/record.txt" >/dev/null
"$tmp/amq" calibrate "${one[@]}" --record "$tmp/one/record.txt" >/dev/null
"$tmp/amq" save --model $fx/model_op13.onnx --config "$tmp/config.json" --record "$tmp/one/record.txt" --out "$tmp/one/model_op13" >/dev/null

jobs=$(bash scripts/slurm/amq-slurm.sh --amq "$tmp/amq" --model $fx/model_op13.onnx --config "$tmp/config.json" \
  --data $fx/calib.npy --batch-size 8 --shards 3 --work "$tmp/work")
echo "submitted: $jobs"
save=${jobs##* }
for _ in $(seq 240); do
  [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
  sleep 0.5
done
[ -z "$(squeue -h -o %i)" ] || { echo "jobs still queued after 120 s:"; squeue; exit 1; }
ls "$tmp/work/stats"
for f in record.txt model_op13_deploy_model.onnx model_op13_fake_quant_model.onnx; do
  a=$tmp/one/$f b=$tmp/work/$f
  [ -f "$b" ] || { echo "the Slurm run wrote no $f (save job $save)"; exit 1; }
  [ "$f" = record.txt ] && a=$tmp/one/record.txt
  cmp "$a" "$b" || { echo "$f differs from the one-process run"; exit 1; }
  echo "$f: equal to the one-process run"
done
