// The threefactor console: plain JavaScript, no build step. Everything it
// shows comes from the console's JSON API and its live stream (Server-Sent
// Events); data is only ever put on the page as text.

const API = "/console/api";
const MAX_EVENTS = 500;

const state = {
  events: new Map(), // event id -> {change, deliveries, pushes}
  selected: null,
  routes: [],
  depths: new Map(), // route -> {visible, inFlight}
  view: "events",
  traceId: "",
  itemKey: "",
  deadLetters: true,
  eventLog: true,
};

// ---------- helpers

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") e.className = v;
    // Through the CSSOM: the page's CSP allows no style attributes.
    else if (k === "style") Object.assign(e.style, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

async function api(path, opts) {
  const r = await fetch(API + path, opts);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body.error && body.error.message) || r.status + " " + r.statusText);
  return body;
}

function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

function toast(msg, error) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.className = "toast" + (error ? " error" : "");
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), error ? 8000 : 4000);
}

const pad = (n, w = 2) => String(n).padStart(w, "0");
function clock(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
function dateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(iso)}`;
}
function changeTime(c) {
  return c.approximateCreationTime && !c.approximateCreationTime.startsWith("0001-") ? c.approximateCreationTime : c.loggedAt;
}
function short(s, n = 10) {
  s = String(s || "");
  return s.length > n + 1 ? s.slice(0, n) + "…" : s;
}
function value(v) {
  if (v === undefined) return "—";
  const s = typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v);
  return s.length > 120 ? s.slice(0, 117) + "…" : s;
}
// errorText is a delivery's error with its code, said once.
function errorText(d) {
  if (!d.error) return "";
  return d.code && !d.error.startsWith(d.code) ? `${d.code}: ${d.error}` : d.error;
}

function ms(n) {
  if (n == null) return "";
  return n < 10 ? n.toFixed(1) + " ms" : Math.round(n) + " ms";
}

const itemLink = (key) => el("a", { href: "#/item/" + encodeURIComponent(key) }, key);
const traceLink = (id, text) => (id ? el("a", { href: "#/trace/" + encodeURIComponent(id), class: "mono", title: id }, text || short(id, 12)) : el("span", { class: "muted" }, "—"));
const eventLink = (id, text) => el("a", { href: "#/events/" + encodeURIComponent(id), class: "mono", title: id }, text || short(id, 12));
const opBadge = (op) => el("span", { class: "op " + op }, op);

// changes of a change event: [attr, old, new] for what changed.
function changesOf(c) {
  const oldI = c.old || {};
  const newI = c.new || {};
  let names = c.changed && c.changed.length ? c.changed : [];
  if (!names.length) {
    if (c.operation === "INSERT") names = Object.keys(newI);
    else if (c.operation === "REMOVE") names = Object.keys(oldI);
  }
  return names.map((n) => [n, oldI[n], newI[n]]);
}

function summary(c) {
  if (c.reduced) return "(images too large: keys only)";
  const ch = changesOf(c);
  const status = ch.find(([n]) => n === "status");
  if (status) {
    return c.operation === "INSERT" ? `status ${value(status[2])}` : `status ${value(status[1])} → ${value(status[2])}`;
  }
  if (c.operation === "INSERT") return "new item";
  if (c.operation === "REMOVE") return "removed";
  return ch.map(([n]) => n).join(", ") || "no attribute changed";
}

// deliveryChips groups an event's deliveries by route: the last outcome,
// and how many attempts it took.
function deliveryChips(v) {
  const byRoute = new Map();
  for (const d of v.deliveries || []) {
    const k = d.route || d.function;
    const list = byRoute.get(k) || [];
    list.push(d);
    byRoute.set(k, list);
  }
  const chips = [];
  for (const [route, list] of byRoute) {
    const last = list[list.length - 1];
    const attempts = Math.max(...list.map((d) => d.attempt));
    chips.push(el("span", { class: "chip " + last.outcome, title: `${route} → ${last.function}: ${last.outcome} at attempt ${last.attempt}` + (last.error ? `\n${last.error}` : "") },
      `${route} ${last.outcome}${attempts > 1 ? " ×" + attempts : ""}`));
  }
  const pushes = v.pushes || [];
  if (pushes.length) chips.push(el("span", { class: "chip push", title: pushes.map((p) => `${p.topic} → ${p.connectionId}: ${p.outcome}`).join("\n") }, `pushed ×${pushes.length}`));
  if (!chips.length) chips.push(el("span", { class: "chip none" }, "no deliveries"));
  return el("div", { class: "chips" }, chips);
}

// ---------- events

function sortedEvents() {
  return [...state.events.values()].sort((a, b) => {
    const ta = changeTime(a.change), tb = changeTime(b.change);
    if (ta !== tb) return ta < tb ? 1 : -1;
    return a.change.sequenceNumber.length !== b.change.sequenceNumber.length
      ? b.change.sequenceNumber.length - a.change.sequenceNumber.length
      : b.change.sequenceNumber.localeCompare(a.change.sequenceNumber);
  });
}

function upsert(v, fresh) {
  if (!v || !v.change) return;
  const had = state.events.has(v.change.id);
  state.events.set(v.change.id, v);
  if (state.events.size > MAX_EVENTS) {
    const list = sortedEvents();
    for (const old of list.slice(MAX_EVENTS)) state.events.delete(old.change.id);
  }
  return fresh && !had;
}

function renderEvents(freshIds) {
  const body = document.getElementById("events-body");
  const list = sortedEvents();
  body.replaceChildren(...list.map((v) => {
    const c = v.change;
    return el("tr", {
      "data-event": c.id,
      class: (c.id === state.selected ? "selected " : "") + (freshIds && freshIds.has(c.id) ? "fresh" : ""),
      onclick: (e) => { if (e.target.closest("a")) return; location.hash = "#/events/" + encodeURIComponent(c.id); },
    },
    el("td", { class: "time", title: dateTime(changeTime(c)) }, clock(changeTime(c))),
    el("td", { title: c.item }, itemLink(c.item)),
    el("td", {}, opBadge(c.operation)),
    el("td", { class: "summary", title: summary(c) }, summary(c)),
    el("td", {}, deliveryChips(v)),
    el("td", {}, traceLink(c.correlationId)));
  }));
  document.getElementById("events-empty").hidden = list.length > 0;
  document.getElementById("events-table").hidden = list.length === 0;
  document.getElementById("event-count").textContent = list.length ? `${list.length} event(s), newest first` : "";
}

function renderDetail() {
  const pane = document.getElementById("event-detail");
  const v = state.selected && state.events.get(state.selected);
  if (!v) {
    pane.replaceChildren(el("p", { class: "empty" }, state.selected ? "Loading…" : "Select an event to see its change, its deliveries to functions and its realtime pushes."));
    return;
  }
  pane.replaceChildren(...eventDetail(v));
}

function eventDetail(v) {
  const c = v.change;
  const out = [];
  out.push(el("div", { class: "detail-title" }, opBadge(c.operation), el("h2", {}, c.item)));
  out.push(el("dl", { class: "meta" },
    el("dt", {}, "event"), el("dd", { class: "mono" }, c.id),
    el("dt", {}, "committed"), el("dd", {}, dateTime(changeTime(c))),
    el("dt", {}, "sequence"), el("dd", { class: "mono" }, c.sequenceNumber),
    el("dt", {}, "correlation"), el("dd", {}, traceLink(c.correlationId, c.correlationId)),
    c.causedBy ? [el("dt", {}, "caused by"), el("dd", {}, c.causedBy)] : null,
    el("dt", {}, "item"), el("dd", {}, itemLink(c.item))));
  const ch = changesOf(c);
  if (ch.length) {
    out.push(el("h3", {}, c.operation === "MODIFY" ? "Changed" : c.operation === "INSERT" ? "New item" : "Removed item"));
    out.push(el("table", { class: "diff small" },
      el("thead", {}, el("tr", {}, el("th", {}, "attribute"), el("th", {}, "old"), el("th", {}, "new"))),
      el("tbody", {}, ch.map(([n, o, nw]) => el("tr", {}, el("td", { class: "attr" }, n), el("td", { class: "old" }, value(o)), el("td", { class: "new" }, value(nw)))))));
  }
  out.push(el("h3", {}, `Deliveries (${v.deliveries.length})`));
  out.push(v.deliveries.length ? el("table", { class: "small deliveries" },
    el("thead", {}, el("tr", {}, ["time", "route", "function", "attempt", "outcome", "took"].map((h) => el("th", {}, h)))),
    // A failure's error gets a row of its own, under its delivery.
    v.deliveries.map((d) => el("tbody", { class: "delivery" },
      el("tr", {},
        el("td", { class: "time" }, clock(d.at)), el("td", { class: "route" }, d.route), el("td", {}, d.function), el("td", {}, d.attempt),
        el("td", { class: "outcome" }, el("span", { class: "chip " + d.outcome }, d.outcome)), el("td", {}, ms(d.durationMs))),
      d.error ? el("tr", { class: "error-row" }, el("td", { class: "err", colspan: 6 }, errorText(d))) : null))) : el("p", { class: "empty" }, "No function was given this change (no route matched, or not yet)."));
  out.push(el("h3", {}, `Realtime pushes (${v.pushes.length})`));
  out.push(v.pushes.length ? el("table", { class: "small pushes" },
    el("thead", {}, el("tr", {}, ["time", "topic", "connection", "subscription", "outcome", "took"].map((h) => el("th", {}, h)))),
    el("tbody", {}, v.pushes.map((p) => el("tr", {},
      el("td", { class: "time" }, clock(p.at)), el("td", { class: "mono" }, p.topic), el("td", { class: "mono", title: p.connectionId }, short(p.connectionId, 12)),
      el("td", { class: "mono" }, p.subscriptionId), el("td", {}, el("span", { class: "chip " + (p.outcome === "ok" ? "ok" : p.outcome), title: p.catchUp ? "pushed by the subscription's catch-up (resume, or right after its snapshot)" : p.redelivered ? "kept when its delivery failed, delivered later (with the subscription's next push, or when the client was next heard from)" : "pushed by the fan-out" }, p.catchUp ? p.outcome + " · catch-up" : p.redelivered ? p.outcome + " · kept, delivered later" : p.outcome)), el("td", {}, ms(p.durationMs)))))) : el("p", { class: "empty" }, "No subscription was pushed this change."));
  const images = [];
  if (c.old) images.push(el("details", {}, el("summary", {}, "old image"), el("pre", {}, JSON.stringify(c.old, null, 2))));
  if (c.new) images.push(el("details", {}, el("summary", {}, "new image"), el("pre", {}, JSON.stringify(c.new, null, 2))));
  out.push(...images);
  return out;
}

async function loadRecent() {
  if (!state.eventLog) {
    const p = document.getElementById("events-empty");
    p.textContent = "This app's event log is disabled: only its dead letters are shown.";
    p.hidden = false;
    return;
  }
  try {
    const r = await api("/recent?limit=200");
    for (const v of r.events) upsert(v);
    renderEvents();
    if (state.selected) renderDetail();
  } catch (e) {
    toast("Could not read the event log: " + e.message, true);
  }
}

async function selectEvent(id) {
  state.selected = id;
  renderEvents();
  renderDetail();
  if (!state.events.has(id)) {
    try {
      upsert(await api("/events/" + encodeURIComponent(id)));
      renderEvents();
    } catch (e) {
      document.getElementById("event-detail").replaceChildren(el("p", { class: "empty" }, "No such event in the log: " + e.message));
      return;
    }
  }
  renderDetail();
}

// ---------- trace

async function showTrace(id) {
  state.traceId = id;
  document.getElementById("trace-input").value = id;
  const out = document.getElementById("trace-out");
  if (!id) {
    out.replaceChildren(el("p", { class: "empty" }, "Give a correlation id (each event has one: click it) to see everything its request caused, in time order."));
    return;
  }
  try {
    const t = await api("/trace/" + encodeURIComponent(id));
    if (state.traceId !== id) return;
    out.replaceChildren(timeline(t));
  } catch (e) {
    out.replaceChildren(el("p", { class: "empty" }, e.message));
  }
}

function timeline(t) {
  const entries = t.entries;
  if (!entries.length) return el("p", { class: "empty" }, "Nothing in the log carries this correlation id (yet).");
  const t0 = Date.parse(entries[0].at);
  const ends = entries.map((e) => Date.parse(e.at) + ((e.delivery && e.delivery.durationMs) || (e.push && e.push.durationMs) || 0));
  const span = Math.max(1, Math.max(...ends) - t0);
  const changes = entries.filter((e) => e.kind === "change").length;
  const deliveries = entries.filter((e) => e.kind === "delivery").length;
  const pushes = entries.filter((e) => e.kind === "push").length;
  const rows = entries.map((e) => {
    const at = Date.parse(e.at) - t0;
    let kind = e.kind, what, cls = "tl-row " + e.kind, dur = 0;
    if (e.change) {
      const c = e.change;
      what = el("span", {}, opBadge(c.operation), " ", itemLink(c.item), " ", el("span", {}, summary(c)), " ", eventLink(c.id, "event"));
    } else if (e.delivery) {
      const d = e.delivery;
      dur = d.durationMs || 0;
      if (d.outcome !== "ok") cls += " failed";
      what = el("span", {}, `${d.route} → ${d.function}, attempt ${d.attempt} `, el("span", { class: "chip " + d.outcome }, d.outcome), ` ${ms(d.durationMs)}`,
        d.error ? el("span", { class: "err mono" }, "  " + d.error) : null);
    } else {
      const p = e.push;
      dur = p.durationMs || 0;
      what = el("span", {}, `${p.topic} → connection ${short(p.connectionId, 10)} `, el("span", { class: "chip " + (p.outcome === "ok" ? "push" : p.outcome) }, p.outcome), ` ${ms(p.durationMs)}`);
    }
    const left = (100 * at) / span;
    const width = Math.max(0.4, (100 * dur) / span);
    return el("div", { class: cls, "data-kind": kind },
      el("span", { class: "offset" }, "+" + (at < 1000 ? at + " ms" : (at / 1000).toFixed(2) + " s")),
      el("span", { class: "kind" }, kind),
      el("span", { class: "what" }, what),
      el("span", { class: "track" }, el("span", { class: "bar", style: { left: `${Math.min(left, 99.6)}%`, width: `${Math.min(width, 100 - left)}%` } })));
  });
  return el("div", { class: "timeline" },
    el("div", { class: "tl-head" },
      el("span", {}, el("strong", {}, "Trace "), el("span", { class: "mono" }, t.correlationId)),
      el("span", { class: "muted" }, `${changes} change(s), ${deliveries} deliveries, ${pushes} push(es) over ${span < 1000 ? span + " ms" : (span / 1000).toFixed(2) + " s"}, from ${dateTime(entries[0].at)}`)),
    rows);
}

// ---------- item history

async function showItem(key) {
  state.itemKey = key;
  document.getElementById("item-input").value = key;
  const out = document.getElementById("item-out");
  if (!key) {
    out.replaceChildren(el("p", { class: "empty" }, "Name an item as TABLE/KEY (orders/ord_1; TABLE/PK/SK with a sort key) to see every change it went through."));
    return;
  }
  try {
    const h = await api("/items/" + key.split("/").map(encodeURIComponent).join("/"));
    if (state.itemKey !== key) return;
    if (!h.changes.length) {
      out.replaceChildren(el("p", { class: "empty" }, `No change of ${h.item} in the log.`));
      return;
    }
    out.replaceChildren(el("h2", { class: "mono" }, `${h.item}: ${h.changes.length} change(s), oldest first`), el("div", { class: "history" }, h.changes.map((c, i) => el("div", { class: "item-change" },
      el("div", { class: "head" }, el("span", { class: "n" }, "#" + (i + 1)), opBadge(c.operation), el("span", { class: "when" }, dateTime(changeTime(c))),
        el("span", {}, summary(c)), el("span", { class: "muted" }, "event "), eventLink(c.id), el("span", { class: "muted" }, "correlation "), traceLink(c.correlationId),
        c.causedBy ? el("span", { class: "muted" }, "by " + c.causedBy) : null),
      el("table", { class: "diff small" }, el("tbody", {}, changesOf(c).map(([n, o, nw]) => el("tr", {}, el("td", { class: "attr" }, n), el("td", { class: "old" }, c.operation === "INSERT" ? "" : value(o)), el("td", { class: "new" }, c.operation === "REMOVE" ? "" : value(nw))))))))));
  } catch (e) {
    out.replaceChildren(el("p", { class: "empty" }, e.message));
  }
}

// ---------- dead letters

function setDepths(list) {
  state.depths = new Map(list.map((d) => [d.route, d]));
  let total = 0;
  for (const d of list) total += d.visible + d.inFlight;
  const badge = document.getElementById("dlq-badge");
  badge.textContent = total;
  badge.hidden = total === 0;
  if (state.view === "dlq") renderDLQ();
}

async function loadDepths() {
  if (!state.deadLetters) return;
  try {
    setDepths((await api("/dlq")).routes);
  } catch (e) {
    toast("Could not count the dead letters: " + e.message, true);
  }
}

const listed = new Map(); // route -> messages

async function renderDLQ() {
  const out = document.getElementById("dlq-out");
  if (!state.deadLetters) {
    out.replaceChildren(el("p", { class: "empty" }, "This console has no dead-letter queues."));
    return;
  }
  const cards = state.routes.map((r) => {
    const d = state.depths.get(r.name) || { visible: 0, inFlight: 0 };
    const n = d.visible + d.inFlight;
    const msgs = listed.get(r.name);
    const card = el("div", { class: "dlq-route" + (n ? " full" : ""), "data-route": r.name },
      el("div", { class: "head" },
        el("h2", {}, r.name), el("span", { class: "muted" }, "→ " + r.function),
        el("span", { class: "count" }, `${n} message(s)`),
        el("span", { class: "actions" },
          el("button", { class: "primary", "data-action": "redrive-all", disabled: !n, onclick: () => act(r.name, "redrive", { all: true }) }, "Redrive all"),
          el("button", { class: "danger", "data-action": "drop-all", disabled: !n, onclick: () => act(r.name, "drop", { all: true }, `Drop all ${n} message(s) of ${r.name}'s dead-letter queue? They are deleted for good.`) }, "Drop all"))),
      n && msgs && msgs.length ? el("table", { class: "small" },
        el("thead", {}, el("tr", {}, ["message", "event", "item", "attempts", "reason", ""].map((h) => el("th", {}, h)))),
        el("tbody", {}, msgs.map((m) => el("tr", { "data-message": m.id },
          el("td", { class: "mono", title: m.id }, short(m.id, 8)),
          el("td", {}, m.eventId ? eventLink(m.eventId) : "—"),
          el("td", {}, m.item ? itemLink(m.item) : m.problem || "—"),
          el("td", {}, m.attempts + (m.by === "redrive-policy" ? " (redrive policy)" : "")),
          el("td", { class: "err" }, m.reason || "none recorded"),
          el("td", {}, el("button", { onclick: () => act(r.name, "redrive", { ids: [m.id] }) }, "Redrive"), " ",
            el("button", { class: "danger", onclick: () => act(r.name, "drop", { ids: [m.id] }, `Drop message ${m.id}? It is deleted for good.`) }, "Drop")))))) : null,
      n && !msgs ? el("p", { class: "muted" }, "Reading the messages…") : null);
    return card;
  });
  out.replaceChildren(el("p", { class: "muted" }, "Each route's dead-letter queue. Redrive sends messages back to the route's queue, for its function to try again (after a fix); drop deletes them."), ...cards);
  for (const r of state.routes) {
    const d = state.depths.get(r.name);
    if (d && d.visible + d.inFlight > 0 && !listed.has(r.name) && !loadMessages.pending.has(r.name)) loadMessages(r.name);
    if (d && d.visible + d.inFlight === 0) listed.delete(r.name);
  }
}

async function loadMessages(route) {
  loadMessages.pending.add(route);
  try {
    const r = await api("/dlq/" + encodeURIComponent(route));
    listed.set(route, r.messages);
  } catch (e) {
    toast(`Could not list ${route}'s dead letters: ${e.message}`, true);
  } finally {
    loadMessages.pending.delete(route);
  }
  if (state.view === "dlq") renderDLQ();
}
loadMessages.pending = new Set();

async function act(route, what, body, question) {
  if (question && !confirm(question)) return;
  try {
    const r = await post(`/dlq/${encodeURIComponent(route)}/${what}`, body);
    const verb = what === "redrive" ? "Redrove" : "Dropped";
    toast(`${verb} ${r.result.count} message(s) of ${route}` + (r.error ? `: ${r.error}` : ""), !!r.error);
  } catch (e) {
    toast(`${what} ${route}: ${e.message}`, true);
  }
  listed.delete(route);
  await loadDepths();
  if (state.view === "dlq") renderDLQ();
}

// ---------- live updates

function connect() {
  const live = document.getElementById("live");
  const es = new EventSource(API + "/live");
  es.addEventListener("ready", () => {
    live.textContent = "live";
    live.className = "live on";
    // What was logged before the stream began.
    loadRecent();
    loadDepths();
  });
  es.addEventListener("change", (e) => onEvent(JSON.parse(e.data), true));
  es.addEventListener("update", (e) => onEvent(JSON.parse(e.data), false));
  es.addEventListener("dlq", (e) => {
    const routes = JSON.parse(e.data).routes;
    for (const d of routes) {
      const old = state.depths.get(d.route);
      if (!old || old.visible + old.inFlight !== d.visible + d.inFlight) listed.delete(d.route);
    }
    setDepths(routes);
  });
  es.onerror = () => {
    live.textContent = "reconnecting…";
    live.className = "live off";
  };
}

let refreshTimer = null;
function onEvent(v, fresh) {
  const isNew = upsert(v, fresh);
  renderEvents(isNew ? new Set([v.change.id]) : null);
  if (state.selected === v.change.id) renderDetail();
  // The open trace or item view follows what touches it.
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    if (state.view === "trace" && state.traceId && v.change.correlationId === state.traceId) showTrace(state.traceId);
    if (state.view === "item" && state.itemKey && v.change.item === state.itemKey) showItem(state.itemKey);
  }, 200);
}

// ---------- routing

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  const view = ["events", "trace", "item", "dlq"].includes(parts[0]) ? parts[0] : "events";
  const arg = parts.slice(1).map(decodeURIComponent).join("/");
  state.view = view;
  for (const v of ["events", "trace", "item", "dlq"]) document.getElementById("view-" + v).hidden = v !== view;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === view);
  if (view === "events") {
    if (arg) selectEvent(arg);
    else { state.selected = null; renderEvents(); renderDetail(); }
  } else if (view === "trace") showTrace(arg);
  else if (view === "item") showItem(arg);
  else renderDLQ();
}

document.getElementById("trace-form").addEventListener("submit", (e) => {
  e.preventDefault();
  location.hash = "#/trace/" + encodeURIComponent(document.getElementById("trace-input").value.trim());
});
document.getElementById("item-form").addEventListener("submit", (e) => {
  e.preventDefault();
  location.hash = "#/item/" + document.getElementById("item-input").value.trim().split("/").map(encodeURIComponent).join("/");
});
window.addEventListener("hashchange", route);

async function start() {
  try {
    const o = await api("/overview");
    document.getElementById("app-name").textContent = o.app || "threefactor";
    document.title = `${o.app} · threefactor console`;
    state.routes = o.routes || [];
    state.deadLetters = o.deadLetters;
    state.eventLog = o.eventLog;
  } catch (e) {
    toast("Could not reach the console: " + e.message, true);
  }
  route();
  loadRecent();
  loadDepths();
  connect();
}
start();
