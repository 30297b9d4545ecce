// Small DOM helpers: elements are built with h(), never from HTML strings, so names
// and comments coming from the server are always text.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "testid") el.dataset.testid = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") el.textContent = value;
    else if (key === "testid") el.setAttribute("data-testid", value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else el.setAttribute(key, String(value));
  }
  for (const child of children) if (child) el.append(child);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let toastSeq = 0;

/** A short message in the corner; kind is "info", "ok", "warn" or "error". */
export function toast(message, kind = "info", ms = 4000) {
  const box = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}`, testid: `toast`, "data-kind": kind, role: "status" }, message);
  el.dataset.seq = String(++toastSeq);
  box.append(el);
  while (box.children.length > 3) box.firstChild.remove();
  setTimeout(() => el.remove(), ms);
  return el;
}

export function pct(x) {
  return x === null || x === undefined ? "–" : `${Math.round(x * 100)}%`;
}

export function num(x, digits = 1) {
  return x === null || x === undefined ? "–" : Number(x).toFixed(digits);
}

/** True when a key event is typed into a text field (shortcuts must leave it alone). */
export function typing(event) {
  const t = event.target;
  return !!t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable);
}
