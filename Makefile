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
CATALOGDIR   := $(PREFIX)/lib/systemd/catalog
SYSUSERSDIR  := $(PREFIX)/lib/sysusers.d
DRACUTDIR    := $(PREFIX)/lib/dracut/modules.d/90server-impermanence
MANDIR       := $(PREFIX)/share/man
DOCDIR       := $(PREFIX)/share/doc/server-impermanence
# The grub.d script of the GRUB menu of former blanks; grub-mkconfig runs
# what is in /etc/grub.d, so the Debian package runs it from there through a
# conffile (debian/grub/), a manual install through a link (docs/upgrades.md).
GRUBDIR      := $(PREFIX)/lib/server-impermanence/grub

# What `make install` installs, as mode:source:destination (without DESTDIR).
# `make uninstall` removes exactly these; internal/installtest compares them
# with a golden list. Man pages: one per binary present, plus the config's.
# A symbolic link is link:target:destination, the target relative to the
# link's folder (computed, so any PREFIX, SBINDIR or GENERATORDIR works);
# uninstall removes it only while it is a link with that target.
# $(SBINDIR)/server-impermanence-generator puts the generator on PATH for
# --check, --render, --print-default and --version.
UNIT_FILES := $(sort $(wildcard units/*.service units/*.timer units/*.socket units/*.target))
MAN_PAGES  := $(foreach b,$(BINARIES) $(EXPORTER) $(GENERATOR),$(if $(wildcard docs/man/$(b).8.md),man8/$(b).8)) man5/server-impermanence.toml.5
INSTALL_LIST := \
	$(foreach b,$(BINARIES) $(EXPORTER),0755:$(BIN)/$(b):$(SBINDIR)/$(b)) \
	$(if $(GENERATOR),0755:$(BIN)/$(GENERATOR):$(GENERATORDIR)/$(GENERATOR)) \
	$(if $(GENERATOR),link:$(shell realpath -ms --relative-to=$(SBINDIR) $(GENERATORDIR)/$(GENERATOR)):$(SBINDIR)/$(GENERATOR)) \
	$(foreach u,$(UNIT_FILES),0644:$(u):$(UNITDIR)/$(notdir $(u))) \
	$(foreach c,$(wildcard units/*.catalog),0644:$(c):$(CATALOGDIR)/$(notdir $(c))) \
	$(foreach c,$(wildcard units/sysusers.d/*.conf),0644:$(c):$(SYSUSERSDIR)/$(notdir $(c))) \
	$(if $(wildcard units/dracut/90server-impermanence/module-setup.sh),0755:units/dracut/90server-impermanence/module-setup.sh:$(DRACUTDIR)/module-setup.sh) \
	$(foreach c,$(sort $(wildcard sysctl/*.conf)),0644:$(c):$(SYSCTLDIR)/$(notdir $(c))) \
	$(foreach m,$(MAN_PAGES),0644:$(BIN)/man/$(notdir $(m)):$(MANDIR)/$(m)) \
	0755:grub/42_server-impermanence:$(GRUBDIR)/42_server-impermanence \
	0755:grub/refresh-menu:$(GRUBDIR)/refresh-menu \
	0644:internal/config/default.toml:$(DOCDIR)/examples/config.toml \
	$(if $(wildcard exporter/alerts/impermanence.rules.yml),0644:exporter/alerts/impermanence.rules.yml:$(DOCDIR)/examples/impermanence.rules.yml)
# Folders that belong to the project alone, removed by uninstall when empty.
OWN_DIRS := $(SYSCTLDIR) $(GRUBDIR) $(PREFIX)/lib/server-impermanence $(DRACUTDIR) $(DOCDIR)/examples $(DOCDIR)

.DEFAULT_GOAL := help
.PHONY: help build man test test-host test-unit test-adversarial bench bench-send bench-send-ssh bench-rollback bench-inprocess bench-io demo install uninstall install-list deb deb-test lint clean deps fuzz tools vmtest mutation

help: ## Show this help
	@echo "server-impermanence make targets:"
	@awk -F':.*## ' '/^[a-z-]+:.*## /{printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
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

test: test-host vmtest ## Every test: the host tiers, then the QEMU boots (root; about 16 min without KVM)

test-host: deps tools lint ## Install what the tests need, then run every test but the QEMU boots (real-btrfs tests need root)
	IMPERMANENCE_REQUIRE_TOOLS=1 $(GO) test -count=1 -timeout 30m ./...
	@$(MAKE) --no-print-directory test-adversarial

test-adversarial: ## The adversarial tier: hostile configs, command lines and files against the built binaries (root; docs/security.md)
	IMPERMANENCE_ADVERSARIAL=1 $(GO) test -count=1 -timeout 20m -v ./internal/adversarial/

test-unit: ## Run the tests without installing anything (real-btrfs tests skip when not root)
	$(GO) test ./...

bench: deps ## Whole processes side by side with the commands they replace: one table, bench/results.json (root; PAIRS= SNAPS=; docs/performance.md)
	scripts/install-deps.sh bench
	scripts/bench.sh

bench-send: deps ## make bench's replication rows alone: impermanence-send against btrfs send|receive and btrbk to a local target, and send list (root)
	scripts/install-deps.sh bench
	ROWS=send scripts/bench.sh

bench-send-ssh: deps ## make bench's SSH rows alone: impermanence-send over SSH on loopback (sshd in a network namespace) against btrfs send|ssh|btrfs receive and btrbk, with and without zstd, CPU per GiB (root)
	scripts/install-deps.sh bench
	ROWS=send-ssh scripts/bench.sh

bench-rollback: deps ## make bench's rollback row alone: the initrd's impermanence-rollback against the shell recipe, 30 archives of 100,000 files (root)
	scripts/install-deps.sh bench
	ROWS=rollback scripts/bench.sh

bench-inprocess: deps ## The in-process Go benchmarks (config, metrics, exporter scrape, snapshot and prune)
	$(GO) test -run '^$$' -bench . -benchmem ./internal/config/
	$(GO) test -run '^$$' -bench . -benchmem ./internal/metrics/
	scripts/bench-exporter.sh
	scripts/bench-snapshots.sh

bench-io: ## I/O of a stock btrfs server vs each mode: pgbench, trees, fio, logs (root; ~15 min; QUICK=1 short; docs/performance.md)
	scripts/bench-io.sh $(BENCH_IO_ARGS)

fuzz: ## Fuzz config load+validate (FUZZTIME=5m by default)
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $${FUZZTIME:-5m} ./internal/config/

mutation: ## Mutation testing of the pure cores (gremlins, per package; PKGS="names calendar" for some; slow; docs/testing.md)
	scripts/mutation.sh $(PKGS)

demo: deps build ## Provision the built-in default layout on a loop-backed btrfs image (root)
	@scripts/demo.sh

man: ## Render the man pages (docs/man/*.md) into bin/man/
	@$(GO) run ./internal/manpage/mangen -version '$(VERSION)' -o $(BIN)/man $(wildcard docs/man/*.[1-8].md)

install: build man ## Install (DESTDIR=, PREFIX=/usr): binaries, generator, units, catalog, dracut module, sysctl modes, GRUB menu script, man pages, example config
	@set -e; for e in $(INSTALL_LIST); do \
		IFS=: read -r mode src dst <<<"$$e"; \
		if [ "$$mode" = link ]; then \
			install -d "$$(dirname "$(DESTDIR)$$dst")"; ln -sfn "$$src" "$(DESTDIR)$$dst"; echo "linked $(DESTDIR)$$dst -> $$src"; continue; fi; \
		install -D -m "$$mode" "$$src" "$(DESTDIR)$$dst"; echo "installed $(DESTDIR)$$dst"; done

uninstall: ## Remove exactly what install installed (never /etc, state or logs)
	@set -e; for e in $(INSTALL_LIST); do \
		IFS=: read -r mode src dst <<<"$$e"; \
		if [ "$$mode" = link ]; then \
			if [ -L "$(DESTDIR)$$dst" ] && [ "$$(readlink "$(DESTDIR)$$dst")" = "$$src" ]; then rm -f "$(DESTDIR)$$dst"; echo "removed $(DESTDIR)$$dst"; fi; continue; fi; \
		if [ -e "$(DESTDIR)$$dst" ]; then rm -f "$(DESTDIR)$$dst"; echo "removed $(DESTDIR)$$dst"; fi; done; \
	for d in $(OWN_DIRS); do [ ! -d "$(DESTDIR)$$d" ] || rmdir --ignore-fail-on-non-empty "$(DESTDIR)$$d"; done

install-list: ## Print the files and links install installs (destination paths)
	@for e in $(INSTALL_LIST); do echo "$${e##*:}"; done

deb: ## Build the Debian package into ../ (scripts/build-deb.sh; needs dpkg-dev, debhelper)
	@scripts/build-deb.sh

deb-test: ## Build the package, run lintian, install, check, remove and purge it (root)
	IMPERMANENCE_DEB_TEST=1 $(GO) test -count=1 -timeout 20m -run TestDebianPackage -v ./internal/installtest/

vmtest: ## Boot the suite under QEMU on Debian 12 and 13 (root; images cached in /var/cache/server-impermanence-vmtest; docs/vmtest.md)
	vmtest/install-deps.sh
	vmtest/build-image.sh
	VMTEST=1 VMTEST_REPORT=$${VMTEST_REPORT:-$${VMTEST_CACHE:-/var/cache/server-impermanence-vmtest}/report.txt} $(GO) test -count=1 -timeout 40m -parallel 64 -v ./vmtest/

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean: ## Remove build output
	rm -rf $(BIN)
