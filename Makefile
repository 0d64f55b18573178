# Two commands do all the set-up on a fresh Debian/Ubuntu machine (as root):
#   make demo   - sandbox up (MOS 8.0 Ubuntu + MOS 6.1 CentOS environments), salt-run
#                 mosmu.update all_envs=True, per-node table, sandbox down
#   make test   - the whole test suite (unit, mirror, real master/minions/rsync/HTTP/apt/dnf)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DEB_PACKAGES := rsync dpkg-dev apt-utils rpm dnf createrepo-c gpg gpg-agent gpgv openssh-client openssh-server
NODES ?= 3
CENTOS_NODES ?= 2
SSH_NODES ?= 1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench deps system-deps clean lint test-matrix test-releases mutate

demo: deps
	$(PY) -m sandbox.hostcheck -- $(PY) -m sandbox demo --nodes $(NODES) --centos-nodes $(CENTOS_NODES) --ssh-nodes $(SSH_NODES)

# The releases' unit and mirror tiers first (their venvs are built before any pytest starts),
# then the whole suite on the pinned release; fails if either failed.
test: deps lint
	@rc=0; $(MAKE) --no-print-directory test-releases || rc=1; \
	echo "$(PY) -m pytest -q tests"; $(PY) -m pytest -q tests || rc=1; exit $$rc

bench: deps
	$(PY) -m sandbox.hostcheck -- $(PY) benchmarks/bench_update.py

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

# Supported Salt releases besides requirements.txt's pinned one: the newest installable patch
# of 3006 LTS and of 3007 (3006.30 and 3007.17 require a certifi that is not released). `make
# test` (CI) runs their unit and mirror tiers, the two at once (~4 min; building the venvs the
# first time ~9 min more). Their venvs are cached outside the checkout, in
# ~/.cache/mosmu/salt-<version>-<key> (scripts/salt-venv.sh), so fresh clones reuse them.
SALT_RELEASES ?= 3006.29 3007.16
SALT_PINNED := $(shell sed -n 's/^salt==//p' requirements.txt)
RELEASE_TESTS ?= tests/unit tests/mirror
test-releases: system-deps
	PARALLEL=1 TESTS="$(RELEASE_TESTS)" scripts/salt-matrix.sh $(SALT_RELEASES)

# Salt release matrix: the whole suite on every supported release, one after the other, then
# the sandbox demo on 3006 LTS (its salt-master, salt-minions and salt-run). TESTS=tests/unit
# for one tier; SALT_VERSIONS="3006.29 3008.4" to choose; DEMO_VERSIONS= for no demo.
SALT_VERSIONS ?= $(SALT_RELEASES) $(SALT_PINNED)
DEMO_VERSIONS ?= $(firstword $(SALT_RELEASES))
test-matrix: system-deps
	DEMO_VERSIONS="$(DEMO_VERSIONS)" DEMO_ARGS="--nodes $(NODES) --centos-nodes $(CENTOS_NODES)" \
	  scripts/salt-matrix.sh $(SALT_VERSIONS)

# ruff (Python), yamllint (plain YAML/SLS), salt-lint (Jinja SLS) in their own venv. Runs all
# three and fails at the end if any failed. Part of `test`.
LINT_VENV ?= .venv-lint
lint: $(LINT_VENV)/.installed
	@rc=0; \
	echo "== ruff"; $(LINT_VENV)/bin/ruff check . || rc=1; \
	echo "== yamllint"; $(LINT_VENV)/bin/yamllint -s mosmu pillar orch pillar.example .yamllint || rc=1; \
	echo "== salt-lint"; $(LINT_VENV)/bin/salt-lint mosmu/*.sls pillar/*.sls orch/*.sls || rc=1; \
	exit $$rc

# Pinned: a new release of a linter must not turn CI red overnight (bump them on purpose).
LINT_TOOLS := ruff==0.17.6 yamllint==1.38.0 salt-lint==0.9.2
$(LINT_VENV)/.installed: Makefile
	python3 -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install -q $(LINT_TOOLS)
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
