"""A model reference of the registry as what the server serves.

    source = RegistryModelSource("shapes@production", Workspace.resolve())
    source.fingerprint()   # "2": the version the alias points at now (one query)
    source.resolve()       # ModelRef(<workspace>/cache/models/shapes/2/..., "shapes", "2")

``NAME@ALIAS`` follows the alias and ``NAME`` (or ``models:/NAME``) its latest
version: when either moves, the model watcher loads the new version and swaps it
in. ``NAME/VERSION`` and ``runs:/<run id>`` never move, so their fingerprint is the
reference itself and polling them costs no query. Files come from the resolver's
cache (one download per version). A store or server that fails raises
:class:`TrackingError` naming it; the watcher then keeps serving the old version.
"""

from __future__ import annotations

from yolops.serve.source import ModelRef
from yolops.track.registry import VERSION_REF, get_run, model_version
from yolops.track.resolve import RUN_REF, resolve_model
from yolops.workspace import Workspace


class RegistryModelSource:
    def __init__(self, ref: str, workspace: Workspace):
        self.ref = str(ref)
        self.workspace = workspace
        self._run = RUN_REF.match(self.ref)
        self.moves = not self._run and not VERSION_REF.match(self.ref)

    def describe(self) -> str:
        return self.ref

    def fingerprint(self) -> str:
        """The version the reference points at now (fixed references: themselves)."""
        if not self.moves:
            return self.ref
        return str(model_version(self.workspace, self.ref).version)

    def resolve(self) -> ModelRef:
        """The local ONNX file of the version the reference points at, named by the
        registered model and its version (a run: its name and id)."""
        if self._run:
            run_id = self._run.group("run")
            path = resolve_model(self.ref, self.workspace)
            run = get_run(self.workspace, run_id)
            return ModelRef(path, run.info.run_name or f"run-{run_id[:8]}", run_id)
        mv = model_version(self.workspace, self.ref)
        # The version pinned once: the alias may move between this query and the download.
        path = resolve_model(f"{mv.name}/{mv.version}", self.workspace)
        return ModelRef(path, mv.name, str(mv.version))
