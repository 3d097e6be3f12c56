#!/usr/bin/env bash
# Single-node Slurm and Grid Engine clusters on this machine, for the cluster backends' tests.
#
# Idempotent and quick when the clusters already answer. Needs root and apt-get (Debian's
# packages); anything it cannot do is said on stderr, and the tests then report the scheduler as
# missing. The daemons are started directly (no systemd in CI containers).
set -uo pipefail

HOST=$(hostname)
CPUS=16          # job slots advertised, more than the cores: the tests run many small jobs at once
log() { echo "clusters: $*" >&2; }

as_root() {
  if [ "$(id -u)" != 0 ]; then
    log "not root: cannot install or start the schedulers"
    return 1
  fi
}

install_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} = 0 ] && return 0
  log "installing ${missing[*]}"
  apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

wait_for() {  # wait_for SECONDS COMMAND...: until the command succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.5
  done
}

# --- Slurm: munge, slurmctld and slurmd on this host ----------------------------------------
slurm_up() {
  scontrol ping 2>/dev/null | grep -q 'is UP' \
    && sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'
}

slurm_conf() {  # the configuration this script keeps in /etc/slurm/slurm.conf
  cat <<CONF
# Written by .ci/clusters.sh: a single-node cluster for the tests.
ClusterName=aa
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
KillWait=5
MinJobAge=600
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=16000 State=UNKNOWN
PartitionName=debug Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
CONF
}

start_slurm() {
  install_packages munge slurmctld slurmd slurm-client || { log "slurm packages could not be installed"; return 1; }
  if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
    [ -s /etc/munge/munge.key ] || { mungekey --create --force >/dev/null 2>&1; chown munge:munge /etc/munge/munge.key; }
    runuser -u munge -- /usr/sbin/munged || { log "munged did not start"; return 1; }
  fi
  wait_for 10 sh -c 'munge -n | unmunge' || { log "munge does not answer"; return 1; }
  mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  local conf=/etc/slurm/slurm.conf wanted
  wanted=$(slurm_conf)
  if [ "$(cat "$conf" 2>/dev/null)" != "$wanted" ]; then
    printf '%s\n' "$wanted" > "$conf"
    for pidfile in /run/slurmctld.pid /run/slurmd.pid; do  # ours, reading the old file
      local pid; pid=$(cat "$pidfile" 2>/dev/null) || continue
      kill "$pid" 2>/dev/null && wait_for 30 sh -c "! kill -0 $pid"
    done
  fi
  pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld -i || { log "slurmctld did not start"; return 1; }
  pgrep -x slurmd >/dev/null || /usr/sbin/slurmd || { log "slurmd did not start"; return 1; }
  wait_for 30 slurm_up || { log "slurm did not come up"; return 1; }
  scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
}

# --- Grid Engine: sge_qmaster and sge_execd on this host, one queue (all.q) -------------------
export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
GE_COMMON=$SGE_ROOT/$SGE_CELL/common

ge_up() {  # the queue instance exists and its execd reports (no 'u'nknown or 'a'larm state)
  local line
  line=$(qstat -f -q all.q 2>/dev/null | grep "^all.q@${HOST} ") || return 1
  [ "$(echo "$line" | awk '{print $6}')" = "" ]
}

ge_conf() {  # ge_conf SHOW-FLAG MODIFY-FLAG NAME SED-SCRIPT: edit a configuration if it differs
  local dir; dir=$(mktemp -d)
  qconf "$1" > "$dir/$3" 2>/dev/null || { rm -rf "$dir"; return 1; }
  sed -e "$4" "$dir/$3" > "$dir/new"
  if ! cmp -s "$dir/$3" "$dir/new"; then mv "$dir/new" "$dir/$3" && qconf "$2" "$dir/$3" >/dev/null; fi
  rm -rf "$dir"
}

start_gridengine() {
  if ! dpkg-query -W -f='${Status}' gridengine-master 2>/dev/null | grep -q 'install ok installed'; then
    # The packages' questions, answered: make a cell "default" whose master is this host.
    for pkg in gridengine-common gridengine-client gridengine-master; do
      printf '%s shared/gridengineconfig boolean true\n%s shared/gridenginecell string default\n%s shared/gridenginemaster string %s\n' \
        "$pkg" "$pkg" "$pkg" "$HOST" | debconf-set-selections
    done
  fi
  install_packages gridengine-master gridengine-exec gridengine-client \
    || { log "gridengine packages could not be installed"; return 1; }
  # In containers 127.0.0.1 is both "localhost" and the host's name: Grid Engine refuses a client
  # whose address resolves to another name than it gives, unless the names are aliases.
  local restart=no
  if [ "$(cat "$GE_COMMON/host_aliases" 2>/dev/null)" != "$HOST localhost" ]; then
    echo "$HOST localhost" > "$GE_COMMON/host_aliases"; restart=yes
  fi
  [ "$(cat "$GE_COMMON/act_qmaster" 2>/dev/null)" = "$HOST" ] || { echo "$HOST" > "$GE_COMMON/act_qmaster"; restart=yes; }
  local pidfile=/var/spool/gridengine/qmaster/qmaster.pid
  if [ $restart = yes ] && [ -s $pidfile ] && kill "$(cat $pidfile)" 2>/dev/null; then
    wait_for 30 sh -c "! kill -0 $(cat $pidfile)"
  fi
  if ! qconf -sh >/dev/null 2>&1; then
    /etc/init.d/gridengine-master start >/dev/null 2>&1
    wait_for 30 qconf -sh || { log "sge_qmaster does not answer"; return 1; }
  fi
  # Jobs as root (CI runs as root), accounting flushed every second, a job's processes all killed
  # (coreutils' timeout puts the program in a group of its own), loads reported every 5 s.
  ge_conf -sconf -Mconf global 's/^min_uid .*/min_uid 0/; s/^min_gid .*/min_gid 0/;
    s/flush_time=[0-9:]*/flush_time=00:00:01/; s/^execd_params .*/execd_params ENABLE_ADDGRP_KILL=true/;
    s/^load_report_time .*/load_report_time 00:00:05/'
  # Schedule at once rather than every 15 s.
  ge_conf -ssconf -Msconf scheduler 's/^schedule_interval .*/schedule_interval 0:0:1/;
    s/^flush_submit_sec .*/flush_submit_sec 1/; s/^flush_finish_sec .*/flush_finish_sec 1/'
  qconf -ss 2>/dev/null | grep -qx "$HOST" || qconf -as "$HOST" >/dev/null
  if ! qconf -se "$HOST" >/dev/null 2>&1; then
    local dir; dir=$(mktemp -d)
    printf 'hostname %s\nload_scaling NONE\ncomplex_values NONE\nuser_lists NONE\nxuser_lists NONE\nprojects NONE\nxprojects NONE\nusage_scaling NONE\nreport_variables NONE\n' \
      "$HOST" > "$dir/exec" && qconf -Ae "$dir/exec" >/dev/null; rm -rf "$dir"
  fi
  if ! qconf -sq all.q >/dev/null 2>&1; then
    # No load threshold: a busy CI machine must not put the queue in alarm.
    local dir; dir=$(mktemp -d)
    qconf -sq | sed -e 's/^qname .*/qname all.q/' -e "s/^hostlist .*/hostlist $HOST/" -e "s/^slots .*/slots $CPUS/" \
      -e 's/^load_thresholds .*/load_thresholds NONE/' -e 's/^pe_list .*/pe_list NONE/' \
      -e 's|^shell .*|shell /bin/sh|' > "$dir/all.q" && qconf -Aq "$dir/all.q" >/dev/null; rm -rf "$dir"
  fi
  pgrep -x sge_execd >/dev/null || /etc/init.d/gridengine-exec start >/dev/null 2>&1
  wait_for 60 ge_up || { log "the Grid Engine queue did not come up: $(qstat -f 2>&1 | tail -2)"; return 1; }
}

main() {
  as_root || return 1
  local failed=0
  if slurm_up && [ "$(cat /etc/slurm/slurm.conf)" = "$(slurm_conf)" ]; then log "slurm is up"; else start_slurm && log "slurm started" || failed=1; fi
  if ge_up; then log "gridengine is up"; else start_gridengine && log "gridengine started" || failed=1; fi
  return $failed
}

main "$@"
