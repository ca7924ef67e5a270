package emulator

import (
	"bytes"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// BufferRequestBodies wraps c (nil: the SDK's default HTTP client) so
// that every request body is read into memory before it is sent. Configs
// for a server on loopback (Config, and the dev runtime's config for what
// AWS_ENDPOINT_URL names) use it; against AWS it costs a copy of each
// small body and changes nothing else. Wrap the client of a loaded config
// (cfg.HTTPClient = BufferRequestBodies(cfg.HTTPClient)): the config
// loader only applies AWS_CA_BUNDLE to its own client type.
//
// Why: the SDK hands net/http a request body wrapped in a closer of its
// own (smithy-go's safe read closer) and closes it as soon as Do returns,
// that is, as soon as the response headers arrived. net/http sends such a
// body (not a known in-memory reader) after the headers, then reads it
// once more to check for extra bytes. A server on loopback, moto among
// them, can answer in the window between the two reads: the second read
// then meets the closed body, whose WriteTo reports io.EOF as an error,
// the transport takes that for a failed write and closes the connection,
// and the response body, still unread, can no longer be read. The SDK
// logs it as "failed to discard remaining HTTP response body" and, for
// DynamoDB, whose response checksum then covers a partial body, "response
// did not match expected checksum"; the call itself is retried. A body
// net/http knows to be in memory is sent with the headers in one write and
// is not the SDK's to close, so the window does not exist.
func BufferRequestBodies(c aws.HTTPClient) aws.HTTPClient {
	if _, done := c.(bufferedBodies); done {
		return c
	}
	if c == nil {
		c = awshttp.NewBuildableClient()
	}
	return bufferedBodies{next: c}
}

type bufferedBodies struct{ next aws.HTTPClient }

func (c bufferedBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return c.next.Do(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	out := r.Clone(r.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.ContentLength = int64(len(body))
	return c.next.Do(out)
}
