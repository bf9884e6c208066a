// nemo-mock console. Every control calls the documented control API under /__mock/; what the
// page shows comes from GET /__mock/journal/live (Server-Sent Events), GET /__mock/clock,
// GET /__mock/scenarios and GET /__mock/sessions/{id}/timeline.svg. Text from the journal is
// always put in with textContent, never parsed as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "nemo-mock-admin-token";
  // the page opened in a namespace (/__ns/NAME/__mock/ui) drives that namespace: every call
  // goes under the same prefix
  const BASE = location.pathname.replace(/\/__mock\/ui\/?$/, "");
  const MAX_ROWS = 2000; // the table keeps the newest; the whole journal stays in the API
  const $ = (id) => document.getElementById(id);
  const entries = new Map(); // id -> entry, as the API shows it
  const rows = new Map(); // id -> <tr>
  const seen = { clients: new Set(), sessions: new Set(), operations: new Set() };
  let selected = null;
  let timelineTimer = null;

  // -- the control API -------------------------------------------------------------------------

  function headers(json) {
    const h = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) h["X-Mock-Admin-Token"] = token;
    if (json) h["Content-Type"] = "application/json";
    return h;
  }

  async function api(method, path, body) {
    const response = await fetch(BASE + path, {
      method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    let envelope = null;
    try { envelope = await response.json(); } catch (_) { /* not JSON: reported below */ }
    if (!envelope || envelope.code !== 0) {
      const why = envelope && envelope.message ? envelope.message : `HTTP ${response.status}`;
      throw new Error(`${method} ${path}: ${why}`);
    }
    return envelope.data;
  }

  function say(text, state) {
    const out = $("result");
    out.textContent = text;
    out.dataset.state = state || "ok";
  }

  async function act(label, work) {
    try {
      const text = await work();
      say(text || `${label}: done`, "ok");
    } catch (error) {
      say(`${label} failed: ${error.message}`, "error");
    }
  }

  // -- clock -----------------------------------------------------------------------------------

  function showClock(clock) {
    const when = new Date(clock.now * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    const scale = clock.mode === "manual" ? "manual (moves only when told)"
      : `${clock.mode}, ${clock.rate}x real time`;
    $("clock").textContent = `virtual ${when} (${clock.now.toFixed(1)} s)`;
    $("clock").dataset.now = String(clock.now);
    $("clock-scale").textContent = `mode: ${scale}`;
  }

  async function refreshClock() {
    try { showClock(await api("GET", "/__mock/clock")); } catch (_) { /* the feed badge says */ }
  }

  async function moveClock(body) {
    await act("clock", async () => {
      const clock = await api("POST", "/__mock/clock", body);
      showClock(clock);
      return `clock now ${clock.now.toFixed(1)} s`;
    });
  }

  // -- scenarios and rules ---------------------------------------------------------------------

  function scope(form) {
    const out = {};
    for (const key of ["client_id", "session_id"]) {
      const value = form.elements[key].value.trim();
      if (value) out[key] = value;
    }
    return out;
  }

  async function refreshScenarios() {
    const data = await api("GET", "/__mock/scenarios");
    const select = $("scenario-name");
    const chosen = select.value;
    select.replaceChildren(...data.catalogue.map((s) => {
      const option = new Option(s.name, s.name);
      option.title = s.description;
      option.dataset.description = s.description;
      return option;
    }));
    if (chosen) select.value = chosen;
    describeScenario();
    const list = $("active-rules");
    list.replaceChildren(...data.active.map((rule) => {
      const item = document.createElement("li");
      const label = document.createElement("span");
      const scoped = ["client_id", "session_id", "token", "user_id"]
        .filter((k) => rule.match && rule.match[k]).map((k) => `${k} ${rule.match[k]}`);
      label.textContent = `${rule.name || "rule"} (${rule.id}) on ${rule.match && rule.match.operation || "any call"}`
        + (scoped.length ? `, only ${scoped.join(", ")}` : "") + `, fired ${rule.fired}`
        + (rule.times === null ? ", always" : ` of ${rule.times}`);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `remove rule ${rule.id}`);
      remove.addEventListener("click", () => act("remove rule", async () => {
        await api("DELETE", `/__mock/scenarios?id=${encodeURIComponent(rule.id)}`);
        await refreshScenarios();
        return `removed ${rule.id}`;
      }));
      item.dataset.rule = rule.id;
      item.append(label, remove);
      return item;
    }));
  }

  function describeScenario() {
    const option = $("scenario-name").selectedOptions[0];
    $("scenario-description").textContent = option ? option.dataset.description : "";
  }

  // -- the journal -----------------------------------------------------------------------------

  function virtualT(entry) {
    // month-day and time of day on the virtual clock, to a tenth of a second (UTC); a phone
    // shows the time only
    const iso = new Date(entry.virtual_start * 1000).toISOString();
    const out = document.createDocumentFragment();
    const day = document.createElement("span");
    day.className = "day";
    day.textContent = `${iso.slice(5, 10)} `;
    out.append(day, iso.slice(11, 21));
    return out;
  }

  function answer(entry) {
    const span = document.createElement("span");
    if (entry.status === null) {
      span.className = "st st-open";
      span.textContent = entry.virtual_end === null ? "open" : "no answer";
      return span;
    }
    const failed = entry.status >= 400 || (entry.code !== null && entry.code !== 0);
    span.className = `st ${failed ? "st-error" : "st-ok"}`;
    span.textContent = String(entry.status) + (entry.code ? ` code ${entry.code}` : "");
    if (entry.status !== null && entry.virtual_end === null) span.textContent += " streaming";
    return span;
  }

  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (text instanceof Node) td.append(text); else td.textContent = text;
    return td;
  }

  function render(entry) {
    let tr = rows.get(entry.id);
    const fresh = !tr;
    if (fresh) {
      tr = document.createElement("tr");
      tr.tabIndex = 0;
      tr.dataset.id = String(entry.id);
      tr.addEventListener("click", () => open(entry.id));
      tr.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(entry.id); }
      });
      rows.set(entry.id, tr);
    }
    const request = document.createElement("span");
    request.textContent = `${entry.method} ${entry.path}`;
    const op = document.createElement("div");
    op.className = "op";
    op.textContent = [entry.operation || "(control or file)", entry.client_id && `client ${entry.client_id}`,
      entry.session_id && `session ${entry.session_id}`].filter(Boolean).join(" · ");
    const what = document.createDocumentFragment();
    what.append(request, op);
    const events = entry.events.length || entry.heartbeats.length
      ? `${entry.events.length} events, ${entry.heartbeats.length} beats` : "";
    tr.replaceChildren(cell(String(entry.id), "num"), cell(virtualT(entry), "num"),
      cell(what, "path"), cell(answer(entry)), cell(entry.rule || ""), cell(events, "num"));
    tr.dataset.operation = entry.operation || "";
    tr.dataset.client = entry.client_id || "";
    tr.dataset.session = entry.session_id || "";
    tr.dataset.code = [entry.status, entry.code].filter((c) => c !== null).join(" ");
    tr.dataset.rule = entry.rule || "";
    tr.hidden = !matches(tr);
    if (fresh) insert(tr, entry.id);
  }

  function insert(tr, id) {
    const body = $("journal").tBodies[0];
    // newest first: before the first row with a smaller id (notes carry no id and are skipped)
    let before = null;
    for (const row of body.rows) {
      if (row.dataset.id && Number(row.dataset.id) < id) { before = row; break; }
    }
    body.insertBefore(tr, before);
    while (rows.size > MAX_ROWS) {
      const oldest = Math.min(...rows.keys());
      rows.get(oldest).remove();
      rows.delete(oldest);
      entries.delete(oldest);
    }
  }

  function note(text) {
    const tr = document.createElement("tr");
    tr.className = "note";
    const td = cell(text);
    td.colSpan = 6;
    tr.append(td);
    $("journal").tBodies[0].prepend(tr);
  }

  function remember(set, value, listId) {
    if (!value || set.has(value)) return false;
    set.add(value);
    $(listId).append(new Option(value));
    return true;
  }

  function receive(entry) {
    entries.set(entry.id, entry);
    render(entry);
    remember(seen.clients, entry.client_id, "seen-clients");
    remember(seen.operations, entry.operation, "seen-operations");
    if (remember(seen.sessions, entry.session_id, "seen-sessions")) {
      const select = $("timeline-session");
      if (!select.options[0].value) select.options[0].remove();
      select.append(new Option(entry.session_id, entry.session_id));
      if (!select.value || !shownSession) { select.value = entry.session_id; }
    }
    if (entry.session_id && entry.session_id === $("timeline-session").value) scheduleTimeline();
    if (selected === entry.id) show(entry);
    $("journal-count").textContent = `(${entries.size} entries)`;
  }

  function clearJournal(why) {
    entries.clear();
    rows.clear();
    $("journal").tBodies[0].replaceChildren();
    for (const [set, id] of [[seen.clients, "seen-clients"], [seen.sessions, "seen-sessions"],
      [seen.operations, "seen-operations"]]) { set.clear(); $(id).replaceChildren(); }
    $("timeline-session").replaceChildren(new Option("(none yet)", ""));
    $("timeline").replaceChildren();
    shownSession = "";
    note(why);
  }

  function filters() {
    const form = $("filters");
    const get = (name) => form.elements[name].value.trim();
    return { client: get("client_id"), session: get("session_id"), operation: get("operation"),
      code: get("code") };
  }

  function matches(tr) {
    const f = filters();
    if (f.client && tr.dataset.client !== f.client) return false;
    if (f.session && tr.dataset.session !== f.session) return false;
    if (f.operation && tr.dataset.operation !== f.operation) return false;
    if (f.code && !tr.dataset.code.split(" ").includes(f.code)) return false;
    return true;
  }

  function refilter() {
    for (const tr of rows.values()) tr.hidden = !matches(tr);
  }

  function open(id) {
    const entry = entries.get(id);
    if (!entry) return;
    for (const tr of rows.values()) tr.removeAttribute("aria-selected");
    rows.get(id).setAttribute("aria-selected", "true");
    selected = id;
    show(entry);
    $("detail").hidden = false;
    $("detail-json").focus();
  }

  function show(entry) {
    $("detail-title").textContent = `Exchange #${entry.id}: ${entry.method} ${entry.path}`;
    $("detail-json").textContent = JSON.stringify(entry, null, 2);
  }

  async function reloadJournal(why) {
    const data = await api("GET", "/__mock/journal");
    clearJournal(why);
    for (const entry of data.entries.slice(-MAX_ROWS)) receive(entry);
  }

  // -- the live feed: fetch, so the admin token can go in a header (EventSource sends none) -----

  function feedState(state, text) {
    $("feed-status").dataset.state = state;
    $("feed-status").querySelector(".text").textContent = `feed: ${text}`;
  }

  async function follow() {
    for (;;) {
      try {
        const response = await fetch(BASE + "/__mock/journal/live", { headers: headers(false), cache: "no-store" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        feedState("live", "live");
        let first = true;
        await readEvents(response.body, (event, data) => {
          if (event === "clock") {
            if (first) { clearJournal("connected: the newest entries follow"); first = false; }
            showClock(JSON.parse(data));
          } else if (event === "entry") receive(JSON.parse(data));
          else if (event === "cleared") { clearJournal("the journal was reset"); showClock(JSON.parse(data)); refreshScenarios().catch(() => {}); }
          else if (event === "dropped") reloadJournal("the page fell behind: reloaded the journal").catch(() => {});
        });
        feedState("down", "ended, reconnecting");
      } catch (error) {
        feedState("down", `down (${error.message}), retrying`);
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  async function readEvents(stream, handle) {
    const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = "message";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      // a "\r" at the end may be half of a "\r\n" split across chunks: it waits too
      const tail = buffer.endsWith("\r") ? "\r" : "";
      const lines = buffer.slice(0, buffer.length - tail.length).split(/\r\n|\r|\n/);
      buffer = lines.pop() + tail; // an unfinished line waits for the next chunk
      for (const line of lines) {
        if (line === "") {
          if (data.length) handle(event, data.join("\n"));
          event = "message";
          data = [];
        } else if (line.startsWith(":")) {
          continue; // a ping
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event = text;
          else if (field === "data") data.push(text);
        }
      }
    }
  }

  // -- the timeline ----------------------------------------------------------------------------

  let shownSession = "";

  function scheduleTimeline() {
    if (timelineTimer) return;
    timelineTimer = setTimeout(() => { timelineTimer = null; drawTimeline(); }, 400);
  }

  async function drawTimeline() {
    const session = $("timeline-session").value;
    if (!session) return;
    const response = await fetch(`${BASE}/__mock/sessions/${encodeURIComponent(session)}/timeline.svg`,
      { headers: headers(false), cache: "no-store" });
    if (!response.ok) return;
    const text = await response.text();
    const svg = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
    if (svg.nodeName !== "svg") return;
    $("timeline").replaceChildren(document.importNode(svg, true));
    $("timeline").dataset.session = session;
    shownSession = session;
  }

  // -- wiring ----------------------------------------------------------------------------------

  function wire() {
    $("admin-token").value = sessionStorage.getItem(TOKEN_KEY) || "";
    $("access-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = $("admin-token").value.trim();
      if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
      say(token ? "admin token kept for this tab" : "admin token forgotten");
      refreshScenarios().catch((error) => say(error.message, "error"));
      refreshClock();
    });
    for (const button of document.querySelectorAll("[data-advance]")) {
      button.addEventListener("click", () => moveClock({ advance: Number(button.dataset.advance) }));
    }
    $("clock-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const how = event.submitter ? event.submitter.value : "advance";
      const seconds = Number($("clock-seconds").value);
      if ($("clock-seconds").value === "" || !Number.isFinite(seconds)) {
        say("clock: give a number of seconds", "error");
        return;
      }
      moveClock(how === "to" ? { to: seconds } : { advance: seconds });
    });
    $("scenario-name").addEventListener("change", describeScenario);
    $("scenario-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = event.target;
      const name = $("scenario-name").value;
      act("scenario", async () => {
        const data = await api("POST", "/__mock/scenarios", { name, scope: scope(form) });
        await refreshScenarios();
        return `applied ${name}: rules ${data.rules.join(", ")}`;
      });
    });
    $("rule-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = event.target;
      act("rule", async () => {
        let rule;
        try { rule = JSON.parse($("rule-json").value); } catch (error) {
          throw new Error(`the rule is not JSON: ${error.message}`);
        }
        const data = await api("POST", "/__mock/scenarios", { rule, scope: scope(form) });
        await refreshScenarios();
        return `applied rule ${data.rules.join(", ")}`;
      });
    });
    $("faults-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const session = $("faults-session").value.trim();
      act("faults", async () => {
        if (!session) throw new Error("give the session");
        let faults;
        try { faults = JSON.parse($("faults-json").value); } catch (error) {
          throw new Error(`the faults are not JSON: ${error.message}`);
        }
        const body = { ...faults, once: $("faults-once").checked };
        const data = await api("POST", `/__mock/sessions/${encodeURIComponent(session)}/faults`, body);
        return `scripted faults for ${data.once ? "the next run" : "every run"} of ${data.session_id}`;
      });
    });
    $("rules-remove-all").addEventListener("click", () => act("remove all", async () => {
      const data = await api("DELETE", "/__mock/scenarios");
      await refreshScenarios();
      return `removed ${data.removed} rule(s)`;
    }));
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      act("mint", async () => {
        const credits = $("token-credits").value === "" ? undefined : Number($("token-credits").value);
        const data = await api("POST", "/__mock/tokens", { credits, plan: $("token-plan").value });
        $("token-out").textContent = `NEMO_TOKEN=${data.token}`;
        return `minted a ${data.plan} token with ${data.credits} credits (user ${data.user_id}); the journal shows only its fingerprint`;
      });
    });
    $("reset-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const raw = $("reset-seed").value;
      act("reset", async () => {
        const data = await api("POST", "/__mock/reset", raw === "" ? {} : { seed: Number(raw) });
        showClock(data.clock);
        await refreshScenarios();
        return `reset with seed ${data.seed}`;
      });
    });
    $("filters").addEventListener("input", refilter);
    $("filters").addEventListener("submit", (event) => event.preventDefault());
    $("detail-close").addEventListener("click", () => {
      $("detail").hidden = true;
      if (selected !== null && rows.has(selected)) rows.get(selected).focus();
      selected = null;
    });
    $("timeline-session").addEventListener("change", drawTimeline);
  }

  wire();
  refreshScenarios().catch((error) => say(error.message, "error"));
  follow();
  setInterval(refreshClock, 1000);
})();
