#!/usr/bin/env bash
# Install the system packages imgsvc needs on a fresh Debian/Ubuntu machine:
# a Python that can make virtualenvs, redis-server, nginx (the front before
# gunicorn: slow clients never hold a web process), and libturbojpeg (the
# JPEG planes decode; imgsvc runs without it, more slowly), and iproute2 (`ip`:
# the multi-host rehearsal's network namespaces; redis-server also runs the
# Sentinel tests' sentinels, as `redis-server --sentinel`). Idempotent; quiet when
# everything is already there. Uses sudo when not root.
set -euo pipefail

need=()
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
{ command -v ip || test -x /usr/sbin/ip; } >/dev/null 2>&1 || need+=(iproute2)
{ command -v nginx || test -x /usr/sbin/nginx; } >/dev/null 2>&1 || need+=(nginx)
{ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | grep -q 'libturbojpeg\.so\.0' || need+=(libturbojpeg0)
for extra in "$@"; do
  case "$extra" in
    chromium) command -v chromium >/dev/null 2>&1 || need+=(chromium) ;;
  esac
done
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "bootstrap: please install: ${need[*]} (no apt-get on this machine)" >&2
  exit 1
fi
echo "bootstrap: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# imgsvc starts its own nginx (and redis-server); the packages' system services
# are not wanted. Where nothing says otherwise, tell their install not to start them.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
