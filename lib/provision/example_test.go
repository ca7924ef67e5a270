package provision_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
)

// Apply provisions whatever endpoint the default AWS config points at
// (AWS_ENDPOINT_URL for a local emulator) and hands each function its
// environment.
func ExampleApply() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	topo := topology.Topology{
		App:       "shop",
		Tables:    []topology.Table{{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
		Functions: []topology.Function{{Name: "ship", Tables: []string{"orders"}}},
		Routes: []topology.Route{{Name: "paid", Function: "ship", Match: topology.Match{
			Table: "orders", New: map[string]topology.Condition{"status": topology.Is("PAID")},
		}}},
	}
	res, err := provision.Apply(ctx, cfg, topo)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Routes["paid"].QueueURL, res.Env("ship")[topology.TableEnv("orders")])
}

func ExampleCanonicalJSON() {
	s, _ := provision.CanonicalJSON(`{ "source": ["shop.changes"], "detail-type": ["Change"] }`)
	fmt.Println(s)
	// Output: {"detail-type":["Change"],"source":["shop.changes"]}
}
