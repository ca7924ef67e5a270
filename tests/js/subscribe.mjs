// Subscribes with the graphql-ws client and prints each result as a JSON
// line until interrupted:
//
//   TOKEN=$(make -s token USER=alice) node tests/js/subscribe.mjs ws://127.0.0.1:8080/graphql 'subscription { ... }' ['{"var":"value"}']
//
// The token (TOKEN) goes in connection_init's payload, as
// {"Authorization": "Bearer <token>"}.
// (make deps installs graphql-ws in tests/js.)
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, query, variables] = process.argv.slice(2);
if (!url || !query) {
  console.error("usage: node tests/js/subscribe.mjs WS_URL QUERY [VARIABLES_JSON]");
  process.exit(2);
}
const token = process.env.TOKEN;
const client = createClient({ url, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0,
  connectionParams: () => (token ? { Authorization: `Bearer ${token}` } : {}),
  on: { connected: () => console.error(`connected to ${url}`) } });
client.subscribe({ query, variables: variables ? JSON.parse(variables) : {} }, {
  next: (result) => console.log(JSON.stringify(result)),
  error: (err) => { console.error(err instanceof Error ? err.message : JSON.stringify(err)); process.exit(1); },
  complete: () => process.exit(0),
});
process.on('SIGINT', () => { client.dispose(); process.exit(0); });
