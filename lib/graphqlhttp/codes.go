package graphqlhttp

import "github.com/threefactor/framework/lib/errs"

// Error codes this package puts in extensions.code, beside the lib/errs
// codes that resolver errors carry. They follow the names Apollo clients
// already know where one exists.
const (
	// CodeBadRequest: the HTTP request is not a GraphQL request (malformed
	// JSON, no query, variables that are not an object).
	CodeBadRequest errs.Code = "BAD_REQUEST"
	// CodeParseFailed: the query is not valid GraphQL syntax.
	CodeParseFailed errs.Code = "GRAPHQL_PARSE_FAILED"
	// CodeValidationFailed: the query does not validate against the schema,
	// or names an operation the document does not have.
	CodeValidationFailed errs.Code = "GRAPHQL_VALIDATION_FAILED"
	// CodeQueryTooLarge: the query text is longer than MaxQueryLength.
	CodeQueryTooLarge errs.Code = "QUERY_TOO_LARGE"
	// CodeQueryTooDeep: fields nest deeper than MaxDepth.
	CodeQueryTooDeep errs.Code = "QUERY_TOO_DEEP"
	// CodeQueryTooComplex: the query exceeds OverlapValidationLimit or
	// MaxSelections.
	CodeQueryTooComplex errs.Code = "QUERY_TOO_COMPLEX"
	// CodeIntrospectionDisabled: __schema or __type asked of a schema that
	// does not allow introspection.
	CodeIntrospectionDisabled errs.Code = "INTROSPECTION_DISABLED"
	// CodeOperationNotSupported: a subscription sent over HTTP; they are
	// served over WebSocket (graphql-transport-ws).
	CodeOperationNotSupported errs.Code = "OPERATION_NOT_SUPPORTED"
	// CodeMethodNotAllowed: a method other than POST (or GET for queries).
	CodeMethodNotAllowed errs.Code = "METHOD_NOT_ALLOWED"
	// CodePayloadTooLarge: the body is longer than MaxBodyBytes.
	CodePayloadTooLarge errs.Code = "PAYLOAD_TOO_LARGE"
	// CodeUnsupportedMediaType: a POST body that is not application/json.
	CodeUnsupportedMediaType errs.Code = "UNSUPPORTED_MEDIA_TYPE"
	// CodeNotAcceptable: the Accept header allows no JSON response.
	CodeNotAcceptable errs.Code = "NOT_ACCEPTABLE"
	// CodeTimeout: the request ran out of time; fields not resolved by
	// then are null.
	CodeTimeout errs.Code = "TIMEOUT"
)
