# The two set-up-and-go commands (README): `make render` and `make test`. Both work on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)

.PHONY: render test test-fast test-cluster check lint images bench clean-venv

## render: create the venv if needed, then render the pack into templates/
render: $(STAMP)
	$(PY) -m hera_workflows render -o templates/

## test: install host tools, start the Docker engine, build the local images, run ruff, mypy and the whole test suite
test: $(STAMP)
	PY=$(PY) bash scripts/run-tests.sh

## test-fast: the fast lane: no Docker engine, no Go toolchain, no network (CONTRIBUTING.md "Test lanes")
test-fast: $(STAMP)
	$(PY) -m pytest -m "not docker and not oracle and not cluster"

## test-cluster: the real-system tier alone (issue 12): real etcd, kube-apiserver and openchoreo-api v1.2.3 (gate 1),
## a real node (kubelet, controller manager, scheduler v1.36.3 on a private containerd; gate 2), Argo v4.0.5
## (gate 3) and OpenChoreo's manager, gateway, agent + ESO v0.16.2 (gate 4), built from the Go module proxy (cached
## in /root/.cache/pack-cluster), then the tests marked `cluster`
test-cluster: $(STAMP)
	PY=$(PY) bash scripts/cluster/test.sh

## check: fast static checks only (ruff, mypy, templates up to date)
check: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy
	$(PY) -m hera_workflows render -o templates/ --check
	$(PY) -m hera_workflows lint --strict templates/

## lint: offline lint of the rendered pack (Argo v4 CRD schema + semantic checks), warnings included
lint: $(STAMP)
	$(PY) -m hera_workflows lint --strict templates/

## images: build the base and step images on the local engine
images: $(STAMP)
	bash scripts/setup-host.sh && $(PY) -m hera_workflows images build --local-base

## bench: run the benchmarks (BENCH_ARGS=--quick for a short run)
bench: $(STAMP)
	bash scripts/setup-host.sh && $(PY) -m benchmarks $(BENCH_ARGS)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

clean-venv:
	rm -rf $(VENV)
