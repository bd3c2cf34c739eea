#!/usr/bin/env bash
# One entry point for set-up and the two jobs:
#   ./run.sh webapp [ARGS]   set up, then serve the web app on the shipped models (127.0.0.1:7860)
#   ./run.sh test [PYTEST]   set up (with dev extras and chromium), then run the whole test suite
#   ./run.sh setup           set up only
# Set-up creates or refreshes ./.venv (Python 3.11) and installs the system packages it needs
# (ffmpeg; chromium for the browser tests) where they are missing. Re-running is cheap: pip runs
# again only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${EMOFUSION_VENV:-.venv}
job=${1:-}
[ $# -gt 0 ] && shift

need_apt=()
want_system() {  # want_system COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || need_apt+=("$2")
}

install_system() {
    [ ${#need_apt[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "run.sh: installing system packages: ${need_apt[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
}

find_python() {
    for p in python3.11 python3; do
        if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            echo "$p"; return 0
        fi
    done
    echo "run.sh: Python 3.11 is required" >&2
    return 1
}

covers() {  # covers HAVE WANT: every extra in WANT (comma-separated) is in HAVE
    local e
    for e in ${2//,/ }; do
        [[ ",$1," == *",$e,"* ]] || return 1
    done
}

union() {  # union A B: the extras of both, comma-separated, sorted
    printf '%s\n' ${1//,/ } ${2//,/ } | sed '/^$/d' | sort -u | paste -sd, -
}

setup_venv() {  # setup_venv EXTRAS
    local extras=$1 py stamp hash had_hash="" had="" want target
    if [ ! -x "$VENV/bin/python" ]; then
        py=$(find_python)
        echo "run.sh: creating $VENV"
        "$py" -m venv "$VENV"
    fi
    # The stamp is "<sha256 of pyproject.toml> <extras installed>". Extras already installed serve a
    # job that needs fewer (./run.sh webapp after ./run.sh test does not reinstall), and a new
    # install keeps them (union), so alternating jobs never reinstall.
    stamp="$VENV/.emofusion-installed"
    hash=$(sha256sum pyproject.toml | cut -d' ' -f1)
    [ -f "$stamp" ] && read -r had_hash had < "$stamp" || true
    if [ "$had_hash" != "$hash" ] || ! covers "$had" "$extras"; then
        extras=$(union "$had" "$extras")
        want="$hash $extras"
        echo "run.sh: installing emofusion[$extras] into $VENV (first time: several minutes)"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        target="."
        [ -n "$extras" ] && target=".[$extras]"
        "$VENV/bin/python" -m pip install -q -e "$target"
        echo "$want" > "$stamp"
    fi
}

case "$job" in
    webapp)
        want_system ffmpeg ffmpeg
        install_system
        setup_venv ""
        exec "$VENV/bin/emofusion" webapp "$@"
        ;;
    test)
        want_system ffmpeg ffmpeg
        want_system chromium chromium
        install_system
        setup_venv "dev"
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    setup)
        want_system ffmpeg ffmpeg
        want_system chromium chromium
        install_system
        setup_venv "dev"
        ;;
    *)
        sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
