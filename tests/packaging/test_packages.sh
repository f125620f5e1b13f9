#!/usr/bin/env bash
# The package tests: build the .deb and the .rpm with CPack, lint and
# inspect them, then install-test each in a fresh Debian 12 root.
#
#   test_packages.sh BUILD_DIR CPACK_COMMAND
#
# 1. `cmake --build BUILD_DIR --target package`, and second packages for the
#    upgrades: a .deb of version <version>+pkgtest2 and an .rpm of release 2
#    (cpack -D CPACK_PACKAGE_VERSION=..., -D CPACK_RPM_PACKAGE_RELEASE=2).
# 2. lintian on the .deb: fails on any E:, W: or I: tag that is not
#    overridden (packaging/lintian-overrides gives each override's reason).
# 3. The .deb's control fields and file list, and `rpm -qlp`, `rpm -qcp`,
#    `rpm -qp --scripts --requires --recommends` against the lists below.
# 4. The RPM targets (packaging/rpm/targets.toml: EL 9, Fedora 38+):
#    check_compat.py on the .rpm (its programs' libraries and symbol
#    versions, its requirements, its Python script), and rpmlint with the
#    targets' settings (packaging/rpm/rpmlint.toml) and the package's filters
#    (twincache.rpmlintrc): no error, no warning.
# 5. A root from `debootstrap --variant=minbase bookworm` with the package's
#    dependencies, keepalived, systemd and logrotate; its tarball is cached in
#    /var/cache/twincache-test (--make-tarball once, then --unpack-tarball).
#    An untouched copy of it is kept for the .rpm.
# 6. The .deb in the root: dpkg -i; the programs run; the user, the
#    conffiles, the log directory and the enabled unit exist;
#    `systemd-analyze verify`; twincached started as the twincache user with
#    the packaged config (loopback ports picked free here override the
#    config's) reports READY=1, answers memcached (version, set, get) and
#    /health, passes twincache-check and stops on SIGTERM; `keepalived -t` on
#    both templates rendered by the packaged generator; an upgrade keeps a
#    locally edited conffile; remove keeps it, purge removes /etc/twincache.
# 7. The .rpm in the copy, with `rpm --root`, so its scriptlets run there:
#    every requirement rpm cannot resolve (the root's rpm database is empty)
#    is found in the root first (a library with each symbol version, a file,
#    a package under its Debian name: RPM_PACKAGE_NAMES), then rpm -i
#    --nodeps; the user from systemd-sysusers, rpm -V (files, modes,
#    owners), the log and track directories, the unit enabled by a preset;
#    twincached from the root as for the .deb; rpm -U to release 2 keeps an
#    edited config; rpm -e removes the programs and the unit's symlink and
#    keeps the edit as .rpmsave.
#
# Runs as root (ctest label "packaging", RUN_SERIAL). Everything runs in a
# private mount namespace, and an EXIT trap stops the daemon, unmounts and
# deletes the roots, also on failure. Exit 0 pass, 1 fail, 77 skipped.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR CPACK_COMMAND" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: the package tests need root (debootstrap, chroot, mount)" >&2
  exit 77
fi
# Mounts made from here on are private to this test and vanish with it.
if [[ -z ${TWINCACHE_PKGTEST_UNSHARED:-} ]]; then
  export TWINCACHE_PKGTEST_UNSHARED=1
  exec unshare --mount --propagation private -- "$0" "$@"
fi

build=$(cd "$1" && pwd)
cpack=$2
here=$(cd "$(dirname "$0")" && pwd)
cache=/var/cache/twincache-test
suite=bookworm

for tool in lintian rpm rpm2cpio cpio rpmlint objdump dpkg-deb debootstrap chroot python3; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

# A run killed outright (ctest's timeout sends SIGKILL) leaves its directory
# behind; its mounts went with its mount namespace. The name holds the pid.
for stale in /var/tmp/twincache-pkgtest.*; do
  [[ -d $stale ]] || continue
  stale_pid=${stale#/var/tmp/twincache-pkgtest.}
  stale_pid=${stale_pid%%.*}
  kill -0 "$stale_pid" 2>/dev/null || rm -rf --one-file-system "$stale"
done
work=$(mktemp -d "/var/tmp/twincache-pkgtest.$$.XXXXXX")
root=$work/root
rpmroot=$work/rpmroot

# daemon_probe.py stops the daemon it starts, also when it fails or dies.
cleanup() {
  local status=$?
  # Deepest mount first; the namespace is private, so nothing here is the host's.
  awk -v r="$work/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r |
    while read -r m; do umount -l "$m" || true; done
  rm -rf --one-file-system "$work"
  exit "$status"
}
trap cleanup EXIT

started=$SECONDS
step_start=$SECONDS
step() {
  echo "== [$((SECONDS - started))s] $* (previous step $((SECONDS - step_start))s)"
  step_start=$SECONDS
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# expect_equal WHAT EXPECTED ACTUAL: multi-line lists, compared as sorted sets.
expect_equal() {
  if ! diff -u <(sort <<<"$2") <(sort <<<"$3") >"$work/diff"; then
    cat "$work/diff" >&2
    fail "$1 differs from the expected list (- expected, + actual)"
  fi
  echo "ok: $1"
}
expect_contains() {
  grep -qF -- "$3" <<<"$2" || { echo "$2" >&2; fail "$1 lacks: $3"; }
}
in_root() {
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"
}
in_rpmroot() {
  chroot "$rpmroot" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"
}
# rpm_in_root ARG...: rpm --root into the .rpm's root, its output shown and
# kept in $work/rpm.log, less the notice Debian's rpm prints on every
# transaction (use alien instead). rpm's own exit status.
rpm_in_root() {
  local status=0
  rpm --root "$rpmroot" "$@" >"$work/rpm.out" 2>&1 || status=$?
  grep -v -e '^rpm: RPM should not be used directly install RPM packages, use Alien instead!$' \
    -e '^rpm: However assuming you know what you are doing\.\.\.$' "$work/rpm.out" >"$work/rpm.log" || true
  cat "$work/rpm.log"
  return "$status"
}

step "build the .deb and the .rpm"
cmake --build "$build" --target package
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
[[ -n $version ]] || fail "no CPACK_PACKAGE_VERSION in $build/CPackConfig.cmake"
deb=$build/twincache_${version}_amd64.deb
rpm_file=$build/twincache-${version}-1.x86_64.rpm
[[ -f $deb && -f $rpm_file ]] || fail "missing $deb or $rpm_file"
version2=$version+pkgtest2
"$cpack" -G DEB --config "$build/CPackConfig.cmake" -B "$work/v2" -D CPACK_PACKAGE_VERSION="$version2" >/dev/null
deb2=$work/v2/twincache_${version2}_amd64.deb
[[ -f $deb2 ]] || fail "cpack made no $deb2"
"$cpack" -G RPM --config "$build/CPackConfig.cmake" -B "$work/v2" -D CPACK_RPM_PACKAGE_RELEASE=2 >/dev/null
rpm2=$work/v2/twincache-${version}-2.x86_64.rpm
[[ -f $rpm2 ]] || fail "cpack made no $rpm2"
ls -l "$deb" "$rpm_file" "$deb2" "$rpm2"

# The layout both packages install, directories included for the
# .deb; the RPM owns no directory another package owns.
files="/etc/logrotate.d/twincache
/etc/twincache/twincached.conf
/usr/lib/systemd/system/keepalived.service.d/twincache.conf
/usr/lib/systemd/system/twincached.service
/usr/lib/sysusers.d/twincache.conf
/usr/lib/tmpfiles.d/twincache.conf
/usr/libexec/twincache/twincache-check
/usr/libexec/twincache/twincache-notify
/usr/sbin/twincache-keepalived-config
/usr/sbin/twincache-twemproxy-config
/usr/sbin/twincached
/usr/share/doc/twincache/changelog.gz
/usr/share/doc/twincache/copyright
/usr/share/man/man8/twincache-check.8.gz
/usr/share/man/man8/twincache-keepalived-config.8.gz
/usr/share/man/man8/twincache-notify.8.gz
/usr/share/man/man8/twincache-twemproxy-config.8.gz
/usr/share/man/man8/twincached.8.gz
/usr/share/twincache/keepalived/twincache-multicast.conf.in
/usr/share/twincache/keepalived/twincache-unicast.conf.in"
rpm_dirs="/etc/twincache
/run/twincache-vrrp
/usr/lib/systemd/system/keepalived.service.d
/usr/libexec/twincache
/usr/share/doc/twincache
/usr/share/twincache
/usr/share/twincache/keepalived
/var/log/twincache"
conffiles="/etc/logrotate.d/twincache
/etc/twincache/twincached.conf"

step "lintian"
# Overridden tags show as O: with their reasons (N:). --show-overrides makes
# lintian count them for --fail-on, so the verdict is read from the tags:
# exit 0 or 2 (tags found) means lintian ran.
lintian_status=0
lintian --display-info --pedantic --show-overrides --fail-on error,warning,info "$deb" >"$work/lintian" 2>&1 ||
  lintian_status=$?
cat "$work/lintian"
[[ $lintian_status -eq 0 || $lintian_status -eq 2 ]] || fail "lintian did not run (exit $lintian_status)"
if grep -E '^[EWI]: ' "$work/lintian"; then fail "lintian tags above are neither fixed nor overridden"; fi
echo "ok: lintian: no E:/W:/I: tag outside the overrides"

step "the .deb's control fields and files"
control=$(dpkg-deb -f "$deb")
echo "$control"
depends=$(dpkg-deb -f "$deb" Depends)
# The package names, without versions (no alternatives are expected). No
# libstdc++6 (linked statically: packaging/compat.cmake), no Boost (Beast is
# header-only) and no libsasl2-2 (loaded at run time with -S: Recommends).
dependency_names=$(sed -e 's/([^)]*)//g' -e 's/ //g' <<<"$depends" | tr ',' '\n' | grep . | sort -u)
expect_equal "deb Depends (names)" "adduser
libc6
libgcc-s1
libssl3
libsystemd0
python3" "$dependency_names"
expect_equal "deb Recommends" "keepalived, libsasl2-2, libsasl2-modules" "$(dpkg-deb -f "$deb" Recommends)"
expect_equal "deb Suggests" "nutcracker" "$(dpkg-deb -f "$deb" Suggests)"
[[ $(dpkg-deb -f "$deb" Version) == "$version" ]] || fail "Version is not $version"
changelog_top=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/doc/twincache/changelog.gz | zcat | head -n 1)
[[ $changelog_top == "twincache ($version) "* ]] ||
  fail "packaging/changelog's latest entry is not $version: $changelog_top"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$work/conffiles"
expect_equal "deb conffiles" "$conffiles" "$(cat "$work/conffiles")"
deb_files=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -n 's|^\./\(.*[^/]\)$|/\1|p')
expect_equal "deb files" "$files
/usr/share/lintian/overrides/twincache" "$deb_files"
modes=$(dpkg-deb -c "$deb" | awk '$6 ~ /libexec\/twincache\/twincache-(check|notify)$|sbin\/twincached$/ { print $1, $2, $6 }')
expect_equal "deb program modes" "-rwxr-xr-x root/root ./usr/libexec/twincache/twincache-check
-rwxr-xr-x root/root ./usr/libexec/twincache/twincache-notify
-rwxr-xr-x root/root ./usr/sbin/twincached" "$modes"

step "rpm -qlp, -qcp, --scripts, --requires"
expect_equal "rpm -qlp" "$files
$rpm_dirs" "$(rpm -qlp "$rpm_file")"
for system_dir in /usr/sbin /usr/lib/systemd /usr/lib/systemd/system /usr/libexec /usr/share/man/man8; do
  ! rpm -qlp "$rpm_file" | grep -qx "$system_dir" || fail "the rpm owns $system_dir"
done
expect_equal "rpm -qcp" "$conffiles" "$(rpm -qcp "$rpm_file")"
expect_equal "rpm config and ghost flags (c: config, n: noreplace, g: ghost)" "cn /etc/logrotate.d/twincache
cn /etc/twincache/twincached.conf
g /run/twincache-vrrp" \
  "$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm_file" | grep -E '^[cg]')"
expect_equal "rpm directories of tmpfiles.d (mode, owner)" "drwxr-xr-x root:root /run/twincache-vrrp
drwxr-x--- root:adm /var/log/twincache" \
  "$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$rpm_file" |
    grep -E ' (/run|/var)/')"
header=$(rpm -qp --qf 'license=%{LICENSE} prefixes=%{PREFIXES} release=%{RELEASE}\n' "$rpm_file")
[[ $header == "license=MIT prefixes=(none) release=1" ]] || fail "rpm header: $header"
echo "ok: rpm $header (not relocatable)"
tags=$(rpm -qp --qf 'URL: %{URL}\nPackager: %{PACKAGER}\nVendor: %{VENDOR}\nSummary: %{SUMMARY}\n' "$rpm_file")
echo "$tags"
grep -qx 'URL: https://.*' <<<"$tags" || fail "rpm URL"
grep -qx 'Packager: .* <.*@.*>' <<<"$tags" || fail "rpm Packager"
grep -qx 'Summary: [A-Z].*' <<<"$tags" || fail "rpm Summary is not capitalised"
changelog_top=$(rpm -qp --changelog "$rpm_file" | head -n 1)
[[ $changelog_top == "* "*" - $version-1" ]] || fail "the rpm's latest %changelog entry is not $version-1: $changelog_top"
echo "ok: rpm tags; %changelog: $changelog_top"
rpm -qp --scripts "$rpm_file" >"$work/scripts"
cat "$work/scripts"
expect_equal "rpm scriptlets" "preinstall scriptlet (using /bin/sh):
postinstall scriptlet (using /bin/sh):
preuninstall scriptlet (using /bin/sh):
postuninstall scriptlet (using /bin/sh):
posttrans scriptlet (using /bin/sh):" "$(grep -E '^[a-z]+ scriptlet \(using' "$work/scripts")"
scripts=$(cat "$work/scripts")
expect_contains "rpm pre" "$scripts" "systemd-sysusers --replace=/usr/lib/sysusers.d/twincache.conf -"
expect_contains "rpm pre" "$scripts" "$(grep -v -e '^#' -e '^$' "$here/../../systemd/sysusers.d/twincache.conf")"
expect_contains "rpm pre" "$scripts" "useradd -r -g twincache"
expect_contains "rpm post" "$scripts" "systemctl --no-reload preset twincached.service"
expect_contains "rpm preun" "$scripts" "systemctl --no-reload disable --now twincached.service"
expect_contains "rpm postun" "$scripts" "systemctl try-restart twincached.service"
expect_contains "rpm posttrans" "$(sed -n '/^posttrans scriptlet/,$p' "$work/scripts")" \
  "systemctl reload keepalived.service"
# Versioned symbol requirements (libc.so.6(GLIBC_2.34)(64bit), ...) follow the
# code and are held to the targets by check_compat.py below; the libraries,
# interpreters and packages are the contract.
requires=$(rpm -qp --requires "$rpm_file" | grep -Ev '^rpmlib\(|^[^ ]*\.so[^ ]*\([^)]+\)\(64bit\)$' | sort -u)
expect_equal "rpm --requires" "/bin/sh
/usr/bin/python3
config(twincache) = $version-1
ld-linux-x86-64.so.2()(64bit)
libc.so.6()(64bit)
libcrypto.so.3()(64bit)
libssl.so.3()(64bit)
libgcc_s.so.1()(64bit)
libsystemd.so.0()(64bit)
logrotate
python3
rtld(GNU_HASH)" "$requires"
expect_equal "rpm --recommends" "cyrus-sasl-lib
cyrus-sasl-plain
keepalived" "$(rpm -qp --recommends "$rpm_file" | sort)"

step "the RPM targets: libraries, symbol versions and requirements (check_compat.py)"
python3 "$here/check_compat.py" --targets "$here/../../packaging/rpm/targets.toml" --rpm "$rpm_file" ||
  fail "the .rpm goes beyond its targets (above)"

step "rpmlint"
# Exit 64 means errors, 66 badness over the threshold: both fail; so does any
# warning left after the filters.
rpmlint_status=0
rpmlint -c "$here/../../packaging/rpm/rpmlint.toml" -r "$here/../../packaging/rpm/twincache.rpmlintrc" \
  "$rpm_file" >"$work/rpmlint" 2>&1 || rpmlint_status=$?
cat "$work/rpmlint"
[[ $rpmlint_status -eq 0 ]] || fail "rpmlint exited $rpmlint_status"
grep -q ' 0 errors, 0 warnings' "$work/rpmlint" || fail "rpmlint: errors or warnings above"
echo "ok: rpmlint: 0 errors, 0 warnings"

step "a Debian 12 root (debootstrap --variant=minbase $suite)"
# The root gets the .deb's dependencies, so dpkg -i needs no network, and
# keepalived, systemd and procps (keepalived.service's ExecReload=/bin/kill)
# for keepalived -t and systemd-analyze verify; logrotate, which the .rpm
# requires.
include=$(tr '\n' ',' <<<"$dependency_names")keepalived,systemd,procps,logrotate
key=$(sha256sum <<<"$suite $include" | cut -c1-16)
tarball=$cache/$suite-minbase-$key.tgz
mkdir -p "$cache"
if [[ ! -f $tarball ]]; then
  echo "no cached $tarball: downloading (--make-tarball)"
  rm -f "$cache"/"$suite"-minbase-*.tgz
  debootstrap --variant=minbase --include="$include" --make-tarball="$tarball.part" "$suite" "$work/download" \
    >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; fail "debootstrap --make-tarball"; }
  mv "$tarball.part" "$tarball"
fi
debootstrap --variant=minbase --include="$include" --unpack-tarball="$tarball" "$suite" "$root" \
  >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; fail "debootstrap --unpack-tarball"; }
# An untouched copy for the .rpm (a second unpack takes a minute, this a second).
cp -a "$root" "$rpmroot"
# No service starts in this root (policy-rc.d: 101 = action forbidden).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
cp "$deb" "$deb2" "$root/tmp/"
echo "ok: root $root from $tarball"

step "dpkg -i"
# The first install takes the postinst's fallbacks (adduser, install -d): the
# systemd tools are hidden from `command -v`. The upgrade below runs
# systemd-sysusers and systemd-tmpfiles over what they made.
chmod a-x "$root/usr/bin/systemd-sysusers" "$root/usr/bin/systemd-tmpfiles"
in_root dpkg -i "/tmp/$(basename "$deb")"
chmod 755 "$root/usr/bin/systemd-sysusers" "$root/usr/bin/systemd-tmpfiles"
[[ $(in_root dpkg-query -W -f='${Status} ${Version}' twincache) == "install ok installed $version" ]] ||
  fail "twincache is not installed"

step "the installed package"
in_root /usr/sbin/twincached --version
in_root /usr/libexec/twincache/twincache-check --version
in_root /usr/libexec/twincache/twincache-notify --version
in_root /usr/sbin/twincache-keepalived-config --help >/dev/null
in_root /usr/sbin/twincache-twemproxy-config --help >/dev/null
echo "ok: the programs run"
passwd=$(in_root getent passwd twincache) || fail "no twincache user"
group=$(in_root getent group twincache) || fail "no twincache group"
echo "$passwd / $group"
[[ $(cut -d: -f6,7 <<<"$passwd") == /nonexistent:/usr/sbin/nologin ]] || fail "twincache user: $passwd"
[[ $(cut -d: -f3 <<<"$passwd") -lt 1000 ]] || fail "twincache is not a system user: $passwd"
installed_conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' twincache | awk 'NF { print $1 }')
expect_equal "dpkg-query Conffiles" "$conffiles" "$installed_conffiles"
[[ $(stat -c '%a %U:%G' "$root/var/log/twincache") == "750 root:adm" ]] || fail "/var/log/twincache: $(stat -c '%a %U:%G' "$root/var/log/twincache")"
[[ $(stat -c '%a %U:%G' "$root/run/twincache-vrrp") == "755 root:root" ]] || fail "/run/twincache-vrrp: $(stat -c '%a %U:%G' "$root/run/twincache-vrrp")"
[[ -L $root/etc/systemd/system/multi-user.target.wants/twincached.service ]] || fail "twincached.service not enabled"
# By number: the root's twincache group is not the host's.
token_gid=$(in_root getent group twincache | cut -d: -f3)
[[ $(stat -c '%a %u:%g' "$root/etc/twincache/admin.token") == "640 0:$token_gid" ]] ||
  fail "/etc/twincache/admin.token: $(stat -c '%a %u:%g' "$root/etc/twincache/admin.token"), want 640 0:$token_gid"
[[ $(wc -c <"$root/etc/twincache/admin.token") -ge 40 ]] || fail "admin.token is too short"
admin_token=$(cat "$root/etc/twincache/admin.token")
echo "ok: user, group, conffiles, log and track file directories, admin token, unit enabled"

step "systemd-analyze verify in the root"
in_root systemd-analyze verify --man=no twincached.service keepalived.service
echo "ok: systemd-analyze verify twincached.service keepalived.service (with the drop-in)"

step "twincached in the root, as twincache, with the packaged config"
read -r port admin_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
python3 "$here/daemon_probe.py" --root "$root" --user twincache --port "$port" --admin-port "$admin_port" -- \
  /usr/sbin/twincached --config /etc/twincache/twincached.conf --port "$port" --admin-listen "127.0.0.1:$admin_port" ||
  fail "twincached in the root (see above)"

step "keepalived -t on the packaged templates, rendered by the packaged generator"
interface=$(ls /sys/class/net | grep -vx lo | head -n 1)
[[ -n $interface ]] || fail "no network interface for keepalived -t"
for variant in multicast unicast; do
  flag=()
  [[ $variant == unicast ]] && flag=(--unicast)
  in_root /usr/sbin/twincache-keepalived-config --vip 192.0.2.100/24 --interface "$interface" --self 192.0.2.1 \
    --peer 192.0.2.2 --priority 150 "${flag[@]}" --out "/etc/keepalived/$variant.conf"
  output=$(in_root keepalived -t -f "/etc/keepalived/$variant.conf" 2>&1) ||
    { echo "$output" >&2; fail "keepalived -t on the $variant config"; }
  if grep -Ei 'warning|disabling|insecure|unsafe|not found|unknown|error' <<<"$output"; then
    fail "keepalived -t complains about the $variant config"
  fi
  expect_contains "$variant config" "$(cat "$root/etc/keepalived/$variant.conf")" \
    'script "/usr/libexec/twincache/twincache-check"'
done
echo "ok: keepalived -t passes both templates"

step "upgrade to $version2 over a locally edited config"
sed -i 's/^memory-limit = .*/memory-limit = 96  # edited here/' "$root/etc/twincache/twincached.conf"
in_root dpkg -i "/tmp/$(basename "$deb2")"
[[ $(in_root dpkg-query -W -f='${Version}' twincache) == "$version2" ]] || fail "not upgraded to $version2"
grep -qx 'memory-limit = 96  # edited here' "$root/etc/twincache/twincached.conf" || fail "the upgrade lost the edit"
[[ $(in_root getent passwd twincache) == "$passwd" ]] || fail "the upgrade changed the user: $(in_root getent passwd twincache)"
[[ $(stat -c '%a %U:%G' "$root/var/log/twincache") == "750 root:adm" ]] || fail "the upgrade changed /var/log/twincache"
[[ $(cat "$root/etc/twincache/admin.token") == "$admin_token" ]] || fail "the upgrade changed the admin token"
echo "ok: upgraded; the edit, the user, the admin token and the log directory are kept"

step "remove keeps the conffiles, purge removes /etc/twincache"
in_root dpkg --remove twincache
[[ -f $root/etc/twincache/twincached.conf && ! -e $root/usr/sbin/twincached ]] || fail "remove: wrong files left"
in_root dpkg --purge twincache
[[ ! -e $root/etc/twincache ]] || fail "purge left /etc/twincache"
[[ ! -e $root/var/log/twincache ]] || fail "purge left /var/log/twincache"
[[ ! -e $root/etc/systemd/system/multi-user.target.wants/twincached.service ]] || fail "purge left the unit enabled"
[[ -z $(in_root dpkg-query -W -f='${Status}' twincache 2>/dev/null | grep -v 'not-installed') ]] ||
  fail "twincache still known to dpkg"
echo "ok: remove and purge"

step "the .rpm's requirements, found in the Debian root"
# EL package names that Debian's packages also have; rpm, whose database in
# the root is empty, cannot know them, so they are checked with dpkg.
RPM_PACKAGE_NAMES="logrotate python3"
# root_satisfies REQUIREMENT: the root has what the requirement names, found
# as an EL system would provide it: a library by soname in the root's
# ld.so.cache, with the symbol version in its version definitions; a file; a
# package of RPM_PACKAGE_NAMES (dpkg); rtld(GNU_HASH), glibc's dynamic linker
# (GNU hash tables since glibc 2.5).
root_satisfies() {
  local requirement=$1 library version path
  case $requirement in
    /*) [[ -x $rpmroot$requirement ]] ;;
    'rtld(GNU_HASH)') [[ -x $rpmroot/lib64/ld-linux-x86-64.so.2 ]] ;;
    *.so*'(64bit)')
      library=${requirement%%(*}
      version=${requirement#*(}
      version=${version%%)*}
      path=$(in_rpmroot ldconfig -p | awk -v l="$library" '$1 == l && /x86-64/ { print $NF; exit }')
      [[ -n $path ]] || return 1
      path=$(in_rpmroot readlink -f "$path")
      [[ -z $version ]] ||
        objdump -p "$rpmroot$path" | sed -n '/^Version definitions:/,/^$/p' | awk -v v="$version" '$NF == v { found = 1 } END { exit !found }'
      ;;
    *)
      grep -qxF "$requirement" < <(tr ' ' '\n' <<<"$RPM_PACKAGE_NAMES") &&
        [[ $(in_rpmroot dpkg-query -W -f='${Status}' "$requirement" 2>/dev/null) == "install ok installed" ]]
      ;;
  esac
}
rpm_in_root --initdb || fail "rpm --initdb in the root"
unresolved_status=0
rpm_in_root -i --test "$rpm_file" >/dev/null || unresolved_status=$?
[[ $unresolved_status -ne 0 ]] || fail "rpm -i --test resolved everything in an empty rpm database?"
unresolved=$(sed -n 's/^\t\(.*\) is needed by twincache-.*$/\1/p' "$work/rpm.log")
[[ -n $unresolved ]] || { cat "$work/rpm.log" >&2; fail "rpm -i --test failed without unresolved requirements"; }
while read -r requirement; do
  root_satisfies "$requirement" || fail "the root lacks $requirement"
done <<<"$unresolved"
echo "ok: all $(wc -l <<<"$unresolved") requirements rpm cannot resolve are in the root"

step "rpm -i --root (--nodeps, the requirements being found above)"
# twincached enabled by a preset, as a distribution or site preset would
# (EL's own default preset disables every unit it does not list).
mkdir -p "$rpmroot/etc/systemd/system-preset"
echo "enable twincached.service" >"$rpmroot/etc/systemd/system-preset/50-twincache-pkgtest.preset"
mountpoint -q "$rpmroot/proc" || mount -t proc proc "$rpmroot/proc"
rpm_in_root -i --nodeps "$rpm_file" || fail "rpm -i"
if grep -Ei '^(warning|error)|scriptlet failed' "$work/rpm.log"; then fail "rpm -i: warnings above"; fi
[[ $(rpm_in_root -q twincache) == "twincache-$version-1.x86_64" ]] || fail "twincache-$version-1 is not installed"
rpm_in_root -V --nodeps twincache || fail "rpm -V: the installed files differ from the package (above)"
echo "ok: installed; rpm -V finds every file, mode and owner as packaged"

step "the installed .rpm"
in_rpmroot /usr/sbin/twincached --version
in_rpmroot /usr/libexec/twincache/twincache-check --version
in_rpmroot /usr/libexec/twincache/twincache-notify --version
in_rpmroot /usr/sbin/twincache-keepalived-config --help >/dev/null
in_rpmroot /usr/sbin/twincache-twemproxy-config --help >/dev/null
echo "ok: the programs run"
rpm_passwd=$(in_rpmroot getent passwd twincache) || fail "no twincache user (pre scriptlet)"
in_rpmroot getent group twincache >/dev/null || fail "no twincache group (pre scriptlet)"
echo "$rpm_passwd"
[[ $(cut -d: -f5-7 <<<"$rpm_passwd") == "twincache cache daemon:/nonexistent:/usr/sbin/nologin" ]] ||
  fail "twincache user: $rpm_passwd"
[[ $(cut -d: -f3 <<<"$rpm_passwd") -lt 1000 ]] || fail "twincache is not a system user: $rpm_passwd"
[[ $(stat -c '%a %U:%G' "$rpmroot/var/log/twincache") == "750 root:adm" ]] ||
  fail "/var/log/twincache: $(stat -c '%a %U:%G' "$rpmroot/var/log/twincache")"
[[ $(stat -c '%a %U:%G' "$rpmroot/run/twincache-vrrp") == "755 root:root" ]] ||
  fail "/run/twincache-vrrp (post scriptlet's tmpfiles): $(stat -c '%a %U:%G' "$rpmroot/run/twincache-vrrp")"
[[ -L $rpmroot/etc/systemd/system/multi-user.target.wants/twincached.service ]] ||
  fail "twincached.service not enabled by its preset (post scriptlet)"
token_gid=$(in_rpmroot getent group twincache | cut -d: -f3)
[[ $(stat -c '%a %u:%g' "$rpmroot/etc/twincache/admin.token") == "640 0:$token_gid" ]] ||
  fail "/etc/twincache/admin.token (post scriptlet): $(stat -c '%a %u:%g' "$rpmroot/etc/twincache/admin.token")"
echo "ok: user and group, log and track file directories, admin token, unit enabled by the preset"

step "twincached from the .rpm, in its root"
read -r port admin_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
python3 "$here/daemon_probe.py" --root "$rpmroot" --user twincache --port "$port" --admin-port "$admin_port" -- \
  /usr/sbin/twincached --config /etc/twincache/twincached.conf --port "$port" --admin-listen "127.0.0.1:$admin_port" ||
  fail "twincached from the .rpm (see above)"

step "rpm -U to release 2 over a locally edited config"
sed -i 's/^memory-limit = .*/memory-limit = 96  # edited here/' "$rpmroot/etc/twincache/twincached.conf"
rpm_in_root -U --nodeps "$rpm2" || fail "rpm -U"
if grep -Ei '^(warning|error)|scriptlet failed' "$work/rpm.log"; then fail "rpm -U: warnings above"; fi
[[ $(rpm_in_root -q twincache) == "twincache-$version-2.x86_64" ]] || fail "not upgraded to release 2"
grep -qx 'memory-limit = 96  # edited here' "$rpmroot/etc/twincache/twincached.conf" || fail "the upgrade lost the edit"
[[ $(in_rpmroot getent passwd twincache) == "$rpm_passwd" ]] || fail "the upgrade changed the user"
[[ -L $rpmroot/etc/systemd/system/multi-user.target.wants/twincached.service ]] ||
  fail "the upgrade changed the unit's enablement"
echo "ok: upgraded; the edit, the user and the enablement are kept"

step "rpm -e"
rpm_in_root -e twincache || fail "rpm -e"
# The one warning expected: the edited config is kept.
if grep -Ei '^(warning|error)|scriptlet failed' "$work/rpm.log" |
  grep -vxF 'warning: /etc/twincache/twincached.conf saved as /etc/twincache/twincached.conf.rpmsave'; then
  fail "rpm -e: warnings above"
fi
! rpm_in_root -q twincache >/dev/null || fail "twincache still installed"
for program in /usr/sbin/twincached /usr/libexec/twincache /usr/sbin/twincache-keepalived-config \
  /usr/lib/systemd/system/twincached.service; do
  [[ ! -e $rpmroot$program ]] || fail "rpm -e left $program"
done
[[ ! -e $rpmroot/etc/systemd/system/multi-user.target.wants/twincached.service ]] ||
  fail "rpm -e left the unit enabled (preun scriptlet)"
grep -qx 'memory-limit = 96  # edited here' "$rpmroot/etc/twincache/twincached.conf.rpmsave" ||
  fail "rpm -e did not keep the edited config as .rpmsave"
echo "ok: erased; the edited config kept as .rpmsave"

step "done"
echo "packaging: all checks passed in $((SECONDS - started))s"
