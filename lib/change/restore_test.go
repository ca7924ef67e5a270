package change

import (
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestIsRestoreWrite(t *testing.T) {
	s := events.NewStringAttribute
	img := func(kv ...string) map[string]events.DynamoDBAttributeValue {
		m := map[string]events.DynamoDBAttributeValue{"id": s("o1")}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = s(kv[i+1])
		}
		return m
	}
	rec := func(name string, old, new map[string]events.DynamoDBAttributeValue) events.DynamoDBEventRecord {
		return events.DynamoDBEventRecord{EventName: name, Change: events.DynamoDBStreamRecord{OldImage: old, NewImage: new}}
	}
	for _, tc := range []struct {
		name string
		rec  events.DynamoDBEventRecord
		want bool
	}{
		{"an app's insert", rec("INSERT", nil, img("status", "PLACED")), false},
		{"an app's update", rec("MODIFY", img("status", "PLACED"), img("status", "PAID")), false},
		{"a restore's first write, new item", rec("INSERT", nil, img("status", "PAID", RestoreAttribute, "r1/1")), true},
		{"a restore's first write, over an item", rec("MODIFY", img("status", "PLACED"), img("status", "PAID", RestoreAttribute, "r1/1")), true},
		{"a restore's second write", rec("MODIFY", img("status", "PAID", RestoreAttribute, "r1/1"), img("status", "PAID")), true},
		{"a later restore", rec("MODIFY", img(RestoreAttribute, "r1/1"), img(RestoreAttribute, "r2/1")), true},
		// An update that leaves an (interrupted) restore's marker alone is
		// the app's.
		{"an app's update of a marked item", rec("MODIFY", img("status", "PAID", RestoreAttribute, "r1/1"), img("status", "APPROVED", RestoreAttribute, "r1/1")), false},
		{"a delete", rec("REMOVE", img(RestoreAttribute, "r1/1"), nil), false},
	} {
		if got := IsRestoreWrite(tc.rec); got != tc.want {
			t.Errorf("%s: IsRestoreWrite = %v, want %v", tc.name, got, tc.want)
		}
	}
}
