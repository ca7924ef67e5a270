// Runs one client of docs/clients.md against the dev runtime: the doc's
// `js test=<client>` block, as written there (with the resumable helper
// of docs/realtime.md it imports), places an order, waits for it to be
// VALIDATED, subscribes to orderUpdated, and once the Go test has seen
// the subscription stored (it writes "go" on stdin) pays the order and
// collects the pushes up to DRIVER_ASSIGNED.
//
// With "resume", the network drops instead once the first push (the
// order as it is) has arrived: the socket is cut and new ones cannot
// connect while the order is paid, approved and assigned; then the
// network comes back, the client reconnects on its own and resumes with
// after, and the pushes up to DRIVER_ASSIGNED are collected, with the
// subscribe messages the client sent.
//
// One JSON line per step on stdout; exit 1 with the reason on stderr when
// a step fails.
//
//   TOKEN=... node tests/js/clients.mjs apollo|urql|graphql-ws http://127.0.0.1:8080 [resume]
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const [which, base, mode] = process.argv.slice(2);
const token = process.env.TOKEN;
if (!which || !base || !token) {
  console.error('usage: TOKEN=... node tests/js/clients.mjs apollo|urql|graphql-ws http://127.0.0.1:PORT');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const step = (name, extra = {}) => console.log(JSON.stringify({ step: name, ...extra }));
const deadline = 60_000;

// The blocks, written next to this file so that their imports resolve
// to tests/js/node_modules (and the client's to ./resumable.js).
const docBlock = (name, test) => {
  const doc = readFileSync(join(here, '..', '..', 'docs', name), 'utf8');
  const block = doc.match(new RegExp('```js test=' + test + '\\n([\\s\\S]*?)\\n```'));
  if (!block) {
    console.error(`docs/${name} has no \`\`\`js test=${test} block`);
    process.exit(2);
  }
  return block[1];
};
const helper = join(here, 'resumable.js');
const file = join(here, `.doc-${which}-${process.pid}.mjs`);
writeFileSync(helper, docBlock('realtime.md', 'resumable'));
writeFileSync(file, docBlock('clients.md', which));
let mod;
try {
  mod = await import(file);
} finally {
  rmSync(file, { force: true });
  rmSync(helper, { force: true });
}

// The network, as the client's sockets see it: every socket is tracked
// (to cut it), every message it sends recorded, and while offline a new
// socket goes nowhere (a refused connection).
const sockets = [];
const sent = [];
let offline = false;
const refused = []; // the sockets opened while offline
class Network extends WebSocket {
  constructor(url, protocols) {
    super(offline ? 'ws://127.0.0.1:9/graphql' : url, protocols);
    sockets.push(this);
    if (offline) refused.push(this);
    const send = this.send.bind(this);
    this.send = (data, ...rest) => {
      sent.push(String(data));
      return send(data, ...rest);
    };
  }
}
const opts = {
  httpUrl: `${base}/graphql`,
  wsUrl: `${base.replace(/^http/, 'ws')}/graphql`,
  getToken: () => token,
  webSocketImpl: Network,
};

const PLACE = 'mutation PlaceOrder($input: PlaceOrderInput!) { placeOrder(input: $input) { id status } }';
const ORDER = 'query Order($id: ID!) { order(id: $id) { id status totalCents } }';
const PAY = 'mutation PayOrder($id: ID!, $amount: Int!) { payOrder(input: {orderId: $id, amountCents: $amount}) { id status } }';
const WATCH = 'subscription Watch($id: ID!, $after: String) { orderUpdated(id: $id, after: $after) { id status driverId } }';
const input = { restaurantId: 'r-pizza', items: [{ menuItemId: 'margherita', quantity: 2 }] };

// Each client's own calls: what an app written with it does.
const clients = {
  async apollo() {
    const { gql } = await import('@apollo/client');
    const client = mod.createApolloClient(opts);
    return {
      place: async () => (await client.mutate({ mutation: gql(PLACE), variables: { input } })).data.placeOrder,
      order: async (id) => (await client.query({ query: gql(ORDER), variables: { id }, fetchPolicy: 'network-only' })).data.order,
      pay: async (id, amount) => (await client.mutate({ mutation: gql(PAY), variables: { id, amount } })).data.payOrder,
      watch: (id, next, error) => {
        const s = client.subscribe({ query: gql(WATCH), variables: { id } }).subscribe({
          next: (r) => (r.error ? error(r.error) : next(r.data.orderUpdated)),
          error,
        });
        return () => s.unsubscribe();
      },
      close: () => client.stop(),
    };
  },
  async urql() {
    const client = mod.createUrqlClient(opts);
    const ok = (r) => {
      if (r.error) throw r.error;
      return r.data;
    };
    return {
      place: async () => ok(await client.mutation(PLACE, { input }).toPromise()).placeOrder,
      order: async (id) => ok(await client.query(ORDER, { id }, { requestPolicy: 'network-only' }).toPromise()).order,
      pay: async (id, amount) => ok(await client.mutation(PAY, { id, amount }).toPromise()).payOrder,
      watch: (id, next, error) => {
        const s = client.subscription(WATCH, { id }).subscribe((r) => (r.error ? error(r.error) : next(r.data.orderUpdated)));
        return () => s.unsubscribe();
      },
      close: () => {},
    };
  },
  async 'graphql-ws'() {
    const w = mod.createOrderWatcher(opts);
    return {
      place: async () => (await w.graphql(PLACE, { input })).placeOrder,
      order: async (id) => (await w.graphql(ORDER, { id })).order,
      pay: async (id, amount) => (await w.graphql(PAY, { id, amount })).payOrder,
      watch: (id, next, error) => w.watch(id, next, error),
      close: () => w.close(),
    };
  },
};
if (!clients[which]) {
  console.error(`no client ${which}: apollo, urql or graphql-ws`);
  process.exit(2);
}

const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));

try {
  const c = await clients[which]();
  const placed = await c.place();
  if (placed.status !== 'PLACED') throw new Error(`placeOrder: ${JSON.stringify(placed)}`);
  step('placed', { id: placed.id });

  let order = placed;
  for (const start = Date.now(); order.status !== 'VALIDATED'; ) {
    if (Date.now() - start > deadline) throw new Error(`order ${placed.id} is ${order.status}, not VALIDATED`);
    await new Promise((r) => setTimeout(r, 100));
    order = await c.order(placed.id);
  }

  const statuses = [];
  let first;
  const firstPush = new Promise((resolve) => (first = resolve));
  const done = new Promise((resolve, reject) => {
    const stop = c.watch(
      placed.id,
      (o) => {
        if (o.id !== placed.id) reject(new Error(`a push of ${o.id}`));
        statuses.push(o.status);
        first();
        if (o.status === 'DRIVER_ASSIGNED') {
          stop();
          resolve();
        }
      },
      (err) => reject(err instanceof Error ? err : new Error(JSON.stringify(err))),
    );
    setTimeout(() => reject(new Error(`no DRIVER_ASSIGNED within ${deadline} ms; pushes: ${statuses.join(' ')}`)), deadline).unref();
  });
  if (mode === 'resume') {
    await firstPush; // the order as it is: the subscription is stored
    step('subscribed', { id: placed.id });
    offline = true;
    for (const s of sockets) s.terminate(); // the network drops
    const paid = await c.pay(placed.id, order.totalCents);
    step('paid', { id: paid.id, status: paid.status });
    for (const start = Date.now(); order.status !== 'DRIVER_ASSIGNED'; ) {
      if (Date.now() - start > deadline) throw new Error(`order ${placed.id} is ${order.status}, not DRIVER_ASSIGNED`);
      await new Promise((r) => setTimeout(r, 100));
      order = await c.order(placed.id);
    }
    step('missed', { status: order.status, pushes: statuses.length });
    // A phone without network: the client's reconnects are refused until
    // it is back, and the subscription must outlive that.
    for (const start = Date.now(); !refused.some((s) => s.readyState === WebSocket.CLOSED); ) {
      if (Date.now() - start > deadline) throw new Error('the client never tried to reconnect while offline');
      await new Promise((r) => setTimeout(r, 50));
    }
    step('refused', { attempts: refused.length });
    offline = false; // the client reconnects on its own
    await done;
    const subscribes = sent.map((m) => JSON.parse(m)).filter((m) => m.type === 'subscribe');
    step('pushes', { id: placed.id, statuses, subscribes: subscribes.map((m) => m.payload.variables) });
  } else {
    step('subscribed', { id: placed.id });
    await nextLine(); // the Go test saw the subscription stored

    const paid = await c.pay(placed.id, order.totalCents);
    step('paid', { id: paid.id, status: paid.status });
    await done;
    step('pushes', { id: placed.id, statuses });
  }
  c.close();
  lines.close();
  process.exit(0);
} catch (err) {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
}
