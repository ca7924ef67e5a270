// A line-oriented driver around the graphql-ws client, for the Go
// end-to-end tests: commands arrive as JSON lines on stdin, what the
// clients observe leaves as JSON lines on stdout.
//
// Commands:
//   {"cmd":"connect","client":"a","url":"ws://...","keepAlive":ms,"connectionParams":{...}}
//        -> {"event":"connected","client":"a","ack":...}; with keepAlive, the
//           client pings every ms and reports {"event":"pong","client":"a"};
//           connectionParams is the connection_init payload (the token:
//           {"Authorization":"Bearer <jwt>"}); a refused one ->
//           {"event":"closed","client":"a","code":4403,"reason":"Forbidden"}
//   {"cmd":"subscribe","client":"a","sub":"s1","query":"...","variables":{...}}
//        -> {"event":"next","sub":"s1","payload":...} per value, then
//           {"event":"complete","sub":"s1"} or {"event":"error","sub":"s1","error":...}
//   {"cmd":"unsubscribe","sub":"s1"}                        -> {"event":"unsubscribed","sub":"s1"}
//   {"cmd":"terminate","client":"a"}  drops the socket abruptly -> {"event":"terminated","client":"a"}
//   {"cmd":"dispose","client":"a"}    closes it with 1000      -> {"event":"disposed","client":"a"}
// Every event carries "at", the client's clock in ms.
import { createInterface } from 'node:readline';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const clients = new Map();
const subs = new Map();

function emit(ev) {
  process.stdout.write(JSON.stringify({ ...ev, at: Date.now() }) + '\n');
}

function errorOf(err) {
  if (err && typeof err === 'object' && 'code' in err && 'reason' in err) {
    return { closeCode: err.code, reason: err.reason };
  }
  if (Array.isArray(err)) return { graphql: err };
  return { message: String(err && err.message ? err.message : err) };
}

function handle(cmd) {
  switch (cmd.cmd) {
    case 'connect': {
      const client = createClient({
        url: cmd.url,
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 0,
        keepAlive: cmd.keepAlive ?? 0,
        connectionParams: cmd.connectionParams ?? {},
        on: {
          connected: (_socket, payload) => emit({ event: 'connected', client: cmd.client, ack: payload ?? null }),
          closed: (e) => emit({ event: 'closed', client: cmd.client, code: e?.code, reason: e?.reason }),
          pong: (received) => emit({ event: 'pong', client: cmd.client, received }),
        },
        onNonLazyError: (err) => emit({ event: 'connect-error', client: cmd.client, error: errorOf(err) }),
      });
      clients.set(cmd.client, client);
      return;
    }
    case 'subscribe': {
      const client = clients.get(cmd.client);
      const dispose = client.subscribe(
        { query: cmd.query, variables: cmd.variables ?? {}, operationName: cmd.operationName },
        {
          next: (payload) => emit({ event: 'next', sub: cmd.sub, payload }),
          error: (err) => emit({ event: 'error', sub: cmd.sub, error: errorOf(err) }),
          complete: () => emit({ event: 'complete', sub: cmd.sub }),
        },
      );
      subs.set(cmd.sub, dispose);
      return;
    }
    case 'unsubscribe': {
      // Sends a complete message for the subscription.
      subs.get(cmd.sub)?.();
      subs.delete(cmd.sub);
      emit({ event: 'unsubscribed', sub: cmd.sub });
      return;
    }
    case 'terminate': {
      // Drops the socket without a close handshake, like a phone losing its network.
      clients.get(cmd.client)?.terminate();
      emit({ event: 'terminated', client: cmd.client });
      return;
    }
    case 'dispose': {
      const c = clients.get(cmd.client);
      clients.delete(cmd.client);
      Promise.resolve(c?.dispose()).then(() => emit({ event: 'disposed', client: cmd.client }));
      return;
    }
    default:
      emit({ event: 'bad-command', cmd });
  }
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  try {
    handle(JSON.parse(line));
  } catch (err) {
    emit({ event: 'bad-command', error: String(err) });
  }
});
rl.on('close', async () => {
  for (const c of clients.values()) await c.dispose();
  process.exit(0);
});
emit({ event: 'ready' });
