// The Leaves Reader: plain JavaScript over leaves' own API (/v1), no library.
// Every value from the server reaches the page as text (textContent,
// setAttribute), never as markup; the one exception, a search snippet, is
// rebuilt from its text and <mark> elements only (snippetNodes). The page is
// routed by its path (/, /leaf/ID, /tags, /save, /import, /ops) with the
// History API, and a search lives in the query string, so it can be shared.
"use strict";

const main = document.getElementById("main");
let cleanup = [];  // what the current page must stop when another one renders

// ---------- DOM helpers ----------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "on") {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === "text") {
      el.textContent = v;
    } else if (k === "dataset") {
      Object.assign(el.dataset, v);
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Only http(s) URLs become links or pictures; anything else (javascript:,
// data:, a relative path) is shown as text.
function safeUrl(u) {
  if (typeof u !== "string" || u.length > 8192) return null;
  try {
    const url = new URL(u);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

// A snippet is HTML-escaped text with <mark> around matched words. Parsed in
// an inert document (nothing loads or runs there), then rebuilt from its text
// and marks: any other element would be dropped, not shown.
function snippetNodes(html) {
  const doc = new DOMParser().parseFromString("<body>" + (html || ""), "text/html");
  const out = [];
  for (const n of doc.body.childNodes) {
    if (n.nodeType === Node.TEXT_NODE) out.push(document.createTextNode(n.textContent));
    else if (n.nodeName === "MARK") out.push(h("mark", {}, n.textContent));
    else out.push(document.createTextNode(n.textContent || ""));
  }
  return out;
}

function relativeTime(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.round((Date.now() - t) / 1000);
  const units = [[60, "second"], [60, "minute"], [24, "hour"], [30, "day"], [12, "month"], [Infinity, "year"]];
  let v = Math.abs(s);
  let unit = "second";
  for (const [size, name] of units) {
    unit = name;
    if (v < size) break;
    v = Math.floor(v / size);
  }
  if (unit === "second" && v < 10) return s >= 0 ? "just now" : "in a moment";
  const label = v + " " + unit + (v === 1 ? "" : "s");
  return s >= 0 ? label + " ago" : "in " + label;
}

// The host a leaf links to (domain_name may carry a scheme, or be missing).
function hostOf(leaf) {
  const u = safeUrl(leaf.url);
  if (u) return new URL(u).hostname;
  return leaf.domain_name ? String(leaf.domain_name).replace(/^[a-z]+:\/\//i, "") : "";
}

function savedBy(leaf) {
  const who = leaf.user_name || (leaf.user_id !== null && leaf.user_id !== undefined ? "user " + leaf.user_id : "");
  return who ? "saved by " + who + " " : "saved ";
}

function timeEl(iso) {
  if (!iso) return null;
  return h("time", { datetime: iso, title: new Date(iso).toLocaleString() }, relativeTime(iso));
}

let toastTimer = 0;
function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

// ---------- the API ----------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Who is signed in (GET /v1/me): refreshed at start and by sign-in and
// sign-out. A session's writes carry its CSRF token.
let me = { anonymous: true, scopes: [], sees: "all" };

async function api(method, path, body, headers) {
  const init = { method, headers: Object.assign({ accept: "application/json" }, headers || {}) };
  if (method !== "GET" && me.csrf) init.headers["x-csrf-token"] = me.csrf;
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!res.ok) {
    const e = json && json.error ? json.error : { code: "http_" + res.status, message: text.slice(0, 300) };
    throw new ApiError(res.status, e.code, e.message);
  }
  return { json, res };
}

function errorBox(e) {
  return h("p", { class: "error", role: "alert" }, e instanceof ApiError ? e.message + " (" + e.code + ")" : String(e));
}

// ---------- routing ----------

// state: {minPosition} makes the next search wait until the index has
// applied that log position (the live bar's leaves are then in the results).
function navigate(url, replace, state) {
  if (replace) history.replaceState(state || null, "", url);
  else history.pushState(state || null, "", url);
  render();
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[data-nav]");
  if (!a || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  ev.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", () => render());
// A page kept in the back-forward cache must not hold its stream open; when
// it is shown again it renders afresh.
window.addEventListener("pagehide", () => {
  for (const stop of cleanup) stop();
  cleanup = [];
});
window.addEventListener("pageshow", (ev) => { if (ev.persisted) render(); });

function render() {
  for (const stop of cleanup) stop();
  cleanup = [];
  const path = location.pathname;
  let section = "search";
  let page;
  if (path === "/" || path === "") page = searchPage;
  else if (path.startsWith("/leaf/")) { page = () => leafPage(decodeURIComponent(path.slice(6))); section = ""; }
  else if (path === "/tags") { page = tagsPage; section = "tags"; }
  else if (path === "/collections") { page = collectionsPage; section = "collections"; }
  else if (path.startsWith("/collection/")) { page = () => collectionPage(decodeURIComponent(path.slice(12))); section = "collections"; }
  else if (path === "/save") { page = savePage; section = "save"; }
  else if (path === "/import") { page = importPage; section = "import"; }
  else if (path === "/ops") { page = opsPage; section = "ops"; }
  else if (path === "/login") { page = loginPage; section = ""; }
  else if (path === "/account") { page = accountPage; section = ""; }
  else if (path === "/people") { page = peoplePage; section = "people"; }
  else page = () => { main.replaceChildren(h("h1", {}, "Not found"), h("p", {}, "No page at " + path + ".")); };
  for (const a of document.querySelectorAll(".top nav a")) {
    if (a.dataset.section === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  page();
}

// ---------- keyboard: / focuses search, j/k move between cards, Enter opens ----------

document.addEventListener("keydown", (ev) => {
  const typing = ev.target.closest("input, textarea, select, [contenteditable]");
  if (ev.key === "/" && !typing) {
    const box = document.getElementById("q");
    if (box) { ev.preventDefault(); box.focus(); box.select(); }
    return;
  }
  if (typing || ev.metaKey || ev.ctrlKey || ev.altKey) return;
  if (ev.key !== "j" && ev.key !== "k" && ev.key !== "Enter") return;
  const cards = [...document.querySelectorAll(".card")];
  if (!cards.length) return;
  const at = cards.indexOf(document.activeElement.closest(".card"));
  if (ev.key === "Enter") {
    if (at >= 0 && document.activeElement === cards[at]) {
      ev.preventDefault();
      navigate("/leaf/" + encodeURIComponent(cards[at].dataset.id));
    }
    return;
  }
  ev.preventDefault();
  const next = ev.key === "j" ? Math.min(at + 1, cards.length - 1) : Math.max(at - 1, 0);
  cards[next].focus();
});

// ---------- search (the home page) ----------

const SORTS = {
  relevance: { label: "Relevance", sort: "relevance" },
  newest: { label: "Newest", sort: "created", order: "desc" },
  oldest: { label: "Oldest", sort: "created", order: "asc" },
  az: { label: "A-Z", sort: "title", order: "asc" },
  za: { label: "Z-A", sort: "title", order: "desc" },
};
const PAGE_SIZES = [10, 30, 50, 100];

// The search a URL describes: /?q=&match=&tag=&user=&from=&to=&sort=&limit=&page=
function readSearch() {
  const p = new URLSearchParams(location.search);
  const s = {
    q: p.get("q") || "",
    match: p.get("match") === "any" ? "any" : "all",
    tags: p.getAll("tag").filter(Boolean),
    user: p.get("user") || "",
    starred: p.get("starred") === "1",
    from: p.get("from") || "",
    to: p.get("to") || "",
    sort: SORTS[p.get("sort")] ? p.get("sort") : "",
    limit: PAGE_SIZES.includes(Number(p.get("limit"))) ? Number(p.get("limit")) : 30,
    page: p.get("page") || "",
    exact: p.get("exact") === "1",
  };
  return s;
}

function searchUrl(s) {
  const p = new URLSearchParams();
  if (s.q) p.set("q", s.q);
  if (s.match === "any") p.set("match", "any");
  for (const t of s.tags) p.append("tag", t);
  if (s.user) p.set("user", s.user);
  if (s.starred) p.set("starred", "1");
  if (s.from) p.set("from", s.from);
  if (s.to) p.set("to", s.to);
  if (s.sort) p.set("sort", s.sort);
  if (s.limit !== 30) p.set("limit", String(s.limit));
  if (s.page) p.set("page", s.page);
  if (s.exact) p.set("exact", "1");
  const qs = p.toString();
  return "/" + (qs ? "?" + qs : "");
}

function apiSearchQuery(s) {
  const p = new URLSearchParams();
  if (s.q) p.set("q", s.q);
  if (s.match === "any") p.set("match", "any");
  for (const t of s.tags) p.append("tag", t);
  if (s.user) p.set("user", s.user);
  // Starred as the caller sees it: its own marks on others' leaves (docs/auth.md).
  if (s.starred) p.set("starred", "true");
  if (/^\d{4}-\d\d-\d\d$/.test(s.from)) p.set("since", s.from + "T00:00:00Z");
  if (/^\d{4}-\d\d-\d\d$/.test(s.to)) p.set("until", s.to + "T23:59:59.999Z");
  const sort = SORTS[s.sort || (s.q ? "relevance" : "newest")];
  p.set("sort", sort.sort);
  if (sort.order) p.set("order", sort.order);
  p.set("limit", String(s.limit));
  if (s.page) p.set("page_token", s.page);
  if (s.exact) p.set("exact", "true");
  p.set("facets", "tags,users");
  p.set("facet_limit", "40");
  return p;
}

// The live stream carries the query and its filters in the query language.
function liveQuery(s) {
  const quote = (v) => (/^[^\s"()]+$/.test(v) ? v : '"' + v.replace(/"/g, "") + '"');
  const parts = [];
  if (s.q) parts.push(s.match === "any" ? s.q : "(" + s.q + ")");
  for (const t of s.tags) parts.push("tag:" + quote(t));
  if (s.user) parts.push("user:" + quote(s.user));
  // (The stream matches is:starred by the reader's own marks, as the search does.)
  if (s.starred) parts.push("is:starred");
  return parts.join(" ");
}

function searchPage() {
  const s = readSearch();
  document.title = s.q ? s.q + " · Leaves Reader" : "Leaves Reader";
  const go = (changes, keepPage) => {
    const next = Object.assign({}, s, changes);
    if (!keepPage) next.page = "";
    navigate(searchUrl(next));
  };

  const box = h("input", { type: "search", id: "q", name: "q", value: s.q, placeholder: "Search leaves…  (press / to focus)",
                           autocomplete: "off", "aria-label": "Search", maxlength: 1024 });
  const form = h("form", { class: "searchbar", role: "search", on: { submit: (ev) => { ev.preventDefault(); go({ q: box.value.trim(), exact: false }); } } },
    box, h("button", { class: "primary", type: "submit" }, "Search"));

  const toggle = h("span", { class: "toggle", role: "group", "aria-label": "Match" },
    h("button", { type: "button", "aria-pressed": String(s.match === "all"), on: { click: () => go({ match: "all" }) } }, "Match All"),
    h("button", { type: "button", "aria-pressed": String(s.match === "any"), on: { click: () => go({ match: "any" }) } }, "Match Any"));
  const userSel = h("select", { id: "user", "aria-label": "User", on: { change: (ev) => go({ user: ev.target.value }) } },
    h("option", { value: "" }, "All Users"));
  if (s.user) userSel.append(h("option", { value: s.user, selected: true }, s.user));
  const from = h("input", { type: "date", id: "from", value: s.from, "aria-label": "From date", on: { change: (ev) => go({ from: ev.target.value }) } });
  const to = h("input", { type: "date", id: "to", value: s.to, "aria-label": "To date", on: { change: (ev) => go({ to: ev.target.value }) } });
  const sortSel = h("select", { id: "sort", "aria-label": "Sort", on: { change: (ev) => go({ sort: ev.target.value }) } },
    Object.entries(SORTS).map(([k, v]) => h("option", { value: k, selected: (s.sort || (s.q ? "relevance" : "newest")) === k }, v.label)));
  const sizeSel = h("select", { id: "limit", "aria-label": "Items per page", on: { change: (ev) => go({ limit: Number(ev.target.value) }) } },
    PAGE_SIZES.map((n) => h("option", { value: n, selected: n === s.limit }, n + " per page")));
  const filters = h("div", { class: "filters" },
    toggle,
    h("label", {}, "User", userSel),
    h("button", { type: "button", id: "starred", "aria-pressed": String(s.starred), title: "Only the leaves you starred",
                  on: { click: () => go({ starred: !s.starred }) } }, "★ Starred"),
    h("button", { type: "button", on: { click: () => go({ from: "", to: "" }) }, disabled: !s.from && !s.to }, "All Time"),
    h("label", {}, "From", from),
    h("label", {}, "To", to),
    h("label", {}, "Sort", sortSel),
    h("label", {}, "Show", sizeSel),
    h("button", { type: "button", id: "clear", on: { click: () => navigate("/") } }, "Clear All Filters"));

  const selected = h("div", { class: "selected", role: "group", "aria-label": "Selected tags" },
    s.tags.map((t) => h("button", { type: "button", class: "tag", title: "Remove the filter " + t,
                                    on: { click: () => go({ tags: s.tags.filter((x) => x !== t) }) } },
                        "#" + t, h("span", { class: "x", "aria-hidden": "true" }, "×"))));
  const sidebar = h("aside", { class: "sidebar", "aria-label": "Tags in these results" }, h("h2", {}, "Tags"), h("p", { class: "note" }, "…"));
  const summary = h("p", { class: "summary", id: "summary", role: "status" }, "Searching…");
  const newbar = h("button", { type: "button", class: "newbar", id: "newbar", hidden: true });
  const results = h("section", { class: "results", id: "results", "aria-label": "Results" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  main.replaceChildren(h("h1", { class: "visually-hidden" }, "Search"), form, filters, selected,
    h("div", { class: "layout" }, sidebar, h("div", {}, summary, newbar, results, pager)));

  const shown = new Map();  // id -> card
  let fresh = new Set();
  const q = apiSearchQuery(s);
  const wait = history.state && history.state.minPosition ? { "leaves-min-position": history.state.minPosition } : {};
  api("GET", "/v1/search?" + q.toString(), undefined, wait).then(({ json }) => {
    const offset = s.page ? Number(s.page.split(".")[0]) || 0 : 0;
    const n = json.items.length;
    summary.textContent = json.total === 0 ? "" :
      (n ? `${offset + 1}–${offset + n} of ${json.total_exact ? "" : "about "}${json.total.toLocaleString()} leaves` : "No more results");
    if (json.sample) {
      // Many matches: ranked and counted among the newest (docs/search.md).
      const edge = json.sample.created_since || json.sample.created_before;
      summary.append(h("span", { class: "sample", id: "sample" },
        ` · from the ${json.sample.matches.toLocaleString()} ${json.sample.created_since ? "newest" : "oldest"} matches (created ${json.sample.created_since ? "since" : "before"} ${edge.slice(0, 10)}) `,
        h("a", { href: searchUrl(Object.assign({}, s, { exact: true, page: "" })), "data-nav": true, id: "exact" }, "search them all")));
    }
    if (json.total === 0) {
      results.append(h("div", { class: "empty" },
        "Nothing matches.",
        json.suggestion ? [" Did you mean ", h("a", { href: searchUrl(Object.assign({}, s, { q: json.suggestion, page: "" })), "data-nav": true }, json.suggestion), "?"] : null));
    }
    for (const item of json.items) {
      const card = leafCard(item, s, go);
      shown.set(item.id, card);
      results.append(card);
    }
    renderFacets(sidebar, json.facets || {}, s, go);
    for (const u of (json.facets && json.facets.users) || []) {
      if (u.value !== s.user) userSel.append(h("option", { value: u.value }, `${u.value} (${u.count})`));
    }
    if (s.page) pager.append(h("a", { href: searchUrl(Object.assign({}, s, { page: "" })), "data-nav": true, rel: "first" }, "← First page"));
    else pager.append(h("span"));
    if (json.next_page_token) {
      pager.append(h("a", { href: searchUrl(Object.assign({}, s, { page: json.next_page_token })), "data-nav": true, rel: "next", id: "next" }, "Next page →"));
    }
  }).catch((e) => { summary.textContent = ""; results.replaceChildren(errorBox(e)); });

  // Live: leaves that match this search and arrive now show behind an "N new"
  // bar; edits refresh their card, deletes remove it.
  const live = new URLSearchParams();
  const lq = liveQuery(s);
  if (lq) live.set("q", lq);
  if (s.match === "any") live.set("match", "any");
  cleanup.push(liveStream(live, (e) => onEvent(e)));
  const seen = new Map();  // partition -> highest offset of the events behind the bar
  newbar.addEventListener("click", () => {
    const minPosition = [...seen.entries()].map(([p, o]) => p + ":" + o).join(",");
    navigate(searchUrl(Object.assign({}, s, { page: "" })), true, minPosition ? { minPosition } : null);
  });
  const onEvent = (e) => {
    const id = e.leaf_id;
    if (!id) return;
    const card = shown.get(id);
    if (e.type === "leaf.deleted") {
      if (card) { card.remove(); shown.delete(id); }
      fresh.delete(id);
    } else if (card) {
      api("GET", "/v1/leaves/" + encodeURIComponent(id)).then(({ json }) => {
        const next = leafCard(Object.assign({ snippet: card.dataset.snippet }, json), s, go);
        card.replaceWith(next);
        shown.set(id, next);
      }).catch(() => {});
    } else if (e.type === "leaf.created" || e.type === "leaf.updated" || e.type === "leaf.enriched" || e.type.startsWith("leaf.tags_")) {
      fresh.add(id);
      const m = /^(\d+):(\d+)$/.exec(e.position || "");
      if (m) seen.set(m[1], Math.max(Number(m[2]), seen.get(m[1]) ?? -1));
    }
    newbar.hidden = fresh.size === 0;
    newbar.textContent = fresh.size === 1 ? "1 new leaf — show" : `${fresh.size} new leaves — show`;
  };
}

// The live stream over a WebSocket (/v1/ws takes the parameters of
// /v1/stream): a browser keeps at most 6 HTTP connections to a host, so an
// EventSource per tab would starve the seventh tab; WebSockets do not count.
// On a drop or close it reconnects from the last cursor (nothing is missed),
// backing off to 10 s. Returns the function that stops it.
function liveStream(params, onEvent) {
  let ws = null;
  let stopped = false;
  let cursor = "";
  let retry = 500;
  let timer = 0;
  const open = () => {
    const p = new URLSearchParams(params);
    if (cursor) p.set("from", cursor);
    ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/ws?" + p.toString());
    ws.addEventListener("message", (m) => {
      let e;
      try { e = JSON.parse(m.data); } catch { return; }
      if (e.cursor) cursor = e.cursor;
      retry = 500;
      if (e.type !== "dropped") onEvent(e);
    });
    ws.addEventListener("close", () => {
      if (!stopped) timer = setTimeout(open, retry = Math.min(retry * 2, 10000));
    });
  };
  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (ws) ws.close();
  };
}

function renderFacets(sidebar, facets, s, go) {
  const tags = facets.tags || [];
  const list = h("ul", {}, tags.map((f) => {
    const on = s.tags.includes(f.value);
    return h("li", {}, h("button", { type: "button", "aria-pressed": String(on), "data-tag": f.value,
                                     on: { click: () => go({ tags: on ? s.tags.filter((t) => t !== f.value) : s.tags.concat([f.value]) }) } },
      h("span", {}, f.value), h("span", { class: "count" }, f.count.toLocaleString())));
  }));
  sidebar.replaceChildren(h("h2", {}, "Tags"), tags.length ? list : h("p", { class: "note" }, "No tags in these results."));
}

function leafCard(item, s, go) {
  const pic = safeUrl(item.preview_picture);
  const href = safeUrl(item.url);
  const title = item.title || item.url || item.id;
  const card = h("article", { class: "card" + (pic ? "" : " nopic"), tabindex: "-1", dataset: { id: item.id, snippet: item.snippet || "" } });
  if (pic) {
    const img = h("img", { class: "pic", src: pic, alt: "", loading: "lazy", referrerpolicy: "no-referrer", width: 96, height: 72 });
    // A picture that does not load leaves its box, so the layout stays put.
    img.addEventListener("error", () => { img.style.visibility = "hidden"; });
    card.append(img);
  }
  const body = h("div", {},
    h("h3", {}, href ? h("a", { href, rel: "noopener noreferrer nofollow", target: "_blank" }, title) : title),
    h("div", { class: "meta" },
      hostOf(item) ? h("span", { class: "domain" }, hostOf(item)) : null,
      h("span", {}, savedBy(item), timeEl(item.created_at)),
      h("span", { class: "flags" }, [item.is_starred ? "★ starred" : "", item.is_archived ? "archived" : "", item.is_public ? "public" : ""].filter(Boolean).join(" · ")),
      h("a", { href: "/leaf/" + encodeURIComponent(item.id), "data-nav": true }, "Open")),
    item.snippet ? h("p", { class: "snippet" }, snippetNodes(item.snippet)) : null,
    h("div", { class: "tags" }, (item.tags || []).map((t) =>
      h("button", { type: "button", class: "tag", on: { click: () => go({ tags: s.tags.includes(t) ? s.tags : s.tags.concat([t]) }) } }, "#" + t))));
  card.append(body);
  return card;
}

// ---------- a leaf ----------

function leafPage(id) {
  main.replaceChildren(h("p", { class: "summary" }, "Loading…"));
  api("GET", "/v1/leaves/" + encodeURIComponent(id)).then(({ json, res }) => showLeaf(json, res.headers.get("etag")))
    .catch((e) => main.replaceChildren(h("h1", {}, "Leaf " + id), errorBox(e)));
}

function showLeaf(leaf, etag) {
  document.title = (leaf.title || leaf.url) + " · Leaves Reader";
  let version = etag;
  const href = safeUrl(leaf.url);
  const patch = async (changes) => {
    try {
      const { json, res } = await api("PATCH", "/v1/leaves/" + encodeURIComponent(leaf.id), changes, version ? { "if-match": version } : {});
      version = res.headers.get("etag") || version;
      Object.assign(leaf, json && json.id ? json : changes);
      toast("Saved");
      return true;
    } catch (e) {
      toast(e.code === "version_mismatch" || e.status === 412 ? "Changed elsewhere: reload to see the latest" : e.message);
      return false;
    }
  };
  // Starred and archived are each user's own (docs/auth.md): a signed-in
  // reader marks any leaf it sees (PUT .../marks); anonymous callers, where
  // allowed to write, change the leaf's flags.
  const mark = async (changes) => {
    try {
      const { json, res } = await api("PUT", "/v1/leaves/" + encodeURIComponent(leaf.id) + "/marks", changes);
      version = res.headers.get("etag") || version;
      Object.assign(leaf, json && json.id ? json : changes);
      toast("Saved");
      return true;
    } catch (e) {
      toast(e.message);
      return false;
    }
  };
  const own = (field) => !me.anonymous && (field === "is_starred" || field === "is_archived");
  const flag = (field, label) => {
    const b = h("button", { type: "button", "aria-pressed": String(!!leaf[field]), id: field }, label);
    b.addEventListener("click", async () => {
      const want = !leaf[field];
      if (await (own(field) ? mark : patch)({ [field]: want })) b.setAttribute("aria-pressed", String(!!leaf[field]));
    });
    return b;
  };
  const tagList = h("div", { class: "tag-editor", id: "tag-editor" });
  const drawTags = () => {
    tagList.replaceChildren(...(leaf.tags || []).map((t) =>
      h("span", { class: "tag" }, "#" + t,
        h("button", { type: "button", class: "x", "aria-label": "Remove tag " + t, on: { click: () => setTags((leaf.tags || []).filter((x) => x !== t)) } }, "×"))));
  };
  const setTags = async (tags) => {
    try {
      const { json, res } = await api("PUT", "/v1/leaves/" + encodeURIComponent(leaf.id) + "/tags", { tags }, version ? { "if-match": version } : {});
      version = res.headers.get("etag") || version;
      leaf.tags = json && json.tags ? json.tags : tags;
      drawTags();
      toast("Tags saved");
    } catch (e) {
      toast(e.message);
    }
  };
  drawTags();
  const newTag = h("input", { type: "text", id: "new-tag", "aria-label": "Add a tag", placeholder: "add a tag", maxlength: 200 });
  const addForm = h("form", { class: "tag-editor", on: { submit: (ev) => {
    ev.preventDefault();
    const t = newTag.value.trim();
    if (t && !(leaf.tags || []).includes(t)) setTags((leaf.tags || []).concat([t]));
    newTag.value = "";
  } } }, newTag, h("button", { type: "submit" }, "Add"));

  const content = h("div", { class: "content", id: "content" }, h("p", { class: "note" }, "Loading the content…"));
  const history = h("div", { id: "history" }, h("p", { class: "note" }, "Loading the history…"));
  showContent(leaf.id, content);

  main.replaceChildren(
    h("div", { class: "leaf-head" },
      h("h1", {}, leaf.title || leaf.url),
      h("div", { class: "meta" },
        href ? h("a", { href, rel: "noopener noreferrer nofollow", target: "_blank" }, hostOf(leaf) || href) : (leaf.url || ""),
        h("span", {}, savedBy(leaf), timeEl(leaf.created_at)),
        leaf.reading_time ? h("span", {}, leaf.reading_time + " min read") : null,
        h("span", {}, "version " + leaf.version)),
      h("div", { class: "actions" }, flag("is_starred", "★ Star"), flag("is_archived", "Archive"), flag("is_public", "Public"),
        h("button", { type: "button", id: "refetch", title: "Fetch the saved page again and fill the fields left empty", on: { click: async () => {
          try {
            await api("POST", "/v1/leaves/" + encodeURIComponent(leaf.id) + "/refetch");
            toast("Asked for the page; it is fetched in the background");
            showHistory(leaf.id, history, leaf.url);
          } catch (e) { toast(e.message); }
        } } }, "Fetch page"), addToCollection(leaf),
        h("button", { type: "button", id: "delete", on: { click: async () => {
          if (!confirm("Delete this leaf?")) return;
          try {
            await api("DELETE", "/v1/leaves/" + encodeURIComponent(leaf.id), undefined, version ? { "if-match": version } : {});
            toast("Deleted");
            navigate("/");
          } catch (e) { toast(e.message); }
        } } }, "Delete"))),
    h("h2", {}, "Tags"), tagList, addForm,
    h("h2", {}, "Content"), content,
    h("h2", {}, "History"), history);
  showHistory(leaf.id, history, leaf.url);
}

// What each event of the leaf did, from the log (GET /v1/leaves/{id}/history).
function showHistory(id, box, url) {
  const describe = (e) => {
    switch (e.type) {
      case "leaf.created": return "saved";
      case "leaf.deleted": return "deleted";
      case "leaf.tags_added": return "tagged " + (e.tags || []).map((t) => "+" + t).join(" ");
      case "leaf.tags_removed": return "untagged " + (e.tags || []).map((t) => "−" + t).join(" ");
      case "leaf.tags_replaced": return "tags set to " + ((e.tags || []).join(", ") || "none");
      case "leaf.updated":
        return "changed " + Object.entries(e.changes || {}).filter(([k]) => k !== "updated_at")
          .map(([k, v]) => k + " → " + (typeof v === "string" ? "“" + v + "”" : JSON.stringify(v))).join("; ");
      case "leaf.enrich_requested": return "its page asked for again";
      case "leaf.enriched": {
        const filled = Object.keys(e.changes || {});
        return "page fetched" + (filled.length ? ": filled " + filled.join(", ") : ": nothing left to fill");
      }
      case "leaf.enrich_failed": return "page not fetched: " + (e.reason || "no reason given");
      default: return e.type;
    }
  };
  // The page's state: the newest enrichment event says it.
  const pageState = (items) => {
    const last = items.find((e) => e.type.startsWith("leaf.enrich"));
    if (!last) return null;
    if (last.type === "leaf.enriched") {
      const page = last.page || {};
      const canonical = safeUrl(page.canonical_url);
      return h("div", { id: "page-state", "data-state": "done" },
        h("p", { class: "note" }, "Page fetched ", timeEl(last.time),
          page.language_detected && last.changes && last.changes.language ? " (language detected: " + last.changes.language + ")" : "",
          canonical && canonical !== safeUrl(url) ? [", canonical address ",
            h("a", { href: canonical, rel: "noopener noreferrer nofollow", target: "_blank", id: "canonical" }, canonical)] : "", "."),
        page.excerpt ? h("p", { class: "excerpt", id: "excerpt" }, page.excerpt) : null);
    }
    if (last.type === "leaf.enrich_failed") return h("p", { class: "note", id: "page-state", "data-state": "failed" }, "The page could not be fetched (", timeEl(last.time), "): " + (last.reason || "no reason given") + ".");
    return h("p", { class: "note", id: "page-state", "data-state": "pending" }, "Waiting for the page to be fetched…");
  };
  api("GET", "/v1/leaves/" + encodeURIComponent(id) + "/history?limit=200").then(({ json }) => {
    const items = (json.items || []).slice().reverse();
    box.replaceChildren(
      pageState(items) || "",
      h("ol", { class: "history", reversed: true }, items.map((e) =>
        h("li", { "data-type": e.type }, timeEl(e.time), " ", h("span", {}, describe(e)),
          h("span", { class: "note" }, " · version " + e.version + " · log " + e.position)))),
      json.complete ? null : h("p", { class: "note" }, "Older events were not read (the newest " + items.length +
        " shown, " + json.scanned.toLocaleString() + " log records scanned)."));
  }).catch((e) => box.replaceChildren(errorBox(e)));
}

// The stored HTML, sanitised by the server (GET /v1/leaves/{id}/content: no
// script, handler, style, form or frame survives, links and pictures must be
// http(s)); the Content-Security-Policy would stop a script anyway.
function showContent(id, box) {
  api("GET", "/v1/leaves/" + encodeURIComponent(id) + "/content").then(({ json }) => {
    if (!json.html) {
      box.replaceChildren(h("p", { class: "note" }, "No content was saved with this leaf."));
      return;
    }
    const t = document.createElement("template");
    t.innerHTML = json.html;
    box.replaceChildren(t.content);
  }).catch((e) => box.replaceChildren(errorBox(e)));
}

// ---------- tags ----------

function tagsPage() {
  document.title = "Tags · Leaves Reader";
  const filter = h("input", { type: "search", id: "tag-filter", "aria-label": "Filter tags", placeholder: "filter tags" });
  const list = h("ul", { class: "tag-list", id: "tag-list" });
  const count = h("p", { class: "summary", role: "status" }, "Loading…");
  main.replaceChildren(h("h1", {}, "Tags"), filter, count, list);
  api("GET", "/v1/tags").then(({ json }) => {
    const items = (json.items || []).slice().sort((a, b) => b.count - a.count || a.tag.localeCompare(b.tag));
    const draw = () => {
      const f = filter.value.trim().toLowerCase();
      const shown = items.filter((t) => !f || t.tag.toLowerCase().includes(f));
      count.textContent = `${shown.length.toLocaleString()} of ${items.length.toLocaleString()} tags`;
      list.replaceChildren(...shown.slice(0, 2000).map((t) =>
        h("li", {}, h("a", { href: "/?tag=" + encodeURIComponent(t.tag), "data-nav": true }, t.tag), h("span", { class: "count" }, t.count.toLocaleString()))));
    };
    filter.addEventListener("input", draw);
    draw();
  }).catch((e) => list.replaceWith(errorBox(e)));
}

// ---------- collections and teams (docs/collections.md) ----------

// Every collection the caller may see (GET /v1/collections, all pages).
async function allCollections() {
  const out = [];
  let token = "";
  for (let i = 0; i < 20; i++) {
    const { json } = await api("GET", "/v1/collections?limit=500" + (token ? "&page_token=" + encodeURIComponent(token) : ""));
    out.push(...(json.items || []));
    if (!json.next_page_token) break;
    token = json.next_page_token;
  }
  return out;
}

function collectionLink(c) {
  return h("a", { href: "/collection/" + encodeURIComponent(c.id), "data-nav": true }, c.name);
}

function badges(c) {
  return h("span", { class: "flags" }, [c.is_public ? "public" : "private", c.shares.length ? "shared with " + c.shares.length + " team" + (c.shares.length > 1 ? "s" : "") : "", c.access !== "view" ? "you may " + c.access : ""].filter(Boolean).join(" · "));
}

function collectionsPage() {
  document.title = "Collections · Leaves Reader";
  const tree = h("div", { id: "collection-tree" }, h("p", { class: "summary" }, "Loading…"));
  const teamsBox = h("div", { id: "teams" });
  main.replaceChildren(h("h1", {}, "Collections"), tree);
  const draw = async () => {
    let items;
    try { await meReady; items = await allCollections(); } catch (e) { tree.replaceChildren(errorBox(e)); return; }
    // Nested under their parents; a parent the caller cannot see puts its children at the top.
    const ids = new Set(items.map((c) => c.id));
    const kids = new Map();
    for (const c of items) {
      const up = c.parent && ids.has(c.parent) ? c.parent : "";
      if (!kids.has(up)) kids.set(up, []);
      kids.get(up).push(c);
    }
    const branch = (up, depth) => {
      const list = kids.get(up) || [];
      if (!list.length || depth > 16) return null;
      return h("ul", { class: "collections" }, list.map((c) => h("li", { dataset: { id: c.id } },
        collectionLink(c), " ", h("span", { class: "count" }, c.leaf_count.toLocaleString()), " ", badges(c),
        c.description ? h("p", { class: "note" }, c.description) : null, branch(c.id, depth + 1))));
    };
    tree.replaceChildren(items.length ? branch("", 0) : h("p", { class: "note" }, "No collections yet" + (me.anonymous ? " that you may see." : ": make the first one below.")));
    if (!me.anonymous) showNewCollection(items);
  };
  const showNewCollection = (items) => {
    const name = h("input", { type: "text", id: "collection-name", required: true, maxlength: 200 });
    const description = h("textarea", { id: "collection-description", maxlength: 4000, rows: 2 });
    const parent = h("select", { id: "collection-parent" }, h("option", { value: "" }, "(top level)"),
      items.filter((c) => c.access !== "view").map((c) => h("option", { value: c.id }, c.name)));
    const pub = h("input", { type: "checkbox", id: "collection-public" });
    const status = h("p", { role: "status", class: "summary" });
    const form = h("form", { class: "stack", id: "new-collection", on: { submit: async (ev) => {
      ev.preventDefault();
      const body = { name: name.value.trim(), description: description.value, is_public: pub.checked };
      if (parent.value) body.parent = parent.value;
      try {
        const { json } = await api("POST", "/v1/collections", body);
        navigate("/collection/" + encodeURIComponent(json.id));
      } catch (e) { status.replaceChildren(errorBox(e)); }
    } } },
      h("label", {}, "Name", name), h("label", {}, "Description", description), h("label", {}, "Inside", parent),
      h("label", { class: "check" }, pub, " Public (anyone may read it)"),
      h("div", {}, h("button", { class: "primary", type: "submit" }, "Make collection")));
    main.replaceChildren(h("h1", {}, "Collections"), tree, h("h2", {}, "New collection"), form, status, h("h2", {}, "Teams"), teamsBox);
    drawTeams(teamsBox);
  };
  draw();
}

async function drawTeams(box) {
  let teams;
  try { teams = (await api("GET", "/v1/teams")).json.items || []; } catch (e) { box.replaceChildren(errorBox(e)); return; }
  const redraw = () => drawTeams(box);
  const act = async (method, path, body, done) => {
    try { await api(method, path, body); toast(done); redraw(); } catch (e) { toast(e.message); }
  };
  const name = h("input", { type: "text", id: "team-name", required: true, maxlength: 200, placeholder: "team name" });
  const form = h("form", { class: "inline", id: "new-team", on: { submit: (ev) => {
    ev.preventDefault();
    act("POST", "/v1/teams", { name: name.value.trim() }, "Team made");
  } } }, name, h("button", { type: "submit" }, "Make team"));
  box.replaceChildren(teams.length ? h("ul", { class: "teams" }, teams.map((t) => {
    const mine = t.members.find((m) => m.user === me.user.name);
    const admin = (mine && mine.role === "admin") || me.user.role === "admin";
    const who = h("input", { type: "text", placeholder: "user name", class: "member-name", "aria-label": "user name" });
    const role = h("select", { class: "member-role", "aria-label": "role" }, ["member", "editor", "admin"].map((r) => h("option", { value: r }, r)));
    return h("li", { dataset: { id: t.id } }, h("strong", {}, t.name), " ",
      h("span", { class: "note" }, t.members.map((m) => m.user + (m.role !== "member" ? " (" + m.role + ")" : "")).join(", ")),
      admin ? h("form", { class: "inline add-member", on: { submit: (ev) => {
        ev.preventDefault();
        act("PUT", "/v1/teams/" + t.id + "/members/" + encodeURIComponent(who.value.trim()), { role: role.value }, "Member set");
      } } }, who, role, h("button", { type: "submit" }, "Add")) : null,
      mine ? h("button", { type: "button", class: "leave", on: { click: () => act("DELETE", "/v1/teams/" + t.id + "/members/" + encodeURIComponent(me.user.name), undefined, "Left the team") } }, "Leave") : null);
  })) : h("p", { class: "note" }, "You are in no team."), form);
}

function collectionPage(id) {
  main.replaceChildren(h("p", { class: "summary" }, "Loading…"));
  const leavesBox = h("div", { id: "collection-leaves" });
  let col = null;
  const path = "/v1/collections/" + encodeURIComponent(id);
  const drawLeaves = async () => {
    try {
      // Each leaf with its position in the collection (hidden and deleted
      // ones keep theirs): a move names a neighbour's position.
      const items = [], positions = [];
      let token = "";
      for (let i = 0; i < 40; i++) {
        const { json } = await api("GET", path + "/leaves?limit=500" + (token ? "&page_token=" + token : ""));
        items.push(...json.items);
        positions.push(...(json.positions || []));
        if (!json.next_page_token) break;
        token = json.next_page_token;
      }
      const go = (s) => navigate(searchUrl(Object.assign({ q: "", tags: [], limit: 30 }, s)));
      const editable = col.access !== "view";
      leavesBox.replaceChildren(items.length ? h("ol", { class: "collection-leaves" }, items.map((l, i) => {
        const move = (to) => api("PUT", path + "/leaves/" + encodeURIComponent(l.id), { position: to }).then(drawLeaves).catch((e) => toast(e.message));
        return h("li", { dataset: { id: l.id } }, leafCard(l, { q: "", tags: [] }, go), editable ? h("div", { class: "actions" },
          h("button", { type: "button", class: "up", "aria-label": "Move up", disabled: i === 0, on: { click: () => move(positions[i - 1]) } }, "↑"),
          h("button", { type: "button", class: "down", "aria-label": "Move down", disabled: i === items.length - 1, on: { click: () => move(positions[i + 1]) } }, "↓"),
          h("button", { type: "button", class: "remove", on: { click: () => api("DELETE", path + "/leaves/" + encodeURIComponent(l.id)).then(() => { toast("Taken out"); drawLeaves(); }).catch((e) => toast(e.message)) } }, "Take out")) : null);
      })) : h("p", { class: "note" }, "No leaves here yet" + (editable ? ": open a leaf and add it from its page." : ".")));
    } catch (e) { leavesBox.replaceChildren(errorBox(e)); }
  };
  const draw = async () => {
    try { col = (await api("GET", path)).json; } catch (e) { main.replaceChildren(h("h1", {}, "Collection"), errorBox(e)); return; }
    document.title = col.name + " · Leaves Reader";
    const crumbs = h("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, h("a", { href: "/collections", "data-nav": true }, "Collections"),
      col.breadcrumb.map((c) => [" › ", collectionLink(c)]), " › ", h("span", {}, col.name));
    const parts = [crumbs, h("h1", { id: "collection-title" }, col.name), h("p", {}, badges(col), " · by " + col.owner),
      col.description ? h("p", { class: "description" }, col.description) : null];
    if (col.access !== "view") parts.push(editForm());
    if (col.access === "manage") parts.push(manageBox());
    parts.push(h("h2", {}, "Leaves"), leavesBox);
    main.replaceChildren(...parts);
    drawLeaves();
  };
  const editForm = () => {
    const name = h("input", { type: "text", id: "edit-name", value: col.name, maxlength: 200 });
    const description = h("textarea", { id: "edit-description", maxlength: 4000, rows: 2 }, col.description);
    return h("details", {}, h("summary", {}, "Edit"), h("form", { class: "stack", on: { submit: async (ev) => {
      ev.preventDefault();
      try { await api("PATCH", path, { name: name.value.trim(), description: description.value }); toast("Saved"); draw(); } catch (e) { toast(e.message); }
    } } }, h("label", {}, "Name", name), h("label", {}, "Description", description), h("div", {}, h("button", { type: "submit" }, "Save"))));
  };
  const manageBox = () => {
    const team = h("select", { id: "share-team", "aria-label": "team" });
    const role = h("select", { id: "share-role", "aria-label": "role" }, h("option", { value: "viewer" }, "viewer"), h("option", { value: "editor" }, "editor"));
    const shares = h("ul", { id: "shares" });
    const act = (method, p2, body, done) => api(method, p2, body).then(() => { toast(done); draw(); }).catch((e) => toast(e.message));
    const drawShares = (names) => shares.replaceChildren(...col.shares.map((s) => h("li", { dataset: { team: s.team } },
      (names.get(s.team) || "team " + s.team) + " as " + s.role + " ",
      h("button", { type: "button", on: { click: () => act("DELETE", path + "/shares/" + s.team, undefined, "No longer shared") } }, "Stop sharing"))));
    drawShares(new Map());
    api("GET", "/v1/teams").then(({ json }) => {
      const items = json.items || [];
      team.replaceChildren(...items.map((t) => h("option", { value: t.id }, t.name)));
      if (!items.length) team.replaceChildren(h("option", { value: "" }, "(you are in no team)"));
      drawShares(new Map(items.map((t) => [t.id, t.name])));
    }).catch(() => {});
    return h("section", { class: "manage" },
      h("h2", {}, "Sharing"),
      col.shares.length ? shares : h("p", { class: "note" }, "Shared with no team."),
      h("form", { class: "inline", id: "share", on: { submit: (ev) => {
        ev.preventDefault();
        if (team.value) act("PUT", path + "/shares/" + team.value, { role: role.value }, "Shared");
      } } }, team, role, h("button", { type: "submit" }, "Share")),
      h("div", { class: "actions" },
        h("button", { type: "button", id: "toggle-public", on: { click: () => act("PATCH", path, { is_public: !col.is_public }, col.is_public ? "Now private" : "Now public") } }, col.is_public ? "Make private" : "Make public"),
        h("button", { type: "button", id: "delete-collection", on: { click: () => {
          if (!confirm("Delete this collection? Its leaves stay.")) return;
          api("DELETE", path).then(() => { toast("Deleted"); navigate("/collections"); }).catch((e) => toast(e.message));
        } } }, "Delete")));
  };
  // Live once it is known to exist: a change to one of its leaves redraws the list.
  let pending = 0;
  let live = false;
  const first = draw;
  const drawThenListen = async () => {
    await first();
    if (!col || live) return;
    live = true;
    cleanup.push(liveStream({ collection: id }, () => {
      clearTimeout(pending);
      pending = setTimeout(() => { if (col) drawLeaves(); }, 300);
    }));
  };
  drawThenListen();
}

// The leaf page's "Add to collection": the collections the caller may change.
function addToCollection(leaf) {
  const pick = h("select", { id: "add-to-collection", "aria-label": "collection", hidden: true }, h("option", { value: "" }, "Add to collection…"));
  meReady.then(() => (me.anonymous ? [] : allCollections())).then((items) => {
    const mine = items.filter((x) => x.access !== "view");
    for (const c of mine) pick.append(h("option", { value: c.id }, c.name));
    pick.hidden = mine.length === 0;
  }).catch(() => {});
  pick.addEventListener("change", async () => {
    if (!pick.value) return;
    const name = pick.selectedOptions[0].textContent;
    try {
      await api("POST", "/v1/collections/" + encodeURIComponent(pick.value) + "/leaves", { id: leaf.id });
      toast("Added to " + name);
    } catch (e) { toast(e.message); }
    pick.value = "";
  });
  return pick;
}

// ---------- save ----------

function savePage() {
  document.title = "Save · Leaves Reader";
  const p = new URLSearchParams(location.search);
  const url = h("input", { type: "url", id: "save-url", name: "url", required: true, value: p.get("url") || "", maxlength: 8192 });
  const title = h("input", { type: "text", id: "save-title", name: "title", value: p.get("title") || "", maxlength: 2000 });
  const tags = h("input", { type: "text", id: "save-tags", name: "tags", placeholder: "comma-separated", value: p.get("tags") || "" });
  const status = h("p", { role: "status", class: "summary" });
  const form = h("form", { class: "stack", on: { submit: async (ev) => {
    ev.preventDefault();
    const body = { url: url.value.trim() };
    if (title.value.trim()) body.title = title.value.trim();
    const t = tags.value.split(",").map((x) => x.trim()).filter(Boolean);
    if (t.length) body.tags = t;
    status.textContent = "Saving…";
    try {
      const { json } = await api("POST", "/v1/leaves", body);
      status.replaceChildren("Saved: ", h("a", { href: "/leaf/" + encodeURIComponent(json.id), "data-nav": true }, json.title || json.url));
      form.reset();
    } catch (e) {
      status.replaceChildren(errorBox(e));
    }
  } } },
    h("label", {}, "URL", url), h("label", {}, "Title", title), h("label", {}, "Tags", tags),
    h("div", {}, h("button", { class: "primary", type: "submit" }, "Save")));
  // The bookmarklet opens this form with the current page's URL and title.
  const bm = "javascript:void(open('" + location.origin + "/save?url='+encodeURIComponent(location.href)+'&title='+encodeURIComponent(document.title)))";
  main.replaceChildren(h("h1", {}, "Save a leaf"), form, status,
    h("h2", {}, "Bookmarklet"),
    h("p", { class: "note" }, "Drag this link to your bookmarks bar; on any page, click it to save that page here: ",
      h("a", { href: bm, id: "bookmarklet" }, "Save to Leaves")));
}

// ---------- signing in ----------

async function loadMe() {
  try {
    const { json } = await api("GET", "/v1/me");
    me = json;
  } catch {
    me = { anonymous: true, scopes: [], sees: "none" };
  }
  renderAccount();
}

function renderAccount() {
  const box = document.getElementById("account");
  if (!box) return;
  if (me.anonymous) {
    const people = document.getElementById("nav-people");
    if (people) people.hidden = true;
    box.replaceChildren(h("a", { href: "/login", "data-nav": true, id: "sign-in-link" }, "Sign in"));
    return;
  }
  const signOut = h("button", { type: "button", id: "sign-out", on: { click: async () => {
    try {
      await api("DELETE", "/v1/session");
    } catch (e) {
      toast(e.message);
    }
    await loadMe();
    navigate("/", true);
  } } }, "Sign out");
  const people = document.getElementById("nav-people");
  if (people) people.hidden = !me.scopes.includes("admin");
  box.replaceChildren(h("a", { href: "/account", "data-nav": true, id: "signed-in-as", title: "Your account: tokens, webhooks, password" },
    me.user.name + " (" + me.user.role + ")"), me.csrf ? signOut : "");
}

function loginPage() {
  document.title = "Sign in · Leaves Reader";
  if (!me.anonymous) {
    main.replaceChildren(h("h1", {}, "Signed in"),
      h("p", {}, "You are signed in as ", h("strong", {}, me.user.name), " (" + me.user.role + ")."),
      h("p", {}, h("a", { href: "/", "data-nav": true }, "Back to the search")));
    return;
  }
  const name = h("input", { type: "text", id: "login-name", name: "username", autocomplete: "username",
    required: true, maxlength: 64, autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { type: "password", id: "login-password", name: "password",
    autocomplete: "current-password", required: true, maxlength: 1024 });
  const status = h("div", { role: "status", id: "login-status" });
  const form = h("form", { class: "stack", id: "login-form", on: { submit: async (ev) => {
    ev.preventDefault();
    status.replaceChildren(h("p", { class: "summary" }, "Signing in…"));
    try {
      await api("POST", "/v1/session", { name: name.value.trim(), password: password.value });
      password.value = "";
      await loadMe();
      const next = new URLSearchParams(location.search).get("next");
      navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/", true);
    } catch (e) {
      password.value = "";
      status.replaceChildren(errorBox(e));
    }
  } } },
    h("label", {}, "User name", name), h("label", {}, "Password", password),
    h("div", {}, h("button", { class: "primary", type: "submit" }, "Sign in")));
  const note = me.sees === "public" ? "Without signing in you see public leaves only." :
    me.sees === "none" ? "This server shows nothing without signing in." : "";
  main.replaceChildren(h("h1", {}, "Sign in"), form, status, note ? h("p", { class: "note" }, note) : "",
    h("p", { class: "note" }, "An admin sets your password (leaves users password NAME). API clients use tokens instead."));
  name.focus();
}

// ---------- the account: tokens, webhooks, password ----------

// A secret the server shows once (a token, a webhook's key), with a copy button.
function shownOnce(label, secret, id) {
  const field = h("input", { type: "text", readonly: true, value: secret, id, class: "secret", "aria-label": label });
  const copy = h("button", { type: "button", on: { click: async () => {
    try { await navigator.clipboard.writeText(secret); toast("Copied"); } catch { field.select(); }
  } } }, "Copy");
  return h("div", { class: "shown-once", role: "status" }, h("p", {}, label + ": shown this once; keep it now."), h("div", { class: "inline" }, field, copy));
}

async function accountPage() {
  document.title = "Your account · Leaves Reader";
  await meReady;  // a page loaded at /account renders before /v1/me answers
  if (me.anonymous) {
    main.replaceChildren(h("h1", {}, "Your account"),
      h("p", {}, h("a", { href: "/login?next=/account", "data-nav": true }, "Sign in"), " to see your tokens and webhooks."));
    return;
  }
  const base = "/v1/users/" + encodeURIComponent(me.user.name);
  const tokensBox = h("div", { id: "tokens" }, h("p", { class: "summary" }, "Loading…"));
  const hooksBox = h("div", { id: "webhooks" }, h("p", { class: "summary" }, "Loading…"));
  main.replaceChildren(h("h1", {}, "Your account"),
    h("p", {}, h("strong", {}, me.user.name), " · " + me.user.role + (me.user.email ? " · " + me.user.email : "") +
      " · sees " + (me.sees === "all" ? "every leaf" : "public leaves and your own")),
    h("h2", {}, "API tokens"), tokensBox, h("h2", {}, "Webhooks"), hooksBox, h("h2", {}, "Password"), passwordForm(base));
  drawTokens(base, tokensBox);
  drawWebhooks(base, hooksBox);
}

async function drawTokens(base, box, fresh) {
  let items;
  try { items = (await api("GET", base + "/tokens")).json.items || []; } catch (e) { box.replaceChildren(errorBox(e)); return; }
  const live = items.filter((t) => !t.revoked);
  const list = live.length ? h("table", { class: "grid", id: "token-list" },
    h("thead", {}, h("tr", {}, ["Name", "Scopes", "Made", "Expires", "Action"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, live.map((t) => h("tr", { dataset: { id: t.id } },
      h("td", {}, t.name, t.id === me.token_id ? h("span", { class: "badge" }, "this session") : ""),
      h("td", {}, t.scopes.join(", ")), h("td", {}, timeEl(t.created_at)), h("td", {}, t.expires_at ? timeEl(t.expires_at) : "never"),
      h("td", {}, t.id === me.token_id ? "" : h("button", { type: "button", class: "revoke", on: { click: async () => {
        if (!confirm("Revoke the token " + t.name + "? Clients using it stop at once.")) return;
        try { await api("DELETE", base + "/tokens/" + t.id); toast("Revoked"); drawTokens(base, box); } catch (e) { toast(e.message); }
      } } }, "Revoke")))))) : h("p", { class: "note" }, "No tokens.");
  const name = h("input", { type: "text", id: "token-name", maxlength: 100, placeholder: "what it is for", required: true });
  const allowed = me.scopes.filter((s) => ["read", "write", "admin", "feed"].includes(s));
  const boxes = allowed.map((s) => h("input", { type: "checkbox", value: s, checked: s !== "admin", class: "token-scope", "aria-label": s }));
  const days = h("input", { type: "number", id: "token-days", min: 1, max: 3650, placeholder: "never", "aria-label": "expires in days" });
  const status = h("div", { id: "token-status" });
  const form = h("form", { class: "stack", id: "new-token", on: { submit: async (ev) => {
    ev.preventDefault();
    const body = { name: name.value.trim(), scopes: boxes.filter((b) => b.checked).map((b) => b.value) };
    if (days.value) body.expires_in_days = Number(days.value);
    try {
      const { json } = await api("POST", base + "/tokens", body);
      drawTokens(base, box, shownOnce("Token " + json.name, json.token, "new-token-secret"));
    } catch (e) { status.replaceChildren(errorBox(e)); }
  } } },
    h("label", {}, "Name", name),
    h("fieldset", {}, h("legend", {}, "Scopes"), boxes.map((b) => h("label", { class: "check" }, b, " " + b.value))),
    h("label", {}, "Expires in days (empty: never)", days),
    h("div", {}, h("button", { type: "submit" }, "Make token")));
  box.replaceChildren(fresh || "", list, h("details", {}, h("summary", {}, "New token"), form, status));
}

async function drawWebhooks(base, box, fresh) {
  let items, cols;
  try {
    items = (await api("GET", base + "/webhooks")).json.items || [];
    cols = (await allCollections()).filter((c) => !c.query);
  } catch (e) { box.replaceChildren(errorBox(e)); return; }
  const colName = new Map(cols.map((c) => [c.id, c.name]));
  const redraw = () => drawWebhooks(base, box);
  const act = async (method, path, body, done) => {
    try { await api(method, path, body); toast(done); redraw(); } catch (e) { toast(e.message); }
  };
  const list = items.length ? h("ul", { class: "webhooks", id: "webhook-list" }, items.map((w) => {
    const log = h("div", { class: "deliveries" });
    const what = w.collection ? "collection " + (colName.get(w.collection) || w.collection) : w.tag ? "tag " + w.tag : "every leaf you may see";
    return h("li", { dataset: { id: w.id } }, h("code", {}, w.url), " ", h("span", { class: "note" }, "· " + what),
      w.enabled ? "" : h("span", { class: "badge off" }, "off" + (w.disabled_reason ? ": " + w.disabled_reason : "")),
      h("div", { class: "inline" },
        h("button", { type: "button", class: "toggle", on: { click: () => act("PATCH", base + "/webhooks/" + w.id, { enabled: !w.enabled }, w.enabled ? "Turned off" : "Turned on") } }, w.enabled ? "Turn off" : "Turn on"),
        h("button", { type: "button", class: "show-deliveries", on: { click: async () => {
          try {
            const got = (await api("GET", base + "/webhooks/" + w.id + "/deliveries")).json.items || [];
            log.replaceChildren(got.length ? h("table", { class: "grid" },
              h("thead", {}, h("tr", {}, ["When", "Event", "Leaf", "Tries", "Answer"].map((c) => h("th", { scope: "col" }, c)))),
              h("tbody", {}, got.map((d) => h("tr", { class: d.ok ? "ok" : "failed" }, h("td", {}, timeEl(d.time)), h("td", {}, d.event_type),
                h("td", {}, d.leaf_id ? h("a", { href: "/leaf/" + encodeURIComponent(d.leaf_id), "data-nav": true }, d.leaf_id.slice(0, 8)) : ""),
                h("td", {}, String(d.attempts)), h("td", {}, d.ok ? String(d.status) : (d.status ? d.status + " " : "") + (d.error || "failed"))))))
              : h("p", { class: "note" }, "Nothing delivered yet (from this server, since it started)."));
          } catch (e) { log.replaceChildren(errorBox(e)); }
        } } }, "Deliveries"),
        h("button", { type: "button", class: "delete", on: { click: () => {
          if (confirm("Delete this webhook?")) act("DELETE", base + "/webhooks/" + w.id, undefined, "Deleted");
        } } }, "Delete")), log);
  })) : h("p", { class: "note" }, "No webhooks.");
  const url = h("input", { type: "url", id: "webhook-url", required: true, maxlength: 2048, placeholder: "https://hooks.example.com/leaves" });
  const tag = h("input", { type: "text", id: "webhook-tag", maxlength: 200, placeholder: "any" });
  const col = h("select", { id: "webhook-collection" }, h("option", { value: "" }, "(none: leaves you may see)"),
    cols.map((c) => h("option", { value: c.id }, c.name)));
  const status = h("div", { id: "webhook-status" });
  const form = h("form", { class: "stack", id: "new-webhook", on: { submit: async (ev) => {
    ev.preventDefault();
    const body = { url: url.value.trim() };
    if (tag.value.trim()) body.tag = tag.value.trim();
    if (col.value) body.collection = col.value;
    try {
      const { json } = await api("POST", base + "/webhooks", body);
      drawWebhooks(base, box, shownOnce("The signing secret of " + json.url, json.secret, "new-webhook-secret"));
    } catch (e) { status.replaceChildren(errorBox(e)); }
  } } },
    h("label", {}, "URL", url), h("label", {}, "Only the tag", tag), h("label", {}, "Follow the collection", col),
    h("p", { class: "note" }, "Each event is POSTed as JSON, signed with HMAC-SHA256 in Leaves-Signature (docs/webhooks.md)."),
    h("div", {}, h("button", { type: "submit" }, "Make webhook")));
  box.replaceChildren(fresh || "", list, h("details", {}, h("summary", {}, "New webhook"), form, status));
}

function passwordForm(base) {
  const current = h("input", { type: "password", id: "password-current", autocomplete: "current-password", maxlength: 1024 });
  const next = h("input", { type: "password", id: "password-new", autocomplete: "new-password", required: true, minlength: 10, maxlength: 1024 });
  const status = h("div", { role: "status", id: "password-status" });
  return h("form", { class: "stack", id: "password-form", on: { submit: async (ev) => {
    ev.preventDefault();
    const body = { password: next.value };
    if (current.value) body.current_password = current.value;
    try {
      await api("PUT", base + "/password", body);
      current.value = next.value = "";
      status.replaceChildren(h("p", { class: "summary" }, "Password changed; your other sessions were signed out."));
    } catch (e) {
      current.value = "";
      status.replaceChildren(errorBox(e));
    }
  } } }, h("label", {}, "Current password", current), h("label", {}, "New password (at least 10 characters)", next),
    h("div", {}, h("button", { type: "submit" }, "Change password")), status);
}

// ---------- people: users and the audit (admins) ----------

const ROLES = ["reader", "curator", "admin"];

async function peoplePage() {
  document.title = "People · Leaves Reader";
  await meReady;
  if (!me.scopes.includes("admin")) {
    main.replaceChildren(h("h1", {}, "People"), me.anonymous
      ? h("p", {}, h("a", { href: "/login?next=/people", "data-nav": true }, "Sign in"), " as an admin to manage users.")
      : h("p", {}, "Only admins manage users and read the audit."));
    return;
  }
  const usersBox = h("div", { id: "users" }, h("p", { class: "summary" }, "Loading…"));
  const auditBox = h("div", { id: "audit" });
  main.replaceChildren(h("h1", {}, "People"), h("h2", {}, "Users"), usersBox, h("h2", { id: "audit-heading", tabindex: "-1" }, "Audit"),
    h("p", { class: "note" }, "Every event of the log, newest first: who did what, when (docs/auth.md, \u201cThe audit\u201d)."), auditBox);
  drawUsers(usersBox);
  drawAudit(auditBox);
}

async function drawUsers(box, fresh, focus) {
  let items;
  try { items = (await api("GET", "/v1/users")).json.items || []; } catch (e) { box.replaceChildren(errorBox(e)); return; }
  // After a change the table is drawn again: keyboard focus goes back to
  // the control that made it.
  const redraw = (note, again) => drawUsers(box, note, again);
  const patch = async (u, body, done, again) => {
    try { await api("PATCH", "/v1/users/" + encodeURIComponent(u.name), body); toast(done); } catch (e) { toast(e.message); }
    redraw(undefined, again);
  };
  const rows = items.map((u) => {
    const self = u.name === me.user.name;  // no demoting or disabling oneself here
    const role = h("select", { class: "user-role", "aria-label": "role of " + u.name, disabled: self },
      ROLES.map((r) => h("option", { value: r, selected: r === u.role }, r)));
    const apply = h("button", { type: "button", class: "user-role-save", disabled: true, "aria-label": "save the role of " + u.name,
      on: { click: () => patch(u, { role: role.value }, u.name + " is now " + role.value, { name: u.name, control: "select.user-role" }) } }, "Save");
    role.addEventListener("change", () => { apply.disabled = role.value === u.role; });
    const toggle = h("button", { type: "button", class: "user-toggle", disabled: self, "aria-label": (u.disabled ? "enable " : "disable ") + u.name,
      title: self ? "You cannot disable yourself here" : null, on: { click: () => {
        if (!u.disabled && !confirm("Disable " + u.name + "? Their tokens and sessions stop working at once.")) return;
        patch(u, { disabled: !u.disabled }, u.disabled ? "Enabled " + u.name : "Disabled " + u.name, { name: u.name, control: "button.user-toggle" });
      } } }, u.disabled ? "Enable" : "Disable");
    const secret = h("input", { type: "password", class: "user-password", autocomplete: "new-password", minlength: 10, maxlength: 1024, required: true, "aria-label": "new password for " + u.name });
    const setPassword = h("form", { class: "inline", on: { submit: async (ev) => {
      ev.preventDefault();
      try {
        await api("PUT", "/v1/users/" + encodeURIComponent(u.name) + "/password", { password: secret.value });
        secret.value = "";
        toast("Password set for " + u.name);
      } catch (e) { secret.value = ""; toast(e.message); }
    } } }, secret, h("button", { type: "submit", "aria-label": "set the password of " + u.name }, "Set"));
    const events = h("a", { href: "#audit-heading", "aria-label": "events of " + u.name, on: { click: (ev) => {
      ev.preventDefault();
      drawAudit(document.getElementById("audit"), { actor: u.name });
      const heading = document.getElementById("audit-heading");
      heading.scrollIntoView();
      heading.focus();
    } } }, "events");
    return h("tr", { dataset: { name: u.name }, class: u.disabled ? "disabled" : "" },
      h("th", { scope: "row" }, u.name, self ? h("span", { class: "badge" }, "you") : "", u.disabled ? h("span", { class: "badge off" }, "disabled") : ""),
      h("td", {}, u.email || ""), h("td", {}, h("div", { class: "inline" }, role, apply)), h("td", {}, timeEl(u.created_at)),
      h("td", {}, u.has_password ? "set" : "none"), h("td", {}, setPassword), h("td", {}, toggle), h("td", {}, events));
  });
  const table = h("div", { class: "table-scroll" }, h("table", { class: "grid", id: "user-list" },
    h("thead", {}, h("tr", {}, ["Name", "Email", "Role", "Since", "Password", "New password", "Access", "Audit"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows)));
  const name = h("input", { type: "text", id: "user-name", required: true, maxlength: 64, pattern: "[a-z0-9][a-z0-9._\\-]*", placeholder: "ann", autocomplete: "off" });
  const email = h("input", { type: "email", id: "user-email", maxlength: 254, placeholder: "optional" });
  const role = h("select", { id: "user-role" }, ROLES.map((r) => h("option", { value: r, selected: r === "reader" }, r)));
  const password = h("input", { type: "password", id: "user-password", autocomplete: "new-password", minlength: 10, maxlength: 1024, placeholder: "optional: to sign in here" });
  const status = h("div", { id: "user-status" });
  const form = h("form", { class: "stack", id: "new-user", on: { submit: async (ev) => {
    ev.preventDefault();
    const body = { name: name.value.trim(), role: role.value };
    if (email.value.trim()) body.email = email.value.trim();
    try {
      await api("POST", "/v1/users", body);
    } catch (e) { password.value = ""; status.replaceChildren(errorBox(e)); return; }
    let made = "Made " + body.name + (body.role !== "reader" ? " (" + body.role + ")" : "") + ".";
    if (password.value) {
      // The user exists from here on: a refused password is said, not lost.
      try { await api("PUT", "/v1/users/" + encodeURIComponent(body.name) + "/password", { password: password.value }); } catch (e) {
        made += " The password was not set: " + e.message + " (set one in the user's row).";
      }
    }
    password.value = "";
    redraw(h("p", { class: "summary", role: "status" }, made));
  } } },
    h("label", {}, "Name (lower case letters, digits, . _ -)", name), h("label", {}, "Email", email), h("label", {}, "Role", role),
    h("label", {}, "Password (at least 10 characters)", password),
    h("p", { class: "note" }, "Without a password the user signs in with an API token only: make one with leaves users token NAME."),
    h("div", {}, h("button", { type: "submit", class: "primary" }, "Make user")));
  box.replaceChildren(fresh || "", table, h("details", {}, h("summary", {}, "New user"), form, status));
  if (focus && focus.name) {
    const again = box.querySelector("#user-list tr[data-name='" + CSS.escape(focus.name) + "'] " + focus.control);
    if (again && !again.disabled) again.focus();
  }
}

// The audit: filters and "Older" paging over GET /v1/audit. Only the last
// load asked counts (a slow answer to an earlier one is dropped).
function drawAudit(box, preset) {
  const f = Object.assign({ actor: "", type: "", aggregate: "" }, preset || {});
  const actor = h("input", { type: "text", id: "audit-actor", value: f.actor, maxlength: 64, placeholder: "anyone" });
  const type = h("select", { id: "audit-type" }, [["", "every event"], ["leaf.", "leaves"], ["user.", "users"], ["team.", "teams"], ["collection.", "collections"]]
    .map(([v, l]) => h("option", { value: v, selected: v === f.type }, l)));
  const aggregate = h("input", { type: "text", id: "audit-aggregate", value: f.aggregate, maxlength: 200, placeholder: "a leaf id, user:NAME, collection:ID" });
  const body = h("tbody", {});
  const more = h("button", { type: "button", id: "audit-older", hidden: true }, "Older");
  const show = h("button", { type: "submit" }, "Show");
  const status = h("p", { class: "note", role: "status", id: "audit-status" });
  const problem = h("div", { id: "audit-error" });
  let before = "";
  let asked = 0;
  const load = async (reset) => {
    const mine = ++asked;
    if (reset) { before = ""; body.replaceChildren(); }
    const q = new URLSearchParams({ limit: "50" });
    if (actor.value.trim()) q.set("actor", actor.value.trim());
    if (type.value) q.set("type", type.value);
    if (aggregate.value.trim()) q.set("aggregate", aggregate.value.trim());
    if (before) q.set("before", before);
    status.textContent = "Loading…";
    problem.replaceChildren();
    more.disabled = true;
    let json;
    try { json = (await api("GET", "/v1/audit?" + q)).json; } catch (e) {
      if (mine !== asked) return;
      status.textContent = "";
      problem.replaceChildren(errorBox(e));
      more.hidden = true;
      return;
    }
    if (mine !== asked) return;
    for (const e of json.items || []) body.append(auditRow(e));
    before = json.next_before || "";
    more.hidden = !before;
    more.disabled = false;
    const shown = body.children.length;
    status.textContent = shown ? shown + " event" + (shown > 1 ? "s" : "") + (before ? "; Older reads further back" : "; that is all")
      : before ? "None among the events read so far; Older reads further back." : "No events match.";
  };
  more.addEventListener("click", () => load(false));
  const form = h("form", { class: "inline", id: "audit-filter", on: { submit: (ev) => { ev.preventDefault(); load(true); } } },
    h("label", {}, "Actor ", actor), h("label", {}, "Kind ", type), h("label", {}, "Aggregate ", aggregate), show);
  box.replaceChildren(form, status, problem, h("div", { class: "table-scroll" }, h("table", { class: "grid", id: "audit-list" },
    h("thead", {}, h("tr", {}, ["When", "Actor", "Event", "Of", "Changed"].map((c) => h("th", { scope: "col" }, c)))), body)), more);
  load(true);
}

function auditRow(e) {
  const id = e.aggregate_id || "";
  let of = id;
  if (id && !id.includes(":")) of = h("a", { href: "/leaf/" + encodeURIComponent(id), "data-nav": true }, id.slice(0, 12));
  else if (id.startsWith("collection:")) of = h("a", { href: "/collection/" + encodeURIComponent(id.slice(11)), "data-nav": true }, id);
  const text = (v) => (typeof v === "string" ? v : "");
  const detail = [].concat(e.changed || [], text(e.role) ? ["role " + e.role] : [], text(e.name) && !id.endsWith(":" + e.name) ? ["name " + e.name] : [],
    text(e.team) ? ["team " + e.team] : [], text(e.user) ? ["user " + e.user] : [], text(e.leaf) ? ["leaf " + e.leaf.slice(0, 12)] : [],
    text(e.token_id) ? ["token " + e.token_id] : [], Array.isArray(e.tags) ? ["tags " + e.tags.join(", ")] : []);
  return h("tr", { dataset: { type: e.type } }, h("td", {}, timeEl(e.time || e.logged)), h("td", {}, e.actor || ""),
    h("td", {}, h("code", {}, e.type || "")), h("td", {}, of), h("td", {}, detail.join(" · ")));
}

// ---------- import ----------

function importPage() {
  document.title = "Import · Leaves Reader";
  const file = h("input", { type: "file", id: "import-file",
    accept: ".json,.jsonl,.html,.htm,.csv,application/json,text/html,text/csv" });
  const bar = h("progress", { id: "import-progress", max: 1, value: 0 });
  const status = h("p", { role: "status", class: "summary", id: "import-status" });
  const form = h("form", { class: "stack", on: { submit: async (ev) => {
    ev.preventDefault();
    if (!file.files.length) return;
    let records;
    try {
      records = parseExport(await file.files[0].text());
    } catch (e) {
      status.replaceChildren(errorBox("cannot read this file: " + e.message));
      return;
    }
    bar.max = records.length || 1;
    bar.value = 0;
    let created = 0, unchanged = 0, rejected = 0;
    const problems = [];
    for (let i = 0; i < records.length; i += 200) {
      const batch = records.slice(i, i + 200);
      try {
        const { json } = await api("POST", "/v1/bulk/leaves", { items: batch });
        created += (json.created || 0) + (json.updated || 0);
        unchanged += json.unchanged || 0;
        rejected += json.rejected || 0;
        for (const r of json.results || []) {
          if (r.status === "rejected" && problems.length < 20) {
            problems.push("entry " + (i + r.index + 1) + ": " + (r.error ? r.error.message : "rejected"));
          }
        }
      } catch (e) {
        status.replaceChildren(errorBox(e));
        return;
      }
      bar.value = Math.min(records.length, i + batch.length);
      status.textContent = `${bar.value.toLocaleString()} of ${records.length.toLocaleString()} sent: ${created} saved, ${unchanged} unchanged, ${rejected} rejected`;
    }
    if (problems.length) status.append(h("ul", {}, problems.map((p) => h("li", {}, p))));
  } } },
    h("label", {}, "Export file: leaves' own (JSON, JSON lines, CSV, bookmarks), a browser's bookmarks (HTML), " +
      "Pocket (HTML or CSV), wallabag, Karakeep or Linkwarden (JSON)", file),
    h("div", {}, h("button", { class: "primary", type: "submit" }, "Import")), bar);
  // Exports stream from the server; the session cookie goes with the link.
  const formats = [["html", "Bookmarks (HTML, for browsers)"], ["csv", "CSV"], ["jsonl", "JSON lines"], ["json", "JSON"]];
  const exports = h("ul", { id: "export-links" }, formats.map(([f, label]) =>
    h("li", {}, h("a", { href: "/v1/export?format=" + f, download: "" }, label))));
  main.replaceChildren(h("h1", {}, "Import an export"), form, status,
    h("h2", {}, "Export every leaf you can see"), exports);
}

// Every format `leaves import` reads (docs/api.md), parsed here into the
// bulk endpoint's entries: JSON (a Solr or wallabag export, an array, JSON
// lines, Karakeep's and Linkwarden's shapes), Netscape bookmarks and
// Pocket's HTML (through DOMParser, which runs nothing), CSV with a header.
function parseExport(text) {
  const t = text.replace(/^\uFEFF/, "").trim();
  const head = t.slice(0, 1024);
  if (/^<!DOCTYPE NETSCAPE-Bookmark-file/i.test(t) || head.includes("<title>Pocket Export</title>")) {
    return parseBookmarks(t);
  }
  if (t.startsWith("[")) return JSON.parse(t);
  if (t.startsWith("{")) {
    try {
      const j = JSON.parse(t);
      if (j.response && Array.isArray(j.response.docs)) return j.response.docs;
      if (Array.isArray(j.bookmarks)) return karakeepEntries(j.bookmarks);
      if (Array.isArray(j.collections)) return linkwardenEntries(j.collections);
      if (Array.isArray(j.items)) return j.items;
      return [j];
    } catch {
      // JSON lines
    }
    return t.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  }
  if (t.includes(",")) return parseCsv(t);
  throw new Error("not JSON, JSON lines, a bookmark file or CSV");
}

// "a\|b|c" -> ["a|b", "c"]: a backslash keeps a separator in a tag (leaves' exports).
function splitEscaped(text, sep) {
  const out = [];
  let cur = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && i + 1 < text.length && "\\|,".includes(text[i + 1])) cur += text[++i];
    else if (c === sep) { out.push(cur); cur = ""; }
    else cur += c;
  }
  out.push(cur);
  return out.map((x) => x.trim()).filter((x) => x);
}

function hasUnescaped(text, sep) {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\" && i + 1 < text.length && "\\|,".includes(text[i + 1])) i++;
    else if (text[i] === sep) return true;
  }
  return false;
}

function secondsToIso(v) {
  let n = Number(v);
  if (!Number.isFinite(n) || n <= 0) return undefined;
  while (n > 1e11) n /= 1000;  // milliseconds or microseconds
  return new Date(Math.floor(n) * 1000).toISOString();
}

function parseBookmarks(text) {
  const doc = new DOMParser().parseFromString(text, "text/html");
  const out = [];
  let archive = false;
  for (const el of doc.querySelectorAll("h1, a[href], dd")) {
    const tag = el.tagName.toLowerCase();
    if (tag === "h1") { archive = el.textContent.includes("Read Archive"); continue; }
    if (tag === "dd") {
      const last = out[out.length - 1];
      const own = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join("").trim();
      if (last && !last.content_text && own) last.content_text = own;
      continue;
    }
    const url = el.getAttribute("href");
    if (!url) continue;
    const e = { url };
    const title = el.textContent.replace(/\s+/g, " ").trim();
    if (title && title !== url) e.title = title.slice(0, 4096);
    const tags = splitEscaped(el.getAttribute("tags") || "", ",");
    if (tags.length) e.tags = tags;
    const added = secondsToIso(el.getAttribute("add_date") || el.getAttribute("time_added"));
    if (added) e.created_at = added;
    const flag = (name) => { const v = el.getAttribute(name); return v === null ? undefined : ["1", "true", "yes"].includes(v); };
    if (flag("private") !== undefined) e.is_public = !flag("private");
    if (flag("starred") !== undefined) e.is_starred = flag("starred");
    if (flag("archived") !== undefined) e.is_archived = flag("archived");
    else if (archive) e.is_archived = true;
    out.push(e);
  }
  if (!out.length) throw new Error("a bookmark file without a single link");
  return out;
}

function karakeepEntries(marks) {
  return marks.filter((b) => b && typeof b === "object").map((b) => {
    const e = { is_archived: !!b.archived, is_starred: !!b.favourited };
    if (b.content && typeof b.content.url === "string") e.url = b.content.url;
    if (typeof b.title === "string") e.title = b.title;
    const tags = (b.tags || []).map((t) => typeof t === "string" ? t : t && t.name).filter((t) => typeof t === "string");
    if (tags.length) e.tags = tags;
    if (typeof b.note === "string" && b.note) e.content_text = b.note;
    if (Number.isInteger(b.createdAt) && b.createdAt > 0) e.created_at = new Date(b.createdAt * 1000).toISOString();
    return e;
  });
}

function linkwardenEntries(collections) {
  const out = [];
  for (const c of collections) {
    for (const l of (c && Array.isArray(c.links)) ? c.links : []) {
      const e = { url: l.url };
      if (l.name) e.title = l.name;
      if (l.description) e.content_text = l.description;
      const tags = (l.tags || []).map((t) => typeof t === "string" ? t : t && t.name).filter((t) => typeof t === "string");
      if (tags.length) e.tags = tags;
      if (typeof l.createdAt === "string") e.created_at = l.createdAt;
      out.push(e);
    }
  }
  return out;
}

// RFC 4180 with a header row naming a url column: leaves' CSV export
// (a leading apostrophe against spreadsheet formulas comes off) and Pocket's.
function parseCsv(text) {
  const rows = [];
  let row = [], field = "", quoted = false, wasQuoted = false;
  const endField = () => {
    if (wasQuoted && field.length >= 2 && field[0] === "'" && "=+-@\t\r'".includes(field[1])) field = field.slice(1);
    row.push(field);
    field = "";
    wasQuoted = false;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i++; } else quoted = false;
      } else field += c;
    } else if (c === '"' && field === "") { quoted = wasQuoted = true; }
    else if (c === ",") endField();
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endField();
      if (!(row.length === 1 && row[0] === "")) rows.push(row);
      row = [];
    } else field += c;
  }
  if (quoted) throw new Error("a quoted CSV field never ends");
  if (field !== "" || row.length) { endField(); rows.push(row); }
  if (!rows.length) throw new Error("the file is empty");
  const col = {};
  rows[0].forEach((name, i) => { col[name.trim().toLowerCase()] = i; });
  if (!("url" in col)) throw new Error("CSV without a url column in its header row");
  const truth = (v) => ["true", "1", "yes"].includes(v);
  return rows.slice(1).map((r) => {
    const get = (k) => (k in col && col[k] < r.length) ? r[col[k]] : undefined;
    const e = { url: get("url") };
    for (const k of ["id", "title", "created_at", "updated_at"]) if (get(k)) e[k] = get(k);
    const tags = get("tags");
    if (tags) e.tags = splitEscaped(tags, hasUnescaped(tags, "|") ? "|" : ",");
    if (get("time_added") && !e.created_at) e.created_at = secondsToIso(get("time_added"));
    for (const k of ["is_starred", "is_archived", "is_public"]) if (get(k)) e[k] = truth(get(k));
    if (get("status") && e.is_archived === undefined) e.is_archived = ["archive", "archived"].includes(get("status"));
    return e;
  });
}

// ---------- operations ----------

function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const kv of (m[3] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[kv[1]] = kv[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

function quantile(buckets, q) {
  // buckets: [[le, cumulative count]] sorted by le
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (!total) return null;
  for (const [le, c] of buckets) if (c >= q * total) return le;
  return Infinity;
}

function opsPage() {
  document.title = "Operations · Leaves Reader";
  const state = h("p", { id: "ops-state", role: "status" }, "Loading…");
  const projections = h("div", { class: "grid2", id: "ops-projections" });
  const requests = h("div", { id: "ops-requests", class: "table-scroll" });
  const counters = h("div", { id: "ops-counters", class: "table-scroll" });
  const ingest = h("div", { id: "ops-ingest", class: "table-scroll" });
  main.replaceChildren(h("h1", {}, "Operations"), state, h("h2", {}, "Projections: lag per partition"), projections,
    h("h2", {}, "Requests"), requests, h("h2", {}, "Pipeline"), counters,
    h("h2", {}, "Ingest topic and dead letters"), ingest);
  let prev = null;
  const refresh = async () => {
    try {
      const res = await fetch("/readyz", { headers: { accept: "application/json" } });
      const r = await res.json();
      state.replaceChildren("State: ", h("span", { class: r.status === "ready" ? "state-ready" : "state-other" }, r.status),
        r.reason ? " — " + r.reason : "", " · refreshed ", new Date().toLocaleTimeString());
      const groups = Object.entries(r.projections || { read_models: r.projector });
      projections.replaceChildren(...groups.map(([name, p]) => {
        const parts = Object.entries(p.lag || {});
        return h("div", {}, h("h3", {}, name, p.group ? h("span", { class: "note" }, " (group " + p.group + ")") : null),
          h("p", { class: "note" }, (p.caught_up ? "caught up" : "catching up") + " · total lag " + p.lag_total +
            (p.documents !== undefined ? " · " + p.documents.toLocaleString() + " documents" : "")),
          h("table", { "data-projection": name }, h("tr", {}, h("th", {}, "partition"), h("th", {}, "lag")),
            parts.map(([part, lag]) => h("tr", {}, h("td", {}, part), h("td", {}, String(lag))))));
      }));
      const text = await (await fetch("/metrics")).text();
      const ms = parseMetrics(text);
      const now = performance.now();
      const byRoute = new Map();
      for (const m of ms) {
        if (m.name === "leaves_http_requests_total") {
          const key = m.labels.method + " " + m.labels.route;
          const e = byRoute.get(key) || { total: 0, buckets: new Map() };
          e.total += m.value;
          byRoute.set(key, e);
        } else if (m.name === "leaves_http_request_duration_seconds_bucket") {
          const key = (m.labels.method || "") + " " + m.labels.route;
          const e = byRoute.get(key) || { total: 0, buckets: new Map() };
          const le = m.labels.le === "+Inf" ? Infinity : Number(m.labels.le);
          e.buckets.set(le, (e.buckets.get(le) || 0) + m.value);
          byRoute.set(key, e);
        }
      }
      const rows = [...byRoute.entries()].filter(([, e]) => e.total > 0).sort((a, b) => b[1].total - a[1].total).map(([k, e]) => {
        const p = prev && prev.routes.get(k);
        const secs = prev ? (now - prev.at) / 1000 : 0;
        const rate = p && secs > 0 ? ((e.total - p.total) / secs).toFixed(1) : "–";
        const b = [...e.buckets.entries()].sort((x, y) => x[0] - y[0]);
        const fmt = (v) => (v === null ? "–" : v === Infinity ? "> max" : (v * 1000).toFixed(v < 0.01 ? 1 : 0) + " ms");
        return h("tr", {}, h("td", {}, k), h("td", {}, e.total.toLocaleString()), h("td", {}, rate), h("td", {}, fmt(quantile(b, 0.5))), h("td", {}, fmt(quantile(b, 0.99))));
      });
      requests.replaceChildren(h("table", {}, h("tr", {}, h("th", {}, "route"), h("th", {}, "requests"), h("th", {}, "per second"), h("th", {}, "p50 ≤"), h("th", {}, "p99 ≤")), rows));
      prev = { at: now, routes: byRoute };
      const interesting = ms.filter((m) => /_total$|_subscribers$|_documents$|_leaves$|_connected|_state/.test(m.name) && m.name !== "leaves_http_requests_total");
      counters.replaceChildren(h("table", {}, h("tr", {}, h("th", {}, "metric"), h("th", {}, "value")),
        interesting.map((m) => h("tr", {}, h("td", {}, m.name + (Object.keys(m.labels).length ? " " + JSON.stringify(m.labels) : "")), h("td", {}, m.value.toLocaleString())))));
      await refreshIngest();
    } catch (e) {
      state.replaceChildren(errorBox(e));
    }
  };
  // The ingest consumer and its last dead letters, with their reasons (admins).
  const refreshIngest = async () => {
    if (!(me.scopes || []).includes("admin")) {
      ingest.replaceChildren(h("p", { class: "note" }, "Admins see the ingest consumer and its last dead letters here."));
      return;
    }
    let j;
    try {
      j = (await api("GET", "/v1/ops/ingest")).json;
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        ingest.replaceChildren(h("p", { class: "note" }, "Admins see the ingest consumer and its last dead letters here."));
        return;
      }
      throw e;
    }
    const g = j.ingest;
    if (!g) {
      ingest.replaceChildren(h("p", { class: "note" }, j.reason || "No ingest topic."));
      return;
    }
    const dash = (v) => (v === null || v < 0 ? "–" : v.toLocaleString());
    ingest.replaceChildren(
      h("p", { class: "note" }, `topic ${g.topic} · group ${g.group} · ${g.records.toLocaleString()} records read, ` +
        `${g.saved.toLocaleString()} saved, ${g.dead_lettered.toLocaleString()} dead-lettered`),
      h("table", { "data-ingest": "partitions" }, h("tr", {}, h("th", {}, "partition"), h("th", {}, "next offset"), h("th", {}, "end"), h("th", {}, "lag")),
        g.partitions.map((p) => h("tr", {}, h("td", {}, String(p.partition)), h("td", {}, dash(p.next)), h("td", {}, dash(p.end)), h("td", {}, dash(p.lag))))),
      g.dead_letters.length
        ? h("table", { "data-ingest": "dead-letters" }, h("tr", {}, h("th", {}, "when"), h("th", {}, "from"), h("th", {}, "code"), h("th", {}, "reason"), h("th", {}, "record")),
          g.dead_letters.map((d) => h("tr", {}, h("td", {}, timeEl(d.time)), h("td", {}, d.source), h("td", {}, d.code), h("td", {}, d.reason), h("td", {}, h("code", {}, d.value)))))
        : h("p", { class: "note" }, "No dead letters since this server started."));
  };
  refresh();
  const timer = setInterval(refresh, 2000);
  cleanup.push(() => clearInterval(timer));
}

// Who is signed in, asked before the first page renders; pages that depend on
// it wait for meReady.
const meReady = loadMe();
render();
meReady.then(() => { if (location.pathname === "/login") render(); });
