# Two commands do all the set-up on a fresh Debian/Ubuntu machine (as root):
#   make demo   - sandbox up (MOS 8.0 Ubuntu + MOS 6.1 CentOS environments), salt-run
#                 mosmu.update all_envs=True, per-node table, sandbox down
#   make test   - the whole test suite (unit, mirror, real master/minions/rsync/HTTP/apt/dnf)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DEB_PACKAGES := rsync dpkg-dev apt-utils rpm dnf createrepo-c gpg gpg-agent gpgv
NODES ?= 3
CENTOS_NODES ?= 2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench deps system-deps clean lint test-matrix mutate

demo: deps
	$(PY) -m sandbox demo --nodes $(NODES) --centos-nodes $(CENTOS_NODES)

test: deps lint
	$(PY) -m pytest -q tests

bench: deps
	$(PY) benchmarks/bench_update.py

# Mutation testing of _utils/ against the unit tier only (mutmut, configured in setup.cfg; see
# docs/testing.md). Long, so not part of `test`. Without MUTANTS the run starts from scratch
# (mutmut keeps old results, which new tests would not revisit); MUTANTS="_utils.mosmu_apt*"
# re-runs just those mutants on the existing mutants/. MUTATE_JOBS workers: 6 on 2 cores, as
# the slow tests mostly wait on sockets and rsync.
MUTANTS ?=
MUTATE_JOBS ?= 6
mutate: deps
	$(VENV)/bin/pip install -q "mutmut==3.8.1"
	$(if $(MUTANTS),,rm -rf mutants)
	$(VENV)/bin/mutmut run --max-children $(MUTATE_JOBS) $(MUTANTS)
	$(PY) tests/mutmut_support.py --fail-under 85

# Salt release matrix: one venv per version under .venv-matrix/, the whole suite on each
# (TESTS=tests/unit for one tier; SALT_VERSIONS="3006 3007 3008.4" to choose). Not in CI.
test-matrix: system-deps
	scripts/salt-matrix.sh

# ruff (Python), yamllint (plain YAML/SLS), salt-lint (Jinja SLS) in their own venv. Runs all
# three and fails at the end if any failed. Part of `test`.
LINT_VENV ?= .venv-lint
lint: $(LINT_VENV)/.installed
	@rc=0; \
	echo "== ruff"; $(LINT_VENV)/bin/ruff check . || rc=1; \
	echo "== yamllint"; $(LINT_VENV)/bin/yamllint -s mosmu pillar orch pillar.example .yamllint || rc=1; \
	echo "== salt-lint"; $(LINT_VENV)/bin/salt-lint mosmu/*.sls pillar/*.sls orch/*.sls || rc=1; \
	exit $$rc

$(LINT_VENV)/.installed:
	python3 -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install -q ruff yamllint salt-lint
	touch $@

deps: system-deps $(VENV)/.installed

# Debian packages the sandbox and the node side need; installed only when missing.
system-deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	python3 -c "import ensurepip, venv" 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip setuptools wheel
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

clean:
	rm -rf $(VENV) $(LINT_VENV) .venv-matrix build *.egg-info .pytest_cache
