// Package chat is a fixture: an app with a table and no function yet,
// that uses the framework as a dependency.
package chat

import (
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/topology"
)

// App is the chat app.
var App = app.App{
	Name: "chat",
	Tables: []topology.Table{
		{
			Name:         "messages",
			PartitionKey: topology.Key{Name: "roomId", Type: topology.String},
			SortKey:      &topology.Key{Name: "sentAt", Type: topology.Number},
			Stream:       true,
		},
	},
	GraphQL: API, // the API is in another file
}
