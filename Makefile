# Two entry points: `make demo` and `make test`. Both set everything up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

# The independent Sparkplug B implementation the tests talk to (Eclipse Tahu, npm).
JS     := tests/js/node_modules/.package-lock.json

.PHONY: demo test lint typecheck unit integration system-deps screenshots clean sparkplug-proto

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

$(JS): tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error

demo: $(STAMP)
	$(BIN)/factory demo

# Debian's mosquitto and influxdb for the integration tests, when missing and root.
system-deps:
	@bash .ci/system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP) system-deps $(JS)
	$(BIN)/pytest tests/integration -q

# The dashboard screenshots in docs/views.md and docs/operations.md, taken by the browser tests.
screenshots: $(STAMP) system-deps
	FACTORY_SCREENSHOTS=docs $(BIN)/pytest tests/integration/test_dashboard.py tests/integration/test_forecast.py tests/integration/test_alerts.py tests/integration/test_reasons.py tests/integration/test_dashboard_i18n.py -q -k "chromium or drill or panel or acknowledges or explains or vietnamese"

test: $(STAMP) system-deps $(JS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) factory-data .pytest_cache .mypy_cache .ruff_cache

# telemetry/sparkplug_b_pb2.py(i) from telemetry/sparkplug_b.proto, with protoc from grpcio-tools
# in a throwaway virtualenv (the generated code needs protobuf >= the version it names).
sparkplug-proto:
	$(PYTHON) -m venv /tmp/factory-protoc
	/tmp/factory-protoc/bin/pip install --quiet grpcio-tools 'protobuf>=6.33.5,<7'
	cd telemetry && /tmp/factory-protoc/bin/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. sparkplug_b.proto
