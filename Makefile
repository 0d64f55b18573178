# Two commands do all the set-up on a fresh Debian/Ubuntu machine (as root):
#   make demo   - sandbox up, salt-run mosmu.update env=1, per-node table, sandbox down
#   make test   - the whole test suite (unit + real master/minions/rsync/HTTP/apt)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DEB_PACKAGES := rsync dpkg-dev apt-utils rpm dnf createrepo-c gpg gpgv
NODES ?= 3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench deps system-deps clean

demo: deps
	$(PY) -m sandbox demo --nodes $(NODES)

test: deps
	$(PY) -m pytest -q tests

bench: deps
	$(PY) benchmarks/bench_update.py

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
	rm -rf $(VENV) build *.egg-info .pytest_cache
