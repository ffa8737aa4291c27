#!/usr/bin/env bash
# A second Docker engine on this machine, as remote as one machine allows: its own
# socket and a TCP listener on 127.0.0.1 (so the conductor treats it as a remote
# engine: no host pids, no shared files), its own data root, exec root, pidfile,
# containerd namespace and bridge subnet. It manages no iptables rules (the first
# engine's must stay as they are); published ports go through docker-proxy, and
# one rule of ours, removed by `stop`, lets its containers talk to each other
# (the first engine sets the FORWARD policy to DROP, and bridged traffic crosses it).
# Images are copied from the first engine with `docker save | docker load`: no registry.
#
#   scripts/second-dockerd.sh start DIR PORT [IMAGE...]   # then DOCKER_HOST=tcp://127.0.0.1:PORT
#   scripts/second-dockerd.sh stop DIR                    # stops it and removes DIR
#
# DIR must be short (containerd's socket lives under it; a Unix socket path has
# a 108-byte limit) and must not exist yet.
set -euo pipefail

WAIT_S="${DOCKERD_WAIT_S:-60}"
# Not the first engine's 172.17-31/16 and 192.168/16 pools: routes must not overlap.
ADDRESS_POOL="${GATECRASH_ENGINE2_POOL:-base=10.213.0.0/16,size=24}"
POOL_NET="$(sed -e 's/^base=//' -e 's/,.*//' <<<"${ADDRESS_POOL}")"
# Its default bridge: one of its own. `--bridge=none` would make dockerd delete the
# first engine's docker0 at start (moby removes the default bridge when disabled),
# after which the first engine cannot run a container on its default network.
BRIDGE_ADDRESS="${GATECRASH_ENGINE2_BRIDGE:-10.214.0.1/24}"
bridge_name() { printf 'gc2br%s' "$(printf '%s' "$1" | cksum | cut -c1-8)"; }

# Containers of this engine may talk to each other, and only to each other.
forward_rule() {  # add|delete DIR
    command -v iptables >/dev/null 2>&1 || return 0
    local op="-I"; [[ "$1" == delete ]] && op="-D"
    iptables "${op}" FORWARD -s "${POOL_NET}" -d "${POOL_NET}" \
        -m comment --comment "gatecrash-engine2 $2" -j ACCEPT 2>/dev/null || true
}

usage() { echo "usage: $0 start DIR PORT [IMAGE...] | stop DIR" >&2; exit 2; }

start() {
    local dir="$1" port="$2"; shift 2
    [[ -e "${dir}" ]] && { echo "${dir} exists: give a new folder" >&2; exit 2; }
    mkdir -p "${dir}"
    local host="tcp://127.0.0.1:${port}"
    forward_rule add "${dir}"
    command -v ip >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
    local bridge; bridge="$(bridge_name "${dir}")"
    ip link del "${bridge}" 2>/dev/null || true  # left by a run that died
    ip link add name "${bridge}" type bridge
    ip addr add "${BRIDGE_ADDRESS}" dev "${bridge}"
    ip link set "${bridge}" up
    # setsid: the engine outlives the shell that started it, until `stop`.
    setsid dockerd --host "unix://${dir}/docker.sock" --host "${host}" \
        --data-root "${dir}/data" --exec-root "${dir}/exec" --pidfile "${dir}/docker.pid" \
        --containerd-namespace gatecrash-engine2 \
        --containerd-plugins-namespace gatecrash-engine2-plugins \
        --iptables=false --ip6tables=false --ip-masq=false --bridge "${bridge}" \
        --default-address-pool "${ADDRESS_POOL}" --cgroup-parent gatecrash-engine2 \
        --log-level warn >"${dir}/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 "$((WAIT_S * 5))"); do
        if DOCKER_HOST="${host}" docker info >/dev/null 2>&1; then
            break
        fi
        sleep 0.2
    done
    DOCKER_HOST="${host}" docker info >/dev/null 2>&1 || {
        echo "second engine did not answer within ${WAIT_S}s:" >&2
        tail -n 20 "${dir}/dockerd.log" >&2
        stop "${dir}"
        exit 1
    }
    if (($#)); then
        # From the first engine (DOCKER_HOST unset here) into the second one.
        env -u DOCKER_HOST docker save "$@" | DOCKER_HOST="${host}" docker load -q >/dev/null
    fi
    echo "DOCKER_HOST=${host}"
}

stop() {
    local dir="$1" pid
    if [[ -f "${dir}/docker.pid" ]]; then
        pid="$(cat "${dir}/docker.pid")"
        kill "${pid}" 2>/dev/null || true
        for _ in $(seq 1 150); do
            kill -0 "${pid}" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "${pid}" 2>/dev/null || true
    fi
    # Its containerd's mounts (overlay, shm) must go before the folder can.
    grep -F " ${dir}/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l || true
    forward_rule delete "${dir}"
    ip link del "$(bridge_name "${dir}")" 2>/dev/null || true
    rm -rf "${dir}"
}

case "${1:-}" in
    start) (($# >= 3)) || usage; start "${@:2}" ;;
    stop) (($# == 2)) || usage; stop "$2" ;;
    *) usage ;;
esac
