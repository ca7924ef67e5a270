package scaffold_test

import (
	"fmt"
	"log"

	"github.com/threefactor/framework/lib/scaffold"
	"github.com/threefactor/framework/lib/topology"
)

// Plan computes a new function's files and the edited declaration without
// writing anything; Generate does the same from the app on disk, writes
// the plan and checks that the app builds with it.
func ExampleDeclaration_Plan() {
	d, err := scaffold.Open(scaffold.Layout{AppFile: "testdata/chat/app.go", FunctionsDir: "testdata/chat/functions"})
	if err != nil {
		log.Fatal(err)
	}
	// The app's topology, as scaffold.LoadTopology(ctx, d) reads it.
	topo := topology.Topology{App: "chat", Tables: []topology.Table{{
		Name: "messages", PartitionKey: topology.Key{Name: "roomId", Type: topology.String},
		SortKey: &topology.Key{Name: "sentAt", Type: topology.Number}, Stream: true,
	}}}
	p, err := d.Plan(topo, scaffold.Function{
		Name: "moderate", Table: "messages", Operations: []topology.Operation{topology.Insert},
		Where: []scaffold.Where{{Attr: "status", Value: "PENDING"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range p.Files {
		fmt.Println("create", f.Path)
	}
	fmt.Println("update", p.Declaration.Path)
	// Output:
	// create functions/moderate/moderate.go
	// create functions/moderate/moderate_test.go
	// create functions/moderate/lambda/main.go
	// update app.go
}
