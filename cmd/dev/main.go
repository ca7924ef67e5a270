// Command dev is the dev runtime (`make dev`): the app runs locally, on
// an AWS API emulator, with the same handlers it runs on AWS. See
// lib/devapp.
//
//	go run ./cmd/dev                 # serve on DEV_ADDR or 127.0.0.1:8080
//	go run ./cmd/dev -stop-emulator  # stop the local emulator (its data is in memory: gone)
//	go run ./cmd/dev -wipe           # stop it and delete the state directory
package main

import (
	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/devapp"
)

func main() { devapp.Main(fooddelivery.App) }
