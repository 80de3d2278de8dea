# shellcheck shell=bash
# Sourced by the scripts in scripts/: running a command as root and installing Debian packages on demand.
# Kept to what more than one script needs; everything else lives in the script that uses it.

# Run a command as root: directly when we are root (CI, containers), through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "error: '$*' needs root and sudo is not installed; run it as root or install sudo" >&2
        return 1
    fi
}

# Install Debian packages; 'apt-get update' runs once per script run, only when something is missing.
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: $* missing and this is not a Debian/Ubuntu system (no apt-get): install it by hand" >&2
        return 1
    fi
    echo "==> installing Debian package(s): $*"
    if [ -z "${_SCENETAG_APT_UPDATED:-}" ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        _SCENETAG_APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# Print one line and exit non-zero.
die() {
    echo "error: $*" >&2
    exit 1
}
