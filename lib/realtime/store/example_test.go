package store_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/lib/realtime/store"
)

func ExampleStore_SubscriptionsFor() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := store.New(dynamodb.NewFromConfig(cfg), store.Config{
		ConnectionsTable:   "fooddelivery-connections",
		SubscriptionsTable: "fooddelivery-subscriptions",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The fan-out finds who to push a change of order ord_1 to with one
	// Query on its topic.
	subs, err := st.SubscriptionsFor(ctx, "orderUpdated:ord_1")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range subs {
		fmt.Println(s.ConnectionID, s.ID)
	}
}
