#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, with accounting (slurmdbd + MariaDB)
# so that sacct works as on a production cluster. For tests/test_slurm.py; also usable
# by hand on a Debian machine where you are root:
#
#   tests/slurm/cluster.sh install   # Debian packages (munge, slurm, slurmdbd, mariadb)
#   tests/slurm/cluster.sh start     # write configs, start the daemons, wait for the node
#   tests/slurm/cluster.sh stop      # stop them (by the PIDs in their pid files)
#
# No init system is assumed: package scripts are kept from starting daemons and the
# daemons are started directly. Limits are not enforced (no cgroups).
set -euo pipefail

STATE=${ADVTAIL_SLURM_STATE:-/var/tmp/advtail-slurm}
HOST=$(hostname -s)
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)

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
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
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
    rm -rf "${STATE}/ctld" "${STATE}/d" # a fresh controller: no jobs left from earlier runs
    write_configs
    # munge: a key, then the daemon as user munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    chown munge:munge /etc/munge/munge.key /run/munge
    chmod 400 /etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged
    # MariaDB for slurmdbd's accounting database
    chown mysql:mysql /run/mysqld
    # (it runs as user mysql: its pid file lives in its own /run/mysqld)
    mariadbd --user=mysql --pid-file=/run/mysqld/mariadb.pid >"${STATE}/log/mariadb.log" 2>&1 &
    wait_for 60 mariadb mariadb-admin ping
    mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'advtail';
                GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    slurmdbd
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -i add cluster advtail >/dev/null 2>&1 || true
    slurmctld
    slurmd
    wait_for 60 "an idle node" bash -c "sinfo -h -o %t | grep -q idle"
    log "cluster up: $(sinfo -h -o '%P %D %t %c CPUs %m MB')"
}

stop() {
    local file pid
    scancel --user="$(id -un)" 2>/dev/null || true
    for file in "${STATE}"/slurmd.pid "${STATE}"/slurmctld.pid "${STATE}"/slurmdbd.pid \
        /run/mysqld/mariadb.pid; do
        if [ -f "$file" ]; then
            pid=$(cat "$file")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            rm -f "$file"
        fi
    done
    pkill -u munge -x munged 2>/dev/null || true
    log "cluster stopped"
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
*)
    echo "usage: $0 install|start|stop" >&2
    exit 2
    ;;
esac
