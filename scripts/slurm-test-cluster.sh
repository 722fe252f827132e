#!/usr/bin/env bash
# A private single-node Slurm cluster for the tests (the Slurm executor, docs/cluster.md): munged,
# slurmctld and slurmd on loopback, run as the current user, configuration and state in DIR, no
# systemd and no cgroups (proctrack/linuxproc, task/none), no accounting database.
#   scripts/slurm-test-cluster.sh start DIR   # prints "export SLURM_CONF=DIR/slurm.conf"
#   scripts/slurm-test-cluster.sh stop DIR
# Debian's slurm-wlm and munge packages (scripts/install-deps.sh) provide the daemons.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"  # the daemons live there; a non-login shell may lack it
action="${1:?start|stop}"
dir="$(mkdir -p "${2:?DIR}" && cd "$2" && pwd)"

stop() {
  for name in slurmd slurmctld munged; do
    if [[ -f "$dir/run/$name.pid" ]]; then
      kill "$(cat "$dir/run/$name.pid")" 2>/dev/null || true
    fi
  done
  sleep 1
  for name in slurmd slurmctld munged; do
    if [[ -f "$dir/run/$name.pid" ]]; then
      kill -9 "$(cat "$dir/run/$name.pid")" 2>/dev/null || true
      rm -f "$dir/run/$name.pid"
    fi
  done
}

if [[ "$action" == stop ]]; then
  stop
  exit 0
fi
[[ "$action" == start ]] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
for tool in munged slurmctld slurmd sbatch squeue; do
  command -v "$tool" >/dev/null || { echo "$tool not found: install slurm-wlm and munge (scripts/install-deps.sh)" >&2; exit 4; }
done
stop
rm -rf "$dir/state" "$dir/spool" "$dir/log"
mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/run" "$dir/munge"
user="$(id -un)"
cpus="$(nproc)"
memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
# Ports: a free pair above 20000 (two clusters on one machine must not meet).
base=$(( 20000 + (RANDOM % 20000) * 2 ))
cat > "$dir/slurm.conf" <<CONF
ClusterName=matquant-test
SlurmctldHost=localhost
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=$base
SlurmdPort=$(( base + 1 ))
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MinJobAge=600
NodeName=localhost CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
if [[ ! -f "$dir/munge/munge.key" ]]; then
  head -c 1024 /dev/urandom > "$dir/munge/munge.key"
  chmod 400 "$dir/munge/munge.key"
fi
munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" --pid-file="$dir/run/munged.pid" \
  --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed" --force
export SLURM_CONF="$dir/slurm.conf"
slurmctld -c -i >"$dir/log/slurmctld.out" 2>&1
slurmd -c >"$dir/log/slurmd.out" 2>&1
for _ in $(seq 1 60); do
  if sinfo --noheader --format=%t 2>/dev/null | grep -q idle; then
    echo "export SLURM_CONF=$dir/slurm.conf"
    exit 0
  fi
  sleep 0.5
done
echo "the test cluster did not come up; logs in $dir/log" >&2
tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
exit 1
