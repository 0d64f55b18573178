#!/usr/bin/env bash
# Run mosmu's test suite once per supported Salt release, each in its own virtualenv.
#
#   scripts/salt-matrix.sh                      # every version in SALT_VERSIONS, whole suite
#   TESTS=tests/unit scripts/salt-matrix.sh     # one tier only
#   scripts/salt-matrix.sh 3006 3008.4          # chosen versions ("3006" = newest 3006.x)
#
# Venvs live in .venv-matrix/<version> and are reused while requirements.txt is unchanged.
# A version whose install fails is reported as "not installable" and does not stop the others.
# Exit status: 0 when every installable version passed, 1 otherwise (2 if none installed).
set -u -o pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
MATRIX_DIR=${MATRIX_DIR:-.venv-matrix}
TESTS=${TESTS:-tests}
PYTEST_ARGS=${PYTEST_ARGS:--q -p no:cacheprovider}
if [ "$#" -gt 0 ]; then VERSIONS="$*"; else VERSIONS=${SALT_VERSIONS:-"3006 3007 3008.4"}; fi

spec() {  # "3006" -> "salt==3006.*", "3008.4" -> "salt==3008.4"
  case "$1" in *.*) echo "salt==$1" ;; *) echo "salt==$1.*" ;; esac
}

declare -A RESULT
installed=0
failed=0
for v in $VERSIONS; do
  venv="$MATRIX_DIR/$v"
  stamp="$venv/.installed"
  log="$MATRIX_DIR/$v.log"
  mkdir -p "$MATRIX_DIR"
  if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ]; then
    echo "== salt $v: creating $venv"
    rm -rf "$venv"
    if ! { "$PYTHON" -m venv "$venv" &&
           "$venv/bin/pip" install -q --upgrade pip setuptools wheel &&
           "$venv/bin/pip" install -q "$(spec "$v")" &&
           grep -v '^salt\b' requirements.txt | grep -v '^\s*#' | grep -v '^\s*$' \
             | xargs -r "$venv/bin/pip" install -q &&
           "$venv/bin/python" -c "import salt.version, salt.runner, salt.client"; } >"$log" 2>&1
    then
      RESULT[$v]="not installable (see $log)"
      echo "== salt $v: not installable; tail of $log:"; tail -n 5 "$log"
      continue
    fi
    touch "$stamp"
  fi
  installed=$((installed + 1))
  real=$("$venv/bin/python" -c "import salt.version; print(salt.version.__version__)")
  echo "== salt $real ($v): $venv/bin/python -m pytest $TESTS"
  # shellcheck disable=SC2086
  if "$venv/bin/python" -m pytest $PYTEST_ARGS $TESTS 2>&1 | tee "$MATRIX_DIR/$v.pytest.log" | tail -n 15; then
    RESULT[$v]="salt $real: passed"
  else
    RESULT[$v]="salt $real: FAILED (see $MATRIX_DIR/$v.pytest.log)"
    failed=$((failed + 1))
  fi
done

echo
echo "Salt matrix ($TESTS):"
for v in $VERSIONS; do printf '  %-8s %s\n' "$v" "${RESULT[$v]:-not run}"; done
[ "$installed" -gt 0 ] || exit 2
[ "$failed" -eq 0 ]
