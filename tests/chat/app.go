// Package chat is a second, small app on the framework: chat rooms whose
// messages are moderated before anyone sees them. A client posts a
// message (postMessage: one write, PENDING); the moderate function masks
// banned words and publishes it; every subscriber of the room gets it
// through messageAdded(room). It is built only from lib/'s public API and
// the threefactor generator, which proves lib/ is not food-delivery code.
package chat

import (
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/topology"
	"github.com/threefactor/framework/tests/chat/functions/moderate"
	"github.com/threefactor/framework/tests/chat/messages"
)

// App is the chat app.
var App = app.App{
	Name: "chat",
	Tables: []topology.Table{
		{
			Name:         messages.Table,
			PartitionKey: topology.Key{Name: "room", Type: topology.String},
			SortKey:      &topology.Key{Name: "id", Type: topology.String},
			Stream:       true,
		},
	},
	Functions: []app.Function{
		{
			Function: topology.Function{Name: moderate.Name, Tables: []string{messages.Table}},
			Handler:  app.Handle(moderate.Build),
			// Try other words locally: BANNED_WORDS=spam,eggs.
			DevEnv: []string{moderate.EnvBannedWords},
		},
	},
	Routes: []topology.Route{
		{
			// A new message is moderated, then published.
			Name: "moderate", Function: moderate.Name,
			Match: topology.Match{
				Table: messages.Table, Operations: []topology.Operation{topology.Insert},
				New: map[string]topology.Condition{"status": topology.Is("PENDING")},
			},
		},
	},
	GraphQL: API,
}
