// Command echo is a Lambda function for lambdarun's tests: it answers
// with what it is asked for, fails when told to, and fails at start when
// FAIL_INIT is set.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

type request struct {
	// Env names a variable to answer with.
	Env string `json:"env"`
	// Fail makes the handler return an error with this message.
	Fail string `json:"fail"`
	// Sleep makes the handler wait this long (a Go duration).
	Sleep string `json:"sleep"`
	// Exit makes the process exit.
	Exit bool `json:"exit"`
}

type response struct {
	Value string `json:"value"`
}

func main() {
	if v := os.Getenv("FAIL_INIT"); v != "" {
		fmt.Fprintf(os.Stderr, "echo: FAIL_INIT is set (%s)\n", v)
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context, r request) (response, error) {
		switch {
		case r.Fail != "":
			return response{}, errors.New(r.Fail)
		case r.Exit:
			fmt.Fprintln(os.Stderr, "echo: exiting as asked")
			os.Exit(3)
		case r.Sleep != "":
			d, err := time.ParseDuration(r.Sleep)
			if err != nil {
				return response{}, err
			}
			time.Sleep(d)
		}
		return response{Value: os.Getenv(r.Env)}, nil
	})
}
