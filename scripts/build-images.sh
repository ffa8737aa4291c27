#!/usr/bin/env bash
# Build every image the Docker runtime needs without pulling from any registry
# (DESIGN.md §7): a Debian base made with debootstrap and `docker import`,
# wheels built on the host (which has the CA bundle pip needs), installed
# offline in the image.
#
#   scripts/build-images.sh            # base (cached), service, toxiproxy, redis
#   REBUILD_BASE=1 scripts/build-images.sh
#
# Images: gatecrash/base:bookworm, gatecrash/service:latest,
#         gatecrash/toxiproxy:latest, gatecrash/redis:latest
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_TAG="${GATECRASH_BASE_IMAGE:-gatecrash/base:bookworm}"
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Python 3.11 in bookworm matches the host venv, so host-built wheels fit the image.
# nginx-light and haproxy: the gateway products of `--gateway nginx|haproxy` (docs/gateways.md).
BASE_PACKAGES="python3,python3-venv,ca-certificates,nginx-light,haproxy"
PYTHON="${PYTHON:-.venv/bin/python}"
[[ -x "${PYTHON}" ]] || PYTHON=python3
CACHE_DIR="${GATECRASH_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gatecrash/images}"
# Legacy builder: this engine has no BuildKit/buildx (and needs none of it).
export DOCKER_BUILDKIT=0

log() { printf '[build-images %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

docker info >/dev/null 2>&1 || { echo "no Docker engine: run scripts/start-dockerd.sh" >&2; exit 1; }

# -- 1. base image ------------------------------------------------------------
# A base made before the package list changed lacks some: its label says which it has.
base_packages() { docker image inspect -f '{{ index .Config.Labels "io.gatecrash.base-packages" }}' \
    "${BASE_TAG}" 2>/dev/null || true; }
if [[ -n "${REBUILD_BASE:-}" ]] || [[ "$(base_packages)" != "${BASE_PACKAGES}" ]]; then
    command -v debootstrap >/dev/null 2>&1 || {
        [[ "$(id -u)" == 0 ]] || { echo "debootstrap missing: apt-get install debootstrap" >&2; exit 1; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    rootfs="$(mktemp -d)"
    trap 'rm -rf "${rootfs}"' EXIT
    log "debootstrap ${SUITE} (minbase + ${BASE_PACKAGES}) into ${rootfs}"
    debootstrap --variant=minbase --include="${BASE_PACKAGES}" "${SUITE}" "${rootfs}" "${MIRROR}" \
        >"${rootfs}.log" 2>&1 || { tail -n 20 "${rootfs}.log" >&2; exit 1; }
    rm -f "${rootfs}.log"
    # Nothing the image needs: apt lists and caches, docs, man pages.
    rm -rf "${rootfs}"/var/cache/apt/archives/*.deb "${rootfs}"/var/lib/apt/lists/* \
           "${rootfs}"/usr/share/doc/* "${rootfs}"/usr/share/man/*
    log "docker import -> ${BASE_TAG}"
    tar -C "${rootfs}" -c . | docker import \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
        --change "LABEL io.gatecrash.base-packages=${BASE_PACKAGES}" - "${BASE_TAG}" >/dev/null
    rm -rf "${rootfs}"
    trap - EXIT
else
    log "base ${BASE_TAG} present (REBUILD_BASE=1 to redo it)"
fi

# -- 2. build context: sources + wheels ------------------------------------------
ctx="${CACHE_DIR}/context"
mkdir -p "${ctx}/wheels"
rm -rf "${ctx}/src"
mkdir -p "${ctx}/src"
# Only what runs in a container; tests, .venv and results stay out of the context.
for pkg in targets chaos gatecrash loadtests dashboards records; do
    cp -a "${pkg}" "${ctx}/src/"
done
find "${ctx}/src" -name __pycache__ -prune -exec rm -rf {} +
cp compose/Dockerfile compose/requirements-image.txt compose/toxiproxy-cli "${ctx}/"
# Pin to what the host venv runs (what the tests ran against), where it has them.
"${PYTHON}" -m pip freeze --exclude-editable 2>/dev/null | grep -v '^-e ' > "${ctx}/constraints.txt" || true
log "pip wheel (host) -> ${ctx}/wheels"
# pip config on some hosts names find-links folders that do not exist: drop that noise.
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
quiet "${PYTHON}" -m pip wheel -q --wheel-dir "${ctx}/wheels" \
    -r compose/requirements-image.txt -c "${ctx}/constraints.txt"
# Bookworm's Python is 3.11.2: redis needs async-timeout below 3.11.3, the host's
# newer 3.11 does not, so the marker skipped it above.
quiet "${PYTHON}" -m pip wheel -q --wheel-dir "${ctx}/wheels" "async-timeout>=4.0.3"

# -- 3. images ---------------------------------------------------------------------
for target in service toxiproxy redis; do
    log "docker build --target ${target} -> gatecrash/${target}:latest"
    # The legacy builder warns it is deprecated on every build: keep real errors only.
    docker build -q --build-arg BASE_IMAGE="${BASE_TAG}" --build-arg PIP_NO_INDEX=1 \
        --target "${target}" -t "gatecrash/${target}:latest" "${ctx}" >/dev/null \
        2> >(grep -v -e DEPRECATED -e 'legacy builder' -e BuildKit -e 'environment-variable' \
             -e '^$' >&2)
done
# Images a rebuild replaced (ours only, by label) would pile up untagged.
docker image prune -f --filter "label=io.gatecrash.image" >/dev/null
log "done: $(docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' 'gatecrash/*' | tr '\n' ' ')"
