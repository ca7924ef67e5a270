# The developer entry points. `make` (or `make help`) lists them; `make test`
# is what CI runs (.ci/run). Each target's `## target: text` line is its
# entry in that list.

SHELL         := /bin/bash
.DEFAULT_GOAL := help
GO            ?= go
GOBIN         := $(shell $(GO) env GOPATH)/bin
TEST_TIMEOUT  ?= 45m
RACE_TIMEOUT  ?= 30m
BENCH_TIME    ?= 2s
# moto is the default local emulator; the version this project is tested with.
MOTO_VERSION  ?= 5.2.1
# staticcheck 2026.1, the first release that understands Go 1.26.
STATICCHECK_VERSION ?= v0.7.0
GOVULNCHECK_VERSION ?= v1.1.4
# Directories with a package.json whose node_modules are needed: GraphiQL's
# files (served by make dev), the JS clients and browser the tests drive,
# the CDK CLI. npm ci runs again when the lock file is newer than the
# installed tree.
NODE_DIRS     := lib/graphqlhttp/graphiql tests/js infra
# The dev runtime's state: the emulator's pid and endpoint, the local
# token issuer's keys.
STATE_DIR     ?= .dev
# The browser the GraphiQL test drives (Debian's chromium package).
CHROMIUM      ?= /usr/bin/chromium

.PHONY: help dev dev-stop dev-clean token subscribe deps test test-short test-lambda bench check

## help: this list
help:
	@echo "make <target>, from the repository root:"
	@sed -nE 's/^## ([a-z-]+): (.*)/\1\t\2/p' $(MAKEFILE_LIST) | awk -F'\t' '{ printf "  %-14s %s\n", $$1, $$2 }'

## dev: run the app locally: GraphiQL, GraphQL and its WebSocket on http://127.0.0.1:8080, the functions, on the local emulator
dev: deps-emulator deps-graphiql
	@mkdir -p build
	$(GO) build -o build/dev ./cmd/dev
	exec ./build/dev -state-dir $(STATE_DIR)

## token: print a token make dev accepts, alone on stdout: make token USER=alice [ROLE=restaurant RESTAURANT=r-pizza] [TTL=30s]
## (groups in cognito:groups, the restaurant in custom:restaurantId; 12h by
## default; signed by the issuer in .dev, or STATE_DIR, which make dev shares)
token:
	@$(GO) run ./cmd/threefactor token "$(USER)" --state-dir $(STATE_DIR) \
		$(if $(ROLE),--group "$(ROLE)") $(if $(RESTAURANT),--claim "custom:restaurantId=$(RESTAURANT)") $(if $(TTL),--ttl "$(TTL)")

## subscribe: print each push of a subscription as a JSON line: make subscribe Q='subscription ...' [VARS="id=ord_1"] [TOKEN=... | USER=alice] [UNTIL=TEXT]
## (Q is taken as written, $variables included; without TOKEN a token is
## minted for USER; Ctrl-C stops it)
subscribe:
	@if [ -z '$(value Q)' ]; then echo "usage: make subscribe Q='subscription { ... }' [VARS=\"name=value ...\"] [TOKEN=... | USER=alice] [UNTIL=TEXT]"; exit 2; fi
	@$(GO) run ./cmd/threefactor subscribe '$(subst ','\'',$(value Q))' --state-dir $(STATE_DIR) \
		$(foreach v,$(VARS),--var '$(v)') $(if $(TOKEN),--token "$(TOKEN)",--user "$(USER)") $(if $(UNTIL),--until '$(UNTIL)')

## dev-stop: stop the long-lived local emulator (its memory is gone; the next make dev restores it from the event log in .dev/eventlog)
dev-stop:
	$(GO) run ./cmd/dev -stop-emulator -state-dir $(STATE_DIR)

## dev-clean: stop the emulator and delete local state (.dev, or STATE_DIR), the event log with it
dev-clean:
	$(GO) run ./cmd/dev -wipe -state-dir $(STATE_DIR)

# The emulator is only needed when AWS_ENDPOINT_URL does not name one.
.PHONY: deps-emulator deps-node deps-graphiql deps-browser
## deps-emulator: install moto (the local AWS emulator) with pip when moto_server is missing
deps-emulator:
	@if [ -z "$$AWS_ENDPOINT_URL" ] && ! command -v moto_server >/dev/null 2>&1; then \
		echo "moto_server (the local AWS emulator) is not on PATH: installing it with pip install \"moto[server]==$(MOTO_VERSION)\""; \
		python3 -m pip install --quiet "moto[server]==$(MOTO_VERSION)" || pip install --quiet "moto[server]==$(MOTO_VERSION)" || { \
			echo "could not install moto: install Python 3 and pip, or set AWS_ENDPOINT_URL to LocalStack or a running moto"; exit 1; }; \
		command -v moto_server >/dev/null 2>&1 || { echo "moto installed but moto_server is not on PATH (add pip's bin directory to PATH)"; exit 1; }; \
	fi

## deps-node: npm ci where a lock file is newer than its node_modules (GraphiQL's files, the test clients, the CDK CLI)
deps-node:
	@for d in $(NODE_DIRS); do \
		if [ -f $$d/package.json ] && { [ ! -d $$d/node_modules ] || [ $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; }; then \
			command -v npm >/dev/null 2>&1 || { echo "npm is needed for $$d (Node.js 20+)"; exit 1; }; \
			echo "npm ci in $$d"; (cd $$d && npm ci --no-audit --no-fund) || exit 1; \
		fi; \
	done

## deps-graphiql: GraphiQL's files for make dev (npm ci in lib/graphqlhttp/graphiql); offline, make dev runs without them
deps-graphiql:
	@d=lib/graphqlhttp/graphiql; \
	if [ ! -d $$d/node_modules ] || [ $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; then \
		echo "npm ci in $$d (GraphiQL's files, served by make dev)"; \
		(cd $$d && npm ci --no-audit --no-fund) || echo "could not install GraphiQL's files (no npm or no network?): make dev runs without GraphiQL; run make deps later"; \
	fi

## deps-browser: Chromium for the GraphiQL test (apt-get when missing, as root in CI; else say how)
deps-browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		if [ "$$CI" = "true" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing chromium (apt-get) for the GraphiQL test"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null || exit 1; \
		else \
			echo "the GraphiQL test needs Chromium at $(CHROMIUM): install it (Debian/Ubuntu: sudo apt-get install chromium) or set CHROMIUM=/path/to/chrome"; \
		fi; \
	fi

## deps: install what make dev and the tests need (moto, npm packages, Chromium in CI)
deps: deps-emulator deps-node deps-browser

## test: every test, end to end, against a private local emulator per test binary (or AWS_ENDPOINT_URL)
test: deps
	@start=$$(date +%s); CHROMIUM=$(CHROMIUM) $(GO) test -timeout $(TEST_TIMEOUT) ./...; rc=$$?; \
		echo "make test: $$(( $$(date +%s) - start )) s"; exit $$rc

## test-short: the edit-test loop: unit tests only (go test -short: no emulator, no end-to-end, no browser)
test-short:
	@start=$$(date +%s); $(GO) test -short -timeout 5m ./...; rc=$$?; \
		echo "make test-short: $$(( $$(date +%s) - start )) s"; exit $$rc

## test-lambda: every Lambda's bootstrap under AWS's runtime interface emulator, with its template's environment and its role's IAM enforced; prints each cold start
test-lambda: deps-emulator
	@mkdir -p build
	@start=$$(date +%s); set -o pipefail; \
		$(GO) test -count=1 -v -timeout $(TEST_TIMEOUT) ./tests/lambda | tee build/test-lambda.txt | grep -vE '^=== (RUN|PAUSE|CONT|NAME)'; rc=$$?; \
		echo "make test-lambda: $$(( $$(date +%s) - start )) s (output in build/test-lambda.txt)"; exit $$rc

# The threefactor command (cmd/threefactor): `go run ./cmd/threefactor help`
# lists every command.
.PHONY: routes function

## routes: print each route of the app: its function, its EventBridge pattern as deployed, its queue settings
routes:
	@$(GO) run ./cmd/threefactor routes

## function: add a function and its route: make function NAME=notify TABLE=orders ON=MODIFY [WHERE="status=PAID ..."] [CHANGED="attr ..."]
function:
	@if [ -z "$(NAME)" ] || [ -z "$(TABLE)" ] || [ -z "$(ON)" ]; then \
		echo 'usage: make function NAME=name TABLE=table ON=INSERT|MODIFY|REMOVE [WHERE="attr=value ..."] [CHANGED="attr ..."]'; exit 2; fi
	$(GO) run ./cmd/threefactor new function $(NAME) --table $(TABLE) --on $(ON) $(foreach w,$(WHERE),--where '$(w)') $(foreach c,$(CHANGED),--changed '$(c)')

# Packages that hold benchmarks.
BENCH_PKGS = $(shell grep -rl --include='*_test.go' -e '^func Benchmark' lib tests functions gateway infra cmd 2>/dev/null | grep -v node_modules | xargs -r -n1 dirname | sort -u | sed 's|^|./|')

## bench: benchmarks with their baselines; ends with the `figure` lines
bench: deps
	@mkdir -p build
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchtime=$(BENCH_TIME) -timeout $(TEST_TIMEOUT) $(BENCH_PKGS) | tee build/bench.txt
	@echo; echo "figures (build/bench.txt):"; grep '^figure ' build/bench.txt

# Lambda functions: every functions/<name>/lambda main.
LAMBDAS       = $(patsubst functions/%/lambda/main.go,%,$(wildcard functions/*/lambda/main.go))
# The pinned CDK CLI (infra/package.json); the app itself is Go (cdk.json).
CDK           = CDK_DISABLE_VERSION_CHECK=true CDK_DISABLE_CLI_TELEMETRY=true infra/node_modules/.bin/cdk
STAGE        ?= dev
# More CDK context for synth and deploy, e.g. CDK_ARGS="-c allowedOrigins=https://app.example.com".
CDK_ARGS     ?=

.PHONY: build synth deploy bootstrap

## build: each Lambda as build/<name>/bootstrap for provided.al2023 on arm64, with its size
build:
	@mkdir -p build
	@set -e; for f in $(LAMBDAS); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags "-s -w" -tags lambda.norpc -o build/$$f/bootstrap ./functions/$$f/lambda; \
		printf '%-20s %9d bytes\n' $$f $$(stat -c %s build/$$f/bootstrap); \
	done

## synth: the CloudFormation templates in cdk.out, offline (STAGE=dev|prod; no AWS account needed)
synth: build deps-node
	$(CDK) synth --no-notices --quiet -c stage=$(STAGE) $(CDK_ARGS)

## deploy: cdk deploy the stack of STAGE (after `make bootstrap` once per account and region)
deploy: build deps-node
	$(CDK) deploy --no-notices -c stage=$(STAGE) --require-approval broadening $(CDK_ARGS)

## bootstrap: cdk bootstrap the account and region of the current AWS credentials
bootstrap: deps-node
	$(CDK) bootstrap --no-notices

## check: what CI holds the code to: gofmt, vet, staticcheck, govulncheck (when it can run), race tests of lib/
check: deps
	@files=$$(find . -name '*.go' -not -path '*/node_modules/*' -not -path './_warm/*' -not -path './cdk.out/*' -not -path './build/*'); \
		out=$$(gofmt -l $$files); if [ -n "$$out" ]; then echo "gofmt: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@test -x $(GOBIN)/staticcheck && $(GOBIN)/staticcheck -version | grep -q '$(STATICCHECK_VERSION)' || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(GOBIN)/staticcheck ./...
	@test -x $(GOBIN)/govulncheck || $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) || true
	@if [ ! -x $(GOBIN)/govulncheck ]; then \
		echo "govulncheck skipped: it could not be installed from the Go module proxy"; \
	elif out=$$($(GOBIN)/govulncheck $${GOVULNDB:+-db $$GOVULNDB} ./... 2>&1); then \
		echo "$$out" | tail -n 3; \
	elif echo "$$out" | grep -q 'fetching vulnerabilities'; then \
		echo "govulncheck skipped: the vulnerability database (vuln.go.dev) is unreachable; set GOVULNDB=file:///path/to/vulndb to check offline"; \
	else echo "$$out"; exit 1; fi
	$(GO) test -race -timeout $(RACE_TIMEOUT) ./lib/...
