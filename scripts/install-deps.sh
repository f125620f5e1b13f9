#!/usr/bin/env bash
# Installs everything twincache needs to build, test and demo on Debian 12, as
# root. Called by both README commands and by .ci/run; safe to run again.
set -euo pipefail

packages=(
  # build
  cmake g++ make ccache pkg-config
  libasio-dev nlohmann-json3-dev libcli11-dev libgtest-dev googletest libssl-dev
  openssl  # the command: the client TLS tests make their certificates at run time
  # HTTP of the admin endpoint and its clients: Boost.Beast on Boost.Asio, header-only (no Boost
  # library at run time, so the .rpm needs no HTTP library on EL 9)
  libboost1.74-dev
  libsystemd-dev  # sd_notify: Type=notify readiness of twincached.service
  # SASL (-S): libsasl2's header to build (the library is loaded at run time), its mechanism plugins
  # (PLAIN, CRAM-MD5, ...) and saslpasswd2 for the tests
  libsasl2-dev libsasl2-modules sasl2-bin
  # fuzzing and sanitizers (clang's libFuzzer and runtimes); the style checks of tests/run.sh
  clang libclang-rt-14-dev clang-format clang-tidy
  # real clients and the reference peer for tests and benchmarks
  python3 python3-pymemcache libmemcached-tools memcached netcat-openbsd procps keepalived
  yrmcds  # the benchmarks' third column (tests/bench); policy-rc.d below keeps its service from starting
  # binary-protocol and SASL clients (tests/integration/test_binary_clients.py, test_sasl_clients.py):
  # php-memcached (and its session handler), php-memcache, Ruby dalli, pylibmc; saslpasswd2 and the
  # Cyrus SASL PLAIN/sasldb plugins for -S; libsasl2-dev to build -S against Cyrus SASL
  php-cli php-memcached php-memcache ruby ruby-dalli python3-pylibmc
  sasl2-bin libsasl2-modules libsasl2-dev
  # twemproxy (nutcracker 0.5.0): the proxy sharding keys over several pairs (tests/integration/test_twemproxy.py,
  # tests/system/test_shards.py; twincache-twemproxy-config renders its pool)
  nutcracker
  # systemd-analyze verify/security, systemd-sysusers, systemd-tmpfiles and logrotate check systemd/
  systemd logrotate
  # the .deb and .rpm (CPack: dpkg-shlibdeps, file, rpmbuild), man pages, and the package tests
  # (lintian, rpmlint; debootstrap; binutils' objdump and cpio for the RPM targets' check)
  dpkg-dev file help2man rpm lintian rpmlint debootstrap binutils cpio
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: run as root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # A policy-rc.d that says "no" keeps Debian's memcached and yrmcds packages from
  # starting their own services on port 11211 during the install.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all ${#packages[@]} packages present"
