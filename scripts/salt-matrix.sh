#!/usr/bin/env bash
# Run mosmu's tests once per supported Salt release, each in its own cached virtualenv
# (scripts/salt-venv.sh: outside the checkout, rebuilt when requirements.txt changes).
#
#   scripts/salt-matrix.sh                      # every release in SALT_VERSIONS, whole suite
#   TESTS=tests/unit scripts/salt-matrix.sh     # one tier only
#   scripts/salt-matrix.sh 3006.29 3008.4       # chosen releases ("3006" = newest 3006.x)
#   PARALLEL=1 ...                              # the releases' test runs at the same time
#   DEMO_VERSIONS=3006.29 ...                   # then the sandbox demo on those releases: master,
#                                               # minions and salt-run of that release
#
# `make test` runs the unit and mirror tiers of 3006 LTS and 3007 this way (PARALLEL=1: the
# tiers mostly wait on subprocesses and sockets); `make test-matrix` runs the whole suite on all
# three, then the demo on 3006 LTS. Logs: $MATRIX_DIR/<version>.pytest.log, <version>.demo.log.
# Exit status: 0 when every release installed and passed, 1 otherwise: a release that cannot
# be installed is a failure (it is supported, so it must be proven), the others still run.
set -u -o pipefail

cd "$(dirname "$0")/.."
MATRIX_DIR=${MATRIX_DIR:-.venv-matrix}
TESTS=${TESTS:-tests}
PYTEST_ARGS=${PYTEST_ARGS:--q -p no:cacheprovider}
PARALLEL=${PARALLEL:-0}
DEMO_VERSIONS=${DEMO_VERSIONS:-}
DEMO_ARGS=${DEMO_ARGS:---nodes 3 --centos-nodes 2}
if [ "$#" -gt 0 ]; then VERSIONS="$*"; else VERSIONS=${SALT_VERSIONS:-"3006.29 3007.16 3008.4"}; fi
mkdir -p "$MATRIX_DIR"

declare -A RESULT VENV PID
failed=0
start_all=$(date +%s)

# 1. the venvs, one at a time (pip builds use both cores)
for v in $VERSIONS; do
  if venv=$(scripts/salt-venv.sh "$v"); then
    VENV[$v]=$venv
  else
    RESULT[$v]="not installable (see the log named above)"
    failed=$((failed + 1))
  fi
done

# 2. the tests
run_tests() {  # version -> exit status of pytest; output in the log
  local v=$1 venv=${VENV[$1]}
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pytest $PYTEST_ARGS $TESTS >"$MATRIX_DIR/$v.pytest.log" 2>&1
}
summary() {  # version rc -> RESULT
  local v=$1 rc=$2 real
  real=$(cat "${VENV[$v]}/.installed")
  echo "== salt $real ($v): ${VENV[$v]}/bin/python -m pytest $TESTS: exit $rc"
  tail -n 12 "$MATRIX_DIR/$v.pytest.log"
  if [ "$rc" -eq 0 ]; then
    RESULT[$v]="salt $real: passed ($(tail -n 1 "$MATRIX_DIR/$v.pytest.log" | tr -d '='))"
  else
    RESULT[$v]="salt $real: FAILED (see $MATRIX_DIR/$v.pytest.log)"
    failed=$((failed + 1))
  fi
}
for v in $VERSIONS; do
  [ -n "${VENV[$v]:-}" ] || continue
  if [ "$PARALLEL" = 1 ]; then
    echo "== salt $v: pytest $TESTS (in parallel, log $MATRIX_DIR/$v.pytest.log)"
    run_tests "$v" &
    PID[$v]=$!
  else
    run_tests "$v"
    summary "$v" $?
  fi
done
if [ "$PARALLEL" = 1 ]; then
  for v in $VERSIONS; do
    [ -n "${PID[$v]:-}" ] || continue
    wait "${PID[$v]}"
    summary "$v" $?
  done
fi

# 3. the sandbox demo: the sandbox starts salt-master, salt-minion and salt-run from the bin dir
# of the Python that runs it (sandbox/stack.py BIN), so this is that release end to end
for v in $DEMO_VERSIONS; do
  if [ -z "${VENV[$v]:-}" ]; then
    venv=$(scripts/salt-venv.sh "$v") || { RESULT["demo $v"]="not installable"; failed=$((failed + 1)); continue; }
    VENV[$v]=$venv
  fi
  py=${VENV[$v]}/bin/python
  echo "== salt $(cat "${VENV[$v]}/.installed") ($v): $py -m sandbox demo $DEMO_ARGS"
  check=()   # the host check around it, as `make demo` has it (sandbox/hostcheck.py)
  [ -f sandbox/hostcheck.py ] && check=("$py" -m sandbox.hostcheck --)
  # shellcheck disable=SC2086
  if "${check[@]}" "$py" -m sandbox demo $DEMO_ARGS 2>&1 | tee "$MATRIX_DIR/$v.demo.log"; then
    RESULT["demo $v"]="salt $(cat "${VENV[$v]}/.installed"): demo passed"
  else
    RESULT["demo $v"]="salt $(cat "${VENV[$v]}/.installed"): demo FAILED (see $MATRIX_DIR/$v.demo.log)"
    failed=$((failed + 1))
  fi
done

echo
echo "Salt matrix ($TESTS$([ -n "$DEMO_VERSIONS" ] && echo "; demo on $DEMO_VERSIONS"), $(( $(date +%s) - start_all ))s):"
for v in $VERSIONS; do printf '  %-12s %s\n' "$v" "${RESULT[$v]:-not run}"; done
for v in $DEMO_VERSIONS; do printf '  %-12s %s\n' "demo $v" "${RESULT["demo $v"]:-not run}"; done
[ "$failed" -eq 0 ]
