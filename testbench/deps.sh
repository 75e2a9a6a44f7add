#!/usr/bin/env bash
# Installs what Patchbay's tests and demo need on Debian: the real services
# the tests start (mosquitto, snmpd, socat, fw_printenv, PostgreSQL), the
# emulators that run the ARM and MIPS builds, and the Go modules.
# As root it uses apt-get; otherwise it names what to install and fails.
set -euo pipefail

# binary:package pairs; a binary is looked up on PATH (initdb also under
# /usr/lib/postgresql/*/bin, where Debian puts it).
need=(
  mosquitto:mosquitto
  mosquitto_pub:mosquitto-clients
  snmpd:snmpd
  snmpget:snmp
  socat:socat
  qemu-arm-static:qemu-user-static
  qemu-mipsel-static:qemu-user-static
  qemu-mips-static:qemu-user-static
  fw_printenv:libubootenv-tool
  mkenvimage:u-boot-tools
  initdb:postgresql
  xz:xz-utils
  sz:lrzsz
  git:git
)

have() {
  command -v "$1" >/dev/null 2>&1 && return 0
  [ "$1" = initdb ] && compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return 0
  [ -x "/usr/sbin/$1" ] && return 0
  return 1
}

missing=()
for pair in "${need[@]}"; do
  bin=${pair%%:*} pkg=${pair#*:}
  if ! have "$bin"; then
    case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d keeps package scripts from starting system services: the
    # tests start their own, on ephemeral ports.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "deps: missing Debian packages: ${missing[*]}" >&2
    echo "deps: run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

if ! command -v go >/dev/null; then
  echo "deps: Go is not on PATH; install Go $(sed -n 's/^go //p' go.mod) or newer" >&2
  exit 1
fi
go mod download
echo "deps: ok"
