#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, with accounting (slurmdbd + MariaDB)
# so that sacct works as on a production cluster. For tests/test_slurm.py; also usable
# by hand on a Debian machine where you are root:
#
#   tests/slurm/cluster.sh install   # Debian packages (munge, slurm, slurmdbd, mariadb)
#   tests/slurm/cluster.sh start     # write configs, start the daemons, wait for the node
#   tests/slurm/cluster.sh stop      # stop what start started (by the PIDs it recorded)
#   tests/slurm/cluster.sh purge     # stop every daemon, remove the packages and their state
#
# No init system is assumed: package scripts are kept from starting daemons (and any
# they start anyway is stopped), and the daemons are started directly. A munged or
# MariaDB already serving is used as it is and left running; whatever start started,
# and only that, stop stops. Limits are not enforced (no cgroups).
set -euo pipefail

STATE=${ADVTAIL_SLURM_STATE:-/var/tmp/advtail-slurm}
HOST=$(hostname -s)
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)
# PIDs of the daemons start started, one "name pid" a line, for stop
STARTED=${STATE}/started

log() { echo "[cluster.sh] $*" >&2; }

install() {
    if dpkg -s "${PACKAGES[@]}" >/dev/null 2>&1; then
        log "packages already installed"
        return
    fi
    # keep the packages' post-install scripts from starting daemons (no init system)
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' RETURN
    export DEBIAN_FRONTEND=noninteractive
    local before
    before=$(daemon_pids "${DAEMONS[@]}")
    # another test may install packages at the same time (the report check, Chromium):
    # one apt at a time, under the lock file both take
    flock -w 900 /tmp/advtail-tests-apt.lock sh -c 'apt-get update -qq &&
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null' apt "${PACKAGES[@]}"
    # a package script that started a daemon all the same (munge's does): stop it, so
    # that start finds the state it expects and nothing of the install stays running
    local pid
    for pid in $(daemon_pids "${DAEMONS[@]}"); do
        if ! grep -qx "$pid" <<<"$before"; then
            log "stopping $(ps -o comm= -p "$pid") (pid $pid), started by the package install"
            stop_pid "$pid"
        fi
    done
}

daemon_pids() { # daemon_pids NAME...: PIDs of processes of these exact names
    local name
    for name in "$@"; do pgrep -x "$name" || true; done
}

stop_pid() { # stop_pid PID: TERM, then KILL after 15 s
    kill "$1" 2>/dev/null || return 0
    for _ in $(seq 30); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.5; done
    kill -9 "$1" 2>/dev/null || true
}

started() { # started NAME PIDFILE: record a daemon this script started
    local pid
    wait_for 30 "$1's pid file" test -s "$2"
    pid=$(cat "$2")
    echo "$1 $pid" >>"$STARTED"
}

purge() {
    local pid
    export DEBIAN_FRONTEND=noninteractive
    for pid in $(daemon_pids "${DAEMONS[@]}" slurmstepd); do
        stop_pid "$pid"
    done
    if dpkg -s munge >/dev/null 2>&1 || dpkg -s slurmctld >/dev/null 2>&1 ||
        dpkg -s mariadb-server >/dev/null 2>&1; then
        apt-get purge -y -qq "${PACKAGES[@]}" 'mariadb-*' 'libmunge*' 'slurm-wlm*' \
            >/dev/null 2>&1 || true
        apt-get autoremove -y -qq --purge >/dev/null 2>&1 || true
    fi
    rm -rf "$STATE" /etc/slurm /etc/munge /var/lib/munge /run/munge /var/log/munge \
        /var/lib/mysql /run/mysqld /etc/mysql /var/lib/slurm /var/spool/slurm*
    log "purged: packages, state and daemons gone"
}

write_configs() {
    local cpus mem
    cpus=$(nproc)
    mem=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))
    mkdir -p /etc/slurm "$STATE"/{ctld,d,log} /run/munge /run/mysqld
    cat >/etc/slurm/slurm.conf <<EOF
ClusterName=advtail
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=${STATE}/ctld
SlurmdSpoolDir=${STATE}/d
SlurmctldPidFile=${STATE}/slurmctld.pid
SlurmdPidFile=${STATE}/slurmd.pid
SlurmctldLogFile=${STATE}/log/slurmctld.log
SlurmdLogFile=${STATE}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=3600
ReturnToService=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
AccountingStoreFlags=job_comment
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    cat >/etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=${STATE}/slurmdbd.pid
LogFile=${STATE}/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=advtail
StorageLoc=slurm_acct_db
EOF
    chmod 600 /etc/slurm/slurmdbd.conf
}

wait_for() { # wait_for SECONDS WHAT COMMAND...
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq "$seconds"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    log "timed out waiting for $what"
    return 1
}

start() {
    stop # whatever an earlier start left running
    rm -rf "${STATE}/ctld" "${STATE}/d" # a fresh controller: no jobs left from earlier runs
    mkdir -p "$STATE"
    : >"$STARTED"
    write_configs
    # munge: a key, then the daemon as user munge, unless one already serves
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    chown munge:munge /etc/munge/munge.key /run/munge
    chmod 400 /etc/munge/munge.key
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        log "munged already running: used as it is"
    else
        # a munged that died leaves its socket and lock behind; they block a new one
        rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
        runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/advtail-munged.pid
        wait_for 30 munged bash -c "munge -n | unmunge"
        started munged /run/munge/advtail-munged.pid
    fi
    # MariaDB for slurmdbd's accounting database (it runs as user mysql: its pid file
    # lives in its own /run/mysqld)
    chown mysql:mysql /run/mysqld
    if mariadb-admin ping >/dev/null 2>&1; then
        log "MariaDB already running: used as it is"
    else
        mariadbd --user=mysql --pid-file=/run/mysqld/mariadb.pid >"${STATE}/log/mariadb.log" 2>&1 &
        wait_for 60 mariadb mariadb-admin ping
        started mariadbd /run/mysqld/mariadb.pid
    fi
    mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'advtail';
                GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    slurmdbd
    started slurmdbd "${STATE}/slurmdbd.pid"
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -i add cluster advtail >/dev/null 2>&1 || true
    slurmctld
    started slurmctld "${STATE}/slurmctld.pid"
    slurmd
    started slurmd "${STATE}/slurmd.pid"
    wait_for 60 "an idle node" bash -c "sinfo -h -o %t | grep -q idle"
    log "cluster up: $(sinfo -h -o '%P %D %t %c CPUs %m MB')"
}

stop() {
    local name pid
    [ -f "$STARTED" ] || return 0
    scancel --user="$(id -un)" 2>/dev/null || true
    # last started, first stopped; job steps of cancelled jobs too
    while read -r name pid; do
        stop_pid "$pid"
    done < <(tac "$STARTED")
    for pid in $(pgrep -x slurmstepd || true); do stop_pid "$pid"; done
    rm -f "$STARTED" "${STATE}"/*.pid /run/mysqld/mariadb.pid /run/munge/advtail-munged.pid
    log "cluster stopped"
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
purge) purge ;;
*)
    echo "usage: $0 install|start|stop|purge" >&2
    exit 2
    ;;
esac
