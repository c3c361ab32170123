# The two commands of a fresh clone:  make demo  and  make test.
# Each creates (or reuses) the virtual environment .venv and installs modspec in it.
# torch: an already-installed torch is kept; otherwise exactly torch==2.13.0 is
# installed first, and a constraints file pins it so pip never pulls another.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= torch,train,plot,distributed,docs,test
comma := ,
STAMP := $(VENV)/.modspec-installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==2.13.0
	$(PY) -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > $(VENV)/constraints.txt
	$(PY) -m pip install --quiet --constraint $(VENV)/constraints.txt -e ".[$(EXTRAS)]"
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m modspec demo --out demo_out

test: $(STAMP)
	$(PY) -m pytest -q
	rm -rf docs/generated
	$(PY) -m sphinx -W -q -b html docs docs/_build/html

bench:
	$(MAKE) EXTRAS=torch,plot,test,bench install
	$(PY) -m benchmarks.compare

clean:
	rm -rf $(VENV) demo_out benchmarks/.asv docs/_build docs/auto_examples docs/generated docs/sg_execution_times.rst docs/api/extract.rst
