#!/usr/bin/env bash
# The plugin on the QGIS that Debian ships elsewhere: build (or reuse) a Debian root with
# debootstrap, install QGIS from Debian inside it, install the packaged zip into a clean
# profile and run tools/qgis_matrix_checks.py there (plugin load, engine, qgis_process job,
# dock run). Usage: tools/qgis_matrix.sh LEG...   (LEG: 3.40 = trixie, 3.44 = sid)
#
# Environment: QGIS_MATRIX_CACHE (roots and apt downloads; default
# /var/cache/raster-collect), QGIS_MATRIX_OUT (logs and outputs; default
# /tmp/raster-collect-qgis-matrix), ENGINE_CONSTRAINTS / ENGINE_REQUIREMENTS_OVERRIDE (files that
# replace the plugin's shipped engine pins inside the root, to try other pins).
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${QGIS_MATRIX_CACHE:-/var/cache/raster-collect}"
OUT="${QGIS_MATRIX_OUT:-/tmp/raster-collect-qgis-matrix}"
# QGIS, its Python bindings and providers; python3-venv/pip for the plugin's engine setup;
# xauth-free offscreen Qt needs no X packages. Keep this list minimal: it sets the CI time.
PACKAGES="qgis python3-qgis qgis-providers python3-venv python3-pip ca-certificates"
# the same Debian mirror the host uses (no other host is contacted)
MIRROR="${QGIS_MATRIX_MIRROR:-$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
    grep -v '^ *#' | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -1 | tr -d ' ' || true)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

MOUNTS=() CHILD=""
# long steps run in their own process group, in the background: a signal then interrupts the
# `wait` at once (bash runs traps only between commands) and the trap stops the whole group
interruptible() {
    set -m; "$@" & CHILD=$!; set +m
    local code=0; wait "$CHILD" || code=$?
    CHILD=""; return $code
}
cleanup() {
    if [ -n "$CHILD" ]; then
        kill -TERM -- "-$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true
    fi
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount -l "${MOUNTS[$i]}" 2>/dev/null || true
    done
    MOUNTS=()
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

T0=$SECONDS
step() { echo "== [$(date -u +%H:%M:%S) +$((SECONDS - T0))s] $*"; }
timed() {  # timed NAME CMD...: run, print the step's duration, keep it for the summary
    local name="$1" start=$SECONDS; shift
    step "$name ..."
    if "$@"; then
        step "$name: ok in $((SECONDS - start)) s"
        echo "$LEG|$name|ok|$((SECONDS - start))" >>"$SUMMARY"
    else
        local code=$?
        step "$name: FAILED (exit $code) after $((SECONDS - start)) s"
        echo "$LEG|$name|FAILED|$((SECONDS - start))" >>"$SUMMARY"
        return $code
    fi
}

suite_of() { case "$1" in 3.40) echo trixie ;; 3.44) echo sid ;; *) return 1 ;; esac; }

bind() {  # bind SRC DST: mounted until cleanup (the end of the leg or of the script)
    mkdir -p "$2"
    mount --bind "$1" "$2"; MOUNTS+=("$2")
}

mount_root() {
    local root="$1"
    mount -t proc proc "$root/proc"; MOUNTS+=("$root/proc")
    mount -t sysfs sys "$root/sys"; MOUNTS+=("$root/sys")
    bind /dev "$root/dev"
    mount -t tmpfs tmpfs "$root/tmp"; MOUNTS+=("$root/tmp")
    # the host's name resolution, CA bundle and pip settings reach PyPI the way the host does
    # (e.g. through a TLS-intercepting proxy with its own CA)
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        mkdir -p "$root/etc/ssl/certs"
        cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    fi
    [ ! -f /etc/pip.conf ] || cp /etc/pip.conf "$root/etc/pip.conf"
}

in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp/qgis-matrix/home \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DEFAULT_TIMEOUT="${PIP_DEFAULT_TIMEOUT:-60}" \
    "$@"; }
# sid's Release file is valid for a week: a frozen (snapshot) mirror serves it expired
APT_OPTIONS=(-o Acquire::Check-Valid-Until=false)

build_root() {  # debootstrap + QGIS into a temporary folder, renamed when complete
    local partial="$ROOT.partial"
    rm -rf "$partial"; mkdir -p "$CACHE/debs/$SUITE"
    step "debootstrap $SUITE from $MIRROR"
    interruptible debootstrap --variant=minbase --cache-dir="$CACHE/debs/$SUITE" "$SUITE" \
        "$partial" "$MIRROR" >"$LOGS/debootstrap.log" 2>&1 ||
        { tail -20 "$LOGS/debootstrap.log"; return 1; }
    local saved_root="$ROOT"; ROOT="$partial"
    mount_root "$ROOT"
    bind "$CACHE/debs/$SUITE" "$ROOT/var/cache/apt/archives"
    step "apt-get install $PACKAGES"
    interruptible in_root apt-get "${APT_OPTIONS[@]}" update -qq >"$LOGS/apt.log" 2>&1 &&
        interruptible in_root apt-get "${APT_OPTIONS[@]}" install -y -q \
            --no-install-recommends $PACKAGES >>"$LOGS/apt.log" 2>&1 ||
        { tail -20 "$LOGS/apt.log"; cleanup; return 1; }
    cleanup
    ROOT="$saved_root"; rm -rf "$ROOT"; mv "$partial" "$ROOT"
}

prepare_work() {  # the zip, the checks and the engine pins (overridden if asked) in $1
    mkdir -p "$1" "$1/../home"
    cp "$ZIP" "$1/plugin.zip"
    cp "$HERE/tests/recording_iface.py" "$HERE/tools/qgis_matrix_checks.py" "$1/"
    [ -z "${ENGINE_CONSTRAINTS:-}" ] || cp "$ENGINE_CONSTRAINTS" "$1/constraints.txt"
    [ -z "${ENGINE_REQUIREMENTS_OVERRIDE:-}" ] ||
        cp "$ENGINE_REQUIREMENTS_OVERRIDE" "$1/requirements.txt"
}

host_checks() {
    env QT_QPA_PLATFORM=offscreen HOME=/tmp/qgis-matrix/home /usr/bin/python3 \
        "$1/qgis_matrix_checks.py" "$1" /tmp/qgis-matrix/out --engine "$REFERENCE_ENGINE" \
        >"$OUT/host/run.log" 2>&1
}

# the same checks on the host's QGIS with its engine: what the legs are compared with
# (/tmp/qgis-matrix on the host: one matrix run at a time)
reference_run() {
    local work=/tmp/qgis-matrix/work
    rm -rf /tmp/qgis-matrix; prepare_work "$work"; mkdir -p "$OUT/host"
    bind "$OUT/host" /tmp/qgis-matrix/out || return 1
    LEG=host
    timed "host reference run" interruptible host_checks "$work" ||
        { tail -5 "$OUT/host/run.log"; cleanup; return 1; }
    REFERENCE_QGIS="$(head -1 "$OUT/host/versions.txt" | cut -d- -f1)"
    cleanup; rm -rf /tmp/qgis-matrix
}

checks_in_root() {
    in_root QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR=/tmp/runtime PIP_CACHE_DIR=/tmp/pip-cache \
        python3 /tmp/qgis-matrix/work/qgis_matrix_checks.py /tmp/qgis-matrix/work \
        /tmp/qgis-matrix/out 2>&1 | tee "$LOGS/run.log"
}

run_leg() {
    LEG="$1"; SUITE="$(suite_of "$LEG")" || { echo "unknown leg $LEG (3.40 or 3.44)"; return 2; }
    local key; key="$(echo "$SUITE $PACKAGES" | sha256sum | cut -c1-12)"
    ROOT="$CACHE/roots/$SUITE-$key"
    LOGS="$OUT/$LEG"; rm -rf "$LOGS"; mkdir -p "$LOGS"
    step "leg $LEG: Debian $SUITE root $ROOT (logs: $LOGS)"
    if [ -x "$ROOT/usr/bin/qgis_process" ]; then
        step "root cached"; echo "$LEG|root built + QGIS installed|cached|0" >>"$SUMMARY"
    else
        timed "root built + QGIS installed" build_root || return 1
    fi
    mount_root "$ROOT" || return 1
    # the run's files live in the root's /tmp (a tmpfs, gone at the end), its outputs in $LOGS,
    # seen at the same path as in the host run, so absolute paths in outputs compare equal
    bind "$LOGS" "$ROOT/tmp/qgis-matrix/out" || return 1
    # pip's downloads are kept between runs, like apt's
    bind "$CACHE/pip/$SUITE" "$ROOT/tmp/pip-cache" || return 1
    prepare_work "$ROOT/tmp/qgis-matrix/work"
    local status=0
    interruptible checks_in_root || status=$?
    cleanup
    sed "s/^/$LEG|/" "$LOGS/steps.txt" >>"$SUMMARY" 2>/dev/null || true
    # compared even after a failed step (e.g. a warning), when the job wrote its outputs
    if [ -n "$REFERENCE" ] && [ -d "$LOGS/job/composites" ]; then
        timed "outputs identical to $REFERENCE_QGIS" \
            "$COMPARE_PYTHON" "$HERE/tools/qgis_matrix_compare.py" "$OUT/host" "$LOGS" || status=1
    fi
    return $status
}

main() {
    [ $# -gt 0 ] || set -- 3.40 3.44
    [ "$(id -u)" = 0 ] || { echo "needs root (debootstrap, chroot, mount)"; exit 2; }
    command -v debootstrap >/dev/null || {
        step "installing debootstrap"
        apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    }
    mkdir -p "$OUT" "$CACHE/roots"
    SUMMARY="$OUT/summary.txt"; : >"$SUMMARY"
    ZIP="$OUT/plugin.zip"; rm -f "$ZIP"
    python3 "$HERE/tools/package_plugin.py" "$ZIP" >/dev/null
    local failed=0 leg
    # REFERENCE_ENGINE: a ready engine Python for the host's QGIS; COMPARE_PYTHON has rasterio
    REFERENCE="" REFERENCE_QGIS=""
    if [ -n "${REFERENCE_ENGINE:-}" ] && [ -n "${COMPARE_PYTHON:-}" ]; then
        rm -rf "$OUT/host"; reference_run && REFERENCE="$OUT/host" || failed=1
    fi
    for leg in "$@"; do
        mkdir -p "$CACHE/pip/$(suite_of "$leg")"
        run_leg "$leg" || failed=1
    done
    step "summary (leg|step|result|seconds):"; cat "$SUMMARY"
    return $failed
}

main "$@"
