#!/usr/bin/env bash
# Installs Synapse into a project-local virtualenv so the end-to-end tests and the demo can start a
# throwaway homeserver without touching the system Python.
#
#   SYNAPSE_VENV  where the virtualenv goes (default .venv/synapse; relative paths are taken from the
#                 repository root, the same way e2e/harness resolves them)
#
# A stamp file records the installed requirement, so a second run returns at once; delete the
# virtualenv (or change the requirement below) to reinstall.
set -euo pipefail

# Synapse's admin and client APIs used by e2e/harness are stable across 1.x; 1.160 is the oldest
# release the harness was run against.
readonly requirement='matrix-synapse>=1.160,<2'

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SYNAPSE_VENV:-.venv/synapse}"
case "$venv" in
/*) ;;
*) venv="$repo_root/$venv" ;;
esac
stamp="$venv/.installed-requirement"

fail() {
	printf 'setup-synapse: %s\n' "$*" >&2
	exit 1
}

# The fast path: a finished install of the same requirement whose interpreter still runs (a system
# Python upgrade breaks a virtualenv silently).
if [[ -f "$stamp" && "$(<"$stamp")" == "$requirement" ]] && "$venv/bin/python" -c '' 2>/dev/null; then
	exit 0
fi

command -v python3 >/dev/null 2>&1 ||
	fail "python3 not found. On Debian/Ubuntu: apt-get install -y python3 python3-venv"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
	fail "Synapse needs Python 3.10 or newer; found $(python3 --version 2>&1)"
# Debian and Ubuntu ship the venv module without ensurepip; the virtualenv would be created without
# pip and the install below would fail with a far less helpful message.
python3 -c 'import venv, ensurepip' 2>/dev/null ||
	fail "python3 -m venv is not usable (ensurepip is missing). On Debian/Ubuntu: apt-get install -y python3-venv"

start=$SECONDS
if ! "$venv/bin/python" -c '' 2>/dev/null; then
	rm -rf "$venv"
	mkdir -p "$(dirname "$venv")"
	if ! out="$(python3 -m venv "$venv" 2>&1)"; then
		rm -rf "$venv"
		printf '%s\n' "$out" >&2
		fail "could not create the virtualenv at $venv. On Debian/Ubuntu: apt-get install -y python3-venv"
	fi
fi

echo "setup-synapse: installing $requirement into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$requirement" ||
	fail "pip could not install $requirement into $venv; check network access to the Python package index, then rerun"
"$venv/bin/python" -c 'import synapse.app.homeserver' ||
	fail "Synapse was installed into $venv but does not import; remove $venv and rerun"

printf '%s' "$requirement" >"$stamp"
version="$("$venv/bin/python" -c 'import synapse; print(synapse.__version__)')"
echo "setup-synapse: Synapse $version ready in $venv ($((SECONDS - start)) s)"
