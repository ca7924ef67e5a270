// Command threefactor is the command line of the app declared in events/
// (fooddelivery.App); lib/cli has the commands. Run it from the module
// root:
//
//	go run ./cmd/threefactor help
//	go run ./cmd/threefactor new function NAME --table TABLE --on INSERT|MODIFY|REMOVE [--where ATTR=VALUE]... [--changed ATTR]...
//	go run ./cmd/threefactor routes [--json]
package main

import (
	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/cli"
)

func main() { cli.Main(cli.Config{App: fooddelivery.App}) }
