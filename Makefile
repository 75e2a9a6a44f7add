# Patchbay. `make demo` runs the main job, `make test` runs every test;
# both install what they need first (make deps).

SHELL      := bash
GO         ?= go
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE       ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG        := patchbay.dev/firmware/buildinfo
LDFLAGS    := -s -w -X $(PKG).Version=$(VERSION) -X $(PKG).Commit=$(COMMIT) -X $(PKG).Date=$(DATE)
BINARIES   := agent/cmd/patchbay-agent gateway/cmd/patchbay-gateway tools/cmd/patchbay-release tools/cmd/patchbay-flash
# os/arch[/variant]: GOARM for arm, GOMIPS for mips.
TARGETS    := linux/amd64 linux/arm64 linux/arm/5 linux/arm/7 linux/mips/softfloat linux/mipsle/softfloat
# Packages whose tests run again on emulated ARM and MIPS.
EMULATED   := ./agent/... ./firmware/... ./boards/...
# The agent is built without inlining, except in the hashing and crypto
# packages that verify images: 10 % smaller for the 16 MB-flash devices, at
# no cost where the agent spends its CPU.
AGENT_GCFLAGS := -gcflags=all=-l -gcflags=crypto/...= -gcflags=hash/...=
# The agent's flash budget for linux/mipsle (bytes, stripped and xz -9).
# It holds only while the linker's method dead-code elimination is on:
# one reflective method call anywhere in the agent's dependencies (for
# example protobuf before v1.36.12 under Go 1.26) keeps every exported
# method of every reachable type, +1.5 MB. `make size` checks for that too.
AGENT_MAX_BYTES    ?= 12500000
AGENT_MAX_XZ_BYTES ?= 2900000

export CGO_ENABLED := 0

.PHONY: all deps build cross size test test-unit test-emulated vet bench demo powercut clean

all: build

deps:
	@bash testbench/deps.sh

build:
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ $(addprefix ./,$(filter-out agent/%,$(BINARIES)))
	$(GO) build -trimpath $(AGENT_GCFLAGS) -ldflags '$(LDFLAGS)' -o bin/ ./agent/cmd/patchbay-agent

# dist/<os>-<arch>[-<variant>]/<binary>; the gateway is not built for MIPS:
# its SQLite driver does not build there, and it runs on servers.
cross:
	@set -e; for t in $(TARGETS); do \
	  IFS=/ read -r os arch variant <<<"$$t"; \
	  dir=dist/$$os-$$arch$${variant:+-$$variant}; mkdir -p $$dir; \
	  env=(GOOS=$$os GOARCH=$$arch); \
	  case $$arch in arm) env+=(GOARM=$$variant);; mips*) env+=(GOMIPS=$$variant);; esac; \
	  for b in $(BINARIES); do \
	    case $$arch/$$b in mips*/gateway/*) continue;; esac; \
	    flags=; case $$b in agent/*) flags="$(AGENT_GCFLAGS)";; esac; \
	    env "$${env[@]}" $(GO) build -trimpath $$flags -ldflags '$(LDFLAGS)' -o $$dir/ ./$$b; \
	  done; \
	  echo "cross: $$dir"; \
	done

size: cross
	@set -e; mkdir -p bench; out=bench/size.txt; \
	{ echo "# patchbay-agent size per target (bytes; stripped with -s -w, -trimpath, no inlining outside crypto and hash, CGO_ENABLED=0)"; \
	  echo "# budget for linux-mipsle-softfloat: $(AGENT_MAX_BYTES) bytes, $(AGENT_MAX_XZ_BYTES) bytes xz -9"; \
	  printf '%-26s %12s %12s\n' target bytes xz_bytes; \
	  for d in dist/*/; do t=$$(basename $$d); f=$$d/patchbay-agent; \
	    printf '%-26s %12d %12d\n' $$t $$(stat -c %s $$f) $$(xz -9 -c $$f | wc -c); done; } > $$out; \
	cat $$out; \
	read -r _ bytes xzbytes < <(grep '^linux-mipsle-softfloat ' $$out); \
	if [ $$bytes -gt $(AGENT_MAX_BYTES) ] || [ $$xzbytes -gt $(AGENT_MAX_XZ_BYTES) ]; then \
	  echo "size: patchbay-agent for linux/mipsle is $$bytes bytes ($$xzbytes xz), over the budget of $(AGENT_MAX_BYTES) ($(AGENT_MAX_XZ_BYTES) xz)" >&2; exit 1; \
	fi; echo "size: agent within budget"; \
	refl=$$(GOOS=linux GOARCH=mipsle GOMIPS=softfloat $(GO) build -trimpath $(AGENT_GCFLAGS) -ldflags '$(LDFLAGS) -dumpdep' \
	  -o /dev/null ./agent/cmd/patchbay-agent 2>&1 | grep -- '-> .*<ReflectMethod>' | head -5 || true); \
	if [ -n "$$refl" ]; then \
	  echo "size: the agent reaches a reflective method call, which turns off the linker's method dead-code elimination:" >&2; \
	  echo "$$refl" >&2; exit 1; \
	fi; echo "size: method dead-code elimination on"

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	GOARCH=mips GOMIPS=softfloat $(GO) vet $(EMULATED)
	GOARCH=arm GOARM=5 $(GO) vet $(EMULATED)

test: deps vet test-unit test-emulated size

# -race needs cgo on the host only.
test-unit:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

test-emulated:
	PATCHBAY_TEST_EXEC=qemu-arm-static GOARCH=arm GOARM=7 $(GO) test -short -count=1 -timeout 20m -exec qemu-arm-static $(EMULATED)
	PATCHBAY_TEST_EXEC=qemu-mipsel-static GOARCH=mipsle GOMIPS=softfloat $(GO) test -short -count=1 -timeout 20m -exec qemu-mipsel-static $(EMULATED)

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

demo: deps build
	@bash testbench/demo.sh

# The long power-cut campaign; CI runs a short one (TestCampaign).
powercut:
	$(GO) run ./testbench/cmd/powercut -n 500 -seed 7

clean:
	rm -rf bin dist
