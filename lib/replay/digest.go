package replay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Digest is a digest of the items of some tables: equal digests mean the
// tables hold the same items, attribute for attribute, type for type
// (numbers by value, sets in any order).
type Digest struct {
	// Tables by logical name.
	Tables map[string]TableDigest `json:"tables"`
	// Sum covers every table's.
	Sum string `json:"sum"`
}

// TableDigest is one table's digest.
type TableDigest struct {
	Items int    `json:"items"`
	Sum   string `json:"sum"`
}

// Equal reports whether two digests cover the same tables with the same
// items.
func (d Digest) Equal(o Digest) bool { return d.Sum == o.Sum }

// Diff names the tables whose digests differ, with their item counts.
func (d Digest) Diff(o Digest) []string {
	var out []string
	names := map[string]bool{}
	for n := range d.Tables {
		names[n] = true
	}
	for n := range o.Tables {
		names[n] = true
	}
	for _, n := range sortedKeys(names) {
		a, b := d.Tables[n], o.Tables[n]
		if a.Sum != b.Sum {
			out = append(out, fmt.Sprintf("%s (%d items / %d items)", n, a.Items, b.Items))
		}
	}
	return out
}

type scanAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// DigestTables scans the tables (logical name -> physical name) and
// digests their items (strongly consistent reads).
func DigestTables(ctx context.Context, db scanAPI, tables map[string]string) (Digest, error) {
	items := map[string][]map[string]types.AttributeValue{}
	for logical, physical := range tables {
		var list []map[string]types.AttributeValue
		p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(physical), ConsistentRead: aws.Bool(true)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return Digest{}, fmt.Errorf("replay: scan %s: %w", physical, err)
			}
			list = append(list, page.Items...)
		}
		items[logical] = list
	}
	return DigestOf(items), nil
}

// DigestOf digests items by table (logical name), as DigestTables does
// those it scans.
func DigestOf(tables map[string][]map[string]types.AttributeValue) Digest {
	d := Digest{Tables: map[string]TableDigest{}}
	all := sha256.New()
	for _, name := range sortedKeys(tables) {
		lines := make([]string, 0, len(tables[name]))
		for _, it := range tables[name] {
			var b bytes.Buffer
			canonicalMap(&b, it)
			lines = append(lines, b.String())
		}
		slices.Sort(lines)
		h := sha256.New()
		for _, l := range lines {
			h.Write([]byte(l))
			h.Write([]byte{'\n'})
		}
		td := TableDigest{Items: len(lines), Sum: hex.EncodeToString(h.Sum(nil))}
		d.Tables[name] = td
		fmt.Fprintf(all, "%s\t%s\n", name, td.Sum)
	}
	d.Sum = hex.EncodeToString(all.Sum(nil))
	return d
}

// canonicalMap writes an item as text that is equal for equal items: keys
// sorted, numbers as exact fractions, sets sorted, every value tagged with
// its type.
func canonicalMap(b *bytes.Buffer, m map[string]types.AttributeValue) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(k))
		b.WriteByte(':')
		canonicalValue(b, m[k])
	}
	b.WriteByte('}')
}

func canonicalValue(b *bytes.Buffer, v types.AttributeValue) {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		b.WriteString("S" + strconv.Quote(x.Value))
	case *types.AttributeValueMemberN:
		b.WriteString("N" + canonicalNumber(x.Value))
	case *types.AttributeValueMemberBOOL:
		b.WriteString("BOOL" + strconv.FormatBool(x.Value))
	case *types.AttributeValueMemberNULL:
		b.WriteString("NULL")
	case *types.AttributeValueMemberB:
		b.WriteString("B" + base64.StdEncoding.EncodeToString(x.Value))
	case *types.AttributeValueMemberSS:
		b.WriteString("SS")
		sortedList(b, x.Value, strconv.Quote)
	case *types.AttributeValueMemberNS:
		b.WriteString("NS")
		sortedList(b, x.Value, canonicalNumber)
	case *types.AttributeValueMemberBS:
		b.WriteString("BS")
		sortedList(b, x.Value, base64.StdEncoding.EncodeToString)
	case *types.AttributeValueMemberL:
		b.WriteString("L[")
		for i, e := range x.Value {
			if i > 0 {
				b.WriteByte(',')
			}
			canonicalValue(b, e)
		}
		b.WriteByte(']')
	case *types.AttributeValueMemberM:
		b.WriteString("M")
		canonicalMap(b, x.Value)
	default:
		fmt.Fprintf(b, "?%T", v)
	}
}

func sortedList[E any](b *bytes.Buffer, xs []E, text func(E) string) {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = text(x)
	}
	slices.Sort(s)
	b.WriteByte('[')
	for i, x := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x)
	}
	b.WriteByte(']')
}

// canonicalNumber is a DynamoDB number as an exact fraction ("3/2"), the
// same for every spelling of the same value ("1.50", "15e-1").
func canonicalNumber(s string) string {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return strconv.Quote(s)
	}
	return r.RatString()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
