#!/usr/bin/env bash
# make image-test: build the real Dockerfile with a Docker daemon of its own and run the image the
# way the seed's Compose service does, against a real Synapse and the fake Authentik
# (e2e/image/). Needs root (it starts dockerd); installs docker.io with apt-get when dockerd is
# missing. Nothing is kept: the daemon, its images and its volumes live in a temporary directory
# that is removed at the end.
#
# Environment: GO (default go), IMAGE_TEST_TMP (parent of the temporary directory, default
# $TMPDIR or /tmp), IMAGE_TEST_KEEP=1 (keep the directory and print it, to look at after a failure).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD
GO=${GO:-go}
started=$SECONDS

say() { printf '[image-test] %s\n' "$*"; }
fail() { printf '[image-test] error: %s\n' "$*" >&2; exit 1; }

((EUID == 0)) || fail "needs root: it starts a Docker daemon of its own (run it as root, as CI does)"
command -v "$GO" >/dev/null 2>&1 || fail "'$GO' not found; install Go 1.26 or newer"

# --- packages --------------------------------------------------------------------------------
apt_install() {
	say "installing with apt-get: $*"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "$@" </dev/null >/dev/null
}
command -v dockerd >/dev/null 2>&1 || apt_install docker.io
# The client from the package that brought dockerd speaks its API version and builds with its
# BuildKit without the buildx plugin; another docker on PATH may need that plugin.
docker_bin=$(command -v docker || true)
if [[ "$(command -v dockerd)" == /usr/sbin/dockerd && -x /usr/bin/docker ]]; then
	docker_bin=/usr/bin/docker
fi
[[ -n "$docker_bin" ]] || fail "dockerd is installed but no docker client is; apt-get install docker.io"

# --- a private Docker daemon -----------------------------------------------------------------
work=$(mktemp -d "${IMAGE_TEST_TMP:-${TMPDIR:-/tmp}}/image-test.XXXXXX")
sock=$work/docker.sock
dockerd_pid=
cleanup() {
	local code=$?
	if [[ -n "$dockerd_pid" ]] && kill -0 "$dockerd_pid" 2>/dev/null; then
		kill -TERM "$dockerd_pid" 2>/dev/null || true
		for _ in $(seq 1 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
		kill -0 "$dockerd_pid" 2>/dev/null && { say "dockerd did not stop; killing it"; kill -KILL "$dockerd_pid" 2>/dev/null || true; }
	fi
	# Mounts the daemon left behind (it normally removes them) would make rm fail.
	grep -o " $work/[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	if [[ "${IMAGE_TEST_KEEP:-}" == 1 ]]; then
		say "kept $work (IMAGE_TEST_KEEP=1)"
	else
		rm -rf "$work"
	fi
	say "finished in $((SECONDS - started)) s"
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Its own data root, exec root and socket, no bridge and no firewall rules: it cannot disturb a
# Docker already running here, and the containers use the host's network.
say "starting a private dockerd in $work"
dockerd --data-root "$work/root" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
	--host "unix://$sock" --bridge none --iptables=false --ip6tables=false \
	>"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
export DOCKER_HOST=unix://$sock
for _ in $(seq 1 60); do
	"$docker_bin" version >/dev/null 2>&1 && break
	kill -0 "$dockerd_pid" 2>/dev/null || { tail -20 "$work/dockerd.log" >&2; fail "dockerd exited at start"; }
	sleep 0.5
done
"$docker_bin" version >/dev/null 2>&1 || { tail -20 "$work/dockerd.log" >&2; fail "dockerd did not answer within 30 s"; }
say "dockerd $("$docker_bin" version --format '{{.Server.Version}}') on $sock"
export DOCKER_BUILDKIT=1

# --- base images: pulled, or stand-ins ---------------------------------------------------------
DOCKER=$docker_bin WORK=$work GO=$GO bash scripts/image-test/bases.sh

# --- the real Dockerfile, unchanged ----------------------------------------------------------
image=authentik-matrix-sync:image-test
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
say "building $image from ./Dockerfile (VERSION=$version)"
build_started=$SECONDS
# --network host: the daemon has no bridge; the build's go mod download needs the network.
"$docker_bin" build --network host --build-arg VERSION="$version" --build-arg REVISION="$revision" \
	-t "$image" . 2>&1 | sed 's/^/  build: /'
((PIPESTATUS[0] == 0)) || fail "docker build failed (output above)"
say "built in $((SECONDS - build_started)) s"

# --- the image as users run it -----------------------------------------------------------------
say "running the image test (e2e/image)"
IMAGE_TEST_IMAGE=$image IMAGE_TEST_DOCKER=$docker_bin IMAGE_TEST_VERSION=$version IMAGE_TEST_REVISION=$revision \
	"$GO" test -tags imagetest -count=1 -v -timeout 15m ./e2e/image/
