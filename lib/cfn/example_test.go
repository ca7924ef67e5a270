package cfn_test

import (
	"fmt"

	"github.com/threefactor/framework/lib/cfn"
)

// Resolve a function's environment against the names of local resources.
func ExampleResolver() {
	tmpl, err := cfn.Parse([]byte(`{"Resources": {
		"Orders": {"Type": "AWS::DynamoDB::Table"},
		"Role": {"Type": "AWS::IAM::Role"},
		"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
			"Role": {"Fn::GetAtt": ["Role", "Arn"]},
			"Environment": {"Variables": {"TABLE_ORDERS": {"Ref": "Orders"}}}}}}}`))
	if err != nil {
		panic(err)
	}
	fn, _ := tmpl.Function("Fn")
	r := &cfn.Resolver{Template: tmpl, Region: "us-east-1"}
	r.Bind("Orders", "app-orders", nil)
	v, err := r.Resolve(fn.Env["TABLE_ORDERS"])
	fmt.Println(v, err)
	// Output: app-orders <nil>
}
