// The search of a leaves static site: search.json holds one entry per leaf,
// [path, title, url, tags, created, text]; every word typed must appear in the
// title, the tags or the text. Results are put on the page as text only.
"use strict";
(function () {
  const box = document.getElementById("site-search");
  const out = document.getElementById("site-results");
  if (!box || !out) return;
  const root = box.dataset.root || "";
  let entries = null;
  const load = () => entries || (entries = fetch(root + "search.json").then((r) => r.json()).catch(() => []));
  const show = async () => {
    const words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    if (!words.length) { out.replaceChildren(); return; }
    const all = await load();
    const hits = [];
    for (const e of all) {
      const hay = (e[1] + " " + e[3].join(" ") + " " + e[5]).toLowerCase();
      if (words.every((w) => hay.includes(w))) hits.push(e);
      if (hits.length >= 50) break;
    }
    const items = hits.map((e) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = root + e[0];
      a.textContent = e[1] || e[2];
      const meta = document.createElement("div");
      meta.className = "meta";
      meta.textContent = e[4].slice(0, 10) + (e[3].length ? " · " + e[3].map((t) => "#" + t).join(" ") : "");
      li.append(a, meta);
      return li;
    });
    if (!items.length) {
      const li = document.createElement("li");
      li.textContent = "Nothing matches.";
      items.push(li);
    }
    out.replaceChildren(...items);
  };
  box.addEventListener("input", show);
  box.addEventListener("focus", load, { once: true });
})();
