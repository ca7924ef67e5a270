# The developer entry points. `make test` is what CI runs (.ci/run).

SHELL         := /bin/bash
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
# Directories with a package.json whose node_modules tests need; npm ci
# runs again when the lock file is newer than the installed tree.
NODE_DIRS     := tests/js infra

.PHONY: dev dev-stop dev-clean token deps test test-short test-lambda bench check

## dev: run the app locally (GraphQL, realtime, functions) on the local emulator
dev: deps-emulator
	@mkdir -p build
	$(GO) build -o build/dev ./cmd/dev
	exec ./build/dev

## token: print a token the local dev runtime accepts, and only it, on stdout:
##   make token USER=alice [ROLE=restaurant RESTAURANT=r-pizza] [TTL=30s]
## (groups in cognito:groups, the restaurant in custom:restaurantId; 12h by
## default; signed by the issuer in .dev, which `make dev` shares)
token:
	@$(GO) run ./cmd/threefactor token "$(USER)" --state-dir .dev \
		$(if $(ROLE),--group "$(ROLE)") $(if $(RESTAURANT),--claim "custom:restaurantId=$(RESTAURANT)") $(if $(TTL),--ttl "$(TTL)")

## dev-stop: stop the long-lived local emulator (its data is in memory: gone)
dev-stop:
	$(GO) run ./cmd/dev -stop-emulator

## dev-clean: stop the emulator and delete local state (.dev)
dev-clean:
	$(GO) run ./cmd/dev -wipe

# The emulator is only needed when AWS_ENDPOINT_URL does not name one.
.PHONY: deps-emulator deps-node
deps-emulator:
	@if [ -z "$$AWS_ENDPOINT_URL" ] && ! command -v moto_server >/dev/null 2>&1; then \
		echo "moto_server (the local AWS emulator) is not on PATH: installing it with pip install \"moto[server]==$(MOTO_VERSION)\""; \
		python3 -m pip install --quiet "moto[server]==$(MOTO_VERSION)" || pip install --quiet "moto[server]==$(MOTO_VERSION)" || { \
			echo "could not install moto: install Python 3 and pip, or set AWS_ENDPOINT_URL to LocalStack or a running moto"; exit 1; }; \
		command -v moto_server >/dev/null 2>&1 || { echo "moto installed but moto_server is not on PATH (add pip's bin directory to PATH)"; exit 1; }; \
	fi

deps-node:
	@for d in $(NODE_DIRS); do \
		if [ -f $$d/package.json ] && { [ ! -d $$d/node_modules ] || [ $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; }; then \
			command -v npm >/dev/null 2>&1 || { echo "npm is needed for $$d (Node.js 20+)"; exit 1; }; \
			echo "npm ci in $$d"; (cd $$d && npm ci --no-audit --no-fund) || exit 1; \
		fi; \
	done

## deps: install what the tests need (moto, npm packages)
deps: deps-emulator deps-node

## test: every test, end to end, against a private local emulator per test binary (or AWS_ENDPOINT_URL)
test: deps
	@start=$$(date +%s); $(GO) test -timeout $(TEST_TIMEOUT) ./...; rc=$$?; \
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
