// archc's page: the script that makes the drawing answer.  What it shows of the spec it
// shows as text (textContent and attribute values, never markup); it fetches nothing —
// except, on the page `archc view` serves, that server's own event stream.
"use strict";
(() => {
  const SVGNS = "http://www.w3.org/2000/svg";
  const page = document.documentElement;
  const networksEl = document.querySelector(".networks");
  const searchEl = document.querySelector(".search");
  const matchesEl = document.querySelector(".matches");
  const statusEl = document.querySelector(".status");
  const errorEl = document.querySelector(".error");
  const errorTextEl = document.querySelector(".error-text");

  let state = JSON.parse(document.getElementById("archc-data").textContent);
  let panes = [];
  let active = null; // the pane the keyboard moves in: the last one pointed at
  let matchAt = -1; // which search match Enter went to last

  // -- small helpers ------------------------------------------------------------------------

  const whole = (n) => n.toLocaleString("en-US");
  function si(n) { // as `archc stats` prints totals: 3 significant digits and a prefix
    const units = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
    for (const [size, unit] of units) {
      if (Math.abs(n) >= size) return (n / size).toPrecision(3).replace(/\.?0+$/, "") + unit;
    }
    return String(n);
  }
  function bytes(n) {
    const units = [[2 ** 40, "TiB"], [2 ** 30, "GiB"], [2 ** 20, "MiB"], [2 ** 10, "KiB"]];
    for (const [size, unit] of units) {
      if (n >= size) return (n / size).toPrecision(3).replace(/\.?0+$/, "") + " " + unit;
    }
    return n + " B";
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }
  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVGNS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    return node;
  }
  function leaf(path) { return path.slice(path.lastIndexOf(".") + 1); }
  function scrollWithin(container, target, centre) {
    const box = container.getBoundingClientRect();
    const r = target.getBoundingClientRect();
    if (centre) {
      container.scrollTop += r.top - box.top - (box.height - r.height) / 2;
      container.scrollLeft += r.left - box.left - (box.width - r.width) / 2;
    } else if (r.top < box.top + 24 || r.bottom > box.bottom) {
      container.scrollTop += r.top - box.top - box.height / 3;
    }
  }

  // -- one network ----------------------------------------------------------------------------

  class Pane {
    constructor(net, index) {
      this.net = net;
      this.index = index;
      this.selected = -1;
      this.root = el("section", { class: "network", "data-network": net.name,
                                  "aria-label": net.name });
      this.root.append(this.head());
      const body = el("div", { class: "network-body" });
      this.drawing = el("div", { class: "drawing", "aria-label": "drawing of " + net.name });
      this.side = el("aside", { class: "side" });
      body.append(this.drawing, this.side);
      this.root.append(body);
      this.layers = net.layers;
      this.byName = new Map(this.layers.map((l, i) => [l.name, i]));
      this.setUpDrawing();
      this.details = el("div", { class: "details", "aria-live": "polite" });
      this.side.append(this.details, this.table(), this.specPanel());
      this.show(-1);
      this.root.addEventListener("pointerenter", () => { active = this; });
      this.root.addEventListener("focusin", () => { active = this; });
    }

    head() {
      const t = this.net.totals;
      const totals = el("p", { class: "totals" });
      const parts = [["input ", this.net.input], ["", whole(t.params) + " parameters"],
                     ["", si(t.macs) + " MACs"], ["", t.weight_layers + " weight layers"]];
      parts.forEach(([label, value], i) => {
        if (i) totals.append(" · ");
        totals.append(label, el("b", { text: value }));
      });
      if (this.net.sides) totals.append(" (without side outputs)");
      return el("header", { class: "network-head" }, el("h2", { text: this.net.name }),
                this.net.title ? el("p", { class: "title", text: this.net.title }) : null,
                totals);
    }

    // The drawing: Graphviz's SVG, parsed as SVG (never as HTML) and given its behaviour.
    setUpDrawing() {
      const doc = new DOMParser().parseFromString(this.net.svg, "image/svg+xml");
      this.svg = document.importNode(doc.documentElement, true);
      this.drawing.append(this.svg);
      this.graph = this.svg.querySelector("g") || this.svg;
      this.boxes = new Map(); // box key → element
      for (const g of this.svg.querySelectorAll("[data-box]")) this.boxes.set(g.dataset.box, g);
      this.boxLayer = new Map(); // box key → the layer it draws (its first)
      this.layers.forEach((layer, i) => {
        for (const box of layer.boxes) if (!this.boxLayer.has(box)) this.boxLayer.set(box, i);
      });
      this.edges = [...this.svg.querySelectorAll("g.edge")];
      this.groups = new Map(); // path → {data, el, box, folded, overlay}
      const clusters = new Map();
      for (const g of this.svg.querySelectorAll("[data-group]")) clusters.set(g.dataset.group, g);
      for (const data of this.net.groups) {
        const element = clusters.get(data.path);
        if (!element) continue;
        this.groups.set(data.path, { data, el: element, box: null, members: new Set(data.boxes),
                                     folded: false, overlay: null });
      }
      const d = this.drawing;
      d.addEventListener("mouseover", (e) => {
        const target = this.target(e.target);
        if (target) this.pointAt(target);
      });
      d.addEventListener("mouseleave", () => this.show(this.selected));
      d.addEventListener("focusin", (e) => {
        const target = this.target(e.target);
        if (target) this.pointAt(target);
      });
      d.addEventListener("click", (e) => {
        const target = this.target(e.target);
        if (target) this.activate(target, false);
      });
      d.addEventListener("keydown", (e) => {
        if (e.key !== "Enter" && e.key !== " ") return;
        const target = this.target(e.target);
        if (!target) return;
        e.preventDefault();
        this.activate(target, true);
      });
    }

    target(node) {
      const hit = node.closest && node.closest("[data-layer], .fold, [data-group]");
      if (!hit) return null;
      if (hit.dataset.layer !== undefined) return { layer: this.boxLayer.get(hit.dataset.box) };
      if (hit.classList.contains("fold")) return { group: hit.dataset.group, folded: true };
      return { group: hit.dataset.group, folded: false };
    }

    pointAt(target) {
      if (target.layer !== undefined) this.show(target.layer);
      else this.showGroup(this.groups.get(target.group));
    }

    activate(target, keyboard) {
      if (target.layer !== undefined) { this.select(target.layer, { drawing: false }); return; }
      const group = this.groups.get(target.group);
      this.setFolded(group, !target.folded);
      if (keyboard) (target.folded ? group.el : group.overlay).focus();
    }

    // -- folding ----------------------------------------------------------------------------

    setFolded(group, folded) {
      if (!group || group.folded === folded) return;
      group.folded = folded;
      this.applyFolds();
    }

    foldAll(folded) {
      for (const group of this.groups.values()) group.folded = folded;
      this.applyFolds();
    }

    folded() { return [...this.groups.values()].filter((g) => g.folded).map((g) => g.data.path); }

    applyFolds() {
      const top = new Map(); // box → the outermost folded group it is in
      const covered = new Set(); // groups inside a folded one
      for (const group of this.groups.values()) { // outer groups come first
        const parent = group.data.parent && this.groups.get(group.data.parent);
        const inside = parent && (parent.folded || covered.has(parent.data.path));
        if (inside) covered.add(group.data.path);
        else if (group.folded) for (const box of group.data.boxes) top.set(box, group.data.path);
      }
      for (const [key, box] of this.boxes) box.classList.toggle("hidden", top.has(key));
      for (const group of this.groups.values()) {
        const shown = group.folded && !covered.has(group.data.path);
        group.el.classList.toggle("hidden", group.folded || covered.has(group.data.path));
        if (shown && !group.overlay) group.overlay = this.overlay(group);
        if (group.overlay) group.overlay.classList.toggle("hidden", !shown);
      }
      for (const edge of this.edges) {
        const tail = top.get(edge.dataset.tail);
        edge.classList.toggle("hidden", tail !== undefined && tail === top.get(edge.dataset.head));
      }
    }

    // A folded group: one box where the group was, with its totals.
    overlay(group) {
      const { x, y, width, height } = group.box;
      const data = group.data;
      const g = svgEl("g", { class: "fold", tabindex: 0, role: "button",
                             "aria-label": "group " + data.path + " (folded): unfold" });
      g.dataset.group = data.path;
      g.append(svgEl("rect", { x, y, width, height, rx: 6, ry: 6 }));
      const name = leaf(data.path) + (data.copies > 1 ? " ×" + data.copies : "");
      const lines = [[name, "fold-name"],
                     [data.layers + (data.layers === 1 ? " layer" : " layers") + " · " +
                      whole(data.params) + " params", "fold-counts"],
                     [si(data.macs) + " MACs · " + data.shape, "fold-counts"]];
      const middle = Math.min(y + height / 2 - 14, y + 18);
      lines.forEach(([text, cls], i) => {
        const t = svgEl("text", { x: x + width / 2, y: middle + i * 14 + 4,
                                  "text-anchor": "middle", class: cls });
        t.textContent = text;
        g.append(t);
      });
      this.graph.append(g);
      return g;
    }

    // -- the table of layers ----------------------------------------------------------------

    table() {
      const columns = [["#", "index", true], ["name", "name"], ["layer", "text"],
                       ["output", "shape"], ["params", "params", true], ["MACs", "macs", true],
                       ["RF", "rf"], ["saved", "saved", true]];
      this.sortKey = "index";
      this.sortDir = 1;
      const head = el("tr");
      this.headers = {};
      for (const [label, key, sortable] of columns) {
        const th = el("th", { scope: "col", "data-key": key,
                              class: ["params", "macs", "saved", "index"].includes(key) ? "num" : null });
        if (sortable) {
          const button = el("button", { type: "button", text: label,
                                        title: "sort by " + label });
          button.addEventListener("click", () => this.sortBy(key));
          th.append(button);
          th.setAttribute("aria-sort", key === "index" ? "ascending" : "none");
        } else th.textContent = label;
        this.headers[key] = th;
        head.append(th);
      }
      this.tbody = el("tbody");
      this.rows = new Map(); // layer index → row
      const fragment = document.createDocumentFragment();
      this.layers.forEach((layer, i) => {
        if (!layer.row) return;
        const row = el("tr", { tabindex: 0, "data-row": layer.name, "data-index": i });
        row.append(el("td", { class: "num", text: this.rows.size + 1 }),
                   el("td", { text: layer.name }), el("td", { class: "text", text: layer.text }),
                   el("td", { text: layer.shape }),
                   el("td", { class: "num", text: layer.params ? whole(layer.params) : "-" }),
                   el("td", { class: "num", text: layer.macs ? si(layer.macs) : "-" }),
                   el("td", { text: layer.rf }),
                   el("td", { class: "num", text: layer.saved ? bytes(layer.saved) : "-" }));
        this.rows.set(i, row);
        fragment.append(row);
      });
      this.tbody.append(fragment);
      this.order = [...this.rows.keys()];
      this.tbody.addEventListener("click", (e) => {
        const row = e.target.closest("tr");
        if (row) this.select(Number(row.dataset.index), { table: false });
      });
      this.tbody.addEventListener("keydown", (e) => {
        const row = e.target.closest("tr");
        if (row && (e.key === "Enter" || e.key === " ")) {
          e.preventDefault();
          this.select(Number(row.dataset.index), { table: false });
        }
      });
      const t = this.net.totals;
      const saved = this.layers.reduce((sum, l) => sum + l.saved, 0);
      const foot = el("tr", {},
        el("td"), el("td", { text: "total" }), el("td"), el("td", { text: this.net.input }),
        el("td", { class: "num", text: whole(t.params) }),
        el("td", { class: "num", text: si(t.macs) }), el("td"),
        el("td", { class: "num", text: bytes(saved) }));
      this.wrap = el("div", { class: "table-wrap" },
        el("table", { class: "layers", "aria-label": "layers of " + this.net.name },
           el("thead", {}, head), this.tbody, el("tfoot", {}, foot)));
      return this.wrap;
    }

    sortBy(key) {
      if (this.sortKey === key && key !== "index") this.sortDir = -this.sortDir;
      else this.sortDir = key === "index" ? 1 : -1; // the largest first
      this.sortKey = key;
      const value = (i) => (key === "index" ? i : this.layers[i][key]);
      this.order = [...this.rows.keys()].sort((a, b) => (value(a) - value(b)) * this.sortDir || a - b);
      for (const [k, th] of Object.entries(this.headers)) {
        if (th.hasAttribute("aria-sort")) {
          th.setAttribute("aria-sort", k !== key ? "none" : this.sortDir > 0 ? "ascending" : "descending");
        }
      }
      const fragment = document.createDocumentFragment();
      for (const i of this.order) fragment.append(this.rows.get(i));
      this.tbody.append(fragment);
    }

    // The visible rows in the table's order: where the arrow keys go.
    step(by) {
      const visible = this.order.filter((i) => !this.rows.get(i).classList.contains("hidden"));
      if (!visible.length) return;
      const at = visible.indexOf(this.selected);
      const next = at < 0 ? (by > 0 ? 0 : visible.length - 1)
                          : Math.min(visible.length - 1, Math.max(0, at + by));
      this.select(visible[next], {});
      this.rows.get(visible[next]).focus({ preventScroll: true });
    }

    // -- the spec's text --------------------------------------------------------------------

    specPanel() {
      this.specFile = el("p", { class: "spec-file" });
      this.spec = el("pre", { class: "spec", "aria-label": "spec text" });
      this.shownFile = -1;
      this.showFile(0, 0);
      return el("div", { class: "spec-wrap" }, this.specFile, this.spec);
    }

    showFile(index, line) {
      const file = this.net.files[index];
      if (!file) return;
      if (this.shownFile !== index) {
        this.shownFile = index;
        this.specFile.textContent = file.path;
        const fragment = document.createDocumentFragment();
        for (const text of file.text.split("\n")) fragment.append(el("div", { text }));
        this.spec.replaceChildren(fragment);
        this.current = null;
      }
      if (this.current) this.current.classList.remove("current");
      this.current = line > 0 ? this.spec.children[line - 1] : null;
      if (this.current) {
        this.current.classList.add("current");
        scrollWithin(this.spec, this.current, false);
      }
    }

    // -- what is pointed at -----------------------------------------------------------------

    show(index) {
      const layer = this.layers[index];
      if (!layer) {
        this.details.replaceChildren(el("p", { class: "empty",
          text: "Point at a layer to see its shape, counts and receptive field; click a " +
                "group's frame to fold it." }));
        return;
      }
      const [file, line] = layer.at;
      const where = this.net.files[file];
      const rows = [
        ["layer", el("code", { text: layer.text })],
        ["line", where ? el("span", {}, where.path + ":" + line + "  ",
                            el("code", { text: (where.text.split("\n")[line - 1] || "").trim() }))
                       : null],
        ["output", layer.shape],
        ["params", whole(layer.params)],
        ["MACs", whole(layer.macs) + (layer.macs >= 1000 ? " (" + si(layer.macs) + ")" : "")],
        ["receptive field", layer.rf ? layer.rf + "  (size/stride/padding)" : "-"],
        ["saved for training", bytes(layer.saved) + " at " + state.memory.text],
      ];
      const box = layer.boxes[0];
      if (box) {
        const mates = this.layers.filter((l, i) => i !== index && l.boxes[0] === box);
        const drawnWith = mates.filter((l) => l.implicit).map((l) => l.text);
        if (drawnWith.length) {
          const extra = mates.reduce((sum, l) => sum + l.saved, 0);
          rows.push(["drawn with", drawnWith.join(" · ") + (extra ? " (saved: +" + bytes(extra) + ")" : "")]);
        }
        const copies = mates.filter((l) => !l.implicit);
        if (copies.length) {
          const all = [layer, ...mates];
          rows.push(["in this box", (copies.length + 1) + " layers · " +
                     whole(all.reduce((s, l) => s + l.params, 0)) + " params · " +
                     si(all.reduce((s, l) => s + l.macs, 0)) + " MACs"]);
        }
      } else {
        rows.push(["drawn as", "an edge (it computes nothing)"]);
      }
      if (layer.side) rows.push(["side output", layer.side + " (training only)"]);
      this.details.replaceChildren(el("h3", { text: layer.name }), this.list(rows));
      this.showFile(file, line);
    }

    showGroup(group) {
      if (!group) return;
      const data = group.data;
      const [file, line] = data.at;
      const rows = [
        ["group", data.kind + (data.text ? ": " + data.text : "")],
        ["copies", data.copies > 1 ? "drawn once for " + data.copies : null],
        ["layers", String(data.layers)],
        ["params", whole(data.params)],
        ["MACs", whole(data.macs) + (data.macs >= 1000 ? " (" + si(data.macs) + ")" : "")],
        ["output", data.shape],
        ["line", this.net.files[file] ? this.net.files[file].path + ":" + line : null],
        ["", group.folded ? "folded: click to unfold" : "click its frame to fold it"],
      ];
      this.details.replaceChildren(el("h3", { text: data.path }), this.list(rows));
      this.showFile(file, line);
    }

    list(rows) {
      const dl = el("dl");
      for (const [term, value] of rows) {
        if (value === null || value === undefined) continue;
        dl.append(el("dt", { text: term }), el("dd", {}, value));
      }
      return dl;
    }

    select(index, { drawing = true, table = true, reveal = true } = {}) {
      const layer = this.layers[index];
      if (!layer) return;
      active = this;
      for (const box of this.svg.querySelectorAll(".selected")) box.classList.remove("selected");
      if (this.selected >= 0 && this.rows.has(this.selected)) {
        this.rows.get(this.selected).classList.remove("selected");
        this.rows.get(this.selected).removeAttribute("aria-selected");
      }
      this.selected = index;
      if (reveal) this.reveal(layer);
      const elements = layer.boxes.map((b) => this.boxes.get(b)).filter(Boolean);
      for (const box of elements) box.classList.add("selected");
      const row = this.rows.get(index);
      if (row) {
        row.classList.add("selected");
        row.setAttribute("aria-selected", "true");
        if (table) scrollWithin(this.wrap, row, false);
      }
      if (drawing && elements.length) scrollWithin(this.drawing, elements[0], true);
      this.show(index);
    }

    // Unfold what hides a layer.
    reveal(layer) {
      let changed = false;
      for (const group of this.groups.values()) {
        if (group.folded && layer.boxes.some((b) => group.members.has(b))) {
          group.folded = false;
          changed = true;
        }
      }
      if (changed) this.applyFolds();
    }

    // -- search -----------------------------------------------------------------------------

    search(query) {
      const matches = [];
      for (const box of this.svg.querySelectorAll(".match")) box.classList.remove("match");
      for (const [i, row] of this.rows) {
        const layer = this.layers[i];
        const hit = !query || layer.name.toLowerCase().includes(query) ||
                    layer.text.toLowerCase().includes(query);
        row.classList.toggle("hidden", !hit);
        if (hit && query) {
          matches.push(i);
          for (const b of layer.boxes) { const e = this.boxes.get(b); if (e) e.classList.add("match"); }
        }
      }
      const hits = new Set(matches);
      return this.order.filter((i) => hits.has(i));
    }

    keep() {
      return { folded: this.folded(), selected: this.selected >= 0 ? this.layers[this.selected].name : null,
               top: this.drawing.scrollTop, left: this.drawing.scrollLeft,
               sort: [this.sortKey, this.sortDir] };
    }

    restore(kept) {
      for (const path of kept.folded) { const g = this.groups.get(path); if (g) g.folded = true; }
      this.applyFolds();
      this.drawing.scrollTop = kept.top;
      this.drawing.scrollLeft = kept.left;
      if (kept.sort[0] !== "index") {
        this.sortKey = kept.sort[0];
        this.sortDir = -kept.sort[1];
        this.sortBy(kept.sort[0]);
      }
      if (kept.selected !== null && this.byName.has(kept.selected)) {
        this.select(this.byName.get(kept.selected), { drawing: false, table: false, reveal: false });
      }
    }
  }

  // -- the whole page -------------------------------------------------------------------------

  function comparison(networks) {
    const first = networks[0].totals;
    const ratio = (a, b) => (b ? "×" + (a / b).toFixed(2) : "");
    const head = el("tr", {}, el("th", { scope: "col", text: "network" }),
      ...["weight layers", "parameters", "vs " + networks[0].name, "MACs",
          "vs " + networks[0].name, "training memory"].map((t) => el("th", { scope: "col", text: t })));
    const rows = networks.map((n) => el("tr", { "data-network": n.name },
      el("th", { scope: "row", text: n.name }),
      el("td", { text: String(n.totals.weight_layers) }),
      el("td", { text: whole(n.totals.params) + " (" + si(n.totals.params) + ")" }),
      el("td", { text: ratio(n.totals.params, first.params) }),
      el("td", { text: si(n.totals.macs) }),
      el("td", { text: ratio(n.totals.macs, first.macs) }),
      el("td", { text: bytes(n.totals.training_bytes) })));
    return el("div", { class: "compare" },
      el("table", { "aria-label": "networks compared" }, el("thead", {}, head),
         el("tbody", {}, ...rows)),
      el("p", { class: "matches", text: "training memory at " + state.memory.text }));
  }

  function render(next, kept) {
    state = next;
    if (next.error !== null) {
      errorTextEl.textContent = next.error;
      errorEl.hidden = false;
      networksEl.classList.add("stale");
      if (panes.length) return; // the last good drawing stays beside the error
    } else {
      errorEl.hidden = true;
      networksEl.classList.remove("stale");
    }
    if (!next.networks.length) return;
    const previous = new Map(panes.map((p) => [p.net.name, p.keep()]));
    const activeName = active && active.net.name;
    networksEl.replaceChildren();
    networksEl.classList.toggle("several", next.networks.length > 1);
    if (next.networks.length > 1) networksEl.append(comparison(next.networks));
    const row = el("div", { class: "row" });
    networksEl.append(row);
    panes = next.networks.map((net, i) => new Pane(net, i));
    for (const pane of panes) row.append(pane.root);
    for (const pane of panes) {
      // Bounding boxes are known only once the drawing is on the page.
      for (const group of pane.groups.values()) {
        const outline = group.el.querySelector("path, polygon") || group.el;
        group.box = outline.getBBox();
      }
      const before = previous.get(pane.net.name) || (kept && kept.get(pane.net.name));
      if (before) pane.restore(before);
      else if (next.collapse) pane.foldAll(true);
    }
    active = panes.find((p) => p.net.name === activeName) || panes[0];
    if (searchEl.value) runSearch(false);
  }

  function runSearch(jump) {
    const query = searchEl.value.trim().toLowerCase();
    const found = [];
    for (const pane of panes) for (const i of pane.search(query)) found.push([pane, i]);
    matchesEl.textContent = query ? found.length + (found.length === 1 ? " match" : " matches") : "";
    if (!jump || !found.length) { matchAt = -1; return; }
    matchAt = (matchAt + 1) % found.length;
    const [pane, i] = found[matchAt];
    pane.select(i, {});
  }

  searchEl.addEventListener("input", () => { matchAt = -1; runSearch(false); });
  searchEl.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); runSearch(true); }
    if (e.key === "Escape") { searchEl.value = ""; runSearch(false); searchEl.blur(); }
  });
  document.querySelector(".controls").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    for (const pane of panes) pane.foldAll(button.dataset.action === "fold-all");
  });
  document.addEventListener("keydown", (e) => {
    if (e.target === searchEl || e.ctrlKey || e.metaKey || e.altKey) return;
    const pane = active || panes[0];
    if (!pane) return;
    if (e.key === "/") { e.preventDefault(); searchEl.focus(); searchEl.select(); }
    else if (e.key === "ArrowDown" || e.key === "j") { e.preventDefault(); pane.step(1); }
    else if (e.key === "ArrowUp" || e.key === "k") { e.preventDefault(); pane.step(-1); }
    else if (e.key === "f") for (const p of panes) p.foldAll(true);
    else if (e.key === "u") for (const p of panes) p.foldAll(false);
    else if (e.key === "Escape") pane.show(pane.selected);
  });

  // -- following the spec (archc view) ----------------------------------------------------

  function follow() {
    const stream = new EventSource("events");
    const time = () => new Date().toLocaleTimeString();
    stream.addEventListener("state", (e) => {
      const next = JSON.parse(e.data);
      statusEl.textContent = (next.error !== null ? "error at " : "watching · updated ") + time();
      if (next.version === state.version) return;
      render(next, null);
      page.dataset.version = String(next.version);
    });
    stream.addEventListener("open", () => { statusEl.textContent = "watching the spec for changes"; });
    stream.addEventListener("error", () => {
      statusEl.textContent = "not connected to archc view (stopped?): retrying";
    });
  }

  render(state, null);
  page.dataset.version = String(state.version);
  if (state.live) follow();
  performance.mark("archc-ready");
  page.dataset.ready = "1";
})();
