#!/usr/bin/env bash
# deps.sh installs the system packages the tests need, from Debian's
# archive, when they are missing: git (the test Git server runs
# git http-backend), make, chromium (the dashboard is tested in a real
# headless browser), xmllint (JUnit reports are validated against the
# Jenkins XSD), Prometheus with promtool and Alertmanager (the
# monitoring mixin in deploy/monitoring is tested on them), and PostgreSQL
# (the fleet hub's audit log, drift/fleet/audit, is tested on a real
# server its tests start with initdb and postgres). It installs nothing
# when everything is present.
set -euo pipefail

need=()
command -v git >/dev/null || need+=(git)
command -v make >/dev/null || need+=(make)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium fonts-dejavu-core)
command -v xmllint >/dev/null || need+=(libxml2-utils)
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
# Debian keeps initdb and postgres off PATH, in /usr/lib/postgresql/<version>/bin.
command -v initdb >/dev/null || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
((${#need[@]})) || exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "missing packages: ${need[*]} (install them as root: apt-get install ${need[*]})" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
