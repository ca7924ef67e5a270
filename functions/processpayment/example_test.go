package processpayment_test

import (
	"fmt"

	"github.com/threefactor/framework/functions/processpayment"
	"github.com/threefactor/framework/gateway/orders"
)

func ExampleDecide() {
	o := orders.Order{Status: orders.Validated, TotalCents: 1800,
		PaymentIntent: &orders.PaymentIntent{ID: "pi_1", AmountCents: 1700}}
	act, why := processpayment.Decide(o)
	fmt.Println(act == processpayment.Decline, why)
	// Output: true payment declined: amount 1700 cents does not match the order total of 1800 cents
}

func ExampleParseFailureRate() {
	r, err := processpayment.ParseFailureRate("0.25")
	fmt.Println(r, err)
	_, err = processpayment.ParseFailureRate("25%")
	fmt.Println(err)
	// Output:
	// 0.25 <nil>
	// PAYMENT_FAILURE_RATE="25%": want a number from 0 to 1
}
