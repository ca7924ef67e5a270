package graphqlhttp

import (
	"bytes"
	"fmt"
	"html/template"
)

// The page loads GraphiQL, React and the graphql-ws client from a public
// CDN at pinned versions: the handler ships no JavaScript. It queries the
// path it was served from (location.pathname), so it works at any mount
// point, behind API Gateway stages and custom domains alike.
var graphiqlPage = template.Must(template.New("graphiql").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>GraphiQL</title>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3.9.0/graphiql.min.css" crossorigin="anonymous">
<style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL&hellip;</div>
<script src="https://unpkg.com/react@18.3.1/umd/react.production.min.js" crossorigin="anonymous"></script>
<script src="https://unpkg.com/react-dom@18.3.1/umd/react-dom.production.min.js" crossorigin="anonymous"></script>
<script src="https://unpkg.com/graphql-ws@5.16.2/umd/graphql-ws.min.js" crossorigin="anonymous"></script>
<script src="https://unpkg.com/graphiql@3.9.0/graphiql.min.js" crossorigin="anonymous"></script>
<script>
(function () {
  var options = {
    url: window.location.pathname,
    headers: { Accept: "application/graphql-response+json, application/json" }
  };
  var subscriptions = {{.SubscriptionsURL}};
  if (subscriptions) {
    if (subscriptions.charAt(0) === "/") {
      subscriptions = (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + subscriptions;
    }
    // graphql-ws speaks graphql-transport-ws, the protocol of the
    // framework's WebSocket transport.
    options.wsClient = graphqlWs.createClient({ url: subscriptions, lazy: true });
  }
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, { fetcher: GraphiQL.createFetcher(options) })
  );
})();
</script>
</body>
</html>
`))

// renderGraphiQL renders the page once, when the Handler is made.
func renderGraphiQL(subscriptionsURL string) ([]byte, error) {
	var b bytes.Buffer
	if err := graphiqlPage.Execute(&b, struct{ SubscriptionsURL string }{subscriptionsURL}); err != nil {
		return nil, fmt.Errorf("render graphiql page: %w", err)
	}
	return b.Bytes(), nil
}
