// Command dev runs the chat app locally, as `make dev` runs the reference
// app: go run ./tests/chat/cmd/dev (DEV_ADDR moves it off 127.0.0.1:8080).
package main

import (
	"github.com/threefactor/framework/lib/devapp"
	"github.com/threefactor/framework/tests/chat"
)

func main() { devapp.Main(chat.App) }
