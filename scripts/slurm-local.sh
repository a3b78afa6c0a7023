#!/usr/bin/env bash
# A real single-node Slurm cluster on localhost, for CI and for trying the Slurm profile.
#
#   sudo scripts/slurm-local.sh start    # install (Debian: slurm-wlm, munge) if missing, start
#                                        # munged, slurmctld, slurmd; wait until the node is idle
#   eval "$(scripts/slurm-local.sh env)" # point sbatch/squeue/sinfo at this cluster (SLURM_CONF)
#   scripts/slurm-local.sh status        # the node and the queue
#   sudo scripts/slurm-local.sh stop     # stop the daemons (pid files) and remove the state
#
# No systemd: the daemons are started directly and tracked by their pid files. There is no
# accounting (no slurmdbd), so Snakemake must ask squeue for job states:
#   snakemake --cores all --profile slurm --slurm-status-command squeue
# The node advertises FLEX_SLURM_CPUS CPUs and FLEX_SLURM_MEM_MB of memory (SlurmdParameters=
# config_overrides), at least the largest request of profiles/slurm/config.yaml, or a job that
# asks for more stays pending forever; and FLEX_SLURM_GPUS fake GPUs: GRES backed by /dev/null, so
# that Slurm schedules `--gpus` jobs and sets CUDA_VISIBLE_DEVICES while the code, seeing no CUDA,
# runs on the CPU. All state lives under FLEX_SLURM_DIR (default /tmp/flex-slurm). The clients
# find the configuration at Slurm's default path, /etc/slurm/slurm.conf, a link to the one here:
# SLURM_CONF alone is not enough, because snakemake-executor-plugin-slurm-jobstep (0.6.1) removes
# every SLURM_* variable but the job's identity before its inner srun. A /etc/slurm/slurm.conf that
# this script did not write is never touched (start then refuses).
set -euo pipefail

SLURM_DIR=${FLEX_SLURM_DIR:-/tmp/flex-slurm}
NODE_CPUS=${FLEX_SLURM_CPUS:-8}
NODE_MEM_MB=${FLEX_SLURM_MEM_MB:-131072}
NODE_GPUS=${FLEX_SLURM_GPUS:-2}
CTLD_PORT=${FLEX_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${FLEX_SLURM_SLURMD_PORT:-6818}
WAIT_SECONDS=${FLEX_SLURM_WAIT_SECONDS:-60}
MUNGE_RUN=/run/munge
CONF="$SLURM_DIR/slurm.conf"
SYSTEM_CONF=/etc/slurm/slurm.conf
MARKER="# Written by scripts/slurm-local.sh"

die() { echo "slurm-local: $*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "'$1' must run as root (it installs packages and starts daemons)"
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
    && command -v sbatch >/dev/null; then
    return
  fi
  command -v apt-get >/dev/null || die "slurmctld/slurmd/munged not found and no apt-get to install them"
  echo "slurm-local: installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q slurm-wlm munge >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q slurm-wlm munge >/dev/null; } \
    || die "apt-get could not install slurm-wlm and munge"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
  mkdir -p "$MUNGE_RUN" /var/lib/munge /var/log/munge /etc/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=128 count=1 status=none
  fi
  chown munge:munge "$MUNGE_RUN" /var/lib/munge /var/log/munge /etc/munge /etc/munge/munge.key
  chmod 0700 /etc/munge /var/lib/munge /var/log/munge
  chmod 0755 "$MUNGE_RUN"
  chmod 0400 /etc/munge/munge.key
  if pid_alive "$MUNGE_RUN/munged.pid"; then
    return
  fi
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return
    sleep 0.1
  done
  die "munged did not answer (see /var/log/munge/munged.log)"
}

write_config() {
  mkdir -p "$SLURM_DIR/state" "$SLURM_DIR/spool"
  cat >"$CONF" <<EOF
$MARKER: a single-node cluster on localhost.
ClusterName=flexlocal
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/slurmctld.log
SlurmdLogFile=$SLURM_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
SchedulerParameters=sched_interval=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$NODE_CPUS RealMemory=$NODE_MEM_MB Gres=gpu:$NODE_GPUS State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  # Fake GPUs: Slurm wants one device file per GPU, so each is a link to /dev/null.
  : >"$SLURM_DIR/gres.conf"
  for index in $(seq 0 $((NODE_GPUS - 1))); do
    ln -sfn /dev/null "$SLURM_DIR/fake-gpu$index"
    echo "NodeName=localhost Name=gpu File=$SLURM_DIR/fake-gpu$index" >>"$SLURM_DIR/gres.conf"
  done
}

wait_idle() {
  export SLURM_CONF="$CONF"
  local state=""
  for _ in $(seq $((WAIT_SECONDS * 2))); do
    state=$(sinfo -h -n localhost -o '%T' 2>/dev/null || true)
    case "$state" in
      idle | mixed | allocated) echo "slurm-local: node localhost is $state"; return ;;
    esac
    sleep 0.5
  done
  die "node not idle after ${WAIT_SECONDS} s (state '${state}'); see $SLURM_DIR/slurmctld.log, $SLURM_DIR/slurmd.log"
}

start() {
  need_root start
  install_packages
  start_munge
  write_config
  link_system_config
  export SLURM_CONF="$CONF"
  if ! pid_alive "$SLURM_DIR/slurmctld.pid"; then
    /usr/sbin/slurmctld -f "$CONF" -i || die "slurmctld did not start; see $SLURM_DIR/slurmctld.log"
  fi
  if ! pid_alive "$SLURM_DIR/slurmd.pid"; then
    /usr/sbin/slurmd -f "$CONF" -N localhost || die "slurmd did not start; see $SLURM_DIR/slurmd.log"
  fi
  wait_idle
  echo "slurm-local: running (configuration $SYSTEM_CONF -> $CONF)"
}

link_system_config() {
  if [ -e "$SYSTEM_CONF" ] && ! grep -q "^$MARKER" "$SYSTEM_CONF" 2>/dev/null; then
    die "$SYSTEM_CONF exists and was not written by this script; not replacing a real cluster's configuration"
  fi
  mkdir -p "$(dirname "$SYSTEM_CONF")"
  ln -sfn "$CONF" "$SYSTEM_CONF"
}

stop_pid() {
  local pidfile=$1 name=$2
  if pid_alive "$pidfile"; then
    local pid
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "slurm-local: stopped $name ($pid)"
  fi
  rm -f "$pidfile"
}

stop() {
  need_root stop
  export SLURM_CONF="$CONF"
  [ -f "$CONF" ] && scancel --quiet --user "$(id -un)" 2>/dev/null || true
  stop_pid "$SLURM_DIR/slurmd.pid" slurmd
  stop_pid "$SLURM_DIR/slurmctld.pid" slurmctld
  stop_pid "$MUNGE_RUN/munged.pid" munged
  if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$CONF" ]; then
    rm -f "$SYSTEM_CONF"
  fi
  rm -rf "$SLURM_DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  status)
    export SLURM_CONF="$CONF"
    sinfo -N -o '%N %T %c %m %G' && squeue
    ;;
  *) die "usage: $0 start|stop|status|env" ;;
esac
