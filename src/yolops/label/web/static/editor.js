// The editor: one task's image with its boxes (annotate and review stages alike).
//
// The model is this.boxes (id -> {id, box: [x1, y1, x2, y2], cls, source}) in pixels of
// the original image, and this.proposals ({id, box, cls, score, status: open | accepted |
// ignored}). Annotorious only draws and edits rectangles: toAnno()/fromAnno() convert at
// that edge, and the store observer below brings the user's drawing and dragging back
// into the model. Everything the page sends to the server comes from the model.
import { api } from "./api.js";
import { clear, h, s, toast, typing } from "./dom.js";

const PALETTE = ["#3b82f6", "#22c55e", "#ef4444", "#a855f7", "#14b8a6", "#eab308", "#ec4899", "#f97316", "#84cc16", "#06b6d4"];
const PROPOSAL_COLOR = "#ffb020";
const GHOST_COLOR = "#e5e7eb";
const MIN_ZOOM = 0.05;
const MAX_ZOOM = 32;

export const classColor = (cls) => PALETTE[cls % PALETTE.length];

const round2 = (v) => Math.round(v * 100) / 100;
const iou = (a, b) => {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const hh = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || hh <= 0) return 0;
  const inter = w * hh;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
};
const scoreText = (score) => (typeof score === "number" ? score.toFixed(2) : "");
const isProposal = (id) => id.startsWith("p-");

/** A model box as an Annotorious annotation (a rectangle, no bodies). */
export function toAnno(id, box) {
  const [x1, y1, x2, y2] = box;
  return {
    id,
    bodies: [],
    target: {
      annotation: id,
      selector: {
        type: "RECTANGLE",
        geometry: { x: x1, y: y1, w: x2 - x1, h: y2 - y1, rot: 0, bounds: { minX: x1, minY: y1, maxX: x2, maxY: y2 } },
      },
    },
  };
}

/** An Annotorious annotation's rectangle as [x1, y1, x2, y2], clamped to the image. */
export function fromAnno(annotation, width, height) {
  const { minX, minY, maxX, maxY } = annotation.target.selector.geometry.bounds;
  const cx = (v) => round2(Math.min(Math.max(v, 0), width));
  const cy = (v) => round2(Math.min(Math.max(v, 0), height));
  return [cx(Math.min(minX, maxX)), cy(Math.min(minY, maxY)), cx(Math.max(minX, maxX)), cy(Math.max(minY, maxY))];
}

export class Editor {
  constructor(root, task, { me, loopStage, startLoop, go }) {
    this.root = root;
    this.me = me;
    this.loopStage = loopStage || null;
    this.startLoop = startLoop;
    this.go = go;
    this.seq = 0;
    this.currentCls = 0;
    this.selectedId = null;
    this.currentProposal = null;
    this.showProposals = true;
    this.ghost = null; // the server's boxes after a conflict, drawn for comparison
    this.conflict = null;
    this.busy = false;
    this.zoom = 1;
    this.panX = 0;
    this.panY = 0;
    this.fit = true;
    this.spaceDown = false;
    this.panning = null;
    this.highlightComment = null;
    this.listeners = [];
    this.load(task);
    this.build();
    this.listen(window, "keydown", (e) => this.onKey(e), true);
    this.listen(window, "keyup", (e) => {
      if (e.key === " ") this.setSpace(false);
    });
    this.listen(window, "pointerup", () => this.checkpoint());
    this.listen(window, "blur", () => this.setSpace(false));
  }

  listen(target, type, fn, options) {
    target.addEventListener(type, fn, options);
    this.listeners.push(() => target.removeEventListener(type, fn, options));
  }

  // ------------------------------------------------------------ model

  /** (Re)loads the model from a task view; the undo history starts again. */
  load(task) {
    this.task = task;
    this.boxes = new Map();
    for (const b of task.boxes || []) {
      const id = `b-${++this.seq}`;
      this.boxes.set(id, { id, box: b.box.map(round2), cls: b.cls, source: b.source || "human", disputed: !!b.disputed });
    }
    this.proposals = (task.proposals || []).map((p, i) => ({
      id: `p-${i}`,
      box: p.box.map(round2),
      cls: p.cls,
      score: p.score,
      // a proposal a box of its class already covers (accepted before, maybe adjusted)
      // is not offered again
      status: [...this.boxes.values()].some((b) => b.cls === p.cls && iou(b.box, p.box) >= 0.6) ? "accepted" : "open",
    }));
    this.savedKey = this.key();
    this.undoStack = [this.snapshot()];
    this.redoStack = [];
    this.currentProposal = null;
    this.selectedId = null;
  }

  /** What the server gets: [{box, cls}] in the model's order. */
  payload() {
    return [...this.boxes.values()].map((b) => ({ box: b.box.slice(), cls: b.cls }));
  }

  key() {
    return JSON.stringify(this.payload());
  }

  get dirty() {
    return this.key() !== this.savedKey;
  }

  get editable() {
    const can = this.task.can || {};
    return this.task.state === "active" && !this.task.unreadable && !!(can.save || can.submit || can.approve);
  }

  get isReview() {
    return (this.task.stage_index || 0) > 0;
  }

  openProposals() {
    return this.proposals.filter((p) => p.status === "open").sort((a, b) => (b.score ?? 0) - (a.score ?? 0));
  }

  snapshot() {
    return {
      boxes: [...this.boxes.values()].map((b) => ({ ...b, box: b.box.slice() })),
      proposals: this.proposals.map((p) => p.status),
    };
  }

  /** Records the model for undo when it changed since the last record. */
  checkpoint() {
    if (!this.undoStack) return;
    const snap = this.snapshot();
    const top = this.undoStack[this.undoStack.length - 1];
    if (JSON.stringify(top) === JSON.stringify(snap)) return;
    this.undoStack.push(snap);
    if (this.undoStack.length > 200) this.undoStack.shift();
    this.redoStack = [];
  }

  restore(snap) {
    this.boxes = new Map(snap.boxes.map((b) => [b.id, { ...b, box: b.box.slice() }]));
    snap.proposals.forEach((status, i) => (this.proposals[i].status = status));
    this.syncAnno();
    this.changed();
  }

  undo() {
    this.checkpoint();
    if (this.undoStack.length < 2) return toast("Nothing to undo.", "info", 1500);
    this.redoStack.push(this.undoStack.pop());
    this.restore(this.undoStack[this.undoStack.length - 1]);
  }

  redo() {
    if (!this.redoStack.length) return toast("Nothing to redo.", "info", 1500);
    const snap = this.redoStack.pop();
    this.undoStack.push(snap);
    this.restore(snap);
  }

  // ------------------------------------------------------------ layout

  build() {
    const t = this.task;
    const review = this.isReview;
    this.el = {};
    const button = (testid, label, title, onclick, cls = "") =>
      (this.el[testid] = h("button", { type: "button", class: cls, testid, title, onclick }, label));
    const stageBadge = h("span", { class: `badge stage s${t.stage_index || 0}`, testid: "stage" }, t.state === "active" ? t.stage : t.state);
    this.el.revision = h("span", { class: "muted", testid: "revision" }, `r${t.revision}`);
    this.el.status = h("span", { class: "status", testid: "save-status" });
    this.el.zoomLabel = h("span", { class: "zoom", testid: "zoom" });
    const actions = [];
    if (this.editable && t.can.save) actions.push(button("save", "Save", "Save the draft (Ctrl+S)", () => this.save()));
    if (t.can.submit) actions.push(button("submit", "Submit", "Submit to the next stage (Ctrl+Enter)", () => this.submit(), "primary"));
    if (t.can.reject) actions.push(button("reject", "Reject…", "Send back with a comment (r)", () => this.openReject(), "danger"));
    if (t.can.approve) actions.push(button("approve", "Approve", "Approve (Ctrl+Enter)", () => this.approve(), "primary"));
    actions.push(button("next-task", "Next ›", "Next task (n)", () => this.next()));
    const toolbar = h(
      "div",
      { class: "toolbar" },
      stageBadge,
      h("span", { class: "title", testid: "task-title" }, `#${t.id} · ${t.image.name}`),
      this.el.revision,
      this.el.status,
      h("span", { class: "grow" }),
      button("zoom-out", "−", "Zoom out (-)", () => this.zoomBy(1 / 1.25)),
      this.el.zoomLabel,
      button("zoom-in", "+", "Zoom in (+)", () => this.zoomBy(1.25)),
      button("zoom-fit", "Fit", "Fit the image (0)", () => this.fitView()),
      h("span", { class: "sep" }),
      actions,
    );
    this.el.banner = h("div", { class: "banners" });
    this.el.img = h("img", { src: t.image.url, alt: t.image.name, draggable: "false", testid: "editor-image" });
    this.el.stage = h("div", { class: "canvas" }, this.el.img);
    this.el.viewport = h("div", { class: "viewport", testid: "viewport", tabindex: "-1" }, this.el.stage);
    this.el.side = h("aside", { class: "side", testid: "side" });
    this.el.root = h(
      "div",
      { class: `editor ${review ? "review" : "annotate"}`, testid: "editor", "data-task": t.id, "data-stage": t.stage },
      toolbar,
      this.el.banner,
      h("div", { class: "workspace" }, this.el.viewport, this.el.side),
    );
    this.root.replaceChildren(this.el.root);
    this.bindViewport();
    this.renderBanners();
    this.renderSide();
    this.updateStatus();
    const ready = () => this.initAnnotator();
    if (this.el.img.complete && this.el.img.naturalWidth) ready();
    else {
      this.el.img.addEventListener("load", ready, { once: true });
      this.el.img.addEventListener("error", () => {
        this.root.querySelector(".viewport").append(h("p", { class: "error pad", testid: "image-error" }, "The image cannot be loaded."));
      }, { once: true });
    }
  }

  initAnnotator() {
    if (this.destroyed) return;
    const img = this.el.img;
    this.width = img.naturalWidth;
    this.height = img.naturalHeight;
    this.anno = window.Annotorious.createImageAnnotator(img, {
      drawingEnabled: this.editable,
      drawingMode: "drag",
      theme: "dark",
      userSelectAction: (a) => {
        if (isProposal(a.id)) return this.editable ? "SELECT" : "NONE";
        return this.editable ? "EDIT" : "SELECT";
      },
      style: this.styleFn(),
    });
    this.anno.element.classList.add("anno");
    this.overlay = s("svg", {
      class: "labels",
      viewBox: `0 0 ${this.width} ${this.height}`,
      preserveAspectRatio: "none",
      testid: "overlay",
    });
    this.anno.element.append(this.overlay);
    this.syncAnno();
    const { store, selection } = this.anno.state;
    store.observe((event) => this.onStoreChange(event), { origin: "LOCAL" });
    selection.subscribe((value) => this.onSelection(value));
    this.fitView();
    new ResizeObserver(() => this.fit && this.fitView()).observe(this.el.viewport);
    this.el.root.dataset.ready = "true";
  }

  styleFn() {
    return (annotation, state) => {
      const hot = state && (state.selected || state.hovered);
      if (isProposal(annotation.id)) {
        const current = annotation.id === this.currentProposal;
        return current || hot
          ? { stroke: PROPOSAL_COLOR, strokeWidth: current ? 3 : 2, fill: PROPOSAL_COLOR, fillOpacity: 0.15 }
          : { stroke: PROPOSAL_COLOR, strokeWidth: 1.5, fillOpacity: 0 };
      }
      const box = this.boxes.get(annotation.id);
      const color = classColor(box ? box.cls : 0);
      return { stroke: color, strokeWidth: state && state.selected ? 3 : 2, fill: color, fillOpacity: hot ? 0.22 : 0.08 };
    };
  }

  restyle() {
    if (this.anno) this.anno.setStyle(this.styleFn());
  }

  /** Makes Annotorious show exactly the model: boxes, and the open proposals when shown. */
  syncAnno() {
    if (!this.anno) return;
    const items = [...this.boxes.values()].map((b) => toAnno(b.id, b.box));
    if (this.showProposals && this.editable) {
      for (const p of this.proposals) if (p.status === "open") items.push(toAnno(p.id, p.box));
    }
    this.anno.state.store.syncAnnotations(items, "REMOTE");
    this.restyle();
    this.renderOverlay();
  }

  // ------------------------------------------------------------ Annotorious -> model

  onStoreChange({ changes }) {
    let structural = false;
    for (const a of changes.created || []) {
      if (isProposal(a.id)) continue;
      this.boxes.set(a.id, { id: a.id, box: fromAnno(a, this.width, this.height), cls: this.currentCls, source: "human" });
      structural = true;
    }
    for (const { newValue } of changes.updated || []) {
      const box = this.boxes.get(newValue.id);
      if (!box) continue;
      box.box = fromAnno(newValue, this.width, this.height);
      if (box.source === "model") box.source = "human"; // moved: a person's box now
    }
    for (const a of changes.deleted || []) structural = this.boxes.delete(a.id) || structural;
    if (structural) this.checkpoint();
    this.changed();
  }

  onSelection({ selected }) {
    const ids = (selected || []).map((x) => x.id);
    const proposal = ids.find(isProposal);
    if (proposal) {
      // clicking a proposal accepts it (after Annotorious has finished its own update)
      queueMicrotask(() => this.acceptProposal(proposal));
      return;
    }
    this.selectedId = ids[0] || null;
    this.renderSide();
    this.renderOverlay();
  }

  /** After any change of the model: labels, lists and the save status follow. */
  changed() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      if (this.destroyed) return;
      this.renderOverlay();
      this.renderSide();
      this.updateStatus();
    });
  }

  // ------------------------------------------------------------ actions on boxes

  select(id) {
    if (!this.anno) return;
    if (id) this.anno.setSelected(id);
    else this.anno.cancelSelected();
  }

  setClass(cls) {
    if (cls >= this.task.classes.length) return;
    const box = this.selectedId && this.boxes.get(this.selectedId);
    if (box && this.editable) {
      box.cls = cls;
      box.source = "human";
      this.checkpoint();
      this.restyle();
    }
    this.currentCls = cls;
    this.changed();
  }

  deleteSelected() {
    if (!this.editable || !this.selectedId) return;
    const id = this.selectedId;
    this.anno.cancelSelected();
    this.anno.state.store.deleteAnnotation(id, "REMOTE");
    this.boxes.delete(id);
    this.selectedId = null;
    this.checkpoint();
    this.changed();
  }

  deleteBox(id) {
    this.selectedId = id;
    this.deleteSelected();
  }

  acceptProposal(id, { select = true, record = true } = {}) {
    const p = this.proposals.find((x) => x.id === id);
    if (!p || p.status !== "open" || !this.editable) return null;
    p.status = "accepted";
    const boxId = `b-${++this.seq}`;
    this.boxes.set(boxId, { id: boxId, box: p.box.slice(), cls: p.cls, source: "model" });
    const { store } = this.anno.state;
    if (store.getAnnotation(id)) store.deleteAnnotation(id, "REMOTE");
    store.addAnnotation(toAnno(boxId, p.box), "REMOTE");
    if (this.currentProposal === id) this.currentProposal = null;
    if (select) this.select(boxId);
    if (record) this.checkpoint();
    this.restyle();
    this.changed();
    return boxId;
  }

  acceptCurrent() {
    const id = this.currentProposal || (this.openProposals()[0] || {}).id;
    if (!id) return toast("No proposal left.", "info", 1500);
    this.acceptProposal(id);
  }

  acceptAll() {
    const open = this.openProposals();
    if (!open.length) return toast("No proposal left.", "info", 1500);
    this.select(null);
    for (const p of open) this.acceptProposal(p.id, { select: false, record: false });
    this.checkpoint(); // one step to undo
    toast(`Accepted ${open.length} proposal${open.length > 1 ? "s" : ""}.`, "ok", 2000);
  }

  ignoreCurrent() {
    const id = this.currentProposal || (this.openProposals()[0] || {}).id;
    const p = this.proposals.find((x) => x.id === id);
    if (!p) return;
    p.status = "ignored";
    this.currentProposal = null;
    if (this.anno.state.store.getAnnotation(id)) this.anno.state.store.deleteAnnotation(id, "REMOTE");
    this.checkpoint();
    this.changed();
  }

  cycleProposal(step) {
    const open = this.openProposals();
    if (!open.length) return;
    const at = open.findIndex((p) => p.id === this.currentProposal);
    const next = open[(at + step + open.length) % open.length];
    this.setCurrentProposal(next.id);
  }

  setCurrentProposal(id) {
    if (this.currentProposal === id) return;
    this.currentProposal = id;
    this.restyle();
    this.changed();
  }

  toggleProposals() {
    this.showProposals = !this.showProposals;
    this.select(null);
    this.syncAnno();
    this.changed();
  }

  // ------------------------------------------------------------ view: zoom and pan

  bindViewport() {
    const vp = this.el.viewport;
    this.listen(vp, "wheel", (e) => {
      e.preventDefault();
      const r = vp.getBoundingClientRect();
      this.zoomAt(e.clientX - r.left, e.clientY - r.top, this.zoom * Math.exp(-e.deltaY * 0.0015));
    }, { passive: false });
    // Panning: space + drag, or the middle button. Caught before Annotorious sees it.
    this.listen(vp, "pointerdown", (e) => {
      if (!(e.button === 1 || (e.button === 0 && this.spaceDown))) return;
      e.preventDefault();
      e.stopPropagation();
      this.panning = { x: e.clientX, y: e.clientY, panX: this.panX, panY: this.panY, id: e.pointerId };
      vp.setPointerCapture(e.pointerId);
      vp.classList.add("grabbing");
    }, true);
    this.listen(vp, "pointermove", (e) => {
      if (!this.panning) return;
      e.stopPropagation();
      this.fit = false;
      this.panX = this.panning.panX + e.clientX - this.panning.x;
      this.panY = this.panning.panY + e.clientY - this.panning.y;
      this.applyView();
    }, true);
    const end = (e) => {
      if (!this.panning) return;
      e.stopPropagation();
      vp.releasePointerCapture(this.panning.id);
      this.panning = null;
      vp.classList.remove("grabbing");
    };
    this.listen(vp, "pointerup", end, true);
    this.listen(vp, "pointercancel", end, true);
    this.listen(vp, "mousedown", (e) => e.button === 1 && e.preventDefault()); // no autoscroll
  }

  setSpace(down) {
    this.spaceDown = down;
    this.el.viewport.classList.toggle("grab", down);
  }

  applyView() {
    const img = this.el.img;
    img.style.width = `${this.width * this.zoom}px`;
    img.style.height = `${this.height * this.zoom}px`;
    this.el.stage.style.transform = `translate(${this.panX}px, ${this.panY}px)`;
    this.el.zoomLabel.textContent = `${Math.round(this.zoom * 100)}%`;
    this.renderOverlay();
  }

  fitView() {
    if (!this.width) return;
    const r = this.el.viewport.getBoundingClientRect();
    if (!r.width || !r.height) return;
    this.fit = true;
    this.zoom = Math.min(r.width / this.width, r.height / this.height) * 0.96;
    this.panX = (r.width - this.width * this.zoom) / 2;
    this.panY = (r.height - this.height * this.zoom) / 2;
    this.applyView();
  }

  zoomAt(x, y, zoom) {
    zoom = Math.min(Math.max(zoom, MIN_ZOOM), MAX_ZOOM);
    const ix = (x - this.panX) / this.zoom;
    const iy = (y - this.panY) / this.zoom;
    this.zoom = zoom;
    this.panX = x - ix * zoom;
    this.panY = y - iy * zoom;
    this.fit = false;
    this.applyView();
  }

  zoomBy(factor) {
    const r = this.el.viewport.getBoundingClientRect();
    this.zoomAt(r.width / 2, r.height / 2, this.zoom * factor);
  }

  // ------------------------------------------------------------ drawing our own layer

  /** Class labels, proposal scores, rejection comments and the server's boxes after a conflict. */
  renderOverlay() {
    if (!this.overlay) return;
    const svg = clear(this.overlay);
    const k = 1 / this.zoom; // one screen pixel in image pixels
    const font = 12 * k;
    const label = (x, y, text, color, attrs = {}) => {
      const w = (text.length * 7 + 8) * k;
      const hgt = 16 * k;
      const top = y - hgt >= 0 ? y - hgt : y;
      return s("g", { class: "label", ...attrs },
        s("rect", { x, y: top, width: w, height: hgt, fill: color, rx: 2 * k }),
        s("text", { x: x + 4 * k, y: top + 12 * k, "font-size": font, text }));
    };
    if (this.ghost) {
      for (const b of this.ghost) {
        const [x1, y1, x2, y2] = b.box;
        const rect = { x: x1, y: y1, width: x2 - x1, height: y2 - y1 };
        svg.append(s("rect", { class: "ghost-under", ...rect }));
        svg.append(s("rect", { class: "ghost", ...rect, stroke: GHOST_COLOR, testid: "ghost-box" }));
        svg.append(label(x1, y2 + 16 * k, `server: ${this.task.classes[b.cls] ?? b.cls}`, "#4b5563"));
      }
    }
    if (this.showProposals && this.editable) {
      for (const p of this.proposals) {
        if (p.status !== "open") continue;
        const text = `${this.task.classes[p.cls] ?? p.cls} ${scoreText(p.score)}`.trim();
        svg.append(label(p.box[0], p.box[1], text, PROPOSAL_COLOR, {
          class: `label proposal${p.id === this.currentProposal ? " current" : ""}`, testid: "proposal-label",
        }));
      }
    }
    for (const b of this.boxes.values()) {
      const name = this.task.classes[b.cls] ?? String(b.cls);
      svg.append(label(b.box[0], b.box[1], `${b.cls + 1} ${name}${b.disputed ? " ⚠" : ""}`, classColor(b.cls), {
        testid: "box-label", "data-cls": b.cls,
      }));
    }
    (this.task.comments || []).forEach((c, i) => {
      if (!c.box) return;
      const [x1, y1, x2, y2] = c.box;
      const hot = this.highlightComment === i;
      svg.append(s("rect", { class: `comment-box${hot ? " hot" : ""}`, x: x1, y: y1, width: x2 - x1, height: y2 - y1 }));
      const marker = s("g", { class: `marker${hot ? " hot" : ""}`, testid: "comment-marker", "data-comment": i,
        onclick: () => this.setHighlightComment(i) },
      s("circle", { cx: x2, cy: y1, r: 10 * k }),
      s("text", { x: x2, y: y1 + 4 * k, "font-size": font, "text-anchor": "middle", text: String(i + 1) }),
      s("title", { text: `${c.by}: ${c.text}` }));
      svg.append(marker);
    });
  }

  setHighlightComment(i) {
    this.highlightComment = this.highlightComment === i ? null : i;
    this.renderOverlay();
    this.renderSide();
  }

  // ------------------------------------------------------------ side panel

  renderSide() {
    const side = this.el.side;
    const t = this.task;
    const sections = [];
    const selected = this.selectedId && this.boxes.get(this.selectedId);
    const activeCls = selected ? selected.cls : this.currentCls;
    sections.push(h("section", { class: "panel" },
      h("h3", {}, "Class ", h("span", { class: "muted" }, selected ? "of the selected box" : "of the next box")),
      h("div", { class: "classes", testid: "class-picker" }, t.classes.map((name, i) =>
        h("button", {
          type: "button", class: `cls${i === activeCls ? " active" : ""}`, testid: `class-${i}`, "data-cls": i,
          disabled: !this.editable && undefined, onclick: () => this.setClass(i),
          title: i < 9 ? `key ${i + 1}` : "",
        }, h("i", { style: { background: classColor(i) } }), h("kbd", {}, i < 9 ? String(i + 1) : ""), name)))));

    const comments = t.comments || [];
    if (comments.length) {
      sections.push(h("section", { class: "panel comments" },
        h("h3", {}, `Review comments (${comments.length})`),
        h("ol", { testid: "comment-list" }, comments.map((c, i) =>
          h("li", { class: this.highlightComment === i ? "hot" : "", testid: "comment-item", onclick: () => this.setHighlightComment(i) },
            h("div", { class: "text" }, c.text),
            h("div", { class: "muted small" }, `${c.by} · ${c.stage || ""} · ${c.box ? "on a box" : "on the image"}${c.at ? ` · ${String(c.at).slice(0, 16).replace("T", " ")}` : ""}`))))));
    }

    const open = this.openProposals();
    if (this.editable && this.proposals.length) {
      sections.push(h("section", { class: "panel proposals" },
        h("div", { class: "row" }, h("h3", {}, `Proposals (${open.length})`), h("span", { class: "grow" }),
          h("button", { type: "button", class: "small", testid: "toggle-proposals", onclick: () => this.toggleProposals(), title: "p" },
            this.showProposals ? "Hide" : "Show"),
          h("button", { type: "button", class: "small primary", testid: "accept-all", onclick: () => this.acceptAll(), disabled: !open.length || undefined, title: "Shift+A" },
            "Accept all")),
        open.length
          ? h("ul", { testid: "proposal-list" }, open.map((p) =>
            h("li", {
              class: p.id === this.currentProposal ? "current" : "", testid: "proposal-item", "data-id": p.id,
              onmouseenter: () => this.setCurrentProposal(p.id),
            },
            h("i", { style: { background: classColor(p.cls) } }),
            h("span", { class: "grow" }, t.classes[p.cls] ?? p.cls),
            h("span", { class: "score" }, scoreText(p.score)),
            h("button", { type: "button", class: "small", testid: "accept-proposal", onclick: () => this.acceptProposal(p.id) }, "Accept"))))
          : h("p", { class: "muted small" }, "All proposals handled.")));
    }

    const boxes = [...this.boxes.values()];
    sections.push(h("section", { class: "panel boxes" },
      h("h3", {}, `Boxes (${boxes.length})`),
      boxes.length
        ? h("ul", { testid: "box-list" }, boxes.map((b) =>
          h("li", {
            class: b.id === this.selectedId ? "selected" : "", testid: "box-item", "data-cls": b.cls, "data-box": JSON.stringify(b.box),
            onclick: () => this.select(b.id),
          },
          h("i", { style: { background: classColor(b.cls) } }),
          h("span", { class: "grow" }, `${t.classes[b.cls] ?? b.cls}`, b.source === "model" ? h("span", { class: "muted small" }, " · model") : null,
            b.disputed ? h("span", { class: "warn small" }, " · disputed") : null),
          h("span", { class: "muted small coords" }, b.box.map((v) => Math.round(v)).join(", ")),
          this.editable && h("button", {
            type: "button", class: "small icon", title: "Delete (Del)", testid: "delete-box",
            onclick: (e) => { e.stopPropagation(); this.deleteBox(b.id); },
          }, "✕"))))
        : h("p", { class: "muted small" }, this.editable ? "Drag on the image to draw a box." : "No boxes.")));

    sections.push(h("p", { class: "muted small hint" }, "Press ", h("kbd", {}, "?"), " for all shortcuts."));
    side.replaceChildren(...sections);
  }

  renderBanners() {
    const t = this.task;
    const items = [];
    if (t.unreadable) items.push(h("div", { class: "banner bad", testid: "unreadable-banner" }, `The image is unreadable: ${t.unreadable}`));
    else if (t.state === "done") items.push(h("div", { class: "banner", testid: "readonly-banner" }, "This task is done: read only."));
    else if (!this.editable) {
      items.push(h("div", { class: "banner", testid: "readonly-banner" },
        `You can look at this task but not change it${t.why_not ? `: ${t.why_not}` : "."}`));
    }
    if (t.held_by && t.held_by !== this.me.name && this.editable) {
      items.push(h("div", { class: "banner", testid: "held-banner" }, `${t.held_by} has this task open too.`));
    }
    const last = (t.comments || []).filter((c) => c.stage !== t.stage || t.stage_index === 0).slice(-1)[0];
    if (last && t.stage_index === 0 && this.editable) {
      items.push(h("div", { class: "banner warn", testid: "rejected-banner" },
        `Sent back by ${last.by}: “${last.text}”${last.box ? " (marked on the image)" : ""}`));
    }
    if (this.conflict) {
      const c = this.conflict;
      items.push(h("div", { class: "banner bad", testid: "conflict-banner" },
        h("strong", {}, "Conflict: "),
        `somebody saved this task first (the server has revision ${c.revision}, stage ${c.stage}${c.state !== "active" ? `, ${c.state}` : ""}, ${c.boxes.length} boxes). Your edits are kept. `,
        h("button", { type: "button", class: "small", testid: "conflict-show", onclick: () => this.toggleGhost() }, this.ghost ? "Hide theirs" : "Show theirs"),
        " ",
        h("button", { type: "button", class: "small", testid: "conflict-keep", onclick: () => this.keepMine() }, "Keep mine"),
        " ",
        h("button", { type: "button", class: "small", testid: "conflict-take", onclick: () => this.takeTheirs() }, "Take theirs")));
    }
    this.el.banner.replaceChildren(...items);
  }

  updateStatus() {
    const el = this.el.status;
    if (this.busy) el.textContent = this.busy;
    else if (this.conflict) el.textContent = "conflict";
    else el.textContent = this.dirty ? "unsaved changes" : "";
    el.className = `status${this.dirty ? " dirty" : ""}`;
    this.el.revision.textContent = `r${this.task.revision}`;
  }

  // ------------------------------------------------------------ server

  async run(label, fn) {
    if (this.busy) return null;
    this.busy = label;
    this.updateStatus();
    for (const b of this.el.root.querySelectorAll(".toolbar button")) b.disabled = true;
    try {
      return await fn();
    } catch (err) {
      if (err.status === 409 && err.current) this.onConflict(err.current);
      else toast(`${err.message}${err.code ? ` (${err.code})` : ""}`, "error", 6000);
      return null;
    } finally {
      this.busy = false;
      if (!this.destroyed) {
        for (const b of this.el.root.querySelectorAll(".toolbar button")) b.disabled = false;
        this.updateStatus();
      }
    }
  }

  /** The server answered a change: keep this page's boxes, take its revision and comments. */
  accepted(view) {
    this.task = { ...view };
    this.savedKey = this.key();
    this.conflict = null;
    this.ghost = null;
    this.renderBanners();
    this.changed();
  }

  save() {
    if (!this.editable || !this.task.can.save) return Promise.resolve(null);
    return this.run("saving…", async () => {
      const view = await api.save(this.task.id, this.task.revision, this.payload());
      this.accepted(view);
      toast(`Draft saved (r${view.revision}).`, "ok", 1500);
      return view;
    });
  }

  submit() {
    if (!this.task.can.submit) return null;
    return this.run("submitting…", async () => {
      const view = await api.submit(this.task.id, this.task.revision, this.payload());
      this.accepted(view);
      toast(`Task #${view.id} submitted.`, "ok");
      await this.afterDone();
      return view;
    });
  }

  approve() {
    if (!this.task.can.approve) return null;
    return this.run("approving…", async () => {
      const view = await api.approve(this.task.id, this.task.revision, this.payload());
      this.accepted(view);
      toast(`Task #${view.id} approved.`, "ok");
      await this.afterDone();
      return view;
    });
  }

  reject(text, box) {
    return this.run("rejecting…", async () => {
      const view = await api.reject(this.task.id, this.task.revision, { text, box });
      this.accepted(view);
      toast(`Task #${view.id} sent back.`, "ok");
      await this.afterDone();
      return view;
    });
  }

  async afterDone() {
    const stage = this.loopStage || this.task.stages[Math.min(this.task.stage_index, this.task.stages.length - 1)];
    if (this.loopStage) await this.startLoop(this.task.project, stage);
    else this.go(`#/p/${encodeURIComponent(this.task.project)}`);
  }

  async next() {
    if (this.dirty && this.editable && this.task.can.save) {
      const saved = await this.save();
      if (!saved) return;
    }
    const stage = this.loopStage || this.task.stage;
    const same = await this.startLoop(this.task.project, stage, this.task.id);
    if (same) toast("This task is still first in your queue: submit it (Ctrl+Enter) to move on.", "info");
  }

  onConflict(current) {
    this.conflict = current;
    this.ghost = null;
    this.renderBanners();
    this.updateStatus();
    toast("Somebody saved this task first: your edits are kept.", "warn", 6000);
  }

  toggleGhost() {
    this.ghost = this.ghost ? null : this.conflict.boxes;
    this.renderBanners();
    this.renderOverlay();
  }

  keepMine() {
    const c = this.conflict;
    this.task = { ...this.task, revision: c.revision, can: c.can, stage: c.stage, stage_index: c.stage_index, state: c.state, comments: c.comments };
    this.conflict = null;
    this.ghost = null;
    this.renderBanners();
    this.updateStatus();
    toast(`Your boxes will replace revision ${c.revision} when you save.`, "info");
  }

  takeTheirs() {
    const c = this.conflict;
    this.conflict = null;
    this.ghost = null;
    this.select(null);
    this.load(c);
    this.renderBanners();
    this.syncAnno();
    this.changed();
  }

  openReject() {
    if (!this.task.can.reject || this.dialog) return;
    const selected = this.selectedId && this.boxes.get(this.selectedId);
    const box = selected ? selected.box.slice() : null;
    const text = h("textarea", { rows: 4, testid: "reject-text", placeholder: "What is wrong? (Ctrl+Enter sends)" });
    const close = () => {
      this.dialog.remove();
      this.dialog = null;
    };
    const send = async () => {
      const comment = text.value.trim();
      if (!comment) {
        text.focus();
        return toast("Write what is wrong first.", "warn", 2000);
      }
      close();
      await this.reject(comment, box);
    };
    text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        send();
      } else if (e.key === "Escape") {
        e.preventDefault();
        close();
      }
    });
    this.dialog = h("div", { class: "overlay", testid: "reject-dialog" },
      h("div", { class: "dialog" },
        h("h2", {}, "Send back to annotation"),
        h("p", { class: "muted", testid: "reject-pin" }, selected
          ? `The comment is pinned to the selected ${this.task.classes[selected.cls]} box (${box.map(Math.round).join(", ")}).`
          : "The comment is about the whole image (select a box first to pin it there)."),
        text,
        h("p", { class: "right" },
          h("button", { type: "button", onclick: close, testid: "reject-cancel" }, "Cancel"), " ",
          h("button", { type: "button", class: "danger", onclick: send, testid: "reject-send" }, "Reject"))));
    document.body.append(this.dialog);
    text.focus();
  }

  // ------------------------------------------------------------ keyboard

  onKey(e) {
    if (this.destroyed || this.dialog || !document.getElementById("help").hidden) return;
    const ctrl = e.ctrlKey || e.metaKey;
    const key = e.key;
    if (ctrl && (key === "s" || key === "S")) {
      e.preventDefault();
      this.save();
      return;
    }
    if (ctrl && key === "Enter") {
      e.preventDefault();
      if (this.task.can.approve) this.approve();
      else if (this.task.can.submit) this.submit();
      return;
    }
    if (typing(e)) return;
    if (ctrl && (key === "z" || key === "Z" || key === "y")) {
      // ours, not Annotorious' own undo (which knows nothing of classes and proposals)
      e.preventDefault();
      e.stopPropagation();
      if (key === "y" || e.shiftKey) this.redo();
      else this.undo();
      return;
    }
    if (ctrl || e.altKey) return;
    if (key === " ") {
      e.preventDefault();
      this.setSpace(true);
      return;
    }
    const handled = () => {
      e.preventDefault();
      e.stopPropagation();
    };
    if (/^[1-9]$/.test(key)) {
      handled();
      this.setClass(Number(key) - 1);
    } else if (key === "Delete" || key === "Backspace") {
      handled();
      this.deleteSelected();
    } else if (key === "Escape") {
      handled();
      if (this.anno) this.anno.cancelDrawing();
      this.select(null);
    } else if (key === "a") {
      handled();
      this.acceptCurrent();
    } else if (key === "A") {
      handled();
      this.acceptAll();
    } else if (key === "x") {
      handled();
      this.ignoreCurrent();
    } else if (key === "Tab" && this.editable && this.openProposals().length) {
      handled();
      this.cycleProposal(e.shiftKey ? -1 : 1);
    } else if (key === "p") {
      handled();
      this.toggleProposals();
    } else if (key === "n") {
      handled();
      this.next();
    } else if (key === "r" && this.task.can.reject) {
      handled();
      this.openReject();
    } else if (key === "+" || key === "=") {
      handled();
      this.zoomBy(1.25);
    } else if (key === "-" || key === "_") {
      handled();
      this.zoomBy(1 / 1.25);
    } else if (key === "0") {
      handled();
      this.fitView();
    }
  }

  confirmLeave() {
    if (!this.dirty || !this.editable) return true;
    return window.confirm("This task has unsaved changes. Leave it anyway?");
  }

  destroy() {
    this.destroyed = true;
    this.listeners.forEach((off) => off());
    if (this.dialog) this.dialog.remove();
    if (this.anno) this.anno.destroy();
  }
}
