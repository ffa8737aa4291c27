#!/usr/bin/env bash
# Install Debian's chromium for the browser tests and benchmarks (idempotent).
#
# Playwright (the dev extra) drives this chromium through executable_path; never run
# `playwright install`: its browser builds are downloads these machines cannot fetch.
# Does nothing when chromium is already there (GATECRASH_CHROMIUM, or chromium on PATH).
# Exits non-zero when it cannot install it, so that CI does not silently skip the tests.
set -euo pipefail

found() {
    local exe="${GATECRASH_CHROMIUM:-$(command -v chromium || true)}"
    [ -n "$exe" ] && [ -x "$exe" ] && "$exe" --version 2>/dev/null | grep -qi chrom
}

if found; then
    echo "install-browser: $("${GATECRASH_CHROMIUM:-chromium}" --version 2>/dev/null) already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get here; install chromium yourself" \
        "(or point GATECRASH_CHROMIUM at one)" >&2
    exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-browser: not root and no sudo; run as root: apt-get install chromium" >&2
        exit 1
    fi
    SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# A font, so that text in screenshots is drawn; recommends (GL drivers, ...) are not needed.
PACKAGES=(chromium fonts-dejavu-core)
echo "install-browser: apt-get install ${PACKAGES[*]}"
if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"; then
    # The package lists may be missing or stale on a fresh machine.
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
fi
if ! command -v chromium >/dev/null 2>&1; then
    echo "install-browser: chromium still not found after installing it" >&2
    exit 1
fi
echo "install-browser: $(chromium --version 2>/dev/null) installed"
if [ -n "${GATECRASH_CHROMIUM:-}" ]; then
    echo "install-browser: GATECRASH_CHROMIUM=$GATECRASH_CHROMIUM is not a chromium;" \
        "unset it to use $(command -v chromium)" >&2
fi
