package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/replay"
	"github.com/threefactor/framework/lib/topology"
)

// benchItems orders, each placed then updated twice: the restore reads
// three changes per item and writes its latest state.
const (
	benchItems          = 300
	benchChangesPerItem = 3
)

// benchLog is a log of benchItems orders' changes, with images the size
// of a food-delivery order.
func benchLog(b *testing.B) (*eventlog.FileStore, [][]byte) {
	b.Helper()
	l, err := eventlog.OpenFileStore(b.TempDir(), eventlog.FileConfig{Topology: shop, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	var images [][]byte
	var events []change.Event
	for i := range benchItems {
		id := fmt.Sprintf("o%05d", i)
		var prev []byte
		for v, status := range []string{"PLACED", "VALIDATED", "PAID"}[:benchChangesPerItem] {
			img, _ := json.Marshal(map[string]any{
				"id": id, "status": status, "restaurantId": "r-pizza", "totalCents": 2350, "version": v,
				"items":   []map[string]any{{"menuItemId": "margherita", "quantity": 2}, {"menuItemId": "tiramisu", "quantity": 1}},
				"updated": time.Date(2026, 3, 1, 10, 0, v, 0, time.UTC).Format(time.RFC3339Nano), "correlationId": "req-" + id,
			})
			op := topology.Modify
			if v == 0 {
				op = topology.Insert
			}
			e := ev(fmt.Sprintf("e%05d-%d", i, v), "orders", op, `{"id":"`+id+`"}`, string(prev), string(img), i*benchChangesPerItem+v, i)
			events = append(events, e)
			prev = img
		}
		images = append(images, prev)
	}
	if err := l.WriteChanges(context.Background(), events...); err != nil {
		b.Fatal(err)
	}
	return l, images
}

// BenchmarkRestore measures Restore on the emulator: logged changes read
// per second, each item written twice (with the restore marker, then
// exactly). Its baseline, measured in the same run, is the floor of any
// restore: the items' latest states written once each with
// BatchWriteItem, 25 a call, as many calls at a time.
func BenchmarkRestore(b *testing.B) {
	ctx := context.Background()
	cfg := emulatortest.Config(b)
	db := dynamodb.NewFromConfig(cfg)
	l, images := benchLog(b)
	orders, _ := shop.Table("orders")

	var restoreTime, baseTime time.Duration
	var changes int
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		tables := map[string]string{"orders": freshTable(b, cfg, "orders")}
		base := freshTable(b, cfg, "orders")
		b.StartTimer()

		start := time.Now()
		res, err := replay.Restore(ctx, l, db, replay.RestoreOptions{Topology: shop, Tables: tables, Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		restoreTime += time.Since(start)
		changes += res.Changes
		if res.Items != benchItems {
			b.Fatalf("restored %d items, want %d", res.Items, benchItems)
		}

		start = time.Now()
		var reqs []types.WriteRequest
		for _, img := range images {
			item, err := replay.ItemFromImage(orders, img)
			if err != nil {
				b.Fatal(err)
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		}
		sem := make(chan struct{}, 4)
		errc := make(chan error, len(reqs)/25+1)
		for i := 0; i < len(reqs); i += 25 {
			sem <- struct{}{}
			go func(chunk []types.WriteRequest) {
				defer func() { <-sem }()
				_, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{base: chunk}})
				errc <- err
			}(reqs[i:min(i+25, len(reqs))])
		}
		for i := 0; i < len(reqs); i += 25 {
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
		}
		baseTime += time.Since(start)
	}
	b.StopTimer()
	eps := float64(changes) / restoreTime.Seconds()
	base := float64(benchItems*b.N*benchChangesPerItem) / baseTime.Seconds()
	b.ReportMetric(eps, "events/s")
	benchfig.Record("restore_events_per_s", eps, "events/s")
	benchfig.Record("restore_baseline_batchwrite_events_per_s", base, "events/s")
}

func freshTable(b *testing.B, cfg aws.Config, logical string) string {
	b.Helper()
	tb, _ := shop.Table(logical)
	name := fmt.Sprintf("replay-bench-%d-%d", run, tables.Add(1))
	if _, err := provision.EnsureTable(context.Background(), cfg, name, tb); err != nil {
		b.Fatal(err)
	}
	return name
}
