// yolops label: the single page app. Hash routes:
//   #/login              log in
//   #/                   projects
//   #/p/NAME             a project's dashboard: progress per stage and person, queues
//   #/t/ID[?stage=S]     the editor (annotate or review); with ?stage it loops on S's queue
import { api, ApiError, setUnauthorizedHandler } from "./api.js";
import { clear, h, num, pct, toast, typing } from "./dom.js";
import { Editor } from "./editor.js";

const view = document.getElementById("view");
const crumbs = document.getElementById("crumbs");
let me = null; // {name, role, can}
let current = null; // the mounted page's cleanup, if any

// ---------------------------------------------------------------- routing

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

let shownHash = null;

async function route() {
  if (current && current.confirmLeave && !current.confirmLeave()) {
    history.replaceState(null, "", shownHash || "#/"); // stay, and keep the address right
    return;
  }
  shownHash = location.hash || "#/";
  if (current && current.destroy) current.destroy();
  current = null;
  const { parts, query } = parseHash();
  if (parts[0] === "login") return showLogin();
  if (!me) {
    try {
      me = await api.me();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return go(`#/login`);
      return showError(err);
    }
    showWho();
  }
  try {
    if (parts.length === 0) return await showProjects();
    if (parts[0] === "p" && parts[1]) return await showProject(parts[1]);
    if (parts[0] === "t" && parts[1]) return await showTask(parts[1], query.get("stage"));
    view.replaceChildren(h("p", { class: "pad" }, "No such page. ", h("a", { href: "#/" }, "Projects")));
  } catch (err) {
    showError(err);
  }
}

function showError(err) {
  const message = err instanceof ApiError ? `${err.message} (${err.code})` : String(err);
  view.replaceChildren(
    h("div", { class: "pad" }, h("p", { class: "error", testid: "page-error" }, message), h("a", { href: "#/" }, "Projects")),
  );
}

function setCrumbs(...items) {
  clear(crumbs);
  items.forEach((item, i) => {
    if (i) crumbs.append(h("span", { class: "sep" }, "/"));
    crumbs.append(item.href ? h("a", { href: item.href }, item.text) : h("span", {}, item.text));
  });
}

function showWho() {
  document.getElementById("who").hidden = !me;
  if (!me) return;
  document.getElementById("who-name").textContent = me.name;
  document.getElementById("who-role").textContent = me.role;
}

setUnauthorizedHandler(() => {
  me = null;
  showWho();
  if (!location.hash.startsWith("#/login")) {
    toast("Your session ended: log in again.", "warn");
    const back = location.hash && location.hash !== "#/" ? `?next=${encodeURIComponent(location.hash)}` : "";
    go(`#/login${back}`);
  }
});

// ---------------------------------------------------------------- login

function showLogin() {
  setCrumbs();
  clear(document.getElementById("toasts"));
  me = null;
  showWho();
  const next = parseHash().query.get("next") || "#/";
  const name = h("input", { id: "login-name", name: "name", autocomplete: "username", required: true, testid: "login-name" });
  const password = h("input", {
    id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true, testid: "login-password",
  });
  const error = h("p", { class: "error", testid: "login-error", hidden: true });
  const button = h("button", { type: "submit", class: "primary", testid: "login-submit" }, "Log in");
  const form = h(
    "form",
    { class: "card login", testid: "login-form" },
    h("h1", {}, "yolops label"),
    h("label", { for: "login-name" }, "Name"),
    name,
    h("label", { for: "login-password" }, "Password"),
    password,
    error,
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.hidden = true;
    try {
      await api.login(name.value.trim(), password.value);
      me = await api.me();
      showWho();
      go(next.startsWith("#/") && !next.startsWith("#/login") ? next : "#/");
    } catch (err) {
      error.textContent = err.status === 401 ? "Wrong name or password." : err.message;
      error.hidden = false;
      password.select();
    } finally {
      button.disabled = false;
    }
  });
  view.replaceChildren(h("div", { class: "center" }, form));
  name.focus();
}

document.getElementById("logout").addEventListener("click", async () => {
  if (current && current.confirmLeave && !current.confirmLeave()) return;
  try {
    await api.logout();
  } catch {
    /* logged out anyway */
  }
  me = null;
  showWho();
  go("#/login");
});

// ---------------------------------------------------------------- projects

function progress(project) {
  const total = Math.max(project.tasks, 1);
  const segments = [
    ...project.stages.map((stage, i) => ({ label: stage, n: project.by_stage[stage] || 0, cls: `s${i}` })),
    { label: "done", n: project.done, cls: "done" },
    { label: "unreadable", n: project.unreadable, cls: "bad" },
  ];
  return h(
    "div",
    { class: "progress", testid: `progress-${project.name}` },
    h("div", { class: "bar" }, segments.filter((s) => s.n).map((s) =>
      h("span", { class: s.cls, style: { width: `${(100 * s.n) / total}%` }, title: `${s.label}: ${s.n}` }))),
    h("div", { class: "legend" }, segments.map((s) =>
      h("span", { class: "item", testid: `count-${s.label}` }, h("i", { class: s.cls }), `${s.label} ${s.n}`))),
  );
}

async function showProjects() {
  setCrumbs({ text: "Projects" });
  const projects = await api.projects();
  const list = h("div", { class: "grid pad", testid: "project-list" });
  if (!projects.length) list.append(h("p", { class: "muted" }, "No projects yet (a manager creates them: yolops label project create)."));
  for (const p of projects) {
    list.append(
      h(
        "a",
        { class: "card project", href: `#/p/${encodeURIComponent(p.name)}`, testid: `project-${p.name}` },
        h("h2", {}, p.name),
        h("p", { class: "muted" }, `${p.tasks} tasks · ${p.classes.length} classes · stages ${p.stages.join(" → ")}`),
        progress(p),
      ),
    );
  }
  view.replaceChildren(list);
}

const count = (x) => (Array.isArray(x) ? x.length : x ?? "");

function firstStage(project) {
  // The first stage this user can act on: reviewers start at review.
  if (me.can.review && project.stages.length > 1 && me.role !== "annotator") return project.stages[1];
  return project.stages[0];
}

async function showProject(name) {
  setCrumbs({ text: "Projects", href: "#/" }, { text: name });
  const project = await api.project(name);
  const queues = await Promise.all(
    project.stages.map((stage) => api.queue(name, stage, 50).catch((err) => ({ stage, tasks: [], error: err }))),
  );
  const startStage = firstStage(project);
  const stageCards = project.stages.map((stage, i) => {
    const queue = queues[i];
    const allowed = i === 0 ? me.can.annotate : me.can.review;
    const review = i > 0;
    const rows = queue.tasks.map((t) =>
      h(
        "tr",
        { testid: "queue-row", "data-task": t.id },
        h("td", {}, h("a", { href: `#/t/${t.id}?stage=${encodeURIComponent(stage)}` }, `#${t.id}`),
          t.rejected ? h("span", { class: "badge warn", title: "sent back by a reviewer" }, "rejected") : null),
        h("td", { class: "name", title: t.image }, t.image),
        h("td", { class: "num" }, count(t.boxes)),
        h("td", { class: "num" }, count(t.proposals)),
        review
          ? h("td", { class: "num", title: "how much the annotators agree" }, pct(t.agreement))
          : h("td", { class: "num", title: "how unsure the model is" }, num(t.uncertainty ?? t.priority, 2)),
        review ? h("td", { class: "num", title: "how likely a label error is" }, num(t.error_score, 2)) : null,
      ),
    );
    const heads = ["task", "image", "boxes", "proposals", ...(review ? ["agreement", "error score"] : ["uncertainty"])];
    return h(
      "section",
      { class: "card", testid: `stage-${stage}` },
      h(
        "div",
        { class: "row" },
        h("h2", {}, `${i + 1}. ${stage}`),
        h("span", { class: "muted", testid: `stage-count-${stage}` }, `${project.by_stage[stage] || 0} waiting`),
        h("span", { class: "grow" }),
        allowed &&
          h("button", {
            type: "button",
            class: stage === startStage ? "primary" : "",
            testid: `start-${stage}`,
            onclick: () => startLoop(name, stage),
          }, i === 0 ? "Start annotating" : `Start ${stage}`),
      ),
      queue.error
        ? h("p", { class: "muted" }, queue.error.status === 403 ? "Your role cannot work on this stage." : queue.error.message)
        : rows.length
          ? h("table", { class: "table", testid: `queue-${stage}` },
            h("thead", {}, h("tr", {}, heads.map((x, j) => h("th", { class: j > 1 ? "num" : "" }, x)))),
            h("tbody", {}, rows))
          : h("p", { class: "muted", testid: `queue-${stage}-empty` }, "Nothing waiting for you here."),
    );
  });
  const columns = [
    ["person", (p) => p.user + (p.role ? ` (${p.role})` : "")],
    ["submitted", (p) => p.submitted ?? 0, "tasks submitted (annotation)"],
    ["sent back", (p) => pct(p.rejection_rate), "share of their submitted tasks a reviewer rejected"],
    ["proposals kept", (p) => pct(p.proposals_accepted), "share of the model's proposals accepted unchanged"],
    ["agreement", (p) => pct(p.agreement), "F1 of their boxes against the final labels"],
    ["tasks / hour", (p) => num(p.tasks_per_hour), "annotation speed"],
    ["approved", (p) => p.approved ?? 0, "reviews: tasks approved"],
    ["rejected", (p) => p.rejected ?? 0, "reviews: tasks sent back"],
  ];
  const people = h(
    "table",
    { class: "table", testid: "people-table" },
    h("thead", {}, h("tr", {}, columns.map(([label, , title], i) => h("th", { class: i ? "num" : "", title }, label)))),
    h("tbody", {}, (project.people || []).map((p) =>
      h("tr", { testid: "person-row", "data-user": p.user },
        columns.map(([, value], i) => h("td", { class: i ? "num" : "" }, value(p)))))),
  );
  view.replaceChildren(
    h(
      "div",
      { class: "pad dashboard", testid: "project-dashboard" },
      h("section", { class: "card" },
        h("div", { class: "row" }, h("h1", {}, project.name), h("span", { class: "grow" }),
          h("span", { class: "muted", testid: "project-model" }, project.model ? `pre-labels: ${project.model}` : "no model pre-labels")),
        h("p", { class: "muted" }, `Classes: ${project.classes.map((c, i) => `${i + 1} ${c}`).join(", ")} · overlap ${project.overlap}`),
        progress(project)),
      h("div", { class: "stages" }, stageCards),
      me.can.manage && exportCard(project),
      h("section", { class: "card" }, h("h2", {}, "People"),
        (project.people || []).length ? people : h("p", { class: "muted" }, "Nobody has worked on this project yet.")),
    ),
  );
}

function exportCard(project) {
  const to = h("input", { value: project.name, testid: "export-to", "aria-label": "dataset name", style: { maxWidth: "240px" } });
  const message = h("input", { placeholder: "message (optional)", testid: "export-message", "aria-label": "message" });
  const result = h("p", { class: "muted", testid: "export-result" });
  const button = h("button", { type: "submit", class: "primary", testid: "export" }, "Export");
  const form = h("form", { class: "row" }, to, message, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    result.textContent = "exporting…";
    try {
      const out = await api.exportProject(project.name, to.value.trim(), message.value.trim() || null);
      result.textContent = out.summary;
      result.dataset.version = out.version;
      toast(`Exported ${out.version}.`, "ok");
    } catch (err) {
      result.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { class: "card", testid: "export-card" },
    h("h2", {}, "Export approved labels"),
    h("p", { class: "muted" }, `A new version of the dataset with the labels of the ${project.done} done task(s).`),
    form, result);
}

/** Claims the next task of `stage` for this user and opens it (the annotate/review loop). */
export async function startLoop(project, stage, from = null) {
  try {
    const task = await api.next(project, stage);
    if (from !== null && task.id === from) return true; // the same task again
    go(`#/t/${task.id}?stage=${encodeURIComponent(stage)}`);
    return false;
  } catch (err) {
    if (err.code === "queue_empty") {
      toast(`Nothing left to ${stage} in ${project}.`, "ok");
      go(`#/p/${encodeURIComponent(project)}`);
    } else toast(err.message, "error");
    return false;
  }
}

// ---------------------------------------------------------------- editor

async function showTask(id, loopStage) {
  const task = await api.task(id);
  setCrumbs(
    { text: "Projects", href: "#/" },
    { text: task.project, href: `#/p/${encodeURIComponent(task.project)}` },
    { text: `#${task.id} ${task.image.name}` },
  );
  const editor = new Editor(view, task, { me, loopStage, startLoop, go });
  current = editor;
}

// ---------------------------------------------------------------- help

const help = document.getElementById("help");

function toggleHelp(show = help.hidden) {
  help.hidden = !show;
  if (show) help.querySelector("[data-close]").focus();
}

document.getElementById("help-button").addEventListener("click", () => toggleHelp(true));
help.addEventListener("click", (event) => {
  if (event.target === help || event.target.hasAttribute("data-close")) toggleHelp(false);
});
window.addEventListener("keydown", (event) => {
  if (typing(event)) return;
  if (event.key === "?") {
    event.preventDefault();
    toggleHelp();
  } else if (event.key === "Escape" && !help.hidden) {
    event.preventDefault();
    event.stopPropagation();
    toggleHelp(false);
  }
}, true);

window.addEventListener("hashchange", route);
window.addEventListener("beforeunload", (event) => {
  if (current && current.dirty) {
    event.preventDefault();
    event.returnValue = "";
  }
});
route();
