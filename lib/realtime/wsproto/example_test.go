package wsproto_test

import (
	"fmt"

	"github.com/threefactor/framework/lib/realtime/wsproto"
)

func ExampleDecode() {
	m, err := wsproto.Decode([]byte(`{"id":"1","type":"subscribe","payload":{"query":"subscription($id: ID!) { orderUpdated(id: $id) { status } }","variables":{"id":"ord_1"}}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := m.SubscribePayload()
	fmt.Println(m.Type, m.ID, p.Variables["id"])

	_, err = wsproto.Decode([]byte(`{"type":"start"}`))
	fmt.Println(err)
	// Output:
	// subscribe 1 ord_1
	// invalid message: unexpected message type "start"
}
