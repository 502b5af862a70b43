# server-impermanence — build, test and demo. `make` alone prints this help.
SHELL   := /bin/bash
GO      ?= go
PREFIX  ?= /usr
DESTDIR ?=
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/server-impermanence/server-impermanence/internal/buildinfo.Version=$(VERSION)
BIN     := bin

# Binaries: every folder with a main package under helpers/, plus the
# generator and the exporter once they exist.
HELPERS   := $(patsubst helpers/%/,%,$(sort $(dir $(wildcard helpers/*/main.go))))
BINARIES  := $(addprefix impermanence-,$(HELPERS))
GENERATOR := $(if $(wildcard generator/main.go),server-impermanence-generator)
EXPORTER  := $(if $(wildcard exporter/main.go),impermanence-exporter)

SBINDIR      := $(PREFIX)/sbin
GENERATORDIR := $(PREFIX)/lib/systemd/system-generators
UNITDIR      := $(PREFIX)/lib/systemd/system
SYSCTLDIR    := $(PREFIX)/lib/server-impermanence/sysctl

.DEFAULT_GOAL := help
.PHONY: help build test test-unit bench demo install lint clean deps fuzz tools

help: ## Show this help
	@echo "server-impermanence make targets:"
	@awk -F':.*## ' '/^[a-z-]+:.*## /{printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "Variables: PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) (for install)"

deps: ## Install the Debian packages the tests and the demo need (root)
	@scripts/install-deps.sh

build: ## Build every binary into bin/
	@mkdir -p $(BIN)
	@for h in $(HELPERS); do \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/impermanence-$$h ./helpers/$$h || exit 1; done
	@$(if $(GENERATOR),CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$(GENERATOR) ./generator)
	@$(if $(EXPORTER),CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$(EXPORTER) ./exporter)
	@ls $(BIN)

tools: ## Build the Go test tools that are not Debian packages (node_exporter) into the tools cache
	@scripts/install-tools.sh

test: deps tools lint ## Install what the tests need, then run every test (real-btrfs tests need root)
	IMPERMANENCE_REQUIRE_TOOLS=1 $(GO) test -count=1 ./...

test-unit: ## Run the tests without installing anything (real-btrfs tests skip when not root)
	$(GO) test ./...

bench: deps ## Run the benchmarks and the side-by-side listing comparison with btrfs-progs
	$(GO) test -run '^$$' -bench . -benchmem ./internal/config/
	$(GO) test -run '^$$' -bench . -benchmem ./internal/metrics/
	scripts/bench-exporter.sh
	scripts/bench-list.sh
	scripts/bench-snapshots.sh
	scripts/bench-snapshot-tools.sh
	@$(MAKE) --no-print-directory build >/dev/null
	scripts/bench-generator.sh
	scripts/bench-rollback.sh

fuzz: ## Fuzz config load+validate (FUZZTIME=5m by default)
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $${FUZZTIME:-5m} ./internal/config/

demo: deps build ## Provision the built-in default layout on a loop-backed btrfs image (root)
	@scripts/demo.sh

install: build ## Install to $(DESTDIR)$(PREFIX) (binaries, generator, units, sysctl modes)
	install -d $(DESTDIR)$(SBINDIR)
	@for b in $(BINARIES) $(EXPORTER); do install -m 0755 $(BIN)/$$b $(DESTDIR)$(SBINDIR)/$$b || exit 1; done
	$(if $(GENERATOR),install -D -m 0755 $(BIN)/$(GENERATOR) $(DESTDIR)$(GENERATORDIR)/$(GENERATOR))
	$(if $(wildcard units/*.service units/*.timer units/*.socket units/*.target),install -d $(DESTDIR)$(UNITDIR) && install -m 0644 $(wildcard units/*.service units/*.timer units/*.socket units/*.target) $(DESTDIR)$(UNITDIR)/)
	$(if $(wildcard units/*.catalog),install -d $(DESTDIR)$(PREFIX)/lib/systemd/catalog && install -m 0644 $(wildcard units/*.catalog) $(DESTDIR)$(PREFIX)/lib/systemd/catalog/)
	$(if $(wildcard units/dracut/90server-impermanence/module-setup.sh),install -d $(DESTDIR)$(PREFIX)/lib/dracut/modules.d/90server-impermanence && install -m 0755 units/dracut/90server-impermanence/module-setup.sh $(DESTDIR)$(PREFIX)/lib/dracut/modules.d/90server-impermanence/)
	$(if $(wildcard sysctl/*.conf),install -d $(DESTDIR)$(SYSCTLDIR) && install -m 0644 $(wildcard sysctl/*.conf) $(DESTDIR)$(SYSCTLDIR)/)

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean: ## Remove build output
	rm -rf $(BIN)
