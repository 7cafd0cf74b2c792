#!/bin/sh
# The Debian package, as a user gets it: built with CPack from this build (or the one named
# by PLEXTAP_DEB), its file list, control data and maintainer scripts; then unpacked into
# a temp dir, where the binary prints its version and `systemd-analyze verify` accepts the
# unit (ExecStart pointed at the unpacked binary, the manual found in the unpacked tree).
#
# package_test.sh BUILD_DIR VERSION
set -eu
build=$1
version=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

deb=${PLEXTAP_DEB:-}
if [ -z "$deb" ]; then
	cpack --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1 ||
		{ cat "$tmp/cpack.log"; fail "cpack"; }
	deb=$tmp/out/plextap_${version}_amd64.deb
fi
[ -f "$deb" ] || fail "no $deb"

dpkg-deb -c "$deb" | awk '{print $6}' >"$tmp/files"
for f in ./usr/bin/plextap ./usr/share/man/man1/plextap.1 \
	./usr/share/bash-completion/completions/plextap ./usr/share/zsh/vendor-completions/_plextap \
	./usr/lib/systemd/system/plextap.service ./usr/lib/sysusers.d/plextap.conf \
	./etc/plextap/plextap.toml ./etc/logrotate.d/plextap; do
	grep -qx "$f" "$tmp/files" || fail "the package has no $f"
done
! grep -q '^\./usr/local' "$tmp/files" || fail "files under /usr/local"

[ "$(dpkg-deb -f "$deb" Package)" = plextap ] || fail "package name"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "version"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libssl3 libsystemd0 liblmdb0; do
	echo "$depends" | grep -q "$lib" || fail "Depends lacks $lib: $depends"
done
! echo "$depends" | grep -q -- '-dev' || fail "Depends names a -dev package: $depends"

dpkg-deb -e "$deb" "$tmp/control"
for f in /etc/plextap/plextap.toml /etc/logrotate.d/plextap; do
	grep -qx "$f" "$tmp/control/conffiles" || fail "$f is not a conffile"
done
[ -x "$tmp/control/postinst" ] || fail "no executable postinst"
grep -q 'systemctl daemon-reload' "$tmp/control/postinst" || fail "postinst does not reload systemd"
grep -q 'systemd-sysusers plextap.conf' "$tmp/control/postinst" || fail "postinst makes no user"
sh -n "$tmp/control/postinst" && sh -n "$tmp/control/prerm" && sh -n "$tmp/control/postrm"

root=$tmp/root
dpkg-deb -x "$deb" "$root"
out=$("$root/usr/bin/plextap" --version)
case "$out" in
"plextap $version ("*")") ;;
*) fail "--version printed '$out'" ;;
esac

unit=$root/usr/lib/systemd/system/plextap.service
grep -qx 'ExecStart=/usr/bin/plextap serve --config /etc/plextap/plextap.toml --data /var/lib/plextap' "$unit" ||
	fail "ExecStart: $(grep ExecStart= "$unit")"
for line in Type=notify StateDirectory=plextap EnvironmentFile=-/etc/plextap/env NoNewPrivileges=yes \
	ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes Restart=on-failure \
	'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' CapabilityBoundingSet=CAP_NET_BIND_SERVICE \
	AmbientCapabilities=CAP_NET_BIND_SERVICE SystemCallFilter=@system-service \
	MemoryDenyWriteExecute=yes LockPersonality=yes; do
	grep -qx "$line" "$unit" || fail "the unit lacks $line"
done
! grep '^ExecStart' "$unit" | grep -qi token || fail "a token on the command line, where ps shows it"
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$unit")
[ "${stop:-0}" -gt 15 ] || fail "TimeoutStopSec=$stop is not above the drain (10 s) plus the store's 5 s"

mkdir "$tmp/verify"
sed "s#/usr/bin/plextap#$root/usr/bin/plextap#" "$unit" >"$tmp/verify/plextap.service"
MANPATH=$root/usr/share/man systemd-analyze verify "$tmp/verify/plextap.service" ||
	fail "systemd-analyze verify"

rotate=$root/etc/logrotate.d/plextap
grep -q 'systemctl kill -s USR1 plextap.service' "$rotate" || fail "logrotate does not send SIGUSR1"
! grep -q '^[^#]*copytruncate' "$rotate" || fail "logrotate uses copytruncate"
echo ok
