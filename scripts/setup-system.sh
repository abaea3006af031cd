#!/usr/bin/env bash
# Install the Debian packages hscanom needs, when they are missing (idempotent).
#   PostgreSQL 15 server with the Q3C and pgSphere extensions, python3-venv, and headless
#   Chromium with its WebDriver (the explorer's browser tests).
# Runs apt-get directly as root, through sudo otherwise.
set -euo pipefail

packages=(postgresql-15 postgresql-15-q3c postgresql-15-pgsphere chromium chromium-driver)
python3 -m venv --help >/dev/null 2>&1 || packages+=(python3-venv)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "hscanom: installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
    echo "hscanom: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
