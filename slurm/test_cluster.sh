#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for tests and for trying the slurm executor.
#   slurm/test_cluster.sh start STATE_DIR   installs Debian's slurmctld/slurmd/munge when missing
#                                           (needs root), writes STATE_DIR/slurm.conf, starts
#                                           munged, slurmctld and slurmd, waits until the node is up
#   slurm/test_cluster.sh stop STATE_DIR    stops the daemons it started (by PID)
# Then: export SLURM_CONF=STATE_DIR/slurm.conf; sinfo; sbatch ...
set -euo pipefail

cmd=${1:?usage: test_cluster.sh start|stop STATE_DIR}
state=$(realpath -m "${2:?usage: test_cluster.sh start|stop STATE_DIR}")
here=$(cd "$(dirname "$0")" && pwd)

install_packages() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null && return
  if [ "$(id -u)" != 0 ]; then
    echo "test_cluster: slurmctld/slurmd/munge are missing and installing them needs root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
}

start() {
  install_packages
  mkdir -p "$state"/{spool,ctld,log,run}
  cpus=$(nproc)
  mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 3 / 4 ))
  sed -e "s#@STATE@#$state#g" -e "s#@CPUS@#$cpus#g" -e "s#@MEM@#$mem_mb#g" \
    "$here/test_cluster/slurm.conf.in" > "$state/slurm.conf"
  if ! pgrep -x munged >/dev/null; then
    [ -s /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || /usr/sbin/create-munge-key -f; }
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged
    touch "$state/run/munged.ours"
  fi
  slurmctld -f "$state/slurm.conf"
  slurmd -f "$state/slurm.conf" -N localhost
  for _ in $(seq 1 60); do
    if SLURM_CONF="$state/slurm.conf" sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "test_cluster: up (SLURM_CONF=$state/slurm.conf, $cpus CPUs, ${mem_mb} MB)"
      return
    fi
    sleep 0.5
  done
  echo "test_cluster: the node did not come up; logs in $state/log" >&2
  exit 1
}

stop() {
  for pidfile in "$state/run/slurmd.pid" "$state/run/slurmctld.pid"; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  if [ -f "$state/run/munged.ours" ]; then
    pkill -x munged 2>/dev/null || true
    rm -f "$state/run/munged.ours"
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: test_cluster.sh start|stop STATE_DIR" >&2; exit 2 ;;
esac
