#!/usr/bin/env bash
# Fetch the bug-benchmark libraries named in libraries.txt (beside this script)
# and unpack each source distribution into DEST/NAME, ready for its test run:
#   cd DEST/NAME && [VAR=VALUE ...] python -m pytest -q [PYTEST-ARG ...]
#
# usage: benchmarks/bugs/fetch.sh DEST
#
# Sdists are downloaded once with pip into
# ${XDG_CACHE_HOME:-$HOME/.cache}/autonomo/sdists and reused from there
# (no network needed once cached). DEST/NAME is removed and unpacked anew.
# Nothing is installed anywhere; extra test requirements ("# test-deps:" in
# libraries.txt) are only printed.
#
# Environment: PYTHON (default python3) runs pip and the unpacking;
# LIBRARIES overrides the list file.
#
# pip runs with build isolation on purpose: pip prepares an sdist's metadata
# even for `download --no-deps`, and with --no-build-isolation that fails
# wherever the build backends (hatchling, flit_core, a recent setuptools)
# are not already installed.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 DEST" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
list=${LIBRARIES:-$here/libraries.txt}
python=${PYTHON:-python3}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/autonomo/sdists

mkdir -p "$1" "$cache"
dest=$(cd "$1" && pwd)

# The cached sdist of NAME==VERSION, if any. Sdist file names spell the
# project name as released (more-itertools-1.0.tar.gz) or normalized
# (more_itertools-1.0.tar.gz), in any case.
find_sdist() {
    local name=$1 version=$2 f base stem
    local lower=${name,,}
    local -a stems=("$lower-$version" "${lower//-/_}-$version" "${lower//_/-}-$version" "${lower//./_}-$version")
    shopt -s nullglob
    for f in "$cache"/*.tar.gz "$cache"/*.zip; do
        base=$(basename "$f")
        base=${base,,}
        for stem in "${stems[@]}"; do
            if [ "$base" = "$stem.tar.gz" ] || [ "$base" = "$stem.zip" ]; then
                shopt -u nullglob
                printf '%s\n' "$f"
                return 0
            fi
        done
    done
    shopt -u nullglob
    return 1
}

# Unpack archive $1 into the (new, empty) folder $2 and print the one
# top-level folder it holds.
unpack() {
    "$python" - "$1" "$2" <<'PY'
import os, shutil, sys, tarfile
archive, into = sys.argv[1], sys.argv[2]
kwargs = {}
if archive.endswith((".tar.gz", ".tgz")) and hasattr(tarfile, "data_filter"):
    kwargs["filter"] = "data"
shutil.unpack_archive(archive, into, **kwargs)
tops = os.listdir(into)
if len(tops) != 1 or not os.path.isdir(os.path.join(into, tops[0])):
    sys.exit(f"{archive}: expected one top-level folder, found {tops}")
print(os.path.join(into, tops[0]))
PY
}

test_deps=()
failed=0
count=0

while IFS= read -r raw || [ -n "$raw" ]; do
    case $raw in
        "# test-deps:"*)
            read -r -a more <<<"${raw#"# test-deps:"}"
            test_deps+=("${more[@]}")
            continue
            ;;
    esac
    line=${raw%%#*}
    read -r -a tokens <<<"$line"
    [ ${#tokens[@]} -eq 0 ] && continue

    pin=${tokens[0]}
    count=$((count + 1))
    name=${pin%%==*}
    version=${pin#*==}
    if [ "$name" = "$pin" ] || [ -z "$name" ] || [ -z "$version" ]; then
        echo "$pin: FAILED: not NAME==VERSION" >&2
        failed=$((failed + 1))
        continue
    fi
    env_part=()
    args=()
    for tok in "${tokens[@]:1}"; do
        if [ ${#args[@]} -eq 0 ] && [[ $tok =~ ^[A-Z_][A-Z0-9_]*= ]]; then
            env_part+=("$tok")
        else
            args+=("$tok")
        fi
    done

    how=cached
    if ! sdist=$(find_sdist "$name" "$version"); then
        how=downloaded
        log=$(mktemp)
        if ! "$python" -m pip download --no-deps --no-binary :all: \
                --disable-pip-version-check -d "$cache" "$pin" >"$log" 2>&1 \
            || ! sdist=$(find_sdist "$name" "$version"); then
            echo "$pin: FAILED: pip download (log follows)" >&2
            grep -v '^WARNING: Location' "$log" | tail -20 >&2 || true
            rm -f "$log"
            failed=$((failed + 1))
            continue
        fi
        rm -f "$log"
    fi

    target=$dest/$name
    tmp=$(mktemp -d "$dest/.unpack-$name.XXXXXX")
    if ! top=$(unpack "$sdist" "$tmp"); then
        rm -rf "$tmp"
        echo "$pin: FAILED: could not unpack $sdist" >&2
        failed=$((failed + 1))
        continue
    fi
    rm -rf "$target"
    mv "$top" "$target"
    rmdir "$tmp"

    cmd="cd $target &&"
    [ ${#env_part[@]} -gt 0 ] && cmd+=" ${env_part[*]}"
    cmd+=" python -m pytest -q"
    [ ${#args[@]} -gt 0 ] && cmd+=" ${args[*]}"
    echo "$pin ($how): $cmd"
done <"$list"

if [ ${#test_deps[@]} -gt 0 ]; then
    echo "note: the test suites also need: ${test_deps[*]} (install them yourself, e.g. pip install ${test_deps[*]})"
fi
if [ "$failed" -gt 0 ]; then
    echo "$failed of $count libraries FAILED" >&2
    exit 1
fi
