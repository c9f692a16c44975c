#!/usr/bin/env bash
# The Dockerfile's base images for the image test: pulled when the registry answers, otherwise
# stand-ins built from Debian packages and tagged with the base images' names, so that the
# Dockerfile builds unchanged. Called by run.sh with DOCKER (the client), WORK (a scratch
# directory) and GO set, and DOCKER_HOST pointing at the private daemon.
#
# The stand-ins differ from the real bases, and the output says how:
# - for the runtime base (alpine:*): a minimal Debian made by debootstrap with ca-certificates,
#   tzdata and Debian's postgresql-client, whose pg_dump is older than the image's; apk, addgroup
#   and adduser are small scripts (standin/) mapping the Dockerfile's calls to Debian's tools;
# - for the build base (golang:*): the same Debian with this machine's Go toolchain.
set -euo pipefail

: "${DOCKER:?} ${WORK:?} ${GO:?}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
say() { printf '[image-test] %s\n' "$*"; }
fail() { printf '[image-test] error: %s\n' "$*" >&2; exit 1; }

# The base images, in the Dockerfile's order: FROM [--platform=…] NAME [AS stage].
mapfile -t bases < <(awk 'toupper($1) == "FROM" { for (i = 2; i <= NF; i++) if ($i !~ /^--/) { print $i; break } }' "$repo/Dockerfile")
((${#bases[@]} > 0)) || fail "no FROM line found in Dockerfile"

missing=()
for base in "${bases[@]}"; do
	if "$DOCKER" image inspect "$base" >/dev/null 2>&1; then
		say "base $base: present"
	elif out=$(timeout 300 "$DOCKER" pull -q "$base" 2>&1); then
		say "base $base: pulled"
	else
		say "base $base: cannot be pulled (${out##*$'\n'})"
		missing+=("$base")
	fi
done
((${#missing[@]} == 0)) && exit 0

for base in "${missing[@]}"; do
	case "$base" in
	alpine:* | golang:*) ;;
	*) fail "no stand-in known for $base; teach scripts/image-test/bases.sh to make one" ;;
	esac
done

# --- a minimal Debian ----------------------------------------------------------------------------
command -v debootstrap >/dev/null 2>&1 || {
	say "installing with apt-get: debootstrap"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends debootstrap </dev/null >/dev/null
}
# The suite and the mirror this machine's apt uses; debootstrap's defaults otherwise.
suite=bookworm
if [[ -r /etc/os-release ]] && grep -qx 'ID=debian' /etc/os-release; then
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[[ -n "$codename" ]] && suite=$codename
fi
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" && $2 ~ /\/debian\/?$/ { print $2; exit }')
[[ -n "$mirror" ]] || mirror=$(cat /etc/apt/sources.list 2>/dev/null | awk '$1 == "deb" && $3 !~ /security/ { print $2; exit }')
rootfs=$WORK/standin-rootfs
say "making a Debian $suite root file system with debootstrap${mirror:+ from $mirror}"
deboot_started=$SECONDS
if ! debootstrap --variant=minbase --include=ca-certificates,tzdata,postgresql-client \
	"$suite" "$rootfs" ${mirror:+"$mirror"} >"$WORK/debootstrap.log" 2>&1; then
	tail -20 "$WORK/debootstrap.log" >&2
	fail "debootstrap failed (log above)"
fi
say "debootstrap took $((SECONDS - deboot_started)) s"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc "$rootfs"/usr/share/man
install -m 0755 "$here"/standin/apk "$here"/standin/addgroup "$here"/standin/adduser "$rootfs"/usr/local/sbin/
# A network that inspects TLS makes this machine trust a CA of its own; the build's go mod
# download goes through that network too.
extra_cas=()
for ca in /usr/local/share/ca-certificates/*.crt; do [[ -f "$ca" ]] && extra_cas+=("$ca"); done
trust=
if ((${#extra_cas[@]} > 0)); then
	cp "${extra_cas[@]}" "$rootfs/usr/local/share/ca-certificates/"
	chroot "$rootfs" update-ca-certificates >/dev/null 2>&1 || fail "update-ca-certificates failed in the stand-in"
	trust="; trusts this machine's extra CAs (${extra_cas[*]##*/})"
fi
pg_dump_version=$(chroot "$rootfs" sh -c '/usr/lib/postgresql/*/bin/pg_dump --version' 2>/dev/null || echo "pg_dump (unknown version)")
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
label=authentik-matrix-sync.image-test.stand-in

import_image() {
	local name=$1 what=$2
	shift 2
	tar -C "$rootfs" --numeric-owner -cf - . | "$DOCKER" import "$@" \
		--change "LABEL $label=\"$what\"" --change 'CMD ["/bin/sh"]' - "$name" >/dev/null
}

for base in "${missing[@]}"; do
	[[ "$base" == alpine:* ]] || continue
	what="Debian $suite instead of Alpine; $pg_dump_version instead of the image's postgresql18-client; apk, addgroup and adduser are stand-in scripts$trust"
	import_image "$base" "$what" --change "ENV PATH=$path"
	say "STAND-IN $base: $what"
done

for base in "${missing[@]}"; do
	[[ "$base" == golang:* ]] || continue
	goroot=$(cd "$repo" && "$GO" env GOROOT)
	goversion=$("$goroot/bin/go" version | awk '{ print $3 }')
	want=${base#golang:}
	want=go${want%%-*}
	[[ "$goversion" == "$want" || "$goversion" == "$want".* ]] ||
		fail "$base needs Go ${want#go}.x, but this machine's toolchain is $goversion"
	# Like the golang image: Go in /usr/local/go, GOPATH /go, the toolchain pinned.
	mkdir -p "$rootfs/usr/local/go" "$rootfs/go"
	cp -a "$goroot/." "$rootfs/usr/local/go/"
	what="Debian $suite instead of Alpine, with this machine's $goversion$trust"
	import_image "$base" "$what" --change "ENV PATH=/go/bin:/usr/local/go/bin:$path" --change "ENV GOPATH=/go" \
		--change "ENV GOTOOLCHAIN=local" --change "ENV GOPROXY=$(cd "$repo" && "$GO" env GOPROXY)" --change "WORKDIR /go"
	say "STAND-IN $base: $what"
done
