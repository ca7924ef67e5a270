// Command threefactor is the command line of the chat app:
//
//	go run ./tests/chat/cmd/threefactor routes
//	go run ./tests/chat/cmd/threefactor new function NAME --table messages --on INSERT ...
package main

import (
	"github.com/threefactor/framework/lib/cli"
	"github.com/threefactor/framework/lib/scaffold"
	"github.com/threefactor/framework/tests/chat"
)

func main() {
	cli.Main(cli.Config{App: chat.App, Layout: scaffold.Layout{AppFile: "tests/chat/app.go", FunctionsDir: "tests/chat/functions"}})
}
