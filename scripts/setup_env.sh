#!/usr/bin/env bash
# Build the development environment of rgbt_tracking from PyPI, without a system ROS:
#
#   1. a Python 3.11 venv (the ROS 2 Kilted wheels are cp311 only);
#   2. the pinned requirements (requirements/*.txt, constrained by requirements/constraints.txt);
#   3. rgbt_tracking itself, editable, with its console scripts in the venv's bin/;
#   4. vision_msgs, which has no wheel: generated from build_fixtures/vision_msgs with colcon
#      into <venv>/opt/vision_msgs, but only when no other vision_msgs is importable;
#   5. a block in <venv>/bin/activate that sets the DDS transport and RMW.
#
# Every step is skipped when its inputs have not changed, so a second run takes about a second.
#
# Usage:  scripts/setup_env.sh            set up (or bring up to date) the venv
#         scripts/setup_env.sh --lock     rewrite requirements/constraints.txt from the venv
# Environment:
#   VENV    venv directory (default: .venv in the repository root)
#   PYTHON  interpreter that creates the venv (default: python3.11, else python3 if it is 3.11)
set -euo pipefail

# A guard inherited from a parent Python process would stop the ROS wheels' bootstrapper from
# setting LD_LIBRARY_PATH in the interpreters started here (rclpy then fails to import).
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

VENV="${VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$REPO_ROOT/$VENV" ;; esac

PIP_PIN="pip==26.3"
SETUPTOOLS_PIN="setuptools==79.0.1"
REQUIREMENTS=(requirements/ros-kilted.txt requirements/python.txt requirements/test.txt)
CONSTRAINTS=requirements/constraints.txt
FIXTURE_DIR="$REPO_ROOT/build_fixtures/vision_msgs"
VISION_MSGS_PREFIX="$VENV/opt/vision_msgs"
VISION_MSGS_BUILD="$VENV/opt/vision_msgs.build"
ACTIVATE_BEGIN="# >>> rgbt_tracking environment (scripts/setup_env.sh) >>>"
ACTIVATE_END="# <<< rgbt_tracking environment <<<"

SECONDS=0
log() { printf '[setup_env %3ds] %s\n' "$SECONDS" "$*"; }
die() { printf '[setup_env] error: %s\n' "$*" >&2; exit 1; }

# One sha256 over the contents of the named files (in the order given).
hash_files() { sha256sum "$@" | cut -d' ' -f1 | sha256sum | cut -d' ' -f1; }

# --- --lock: pin every distribution of the venv into constraints.txt ---------------------------
if [[ "${1:-}" == "--lock" ]]; then
    [[ -x "$VENV/bin/python" ]] || die "no venv at $VENV"
    "$VENV/bin/python" - "$CONSTRAINTS" <<'EOF'
import importlib.metadata as metadata
import sys

from packaging.utils import canonicalize_name

skip = {"pip", "setuptools", "rgbt-tracking"}
pins = set()
for dist in metadata.distributions():
    # Only what pip installed: the ROS wheels also carry egg-info folders (rclpy, std_msgs, ...)
    # that are parts of a wheel, not distributions of their own.
    if (dist.read_text("INSTALLER") or "").strip() != "pip":
        continue
    name = dist.metadata["Name"]
    if canonicalize_name(name) in skip:
        continue
    pins.add(f"{name}=={dist.version.split('+')[0]}")  # torch 2.13.0+cpu -> torch==2.13.0
header = (
    "# Every distribution of a working venv, pinned (transitive ones included) so that a fresh\n"
    "# set-up resolves to the same versions. Used as `pip install -c`; it installs nothing by itself.\n"
    "# Regenerate after changing ros-kilted.txt / python.txt: scripts/setup_env.sh --lock\n"
)
with open(sys.argv[1], "w", encoding="utf-8") as out:
    out.write(header + "".join(f"{pin}\n" for pin in sorted(pins, key=str.lower)))
print(f"wrote {len(pins)} pins to {sys.argv[1]}")
EOF
    exit 0
fi
[[ $# -eq 0 ]] || die "unknown argument: $1 (see the comment at the top of $0)"

# --- 1. venv ---------------------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
    PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3 || true)}"
    [[ -n "$PYTHON" ]] || die "no python3.11 found; set PYTHON=/path/to/python3.11"
    version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    [[ "$version" == "3.11" ]] || die "$PYTHON is Python $version; the ROS 2 Kilted wheels need 3.11"
    log "creating venv $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
version="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[[ "$version" == "3.11" ]] || die "$VENV has Python $version, 3.11 needed: run 'make clean-venv' and set up again"
SITE_PACKAGES="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

# --- 2. pinned requirements ------------------------------------------------------------------
requirements_hash="$(hash_files "${REQUIREMENTS[@]}" "$CONSTRAINTS")"
requirements_hash="$(echo "$PIP_PIN $SETUPTOOLS_PIN $requirements_hash" | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$requirements_hash" ]]; then
    log "installing $PIP_PIN $SETUPTOOLS_PIN"
    "$PY" -m pip install --quiet "$PIP_PIN" "$SETUPTOOLS_PIN"
    log "installing ${REQUIREMENTS[*]} (constraints: $CONSTRAINTS)"
    "$PY" -m pip install --quiet "${REQUIREMENTS[@]/#/--requirement=}" --constraint="$CONSTRAINTS"
    # opencv-python-headless (pulled in by some other package, or installed by hand) would
    # overwrite the contrib build's cv2 package: remove it and restore the contrib files.
    if "$PY" -m pip show --quiet opencv-python-headless >/dev/null 2>&1; then
        log "removing opencv-python-headless, which clashes with opencv-contrib-python-headless"
        "$PY" -m pip uninstall --quiet --yes opencv-python-headless
        "$PY" -m pip install --quiet --force-reinstall --no-deps \
            "$(grep -E '^opencv-contrib-python-headless==' requirements/python.txt)"
    fi
    echo "$requirements_hash" >"$VENV/.requirements.sha256"
else
    log "requirements up to date"
fi

# --- 3. rgbt_tracking, editable ----------------------------------------------------------------
package_hash="$(hash_files setup.py setup.cfg package.xml)"
if [[ "$(cat "$VENV/.editable.sha256" 2>/dev/null)" != "$package_hash" \
      || ! -x "$VENV/bin/rgbt-track" || ! -x "$VENV/bin/tracker_node" ]]; then
    log "installing rgbt_tracking (editable)"
    # No build isolation: the pinned setuptools of the venv builds it, offline and quickly.
    "$PY" -m pip install --quiet --no-deps --no-build-isolation --editable "$REPO_ROOT"
    echo "$package_hash" >"$VENV/.editable.sha256"
else
    log "rgbt_tracking editable install up to date"
fi
for script in rgbt-track tracker_node; do
    [[ -x "$VENV/bin/$script" ]] || die "console script $script is missing from $VENV/bin"
done

# --- 4. vision_msgs ---------------------------------------------------------------------------
# The CMake exports of the wheels' Python type support name the include directories of the
# machine that built them (/opt/python/cp311-cp311/...); point them at this interpreter's.
fix_wheel_cmake_exports() {
    local python_include numpy_include files
    python_include="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    numpy_include="$("$PY" -c 'import numpy; print(numpy.get_include())')"
    mapfile -t files < <(grep -l -E '/opt/python/cp3[0-9]+-cp3[0-9]+' \
        "$VENV"/share/*/cmake/*__rosidl_generator_pyExport.cmake 2>/dev/null || true)
    [[ ${#files[@]} -gt 0 ]] || return 0
    log "rewriting build-machine include paths in ${#files[@]} CMake export files"
    sed -i -E \
        -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+t?/lib/python3\.[0-9]+/site-packages/numpy/_core/include#${numpy_include}#g" \
        -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+t?/include/python3\.[0-9]+t?#${python_include}#g" \
        "${files[@]}"
}

# Prints where vision_msgs is imported from, or nothing when it is not importable.
vision_msgs_location() {
    "$PY" -c 'import vision_msgs.msg, vision_msgs; print(vision_msgs.__file__)' 2>/dev/null || true
}

build_vision_msgs() {
    command -v cmake >/dev/null || die "cmake is needed to build vision_msgs (apt-get install cmake)"
    command -v c++ >/dev/null || die "a C++ compiler is needed to build vision_msgs (apt-get install g++)"
    fix_wheel_cmake_exports
    log "building vision_msgs into $VISION_MSGS_PREFIX"
    rm -rf "$VISION_MSGS_PREFIX" "$VISION_MSGS_BUILD"
    mkdir -p "$VISION_MSGS_BUILD/colcon-home"
    local start=$SECONDS
    (
        # The venv prefix is where the wheels install their CMake configs and ament index.
        export PATH="$VENV/bin:$PATH"
        export CMAKE_PREFIX_PATH="$VENV"
        export AMENT_PREFIX_PATH="$VENV"
        export COLCON_HOME="$VISION_MSGS_BUILD/colcon-home"  # no user defaults.yaml
        "$VENV/bin/colcon" --log-base "$VISION_MSGS_BUILD/log" build \
            --base-paths "$FIXTURE_DIR" \
            --build-base "$VISION_MSGS_BUILD/build" \
            --install-base "$VISION_MSGS_PREFIX" \
            --merge-install \
            --event-handlers console_cohesion+ console_direct- desktop_notification- \
            --cmake-args -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release \
                         "-DPython3_EXECUTABLE=$PY"
    ) >"$VISION_MSGS_BUILD/colcon.out" 2>&1 || {
        tail -n 60 "$VISION_MSGS_BUILD/colcon.out" >&2
        die "vision_msgs build failed; full output in $VISION_MSGS_BUILD/colcon.out"
    }
    log "vision_msgs built in $((SECONDS - start)) s"
    echo "$1" >"$VISION_MSGS_PREFIX/.source.sha256"
}

# Make the build usable from the venv with no sourcing:
#  - a .pth file puts its Python packages on sys.path;
#  - a link named ros_*.libs in site-packages makes the ROS wheels' bootstrapper
#    (ros_wheels_bootstrapper.pth) add its lib/ to LD_LIBRARY_PATH before Python starts,
#    as it does for the wheels' own libraries; the type support libraries are found there.
hook_vision_msgs() {
    local python_dir="$VISION_MSGS_PREFIX/lib/python${version}/site-packages"
    [[ -d "$python_dir" ]] || die "no $python_dir after the vision_msgs build"
    echo "$python_dir" >"$SITE_PACKAGES/vision_msgs_fixture.pth"
    ln -sfn "$VISION_MSGS_PREFIX/lib" "$SITE_PACKAGES/ros_vision_msgs_fixture.libs"
}

fixture_hash="$(cd "$FIXTURE_DIR" && hash_files package.xml CMakeLists.txt msg/*.msg)"
location="$(vision_msgs_location)"
if [[ -n "$location" && "$location" != "$VISION_MSGS_PREFIX"/* ]]; then
    log "vision_msgs found at $location; not building the fixture"
else
    built_hash="$(cat "$VISION_MSGS_PREFIX/.source.sha256" 2>/dev/null || true)"
    if [[ -n "$location" && "$built_hash" == "$fixture_hash" ]]; then
        log "vision_msgs fixture up to date"
        hook_vision_msgs
    else
        build_vision_msgs "$fixture_hash"
        hook_vision_msgs
        # Import it and load its C type support, as a publisher would.
        "$PY" -c 'import vision_msgs, vision_msgs.msg as m, rclpy.type_support as t
assert vision_msgs.__file__.startswith("'"$VISION_MSGS_PREFIX"'/"), vision_msgs.__file__
t.check_for_type_support(m.Detection2DArray)' \
            || die "vision_msgs from $VISION_MSGS_PREFIX does not load after the build"
    fi
fi

# --- 5. activate: DDS transport and RMW --------------------------------------------------------
activate="$VENV/bin/activate"
block="$(cat <<EOF
$ACTIVATE_BEGIN
# A guard left by another Python process would make the bootstrapper of this venv's ROS
# wheels skip setting LD_LIBRARY_PATH, and 'import rclpy' would fail.
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE
# Camera-sized images between processes: Fast DDS's LARGE_DATA builtin transports carry data
# over shared memory / TCP (see README, "Transport and QoS").
if [ -z "\${FASTDDS_BUILTIN_TRANSPORTS:-}" ]; then
    export FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA
fi
if [ -z "\${RMW_IMPLEMENTATION:-}" ]; then
    export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
fi
$ACTIVATE_END
EOF
)"
current="$(sed -n "\\|^$ACTIVATE_BEGIN\$|,\\|^$ACTIVATE_END\$|p" "$activate")"
if [[ "$current" != "$block" ]]; then
    log "writing the environment block of $activate"
    sed -i "\\|^$ACTIVATE_BEGIN\$|,\\|^$ACTIVATE_END\$|d" "$activate"
    printf '\n%s\n' "$block" >>"$activate"
fi

log "done: . ${VENV#"$REPO_ROOT"/}/bin/activate"
