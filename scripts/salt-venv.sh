#!/usr/bin/env bash
# Print the path of a virtualenv with one Salt release and mosmu's other requirements, building
# it first when it is not in the cache yet. Used by `make test` (the unit tier on each
# supported release) and scripts/salt-matrix.sh.
#
#   scripts/salt-venv.sh 3006.30        # -> ~/.cache/mosmu/salt-3006.30-<key>
#   scripts/salt-venv.sh 3007           # "3007" = the newest 3007.x at build time
#
# The cache lives outside the checkout, so fresh clones (CI) reuse it:
# ${MOSMU_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mosmu}/salt-<version>-<key>, where <key>
# hashes requirements.txt (less its salt line), the Salt spec, the Python (version and path) and the
# recipe below: a change to any of them builds a new venv. A build goes into a directory of its
# own and is published by renaming a symlink onto it once Salt imports, so a killed build is
# never used (the next run deletes it). Builds of one version are serialised with flock.
# Older builds of the same version are deleted when a new one is published.
# Progress goes to stderr, pip's output to <venv>.log; exit 1 when the build fails.
set -euo pipefail

[ "$#" -eq 1 ] || { echo "usage: $0 SALT_VERSION" >&2; exit 2; }
version=$1
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
CACHE=${MOSMU_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mosmu}
RECIPE=1   # bump when the install steps below change

case "$version" in *.*) spec="salt==$version" ;; *) spec="salt==$version.*" ;; esac
pyver=$("$PYTHON" -c 'import os, sys; print("%d.%d.%d" % sys.version_info[:3], os.path.realpath(sys.executable))')
reqs=$(grep -v -E '^\s*salt\s*([=<>!~;[]|$)' requirements.txt | grep -v -E '^\s*(#|$)' || true)
key=$(printf '%s\n' "recipe $RECIPE" "python $pyver" "$spec" "$reqs" | sha256sum | cut -c1-12)
name="salt-$version-$key"
link="$CACHE/$name"

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock-salt-$version"
flock 9

if [ -L "$link" ] && [ -f "$link/.installed" ] && "$link/bin/python" -c "import salt.version" 2>/dev/null
then
  echo "$link"
  exit 0
fi

# Under the lock nobody else builds this version: a build directory that no link names is
# from a killed build (same key) or was replaced (older key); links of older keys are stale.
for d in "$CACHE/salt-$version-"*.d-*; do
  [ -d "$d" ] || continue
  [ -L "$link" ] && [ "$(readlink "$link")" = "$(basename "$d")" ] && continue
  rm -rf "$d"
done
for l in "$CACHE/salt-$version-"*; do
  [ -L "$l" ] && [ "$l" != "$link" ] && rm -f "$l" "$l.log"
done
# The venv's scripts name the directory they are built in, so it is built where it stays and
# published by an atomic rename of a symlink onto it.
build="$link.d-$(date +%s)-$$"
log="$link.log"
echo "== salt $version: building $link (python $pyver; log: $log)" >&2
start=$(date +%s)
if ! { "$PYTHON" -m venv "$build" &&
       "$build/bin/pip" install -q --upgrade pip setuptools wheel &&
       printf '%s\n' "$reqs" >"$build/requirements.txt" &&
       "$build/bin/pip" install -q "$spec" -r "$build/requirements.txt" &&
       "$build/bin/python" -c "import salt.version, salt.config, salt.runner, salt.client"
     } >"$log" 2>&1; then
  echo "== salt $version: build failed; tail of $log:" >&2
  tail -n 8 "$log" >&2
  rm -rf "$build"
  exit 1
fi
"$build/bin/python" -c "import salt.version; print(salt.version.__version__)" >"$build/.installed"
ln -s "$(basename "$build")" "$link.new-$$"
mv -T "$link.new-$$" "$link"
echo "== salt $version: built in $(( $(date +%s) - start ))s" >&2
echo "$link"
