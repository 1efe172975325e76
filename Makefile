# Build, run and test the MCU. `make run` and `make test` work on a fresh Debian 12 / Ubuntu machine with Go:
# both install the Debian packages they need first (apt-get as root, sudo otherwise).

SHELL := /bin/bash
# extlib,pkgconfig: x264c links the system libx264 (with its assembly) instead of its bundled, slower copy.
# nolibopusfile: hraban/opus without the Ogg file API, so libopus-dev alone is enough.
export GOFLAGS := -tags=extlib,pkgconfig,nolibopusfile
export CGO_ENABLED := 1

BIN        := bin
# Fuzz budgets are counts of executions, not durations (a target whose inputs are expensive says
# "fuzz budget: Nx" in a comment just above its func line): with a duration, Go 1.26's fuzz coordinator can
# report a spurious "context deadline exceeded" failure at the deadline (golang/go#75804, fixed in 1.27).
# New interesting inputs are minimized for at most FUZZMINTIME each.
FUZZTIME   ?= 60000x
FUZZMINTIME ?= 1s
BENCHTIME  ?= 1s
SUDO       := $(if $(filter 0,$(shell id -u)),,sudo)

# Debian packages the build needs; the check uses dpkg, never a build (a warm Go cache hides missing -dev packages).
BUILD_DEBS := pkg-config libopus-dev libx264-dev libavcodec-dev libavutil-dev libyuv-dev libvpx-dev
# What the tests need on top: Debian's Chromium for the browser end-to-end test (never a downloaded
# browser), ffmpeg for the benchmark's anchor test and the plain-RTP stream of the SIP browser test, and
# a real SIP user agent (baresip-core: the baresip binary and its modules) for the SIP test, and a real
# redis-server for the cluster tests (they start their own, on a unix socket, persistence off).
TEST_DEBS  := chromium ffmpeg baresip-core redis-server

.PHONY: all deps deps-test build run cluster test vet lint fmt fuzz e2e bench clean soak

all: build

deps:
	@$(MAKE) --no-print-directory apt-install DEBS="$(BUILD_DEBS)"

deps-test:
	@$(MAKE) --no-print-directory apt-install DEBS="$(TEST_DEBS)"
	@$(MAKE) --no-print-directory node

# Node.js for the browser tests: playwright-core (web/e2e/package.json) needs Node.js 20 or later. A
# machine without node gets apt's nodejs and npm; if that (or the one installed) is older than 20 (Debian
# 12's own is 18), say so rather than fail later in npm.
NODE_MAJOR := 20
.PHONY: node
node:
	@command -v node >/dev/null || $(MAKE) --no-print-directory apt-install DEBS="nodejs npm"
	@v=$$(node -p 'process.versions.node.split(".")[0]'); test "$$v" -ge $(NODE_MAJOR) || { \
		echo "Node.js $$(node --version) is too old for the browser tests: install Node.js $(NODE_MAJOR) or later"; exit 1; }

.PHONY: apt-install
apt-install:
	@missing=""; for p in $(DEBS); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	go build -o $(BIN)/ ./cmd/...

run: build
	./$(BIN)/mcu

# `make cluster`: three nodes of bin/mcu sharing one redis-server on this machine, to try clustering by hand
# (web/e2e/cluster.test.js is the test). Redis listens on a unix socket in a temp dir (no TCP port, nothing
# saved); the nodes are node1..3 on CLUSTER_PORTS, at http://CLUSTER_HOST:PORT (their -public-url: the
# address pages load from, where a node sends the browsers of a room another node serves), without SIP,
# TURN and ICE-TCP, on lower tiers so that three fit on two cores. Join through any of them; Ctrl-C stops
# everything. Browsers allow camera and microphone over plain HTTP only on localhost/127.0.0.1: from other
# machines (CLUSTER_HOST=192.168.1.20) they can watch and listen. CLUSTER_FLAGS replaces the media and drain
# flags (append to it, e.g. -node-capacity 2, to spread rooms over the nodes); logs go to the terminal, prefixed.
CLUSTER_HOST  ?= 127.0.0.1
CLUSTER_PORTS ?= 8081 8082 8083
CLUSTER_FLAGS ?= -canvas 640x360 -fps 15 -video-bitrate 600000 -tiers ld:320x180@15:150k -drain-timeout 5s
CLUSTER_LISTEN := $(if $(filter 127.% localhost,$(CLUSTER_HOST)),127.0.0.1)

cluster: build
	@$(MAKE) --no-print-directory apt-install DEBS="redis-server"
	@dir=$$(mktemp -d "$${TMPDIR:-/tmp}/mcu-cluster.XXXXXX") || exit 1; redis=""; nodes=""; \
	stop() { trap - INT TERM EXIT; echo "stopping the nodes (each drains its rooms first, up to its -drain-timeout), then redis-server"; \
		if [ -n "$$nodes" ]; then kill -TERM $$nodes 2>/dev/null; wait $$nodes 2>/dev/null; fi; \
		if [ -n "$$redis" ]; then kill -TERM $$redis 2>/dev/null; wait $$redis 2>/dev/null; fi; rm -rf "$$dir"; }; \
	trap 'stop; exit 130' INT TERM; trap stop EXIT; \
	setsid redis-server --port 0 --unixsocket "$$dir/redis.sock" --unixsocketperm 700 --save '' --appendonly no \
		--dir "$$dir" >"$$dir/redis.log" 2>&1 & redis=$$!; \
	for i in $$(seq 50); do redis-cli -s "$$dir/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.1; done; \
	redis-cli -s "$$dir/redis.sock" ping >/dev/null 2>&1 || { echo "redis-server did not start:"; cat "$$dir/redis.log"; exit 1; }; \
	export MCU_REDIS="unix://$$dir/redis.sock" MCU_ADMIN_TOKEN=$$(head -c 18 /dev/urandom | base64 | tr '+/' '-_'); \
	i=0; for port in $(CLUSTER_PORTS); do i=$$((i + 1)); \
		$(BIN)/mcu -http $(CLUSTER_LISTEN):$$port -node-id node$$i -public-url http://$(CLUSTER_HOST):$$port \
			-sip-port 0 -turn-port 0 -ice-tcp-port 0 $(CLUSTER_FLAGS) > >(trap '' INT; exec sed -u "s/^/node$$i | /") 2>&1 & nodes="$$nodes $$!"; \
	done; \
	healthy() { (exec 3<>/dev/tcp/127.0.0.1/$$1 && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && tail -n1 <&3 | grep -qx ok) 2>/dev/null; }; \
	alive() { read -r _ _ st _ < /proc/$$1/stat 2>/dev/null && [ "$$st" != Z ]; }; \
	set -- $$nodes; for port in $(CLUSTER_PORTS); do pid=$$1; shift; \
		for i in $$(seq 100); do healthy $$port && break; alive $$pid || break; sleep 0.1; done; \
		alive $$pid && healthy $$port || { echo "the node on port $$port did not start (port taken?): see its log above"; exit 1; }; \
	done; \
	echo; echo "A cluster of $$(echo $(CLUSTER_PORTS) | wc -w) nodes over Redis ($$MCU_REDIS); join through any of them:"; \
	for port in $(CLUSTER_PORTS); do echo "    http://$(CLUSTER_HOST):$$port/"; done; \
	echo "The nodes and their load: curl -H 'Authorization: Bearer $$MCU_ADMIN_TOKEN' http://$(CLUSTER_HOST):$(firstword $(CLUSTER_PORTS))/api/v1/nodes"; \
	echo "Ctrl-C stops everything."; echo; \
	wait -n $$nodes; echo "a node exited"

vet: deps
	go vet ./...

# Package boundaries (see DESIGN.md): cgo only under codec/, and the import graph codec <- mixer <- mcu <- signaling.
# Package boundaries (see DESIGN.md), each check failing loudly if go list itself fails (pipefail):
# cgo only under codec/; codec <- mixer <- mcu <- signaling <- cmd; mcu/internal/... only from mcu/...;
# no production package imports a test helper package (a path ending in "test"). Test helper packages
# (mcutest, ...) are tests' code and exempt from the direction rules.
GOFILES = $$(find . -name '*.go' -not -path './web/e2e/node_modules/*' -not -path './.git/*')
lint: vet
	@set -euo pipefail; files=$(GOFILES); test -n "$$files"; \
		bad=$$(gofmt -l $$files); test -z "$$bad" || { echo "gofmt needed: $$bad"; exit 1; }
	@set -euo pipefail; cgo=$$(go list -f '{{if .CgoFiles}}{{.ImportPath}}{{end}}' ./...); \
		bad=$$(echo "$$cgo" | grep -v '^github.com/openmcu/mcu/codec/' | grep . || true); \
		test -z "$$bad" || { echo "cgo outside codec/: $$bad"; exit 1; }; \
		test -n "$$(echo "$$cgo" | grep codec/)" || { echo "lint: found no cgo at all: go list is broken"; exit 1; }
	@set -euo pipefail; m=github.com/openmcu/mcu; \
		imports=$$(go list -f '{{.ImportPath}} {{join .Imports " "}}' ./...); test -n "$$imports"; \
		deny() { local from=$$1 pat=$$2 why=$$3; \
			bad=$$(echo "$$imports" | awk -v f="^$$from" '$$1 ~ f && $$1 !~ /test$$/' | tr ' ' '\n' | grep -E "$$pat" || true); \
			test -z "$$bad" || { echo "$$why: $$(echo $$bad)"; exit 1; }; }; \
		deny "$$m/codec" "github.com/pion|^$$m/(mixer|mcu|signaling|cmd)(/|$$)" "codec imports too much"; \
		deny "$$m/mixer" "github.com/pion|^$$m/(mcu|signaling|cmd)(/|$$)" "mixer imports too much"; \
		deny "$$m/mcu" "^net/http$$|^$$m/(signaling|cmd)(/|$$)" "mcu imports too much"; \
		deny "$$m/(signaling|cmd|codec|mixer|web)" "^$$m/mcu/internal/" "mcu/internal used outside mcu"; \
		prod=$$(echo "$$imports" | awk '$$1 !~ /test$$/'); \
		bad=$$(echo "$$prod" | awk '{for (i = 2; i <= NF; i++) if ($$i ~ /^github.com\/openmcu\/mcu\/.*test$$/) print $$1 " -> " $$i}'); \
		test -z "$$bad" || { echo "production code imports a test package: $$bad"; exit 1; }
	@echo lint ok

fmt:
	gofmt -w $$(git ls-files '*.go')

test: lint deps-test
	@set -o pipefail; MCU_REQUIRE_REDIS=1 go test -json -race -count=1 -timeout 20m ./... | go run ./cmd/testsum
	@set -o pipefail; GOEXPERIMENT=cgocheck2 go test -json -count=1 -timeout 10m ./codec/... | go run ./cmd/testsum
	$(MAKE) fuzz
	$(MAKE) e2e
	$(MAKE) soak SOAK_DURATION=$(CI_SOAK_DURATION)

# The browser end-to-end test: the real server binary and headless Chromium participants (web/e2e).
e2e: build deps-test
	cd web/e2e && npm ci --no-audit --no-fund --loglevel=error && MCU_BIN=../../$(BIN)/mcu node --test

# Each fuzz target runs briefly; a crash fails the build and leaves its input under testdata/fuzz.
fuzz: deps
	@set -euo pipefail; pkgs=$$(go list ./...); test -n "$$pkgs"; n=0; \
	for pkg in $$pkgs; do \
		dir=$$(go list -f '{{.Dir}}' $$pkg); \
		for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
			budget=$$(grep -h -B3 "^func $$f(" $$dir/*_test.go | grep -o 'fuzz budget: [0-9]*x' | awk '{print $$3}' || true); \
			echo "fuzz $$pkg $$f $${budget:-$(FUZZTIME)}"; n=$$((n + 1)); \
			go test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$${budget:-$(FUZZTIME)} -fuzzminimizetime=$(FUZZMINTIME) $$pkg; \
		done; \
	done; \
	echo "$$n fuzz targets"; test "$$n" -ge 10 || { echo "fewer fuzz targets than the project has: the loop is broken"; exit 1; }

bench: deps
	go test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./codec/... ./mixer/...
	go test -run='^$$' -bench=AudioOnlyCalls -benchtime=10x ./mcu/

clean:
	rm -rf $(BIN)

# The capacity benchmark (cmd/mcubench): the real server with N synthetic participants per output tier,
# beside Debian's ffmpeg doing the same media work. The Markdown report goes to stdout (and BENCH_OUT if
# set); extra flags in BENCH_FLAGS, e.g. `make bench-mcu BENCH_FLAGS='-n 2,4 -window 5s -json bench.json'`.
# `make bench-mcu BENCH_FLAGS=-cascade` measures one room over two nodes (Redis, a link) instead.
BENCH_DEBS  := ffmpeg redis-server sip-tester
BENCH_FLAGS ?=
BENCH_OUT   ?=

.PHONY: bench-mcu
bench-mcu: build
	@$(MAKE) --no-print-directory apt-install DEBS="$(BENCH_DEBS)"
	go run ./cmd/mcubench -server $(BIN)/mcu $(if $(BENCH_OUT),-out $(BENCH_OUT)) $(BENCH_FLAGS)
