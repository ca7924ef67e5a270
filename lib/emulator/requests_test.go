package emulator_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// createTable makes a pay-per-request table with a string partition key
// pk, a numeric sort key sk when ranged, an index "byTag" on tag, and a
// stream of new and old images.
func createTable(t testing.TB, db *dynamodb.Client, name string, ranged bool) *types.TableDescription {
	t.Helper()
	in := &dynamodb.CreateTableInput{
		TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("tag"), AttributeType: types.ScalarAttributeTypeS},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:  aws.String("byTag"),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("tag"), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
	}
	if ranged {
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange})
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN})
	}
	out, err := db.CreateTable(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out.TableDescription
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: strconv.Itoa(v)} }

// Every kind of attribute value, nested too, reads back as it was
// written, through every read that returns items, and in the stream's
// images: the emulator serializes attribute values by the members they
// have (see motoserver.py), which must change nothing a client sees.
func TestAttributeValuesReadBackAsWritten(t *testing.T) {
	ctx := context.Background()
	cfg := startEmulator(t)
	db, streams := dynamodb.NewFromConfig(cfg), dynamodbstreams.NewFromConfig(cfg)
	desc := createTable(t, db, "values", false)
	item := map[string]types.AttributeValue{
		"pk":     str("all"),
		"tag":    str("t"),
		"s":      str("ünïcode \"quoted\" \n"),
		"n":      &types.AttributeValueMemberN{Value: "-12.5e3"},
		"b":      &types.AttributeValueMemberB{Value: []byte{0, 1, 2, 0xfe, 0xff}},
		"ss":     &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns":     &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		"bs":     &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
		"null":   &types.AttributeValueMemberNULL{Value: true},
		"yes":    &types.AttributeValueMemberBOOL{Value: true},
		"no":     &types.AttributeValueMemberBOOL{Value: false},
		"empty":  str(""),
		"emptyL": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
		"emptyM": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
		"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"inner": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"b": &types.AttributeValueMemberB{Value: []byte("bytes")},
				"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{num(1), str("two"), &types.AttributeValueMemberNULL{Value: true}}},
			}},
			"ok": &types.AttributeValueMemberBOOL{Value: true},
		}},
		"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": str("v")}},
			&types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberBS{Value: [][]byte{{9}}}}},
			&types.AttributeValueMemberSS{Value: []string{"x"}},
		}},
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("values"), Item: item}); err != nil {
		t.Fatal(err)
	}
	key := map[string]types.AttributeValue{"pk": str("all")}
	same := func(how string, got map[string]types.AttributeValue) {
		t.Helper()
		for k, want := range item {
			if !reflect.DeepEqual(got[k], want) {
				t.Errorf("%s: attribute %s read as %#v, want %#v", how, k, got[k], want)
			}
		}
		for k := range got {
			if _, ok := item[k]; !ok {
				t.Errorf("%s: attribute %s read, never written", how, k)
			}
		}
	}

	g, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("values"), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	same("GetItem", g.Item)
	q, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("values"), KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": str("all")}})
	if err != nil || len(q.Items) != 1 {
		t.Fatalf("Query: %v, %d items", err, len(q.Items))
	}
	same("Query", q.Items[0])
	qi, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("values"), IndexName: aws.String("byTag"), KeyConditionExpression: aws.String("tag = :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": str("t")}})
	if err != nil || len(qi.Items) != 1 {
		t.Fatalf("Query of the index: %v, %d items", err, len(qi.Items))
	}
	same("Query of the index", qi.Items[0])
	sc, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("values")})
	if err != nil || len(sc.Items) != 1 {
		t.Fatalf("Scan: %v, %d items", err, len(sc.Items))
	}
	same("Scan", sc.Items[0])
	bg, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"values": {Keys: []map[string]types.AttributeValue{key}}}})
	if err != nil || len(bg.Responses["values"]) != 1 {
		t.Fatalf("BatchGetItem: %v, %v", err, bg)
	}
	same("BatchGetItem", bg.Responses["values"][0])
	tg, err := db.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{{Get: &types.Get{TableName: aws.String("values"), Key: key}}}})
	if err != nil || len(tg.Responses) != 1 {
		t.Fatalf("TransactGetItems: %v", err)
	}
	same("TransactGetItems", tg.Responses[0].Item)
	u, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("values"), Key: key,
		UpdateExpression: aws.String("SET s = :s"), ExpressionAttributeValues: map[string]types.AttributeValue{":s": item["s"]},
		ReturnValues: types.ReturnValueAllOld})
	if err != nil {
		t.Fatal(err)
	}
	same("UpdateItem's old values", u.Attributes)

	d, err := streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: desc.LatestStreamArn})
	if err != nil {
		t.Fatal(err)
	}
	it, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
		StreamArn: desc.LatestStreamArn, ShardId: d.StreamDescription.Shards[0].ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil || len(recs.Records) != 2 {
		t.Fatalf("GetRecords: %v, %d records (want the put and the update)", err, len(recs.Records))
	}
	// The stream's own attribute value type mirrors DynamoDB's; compared
	// through the values the put wrote.
	for i, img := range []map[string]streamtypes.AttributeValue{recs.Records[0].Dynamodb.NewImage, recs.Records[1].Dynamodb.OldImage, recs.Records[1].Dynamodb.NewImage} {
		av, err := attributevalue.FromDynamoDBStreamsMap(img)
		if err != nil {
			t.Fatal(err)
		}
		same(fmt.Sprintf("stream image %d", i), av)
	}
}

// A Query of a table's key answers from the partition it names, as
// before the emulator stopped sorting the whole table for it: the
// partition's items in sort key order (or reversed), with key
// conditions, filters, projections, limits and pages, on tables with and
// without a sort key, next to other partitions.
func TestQueryOfAKeyReadsItsPartition(t *testing.T) {
	ctx := context.Background()
	cfg := startEmulator(t)
	db := dynamodb.NewFromConfig(cfg)
	createTable(t, db, "ranged", true)
	createTable(t, db, "flat", false)
	// Partitions p0..p4 with sort keys 0..9, written out of order.
	for _, sk := range []int{7, 2, 9, 0, 5, 3, 8, 1, 6, 4} {
		for p := range 5 {
			if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("ranged"), Item: map[string]types.AttributeValue{
				"pk": str(fmt.Sprintf("p%d", p)), "sk": num(sk), "tag": str("t"), "odd": &types.AttributeValueMemberBOOL{Value: sk%2 == 1},
			}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("flat"), Item: map[string]types.AttributeValue{
			"pk": str(fmt.Sprintf("f%d", sk)), "tag": str("t"),
		}}); err != nil {
			t.Fatal(err)
		}
	}
	sortKeys := func(in *dynamodb.QueryInput) []int {
		t.Helper()
		var got []int
		for {
			out, err := db.Query(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range out.Items {
				if it["pk"].(*types.AttributeValueMemberS).Value != "p3" {
					t.Fatalf("item of another partition: %v", it["pk"])
				}
				sk, _ := strconv.Atoi(it["sk"].(*types.AttributeValueMemberN).Value)
				got = append(got, sk)
			}
			if out.LastEvaluatedKey == nil {
				return got
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
	of := func(cond string, vals map[string]types.AttributeValue) *dynamodb.QueryInput {
		if vals == nil {
			vals = map[string]types.AttributeValue{}
		}
		vals[":p"] = str("p3")
		return &dynamodb.QueryInput{TableName: aws.String("ranged"), KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: vals}
	}
	all := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	cases := []struct {
		name string
		in   *dynamodb.QueryInput
		want []int
	}{
		{"the partition", of("pk = :p", nil), all},
		{"a sort key range", of("pk = :p AND sk BETWEEN :a AND :b", map[string]types.AttributeValue{":a": num(3), ":b": num(6)}), []int{3, 4, 5, 6}},
		{"after a sort key", of("pk = :p AND sk > :a", map[string]types.AttributeValue{":a": num(7)}), []int{8, 9}},
		{"backwards", func() *dynamodb.QueryInput {
			in := of("pk = :p", nil)
			in.ScanIndexForward = aws.Bool(false)
			return in
		}(), func() []int { r := slices.Clone(all); slices.Reverse(r); return r }()},
		{"in pages of three", func() *dynamodb.QueryInput { in := of("pk = :p", nil); in.Limit = aws.Int32(3); return in }(), all},
		{"filtered", func() *dynamodb.QueryInput {
			in := of("pk = :p", map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}})
			in.FilterExpression = aws.String("odd = :t")
			return in
		}(), []int{1, 3, 5, 7, 9}},
		{"projected", func() *dynamodb.QueryInput {
			in := of("pk = :p AND sk < :a", map[string]types.AttributeValue{":a": num(2)})
			in.ProjectionExpression = aws.String("pk, sk")
			return in
		}(), []int{0, 1}},
	}
	for _, c := range cases {
		if got := sortKeys(c.in); !slices.Equal(got, c.want) {
			t.Errorf("%s: sort keys %v, want %v", c.name, got, c.want)
		}
	}
	none, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("ranged"), KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": str("nobody")}})
	if err != nil || len(none.Items) != 0 {
		t.Errorf("a partition with no items: %v, %d items", err, len(none.Items))
	}
	// A key value of a type no key has: moto's answer, no items.
	odd, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("ranged"), KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberL{Value: []types.AttributeValue{str("p3")}}}})
	if err != nil || len(odd.Items) != 0 {
		t.Errorf("a list as the key: %v, %d items", err, len(odd.Items))
	}
	flat, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("flat"), KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": str("f4")}})
	if err != nil || len(flat.Items) != 1 || flat.Items[0]["pk"].(*types.AttributeValueMemberS).Value != "f4" {
		t.Errorf("a table without a sort key: %v, %v", err, flat.Items)
	}
	// The index is read as moto reads it: every item of the table.
	idx, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("ranged"), IndexName: aws.String("byTag"), KeyConditionExpression: aws.String("tag = :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": str("t")}})
	if err != nil || len(idx.Items) != 50 {
		t.Errorf("the index: %v, %d items, want 50", err, len(idx.Items))
	}
}
