// House Party's live view: renders the updates of /view/stream.
"use strict";

const $ = (id) => document.getElementById(id);
let lastEvent = 0;
let lastMessage = 0;
let source = null;
let node = "";
// What the page has done, for its browser test: updates rendered and the
// time spent in them.
const stats = (window.liveViewStats = { updates: 0, renderMs: 0 });

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function setConn(state, text) {
  const c = $("conn");
  c.className = "conn " + state;
  c.textContent = text;
  document.body.classList.toggle("stale", state !== "live");
}

function renderNodes(members) {
  keyed($("nodes"), members, (m) => JSON.stringify(m), (m) => {
    const li = el("li", "node " + m.status);
    li.setAttribute("aria-label", `${m.name}: ${m.status}, ${m.processes} processes`);
    const top = el("div");
    top.append(el("span", "status " + m.status, m.status), " ", el("span", "name", m.name));
    li.append(top);
    if (m.self) li.append(el("div", "self", "serving this page"));
    li.append(el("div", "nums", `${m.processes} processes · ${m.rooms} rooms · ${m.people} people`));
    return li;
  });
  const alive = members.filter((m) => m.status === "alive").length;
  $("nodes-count").textContent = `(${alive} alive of ${members.length})`;
}

// keyed replaces the children of list with one element per item, built
// by make, reusing the element of an item whose key has not changed, so
// that an update touches only what moved (a busy party changes a few
// rooms per update, not all of them).
function keyed(list, items, keyOf, make) {
  const old = list._keyed || new Map();
  const next = new Map();
  const els = items.map((it) => {
    const k = keyOf(it);
    let e = old.get(k);
    if (!e) e = make(it);
    next.set(k, e);
    return e;
  });
  list._keyed = next;
  els.forEach((e, i) => {
    const cur = list.children[i];
    if (cur !== e) list.insertBefore(e, cur || null);
  });
  while (list.children.length > els.length) list.lastChild.remove();
}

function renderRooms(rooms) {
  $("no-rooms").hidden = rooms.length > 0;
  $("rooms-count").textContent = rooms.length ? `(${rooms.length})` : "";
  keyed($("room-list"), rooms, (r) => JSON.stringify(r), (r) => {
    const li = el("li", "room");
    const pct = r.max > 0 ? Math.round((100 * r.count) / r.max) : 0;
    li.setAttribute("aria-label", `${r.name}: ${r.count} of ${r.max} (${pct}%) on ${r.node}`);
    const top = el("div", "top");
    top.append(el("strong", "", r.name), el("span", "", `${r.count}/${r.max}`));
    const bar = el("div", "bar" + (r.count >= r.max ? " full" : ""));
    const fill = el("span");
    fill.style.width = Math.min(pct, 100) + "%";
    bar.append(fill);
    const shown = r.people.slice(0, 40).join(", ");
    const more = r.people.length > 40 ? ` and ${r.people.length - 40} more` : "";
    li.append(top, bar, el("div", "where", "on " + r.node), el("p", "who", r.people.length ? shown + more : "empty"));
    return li;
  });
}

function renderPeople(p) {
  const v = (n) => (p.known ? String(n) : "–");
  $("p-waiting").textContent = v(p.waiting);
  $("p-rooms").textContent = v(p.in_rooms);
  $("p-left").textContent = v(p.left);
  $("p-total").textContent = v(p.total);
}

function renderEvents(events) {
  const list = $("events");
  const fresh = events.filter((e) => e.id > lastEvent);
  if (events.length && events[events.length - 1].id < lastEvent) {
    // The node restarted (its event numbers began again): start over.
    list.replaceChildren();
    lastEvent = 0;
    return renderEvents(events);
  }
  for (const e of fresh) {
    const li = el("li", e.kind);
    const t = el("time", "", e.at);
    li.append(t, el("span", "k", e.kind), " ", e.text);
    list.prepend(li);
    lastEvent = e.id;
  }
  while (list.children.length > 40) list.lastChild.remove();
}

function render(u) {
  node = u.node;
  renderNodes(u.members);
  renderPeople(u.people);
  renderRooms(u.rooms);
  renderEvents(u.events);
  const probs = $("problems");
  probs.hidden = !(u.problems && u.problems.length);
  probs.textContent = probs.hidden ? "" : "Some of the party did not answer in time (moving, or its node is stopping): " + u.problems.join("; ");
  $("start-note").textContent = u.scenario_protected
    ? "Starting a party needs the admin token (HOUSEPARTY_ADMIN_TOKEN)."
    : "This cluster has no admin token: anyone who reaches it can start a party (set HOUSEPARTY_ADMIN_TOKEN to require one).";
}

function connect() {
  if (source) source.close();
  source = new EventSource("/view/stream");
  source.addEventListener("open", () => setConn("live", node ? `Live from ${node}` : "Live"));
  source.addEventListener("update", (ev) => {
    const began = performance.now();
    lastMessage = Date.now();
    const u = JSON.parse(ev.data);
    render(u);
    setConn("live", `Live from ${u.node}`);
    stats.updates++;
    stats.renderMs += performance.now() - began;
  });
  source.addEventListener("ping", () => {
    lastMessage = Date.now();
    if ($("conn").classList.contains("lost")) setConn("live", `Live from ${node}`);
  });
  source.addEventListener("error", () => {
    setConn("lost", `Lost contact with ${node || "the node"}: retrying…`);
  });
}

// A node that stops answering without closing the stream (paused, cut
// off) sends no ping: after 12 s of silence the page says so and opens a
// new stream.
setInterval(() => {
  if (lastMessage && Date.now() - lastMessage > 12000) {
    setConn("lost", `${node || "The node"} is not answering: retrying…`);
    lastMessage = Date.now();
    connect();
  }
}, 1000);

$("start").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const scenario = ev.submitter ? ev.submitter.value : "small";
  const token = $("token").value.trim();
  const out = $("start-result");
  out.textContent = `Starting the ${scenario} party…`;
  try {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const resp = await fetch(`/scenario/${scenario}`, { headers });
    const body = await resp.text();
    if (resp.status === 401) {
      out.textContent = "Refused: the admin token is missing or wrong.";
    } else if (resp.ok) {
      const s = JSON.parse(body).stats;
      out.textContent = `Started the ${scenario} party: ${s.total_rooms} rooms, ${s.total_people} people.`;
    } else {
      out.textContent = `Failed (${resp.status}): ${body}`;
    }
  } catch (e) {
    out.textContent = `Failed: ${e}`;
  }
});

connect();
