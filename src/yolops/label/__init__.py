"""The labeling studio: AI-assisted annotation with review in stages.

    store = LabelStore(Workspace.resolve())
    project = create_project(store, actor, "blood", ["RBC", "WBC", "Platelets"],
                             stages=("annotate", "review"), model="bccd-detector@production")
    add_tasks(store, actor, project, "bccd@v1")         # a folder, a dataset, a version
    prelabel(store, actor, project)                     # proposals from the model
    task = next_task(store, alice, project)             # alice's next task, claimed
    save(store, alice, task["id"], task["revision"], boxes, submit=True)
    approve(store, bob, task_id, revision)               # or reject(..., comment)
    export(store, actor, project, to="bccd")           # approved labels -> bccd@v2

Modules: :mod:`~yolops.label.projects` (classes, stages, overlap),
:mod:`~yolops.label.tasks` (stages, roles, the two-person rule, conflicts),
:mod:`~yolops.label.consensus` (overlap: match, merge, agreement),
:mod:`~yolops.label.prelabel`, :mod:`~yolops.label.importing`,
:mod:`~yolops.label.export`, :mod:`~yolops.label.history` (the audit trail),
:mod:`~yolops.label.progress` (per stage, per person), and :mod:`~yolops.label.web`
(the HTTP API and the browser UI).
"""

from yolops._lazy import lazy_exports

_EXPORTS = {
    "LabelStore": "yolops.label.store",
    "Project": "yolops.label.projects",
    "create_project": "yolops.label.projects",
    "get_project": "yolops.label.projects",
    "list_projects": "yolops.label.projects",
    "add_tasks": "yolops.label.importing",
    "prelabel": "yolops.label.prelabel",
    "refresh": "yolops.label.prelabel",
    "next_task": "yolops.label.tasks",
    "queue": "yolops.label.tasks",
    "view": "yolops.label.tasks",
    "save": "yolops.label.tasks",
    "approve": "yolops.label.tasks",
    "reject": "yolops.label.tasks",
    "release": "yolops.label.tasks",
    "export": "yolops.label.export",
    "status": "yolops.label.progress",
    "task_events": "yolops.label.history",
    "replay": "yolops.label.history",
    "build_label_app": "yolops.label.web.app",
    "run_label_server": "yolops.label.web.server",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
