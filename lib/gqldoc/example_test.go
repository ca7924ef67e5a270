package gqldoc_test

import (
	"fmt"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/gqldoc"
)

func Example() {
	// Once per schema: what the analyses need of it.
	schema := gqldoc.NewSchema(graphql.MustParseSchema(`
		type Query { restaurants: [Restaurant!]! }
		type Subscription { orderUpdated(id: ID!): Order! }
		type Restaurant { id: ID! menu: [Item!]! }
		type Item { id: ID! }
		type Order { id: ID! status: String! }`, nil).AST())

	// Per request: parse (a Document can be reused), select, measure.
	var d gqldoc.Document
	if err := d.Parse(`
		query Menu { restaurants { id menu { id } } }
		subscription Watch($id: ID!) { orderUpdated(id: $id) { status } }`); err != nil {
		panic(err)
	}
	menu, _ := d.Operation("Menu")
	fig, _ := schema.Measure(menu)
	fmt.Println(menu.Kind, menu.Name, "depth", fig.Depth, "cost", fig.Cost)

	watch, _ := d.Operation("Watch")
	vars, err := schema.CoerceVariables(watch, map[string]any{"id": 42.0})
	fields, _ := watch.RootFields(vars)
	fmt.Println(watch.Kind, fields[0].Name, fields[0].Args["id"], err)

	_, err = schema.CoerceVariables(watch, map[string]any{"id": true})
	fmt.Println(err)

	_, err = gqldoc.Parse(`{ restaurants { id }`)
	fmt.Println(err)
	// Output:
	// query Menu depth 3 cost 110
	// subscription orderUpdated 42 <nil>
	// Variable "$id" got invalid value true; ID cannot represent value: true (line 3, column 22)
	// syntax error: unexpected "", expecting Name (line 1, column 21)
}
