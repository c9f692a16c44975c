# Build, check and test authentik-matrix-sync. `make` alone lists the targets.
#
# The end-to-end tests run against a real Synapse installed with pip into .venv/synapse
# (override with SYNAPSE_VENV=/some/path); `make test` installs it on first use.

SHELL := /bin/bash
.DEFAULT_GOAL := help

GO ?= go
BINARY := bin/authentik-matrix-sync
SYNAPSE_VENV ?= .venv/synapse
export SYNAPSE_VENV

# Go >= 1.26 (see go.mod); a Debian golang package that is older fetches the right toolchain itself.
GO_HINT := install Go 1.26 or newer (Debian/Ubuntu: apt-get install -y golang-go)

# require-tool,COMMAND,HOW-TO-INSTALL: fail with the install line when COMMAND is missing.
define require-tool
@command -v $(1) >/dev/null 2>&1 || { echo "error: '$(1)' not found; $(2)" >&2; exit 1; }
endef

.PHONY: help
help: ## list the targets
	@echo "Targets:"
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/authentik-matrix-sync (static, no cgo)
	$(call require-tool,$(GO),$(GO_HINT))
	CGO_ENABLED=0 $(GO) build -o $(BINARY) ./cmd/authentik-matrix-sync

.PHONY: fmt
fmt: ## fail if any Go file is not gofmt-formatted
	$(call require-tool,gofmt,$(GO_HINT))
	@files="$$(find . -name '*.go' -not -path './.venv/*' -not -path './.demo/*' -print0 | xargs -0 gofmt -l)"; \
	if [ -n "$$files" ]; then echo "not gofmt-formatted (run gofmt -w):"; echo "$$files"; exit 1; fi

.PHONY: vet
vet: ## go vet every package
	$(call require-tool,$(GO),$(GO_HINT))
	$(GO) vet ./...

.PHONY: synapse
synapse: ## install Synapse into .venv/synapse (or SYNAPSE_VENV) for the e2e tests
	@bash scripts/setup-synapse.sh

# -race needs cgo and so a C compiler; a bare Debian with only Go lacks one.
.PHONY: check-race-deps
check-race-deps:
	$(call require-tool,$(GO),$(GO_HINT))
	@cc="$$($(GO) env CC)"; command -v "$${cc%% *}" >/dev/null 2>&1 || { \
		echo "error: the race detector needs a C compiler ('$$cc' not found); apt-get install -y gcc libc6-dev" >&2; exit 1; }

.PHONY: test
test: synapse check-race-deps ## go.mod tidy, vet and staticcheck, then every test with -race, end-to-end included
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod or go.sum is not tidy: run go mod tidy (go mod tidy -diff shows what changes)" >&2; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) test -race -count=1 -timeout 20m ./...

.PHONY: unit
unit: check-race-deps ## fast tests only: -short, without the end-to-end suite
	$(GO) test -race -short $$($(GO) list ./... | grep -v '/e2e$$')

.PHONY: e2e
e2e: synapse check-race-deps ## end-to-end tests against a real Synapse
	$(GO) test -race -count=1 ./e2e/...

# Root only: it starts a Docker daemon of its own (and installs docker.io when dockerd is missing).
.PHONY: image-test
image-test: synapse ## build the Dockerfile and run the image hardened against Synapse (root; a private dockerd)
	$(call require-tool,$(GO),$(GO_HINT))
	GO=$(GO) bash scripts/image-test/run.sh

.PHONY: staticcheck
staticcheck: ## run staticcheck (a tool dependency in go.mod) on every package
	$(call require-tool,$(GO),$(GO_HINT))
	$(GO) tool staticcheck ./...

.PHONY: docs
docs: ## regenerate docs/configuration.md and config.example.yaml from the config structs (go test ./docs checks the rest)
	$(call require-tool,$(GO),$(GO_HINT))
	$(GO) test ./config -run 'TestConfigurationReference|TestConfigExample' -count=1 -update

# govulncheck needs its vulnerability database online, so this is for maintainers, not CI.
.PHONY: vuln
vuln: ## check dependencies and code for known vulnerabilities (needs internet)
	$(call require-tool,$(GO),$(GO_HINT))
	$(GO) run golang.org/x/vuln/cmd/govulncheck@v1.9.0 ./...

.PHONY: bench
bench: synapse ## run every benchmark (Synapse and PostgreSQL needed; long) and write bench/results.md
	$(call require-tool,$(GO),$(GO_HINT))
	$(GO) run ./bench/report -o bench/results.md

# Not part of CI: an hour by default. The report goes to stdout and $(SOAK_REPORT).
SOAK_DURATION ?= 1h
SOAK_REPORT ?= soak-report.txt
.PHONY: soak
soak: synapse ## run the bot for SOAK_DURATION (1h) under random group changes and faults; report to SOAK_REPORT
	$(call require-tool,$(GO),$(GO_HINT))
	$(GO) run ./cmd/soak -duration $(SOAK_DURATION) -report $(SOAK_REPORT)

.PHONY: demo
demo: synapse ## start a local Synapse, a fake Authentik and the bot (DEMO_FLAGS="-duration 2m")
	$(call require-tool,$(GO),$(GO_HINT))
	$(GO) run ./e2e/demo $(DEMO_FLAGS)

.PHONY: clean
clean: ## remove bin/, .demo/ and the test cache (keeps the Synapse virtualenv and data/)
	rm -rf bin .demo
	$(GO) clean -testcache
