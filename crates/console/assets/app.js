// Brook's web console: a single page with hash routes, built with the DOM only (no framework,
// no network beyond this broker). Every text from the broker goes in through textContent.
"use strict";

const app = document.getElementById("app");
let refreshTimer = null;

// ---- small helpers -------------------------------------------------------------------------

/** Creates an element: h("td", {class: "num"}, "42", child, ...). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// The logged-in user and the session's CSRF token, when the broker asks for logins.
const session = { user: null, csrf: null };

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (session.csrf) init.headers["x-csrf-token"] = session.csrf;
  const response = await fetch(path, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (response.status === 401 && data && data.login_required) {
    loginPage();
    throw new Error(data.error);
  }
  if (!response.ok) {
    const message = data && data.error ? data.error : `HTTP ${response.status}`;
    throw new Error(data && data.kafka_error ? `${message} (${data.kafka_error})` : message);
  }
  return data;
}

const number = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}
const rate = (n) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1));
const time = (ms) => new Date(ms).toISOString().replace("T", " ").replace("Z", " UTC");
const enc = encodeURIComponent;

function errorBox(e) { return h("div", { class: "error", role: "alert" }, e.message || String(e)); }
function card(label, value, sub, testid) {
  return h("div", { class: "card", "data-testid": testid },
    h("div", { class: "label" }, label), h("div", { class: "value" }, value), sub ? h("div", { class: "sub" }, sub) : null);
}
function table(headers, rows, attrs) {
  return h("table", attrs || {},
    h("thead", {}, h("tr", {}, headers.map((c) => h("th", { class: /^(Partitions|Messages|Size|Offset|Lag|Start|End|Committed|Members|Total lag|Segments|Partition|Leader)/.test(c) ? "num" : null }, c)))),
    h("tbody", {}, rows));
}
function setPage(...children) {
  app.replaceChildren(...children.filter((c) => c !== null && c !== undefined));
}
/** Re-runs `fn` every `ms` while the page stays the same. */
function every(ms, fn) {
  refreshTimer = setInterval(fn, ms);
}
function params() {
  const [path, query] = location.hash.slice(1).split("?");
  return { path: path || "/", query: new URLSearchParams(query || "") };
}
function confirmDialog(title, message, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "data-testid": "confirm" },
      h("h2", {}, title), h("p", {}, message),
      h("div", { class: "actions" },
        h("button", { class: "secondary", onclick: () => { dialog.close(); resolve(false); } }, "Cancel"),
        h("button", { class: "danger", onclick: () => { dialog.close(); resolve(true); } }, confirmLabel)));
    dialog.addEventListener("close", () => { dialog.remove(); resolve(false); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// ---- Overview ------------------------------------------------------------------------------

async function overviewPage() {
  const render = async () => {
    try {
      const o = await api("GET", "/api/overview");
      const r = o.rates;
      setPage(
        h("h1", {}, "Overview"),
        h("div", { class: "cards" },
          card("Brokers", number(o.brokers.length), `cluster ${o.cluster_id}`, "brokers"),
          card("Topics", number(o.topics), null, "topics"),
          card("Partitions", number(o.partitions), null, "partitions"),
          card("Under-replicated", number(o.under_replicated_partitions), "partitions with a replica out of sync", "under-replicated"),
          card("Offline", number(o.offline_partitions), "partitions without a leader", "offline"),
          card("Messages", number(o.messages), null, "messages"),
          card("Size on disk", bytes(o.size_bytes), null, "size"),
          card("Produce", `${rate(r.produce_records_per_sec)} msg/s`, `${bytes(r.produce_bytes_per_sec)}/s`, "produce-rate"),
          card("Fetch", `${rate(r.fetch_records_per_sec)} msg/s`, `${bytes(r.fetch_bytes_per_sec)}/s`, "fetch-rate"),
          card("Connections", number(o.connections), null, "connections"),
          card("Consumer groups", number(o.consumer_groups), null, "groups")),
        h("h2", {}, "Brokers"),
        table(["Node id", "Host", "Port", "Rack", "Status", "Leads", "Role"], o.brokers.map((b) =>
          h("tr", { "data-broker": b.node_id, class: b.status === "live" ? "" : "warn" },
            h("td", {}, b.node_id), h("td", {}, b.host ?? "—"), h("td", {}, b.port ?? "—"), h("td", {}, b.rack ?? "—"),
            h("td", {}, b.status), h("td", { class: "num" }, number(b.leads)),
            h("td", {}, b.controller ? "broker, active controller" : "broker")))),
        h("p", { class: "muted" }, `Brook ${o.version}, node ${o.node_id}. Messages and size count this broker's copies.`),
        h("p", { class: "muted" }, `Rates are sampled every ${o.sample_interval_ms / 1000} s. Prometheus metrics are at `,
          h("a", { href: "/metrics" }, "/metrics"), "."));
    } catch (e) {
      setPage(h("h1", {}, "Overview"), errorBox(e));
    }
  };
  await render();
  every(5000, render);
}

// ---- Topics --------------------------------------------------------------------------------

async function topicsPage() {
  const search = h("input", { type: "search", placeholder: "Search topics", "data-testid": "topic-search", value: params().query.get("search") || "" });
  const listBox = h("div", {});
  const formBox = h("div", {});
  const load = async () => {
    try {
      const { topics } = await api("GET", `/api/topics?search=${enc(search.value)}`);
      listBox.replaceChildren(topics.length === 0 ? h("p", { class: "muted" }, "No topics match.") :
        table(["Name", "Partitions", "Replication", "Under-replicated", "Messages", "Size", ""], topics.map((t) =>
          h("tr", { "data-topic": t.name, class: t.under_replicated + t.offline > 0 ? "warn" : "" },
            h("td", {}, h("a", { href: `#/topics/${enc(t.name)}` }, t.name), t.internal ? h("span", { class: "badge" }, " internal") : null),
            h("td", { class: "num" }, t.partitions), h("td", { class: "num" }, t.replication_factor),
            h("td", { class: "num" }, t.under_replicated), h("td", { class: "num" }, number(t.messages)),
            h("td", { class: "num" }, bytes(t.size_bytes)),
            h("td", {}, t.internal ? null : h("button", { class: "link", "data-testid": `delete-${t.name}`, onclick: () => deleteTopic(t.name, load) }, "Delete")))),
        { "data-testid": "topics-table" }));
    } catch (e) {
      listBox.replaceChildren(errorBox(e));
    }
  };
  search.addEventListener("input", load);
  const openForm = () => formBox.replaceChildren(createTopicForm(() => { formBox.replaceChildren(); load(); }));
  setPage(
    h("div", { class: "header-row" }, h("h1", {}, "Topics"), h("button", { onclick: openForm, "data-testid": "new-topic" }, "Create topic")),
    formBox, h("div", { class: "toolbar" }, search), listBox);
  await load();
}

async function deleteTopic(name, after) {
  if (!(await confirmDialog("Delete topic", `Delete topic "${name}" and all its messages? This cannot be undone.`, "Delete"))) return;
  try {
    await api("DELETE", `/api/topics/${enc(name)}`);
    after();
  } catch (e) {
    app.prepend(errorBox(e));
  }
}

function createTopicForm(done) {
  const name = h("input", { name: "name", required: true, "data-testid": "topic-name" });
  const partitions = h("input", { name: "partitions", type: "number", min: 1, value: 3, "data-testid": "topic-partitions" });
  const replication = h("input", { name: "replication", type: "number", min: 1, value: 1, "data-testid": "topic-replication" });
  const configs = h("div", { class: "form" });
  const addConfig = () => configs.append(h("div", { class: "row config-row" },
    h("input", { placeholder: "config name, e.g. retention.ms", class: "config-key" }),
    h("input", { placeholder: "value", class: "config-value" })));
  const message = h("div", {});
  const submit = async (event) => {
    event.preventDefault();
    const entries = {};
    for (const row of configs.querySelectorAll(".config-row")) {
      const key = row.querySelector(".config-key").value.trim();
      if (key) entries[key] = row.querySelector(".config-value").value.trim();
    }
    try {
      await api("POST", "/api/topics", {
        name: name.value.trim(),
        partitions: Number(partitions.value),
        replication_factor: Number(replication.value),
        configs: entries,
      });
      done();
    } catch (e) {
      message.replaceChildren(errorBox(e));
    }
  };
  return h("form", { class: "panel form", onsubmit: submit, "data-testid": "create-topic-form" },
    h("h2", {}, "New topic"),
    h("label", {}, "Name", name),
    h("div", { class: "row" }, h("label", {}, "Partitions", partitions), h("label", {}, "Replication factor", replication)),
    h("div", {}, h("div", { class: "muted" }, "Configs (optional)"), configs,
      h("button", { type: "button", class: "link", onclick: addConfig }, "+ add config")),
    message,
    h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: done }, "Cancel"),
      h("button", { type: "submit", "data-testid": "create-topic" }, "Create")));
}

async function topicPage(name) {
  let t;
  try {
    t = await api("GET", `/api/topics/${enc(name)}`);
  } catch (e) {
    setPage(h("h1", {}, name), errorBox(e));
    return;
  }
  const message = h("div", {});
  const inputs = new Map();
  const configRows = (t.configs || []).map((c) => {
    const input = h("input", { value: c.value, "data-config": c.name, size: 28 });
    inputs.set(c.name, { input, original: c.value });
    return h("tr", {}, h("td", {}, c.name), h("td", {}, input),
      h("td", {}, h("span", { class: "badge" }, c.source === "topic" ? "topic override" : "default")),
      h("td", { class: "muted" }, c.default),
      h("td", {}, c.source === "topic" ? h("button", { class: "link", onclick: () => saveConfigs({ [c.name]: null }) }, "Reset") : null));
  });
  const saveConfigs = async (changes) => {
    try {
      await api("PUT", `/api/topics/${enc(name)}/configs`, { configs: changes });
      await topicPage(name);
      app.prepend(h("div", { class: "success" }, "Configs saved."));
    } catch (e) {
      message.replaceChildren(errorBox(e));
    }
  };
  const saveEdited = () => {
    const changes = {};
    for (const [key, { input, original }] of inputs) if (input.value !== original) changes[key] = input.value;
    if (Object.keys(changes).length === 0) message.replaceChildren(h("div", { class: "muted" }, "Nothing changed."));
    else saveConfigs(changes);
  };
  setPage(
    h("div", { class: "header-row" }, h("h1", {}, `Topic ${t.name}`),
      h("a", { href: `#/messages?topic=${enc(t.name)}` }, h("button", { class: "secondary" }, "Browse messages")),
      t.internal ? null : h("button", { class: "danger", onclick: () => deleteTopic(t.name, () => { location.hash = "#/topics"; }) }, "Delete topic")),
    h("div", { class: "cards" }, card("Partitions", t.partitions.length), card("Replication factor", t.replication_factor),
      card("Messages", number(t.messages)), card("Size", bytes(t.size_bytes)), card("Topic id", h("code", { class: "id" }, t.id))),
    h("h2", {}, "Partitions"),
    table(["Partition", "Leader", "Replicas", "In sync", "State", "Start offset", "End offset", "Stable offset", "Open transactions", "Messages", "Size", "Segments"],
      t.partitions.map((p) => h("tr", { class: p.under_replicated || p.offline ? "warn" : "" },
        h("td", { class: "num" }, p.partition), h("td", { class: "num" }, p.offline ? "none" : p.leader),
        h("td", {}, p.replicas.join(", ")), h("td", {}, p.isr.join(", ")),
        h("td", {}, p.offline ? "offline" : p.under_replicated ? "under-replicated" : p.adding.length ? `moving to ${p.adding.join(", ")}` : "in sync"),
        ...(p.hosted ? [h("td", { class: "num" }, number(p.start_offset)), h("td", { class: "num" }, number(p.end_offset)),
          h("td", { class: "num" }, number(p.stable_offset)), h("td", { class: "num" }, p.open_transactions),
          h("td", { class: "num" }, number(p.end_offset - p.start_offset)), h("td", { class: "num" }, bytes(p.size_bytes)),
          h("td", { class: "num" }, p.segments)] : [h("td", { class: "muted", colspan: 7 }, "not on this broker")]))),
      { "data-testid": "partitions-table" }),
    h("div", { class: "header-row" }, h("h2", {}, "Configs"), t.internal ? null : h("button", { onclick: saveEdited, "data-testid": "save-configs" }, "Save changes")),
    message,
    t.configs ? table(["Name", "Value", "Source", "Default", ""], configRows, { "data-testid": "configs-table" })
      : h("p", { class: "muted" }, "You may not describe this topic's configs."));
}

// ---- Messages ------------------------------------------------------------------------------

async function messagesPage() {
  const q = params().query;
  let topics = [];
  try {
    topics = (await api("GET", "/api/topics")).topics;
  } catch (e) {
    setPage(h("h1", {}, "Messages"), errorBox(e));
    return;
  }
  const chosen = q.get("topic") || (topics.find((t) => !t.internal) || topics[0] || {}).name;
  const topic = h("select", { "data-testid": "msg-topic" }, topics.map((t) => h("option", { value: t.name, selected: t.name === chosen }, t.name)));
  const partition = h("select", { "data-testid": "msg-partition" });
  const fillPartitions = () => {
    const t = topics.find((x) => x.name === topic.value);
    partition.replaceChildren(h("option", { value: "" }, "All"),
      ...Array.from({ length: t ? t.partitions : 0 }, (_, i) => h("option", { value: i, selected: q.get("partition") === String(i) }, i)));
  };
  fillPartitions();
  const mode = h("select", { "data-testid": "msg-mode" },
    h("option", { value: "newest" }, "Newest"), h("option", { value: "offset" }, "From offset"), h("option", { value: "timestamp" }, "From time"));
  mode.value = q.get("mode") || "newest";
  const offset = h("input", { type: "number", min: 0, value: q.get("offset") || 0, "data-testid": "msg-offset", size: 8 });
  const when = h("input", { type: "datetime-local", step: 1, "data-testid": "msg-time" });
  const limit = h("input", { type: "number", min: 1, max: 1000, value: q.get("limit") || 50, size: 5, "data-testid": "msg-limit" });
  const key = h("input", { placeholder: "key contains", value: q.get("key") || "", "data-testid": "msg-key-filter" });
  const value = h("input", { placeholder: "value contains", value: q.get("value") || "", "data-testid": "msg-value-filter" });
  const offsetLabel = h("label", {}, "Offset", offset);
  const timeLabel = h("label", {}, "Time (local)", when);
  const showMode = () => { offsetLabel.hidden = mode.value !== "offset"; timeLabel.hidden = mode.value !== "timestamp"; };
  mode.addEventListener("change", showMode);
  topic.addEventListener("change", () => { fillPartitions(); search(); });
  showMode();
  const results = h("div", {});
  const produceBox = h("div", {});

  async function search() {
    if (!topic.value) { results.replaceChildren(h("p", { class: "muted" }, "No topics yet.")); return; }
    const query = new URLSearchParams();
    if (partition.value !== "") query.set("partition", partition.value);
    if (mode.value === "offset") { query.set("offset", offset.value || 0); query.set("limit", limit.value); }
    else if (mode.value === "timestamp") {
      if (!when.value) { results.replaceChildren(errorBox(new Error("Choose a time to start from."))); return; }
      query.set("timestamp", new Date(when.value).getTime()); query.set("limit", limit.value);
    } else query.set("newest", limit.value);
    if (key.value) query.set("key", key.value);
    if (value.value) query.set("value", value.value);
    try {
      const r = await api("GET", `/api/topics/${enc(topic.value)}/messages?${query}`);
      results.replaceChildren(
        h("p", { class: "muted", "data-testid": "msg-count" }, `${r.messages.length} message(s), ${number(r.scanned)} scanned`),
        r.messages.length === 0 ? null : table(["Partition", "Offset", "Timestamp", "Key", "Value", "Headers"],
          r.messages.map((m) => h("tr", { class: "message", "data-partition": m.partition, "data-offset": m.offset },
            h("td", { class: "num" }, m.partition), h("td", { class: "num" }, m.offset),
            h("td", {}, time(m.timestamp), h("div", { class: "fmt" }, m.timestamp_type)),
            h("td", { class: "key" }, shown(m.key)), h("td", { class: "value" }, shown(m.value)),
            h("td", { class: "headers" }, m.headers.map((x) => h("div", {}, h("b", {}, x.key), ": ", x.value ? x.value.text : "null"))))),
          { "data-testid": "messages-table" }));
    } catch (e) {
      results.replaceChildren(errorBox(e));
    }
  }
  const openProduce = () => produceBox.replaceChildren(produceForm(topics.find((t) => t.name === topic.value), () => search()));
  setPage(
    h("div", { class: "header-row" }, h("h1", {}, "Messages"),
      h("button", { onclick: openProduce, "data-testid": "produce-new" }, "Produce new message")),
    produceBox,
    h("div", { class: "toolbar" }, h("label", {}, "Topic", topic), h("label", {}, "Partition", partition),
      h("label", {}, "Start", mode), offsetLabel, timeLabel, h("label", {}, "Limit", limit),
      h("label", {}, "Key filter", key), h("label", {}, "Value filter", value),
      h("button", { onclick: search, "data-testid": "msg-search" }, "Search")),
    results);
  await search();
}

/** A key or value as the broker formatted it: JSON pretty-printed, text, or hex. */
function shown(data) {
  if (data === null || data === undefined) return h("span", { class: "muted" }, "null");
  return h("div", {}, h("pre", {}, data.text + (data.truncated ? " …" : "")),
    data.format === "text" ? null : h("span", { class: "fmt" }, data.format));
}

function produceForm(topic, after) {
  if (!topic) return errorBox(new Error("Create a topic first."));
  const key = h("input", { placeholder: "none", "data-testid": "produce-key" });
  const value = h("textarea", { rows: 5, "data-testid": "produce-value" });
  const partition = h("select", { "data-testid": "produce-partition" }, h("option", { value: "" }, "By key (or round robin)"),
    ...Array.from({ length: topic.partitions }, (_, i) => h("option", { value: i }, i)));
  const headers = h("div", { class: "form" });
  const addHeader = () => headers.append(h("div", { class: "row header-row-input" },
    h("input", { placeholder: "header key", class: "header-key" }), h("input", { placeholder: "header value", class: "header-value" })));
  const message = h("div", {});
  const submit = async (event) => {
    event.preventDefault();
    const body = { key: key.value === "" ? null : key.value, value: value.value, headers: [] };
    for (const row of headers.querySelectorAll(".header-row-input")) {
      const k = row.querySelector(".header-key").value;
      if (k) body.headers.push({ key: k, value: row.querySelector(".header-value").value });
    }
    if (partition.value !== "") body.partition = Number(partition.value);
    try {
      const r = await api("POST", `/api/topics/${enc(topic.name)}/messages`, body);
      message.replaceChildren(h("div", { class: "success", "data-testid": "produce-result" },
        `Produced to ${r.topic} partition ${r.partition} at offset ${r.offset}.`));
      after();
    } catch (e) {
      message.replaceChildren(errorBox(e));
    }
  };
  return h("form", { class: "panel form", onsubmit: submit, "data-testid": "produce-form" },
    h("h2", {}, `Produce to ${topic.name}`),
    h("div", { class: "row" }, h("label", {}, "Key", key), h("label", {}, "Partition", partition)),
    h("label", {}, "Value", value),
    h("div", {}, h("div", { class: "muted" }, "Headers"), headers, h("button", { type: "button", class: "link", onclick: addHeader }, "+ add header")),
    message,
    h("div", { class: "actions" }, h("button", { type: "submit", "data-testid": "produce-submit" }, "Produce")));
}

// ---- Consumer groups -------------------------------------------------------------------------

async function groupsPage() {
  const render = async () => {
    try {
      const { groups } = await api("GET", "/api/groups");
      setPage(h("h1", {}, "Groups"),
        groups.length === 0 ? h("p", { class: "muted" }, "No consumer or share groups yet.") :
          table(["Group", "Type", "State", "Members", "Topics", "Total lag"], groups.map((g) =>
            h("tr", { "data-group": g.group_id }, h("td", {}, h("a", { href: `#/groups/${enc(g.group_id)}` }, g.group_id)),
              h("td", {}, g.type), h("td", {}, h("span", { class: `badge ${g.state}` }, g.state)),
              h("td", { class: "num" }, g.members), h("td", {}, g.topics.join(", ")),
              h("td", { class: "num" }, number(g.total_lag)))), { "data-testid": "groups-table" }));
    } catch (e) {
      setPage(h("h1", {}, "Groups"), errorBox(e));
    }
  };
  await render();
  every(5000, render);
}

async function groupPage(id) {
  const render = async () => {
    let g;
    try {
      g = await api("GET", `/api/groups/${enc(id)}`);
    } catch (e) {
      setPage(h("h1", {}, id), errorBox(e));
      return;
    }
    const share = g.type === "share";
    // A share group's members share partitions: each share-partition has a start offset (the
    // first record not yet delivered for good) and a lag (what is left to deliver).
    const offsetsTable = share ?
      table(["Topic", "Partition", "Start offset", "End offset", "Lag"], g.offsets.map((o) =>
        h("tr", { "data-topic": o.topic, "data-partition": o.partition }, h("td", {}, o.topic), h("td", { class: "num" }, o.partition),
          h("td", { class: "num" }, number(o.start_offset)), h("td", { class: "num" }, number(o.end_offset)),
          h("td", { class: "num lag" }, number(o.lag)))), { "data-testid": "offsets-table" }) :
      table(["Topic", "Partition", "Committed offset", "End offset", "Lag", "Member"], g.offsets.map((o) =>
        h("tr", { "data-topic": o.topic, "data-partition": o.partition }, h("td", {}, o.topic), h("td", { class: "num" }, o.partition),
          h("td", { class: "num" }, number(o.committed_offset)), h("td", { class: "num" }, number(o.end_offset)),
          h("td", { class: "num lag" }, number(o.lag)), h("td", {}, o.member_id ? h("code", {}, o.member_id) : "–"))),
        { "data-testid": "offsets-table" });
    setPage(
      h("h1", {}, `${share ? "Share group" : "Consumer group"} ${g.group_id}`),
      h("div", { class: "cards" }, card("State", h("span", { class: `badge ${g.state}` }, g.state)), card("Protocol", g.type, g.assignor || null),
        card("Members", number(g.members.length)), card("Total lag", number(g.total_lag), null, "total-lag")),
      share ? null : h("h2", {}, "Lag over time"),
      share ? null : lagChart(g.lag_history),
      h("h2", {}, "Members"),
      g.members.length === 0 ? h("p", { class: "muted" }, "No active members.") :
        table(["Member", "Client id", "Host", "Assigned partitions"], g.members.map((m) =>
          h("tr", {}, h("td", {}, h("code", {}, m.member_id), m.instance_id ? h("div", { class: "muted" }, `instance ${m.instance_id}`) : null),
            h("td", {}, m.client_id), h("td", {}, m.host),
            h("td", {}, m.assignments.map((a) => `${a.topic}-${a.partition}`).join(", ") || "none"))), { "data-testid": "members-table" }),
      h("h2", {}, "Offsets and lag"),
      offsetsTable);
  };
  await render();
  every(2000, render);
}

/** An SVG line chart of (time, lag) samples. */
function lagChart(samples) {
  const svgNs = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => {
    const el = document.createElementNS(svgNs, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  };
  const box = h("div", { class: "chart", "data-testid": "lag-chart", "data-samples": samples.length });
  if (samples.length === 0) {
    box.append(h("p", { class: "muted" }, "No samples yet."));
    return box;
  }
  const [w, hgt, left, bottom, top] = [800, 220, 60, 24, 12];
  const svg = s("svg", { viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: "none" });
  const t0 = samples[0].time, t1 = Math.max(samples[samples.length - 1].time, t0 + 1);
  const max = Math.max(1, ...samples.map((p) => p.lag));
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (w - left - 10);
  const y = (v) => top + (1 - v / max) * (hgt - top - bottom);
  svg.append(s("line", { class: "axis", x1: left, y1: y(0), x2: w - 10, y2: y(0) }),
    s("line", { class: "axis", x1: left, y1: top, x2: left, y2: y(0) }),
    s("text", { x: left - 6, y: top + 4, "text-anchor": "end" }, number(max)),
    s("text", { x: left - 6, y: y(0), "text-anchor": "end" }, "0"),
    s("text", { x: left, y: hgt - 6 }, new Date(t0).toLocaleTimeString()),
    s("text", { x: w - 10, y: hgt - 6, "text-anchor": "end" }, new Date(t1).toLocaleTimeString()));
  const points = samples.map((p) => `${x(p.time).toFixed(1)},${y(p.lag).toFixed(1)}`);
  svg.append(s("polygon", { class: "area", points: `${x(t0)},${y(0)} ${points.join(" ")} ${x(samples[samples.length - 1].time)},${y(0)}` }),
    s("polyline", { class: "line", points: points.join(" ") }));
  for (const p of samples) svg.append(s("circle", { class: "dot", cx: x(p.time), cy: y(p.lag), r: 2.5 }, undefined));
  box.append(svg);
  return box;
}

// ---- login ---------------------------------------------------------------------------------

/** Shows who is logged in, with a way out; empty when the broker needs no login. */
function showUser() {
  const box = document.getElementById("user");
  box.replaceChildren(...(session.user ? [h("span", { "data-testid": "user" }, session.user), " ",
    h("button", { class: "link", "data-testid": "logout", onclick: logout }, "Log out")] : []));
}

function loginPage() {
  clearInterval(refreshTimer);
  session.user = session.csrf = null;
  showUser();
  const username = h("input", { name: "username", autocomplete: "username", required: true, "data-testid": "login-user" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "data-testid": "login-password" });
  const message = h("div", {});
  const submit = async (event) => {
    event.preventDefault();
    try {
      const s = await api("POST", "/api/login", { username: username.value, password: password.value });
      Object.assign(session, { user: s.user, csrf: s.csrf_token });
      showUser();
      route();
    } catch (e) {
      message.replaceChildren(errorBox(e));
    }
  };
  setPage(h("form", { class: "panel form login", onsubmit: submit, "data-testid": "login-form" },
    h("h1", {}, "Log in"),
    h("p", { class: "muted" }, "With a SASL user of this broker (PLAIN or SCRAM). You act as that user, under its ACLs."),
    h("label", {}, "User", username), h("label", {}, "Password", password), message,
    h("div", { class: "actions" }, h("button", { type: "submit", "data-testid": "login" }, "Log in"))));
  username.focus();
}

async function logout() {
  try { await api("POST", "/api/logout"); } catch (e) { /* the session is gone either way */ }
  loginPage();
}

// ---- routing -------------------------------------------------------------------------------

async function route() {
  clearInterval(refreshTimer);
  const { path } = params();
  const section = path.split("/")[1] || "overview";
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.dataset.nav === (section || "overview"));
  const parts = path.split("/").slice(1).map(decodeURIComponent);
  if (parts[0] === "topics" && parts[1]) return topicPage(parts[1]);
  if (parts[0] === "topics") return topicsPage();
  if (parts[0] === "messages") return messagesPage();
  if (parts[0] === "groups" && parts[1]) return groupPage(parts[1]);
  if (parts[0] === "groups") return groupsPage();
  return overviewPage();
}

window.addEventListener("hashchange", () => { if (session.user || !session.required) route(); });
(async () => {
  try {
    const s = await api("GET", "/api/session");
    session.required = s.login_required;
    Object.assign(session, { user: s.user || null, csrf: s.csrf_token || null });
    showUser();
    route();
  } catch (e) {
    // 401: api() showed the login form.
    session.required = true;
  }
})();
