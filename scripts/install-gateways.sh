#!/usr/bin/env bash
# Install the real gateway products Gatecrash can put in the gateway and router
# roles (docs/gateways.md): NGINX (nginx-light: has auth_request) and HAProxy,
# from Debian's packages. Idempotent.
#
#   scripts/install-gateways.sh             # nginx-light, haproxy (apt)
#   scripts/install-gateways.sh --litellm   # also LiteLLM, in its own venv .venv-litellm
#
# LiteLLM (the LLM router, `--llm-router litellm`) is a 754 MB install with
# hundreds of pinned dependencies: it gets a venv of its own so that it never
# moves a version under the main venv's packages (see docs/gateways.md).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(nginx-light haproxy)
LITELLM_REQ="litellm[proxy]==1.108.7"
LITELLM_VENV="${GATECRASH_LITELLM_VENV:-.venv-litellm}"

with_litellm=0
for arg in "$@"; do
    case "$arg" in
        --litellm) with_litellm=1 ;;
        *) echo "install-gateways: unknown option $arg (allowed: --litellm)" >&2; exit 2 ;;
    esac
done

missing=()
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=()
    [ "$(id -u)" = 0 ] || SUDO=(sudo)
    echo "install-gateways: apt-get install ${missing[*]}"
    # Debian starts a package's service on install; Gatecrash runs its own
    # instances in the foreground, so none may start here (policy-rc.d: 101).
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${SUDO[@]}" chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq >/dev/null || true
    "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
    [ "$made_policy" = 0 ] || "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d
fi
echo "install-gateways: $(nginx -v 2>&1); $(haproxy -v | head -n 1)"

if [ "$with_litellm" = 1 ]; then
    PYTHON="${PYTHON:-python3}"
    [ -x "$LITELLM_VENV/bin/python" ] || "$PYTHON" -m venv "$LITELLM_VENV"
    if ! "$LITELLM_VENV/bin/python" -c 'import litellm' >/dev/null 2>&1; then
        echo "install-gateways: $LITELLM_REQ into $LITELLM_VENV (about a minute)"
        "$LITELLM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$LITELLM_REQ"
    fi
    echo "install-gateways: litellm $("$LITELLM_VENV/bin/python" -c \
        'import importlib.metadata as m; print(m.version("litellm"))') in $LITELLM_VENV"
fi
