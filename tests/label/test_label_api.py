"""The studio's HTTP API: every endpoint for the roles that may and may not call it,
sessions and API keys, and the answers to bad or conflicting requests."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from yolops.identity import KeyStore, UserStore
from yolops.label import tasks as T
from yolops.label.web.app import build_label_app

from label_support import ALICE, RITA, box, project_with_tasks, studio

ROLES = ("admin", "manager", "reviewer", "annotator", "viewer")
PASSWORD = "a-long-password"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One workspace: a user per role, a project of 40 tasks (12 already in review):
    enough for every case to find a task nobody took yet."""
    tmp = tmp_path_factory.mktemp("api")
    store = studio(tmp)
    users = UserStore(store.workspace.database_url)
    for role in ROLES:
        users.add(f"{role}1", role=role, password=PASSWORD)
    project = project_with_tasks(store, tmp / "img", 40)
    alices = []
    for i in range(12):
        t = T.next_task(store, ALICE, project, "annotate")
        t = T.save(store, ALICE, t["id"], t["revision"], [box(1, 2, 30, 40)], submit=True)
        if i < 2:  # two approved, so that there is something to export
            T.approve(store, RITA, t["id"], T.view(store, RITA, t["id"])["revision"])
        else:
            alices.append(t["id"])
    app = build_label_app(store.workspace)
    return store, project, app, alices


def client_for(app, role: str | None) -> TestClient:
    client = TestClient(app)
    if role is not None:
        r = client.post("/api/login", json={"name": f"{role}1", "password": PASSWORD})
        assert r.status_code == 200, r.text
    return client


def _review_task(store, project) -> dict:
    """A task in review that nobody of the roles above worked on."""
    return next(t for t in T.queue(store, ALICE.__class__("x", "admin"), project, "review")[1])


# (method, path template, json, roles allowed); {review} is a task in review,
# {fresh} a first-stage task nobody took.
ENDPOINTS = [
    ("GET", "/api/me", None, set(ROLES)),
    ("GET", "/api/projects", None, set(ROLES)),
    ("GET", "/api/projects/cells", None, set(ROLES)),
    ("GET", "/api/projects/cells/queue", None, set(ROLES)),
    ("GET", "/api/tasks/{review}", None, {"admin", "manager", "reviewer", "viewer"}),
    ("GET", "/api/tasks/{review}/image", None, {"admin", "manager", "reviewer", "viewer"}),
    ("GET", "/api/tasks/{review}/history", None, {"admin", "manager", "reviewer", "viewer"}),
    ("POST", "/api/projects/cells/next", {"stage": "annotate"}, {"admin", "manager", "reviewer",
                                                                  "annotator"}),
    ("POST", "/api/projects/cells/next", {"stage": "review"}, {"admin", "manager", "reviewer"}),
    ("PUT", "/api/tasks/{fresh}", {"revision": "{fresh_rev}", "boxes": []},
     {"admin", "manager", "reviewer", "annotator"}),
    ("POST", "/api/tasks/{fresh}/submit", {"revision": "{fresh_rev}", "boxes": []},
     {"admin", "manager", "reviewer", "annotator"}),
    ("POST", "/api/tasks/{review}/approve", {"revision": "{review_rev}"},
     {"admin", "manager", "reviewer"}),
    ("POST", "/api/tasks/{review}/reject", {"revision": "{review_rev}",
                                            "comment": {"text": "x"}},
     {"admin", "manager", "reviewer"}),
    ("POST", "/api/projects", {"name": "p-{role}", "classes": ["a"]}, {"admin", "manager"}),
    ("POST", "/api/projects/cells/export", {"to": "ds-{role}"}, {"admin", "manager"}),
]  # fmt: skip


def _fill(value, subs):
    if isinstance(value, str):
        out = value.format(**subs)
        return int(out) if out.lstrip("-").isdigit() and value.startswith("{") else out
    if isinstance(value, dict):
        return {k: _fill(v, subs) for k, v in value.items()}
    return value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e[0]} {e[1]} {e[2] or ''}")
def test_each_endpoint_admits_exactly_its_roles(world, endpoint, role):
    store, project, app, alices = world
    method, path, body, allowed = endpoint
    admin = ALICE.__class__("cli:test", "admin")
    # Tasks alice annotated and nobody reviewed yet (anyone of the roles may review them).
    review = [t for t in T.queue(store, admin, project, "review")[1] if t["id"] in alices]
    fresh = [t for t in T.queue(store, admin, project, "annotate")[1]]
    if not review or not fresh:
        pytest.fail("the module's tasks ran out: give the fixture more")
    subs = {
        "role": role,
        "review": review[-1]["id"],
        "review_rev": T.view(store, admin, review[-1]["id"])["revision"],
        "fresh": fresh[-1]["id"],
        "fresh_rev": T.view(store, admin, fresh[-1]["id"])["revision"],
    }
    url = path.format(**subs)
    client = client_for(app, role)
    r = client.request(method, url, json=_fill(body, subs))
    if role in allowed:
        # Reject at the review endpoint may 409 only if another case moved the task on.
        assert r.status_code < 400, f"{role} {method} {url}: {r.status_code} {r.text}"
        if method == "POST" and url.endswith("/reject"):
            back = T.view(store, admin, subs["review"])
            T.save(store, ALICE, back["id"], back["revision"], back["boxes"], submit=True)
    else:
        assert r.status_code == 403, f"{role} {method} {url}: {r.status_code} {r.text}"
        assert r.json()["error"]["code"] == "forbidden"
    # And without credentials: 401, with the envelope.
    anonymous = TestClient(app).request(method, url, json=_fill(body, subs))
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthenticated"


def test_api_keys_work_for_scripts_with_their_role(world):
    store, _, app, _ = world
    keys = KeyStore(store.workspace.database_url)
    review_key, _ = keys.create("review-bot", role="reviewer")
    predict_key, _ = keys.create("predict-only", role="predict")
    client = TestClient(app)
    me = client.get("/api/me", headers={"Authorization": f"Bearer {review_key}"})
    assert me.status_code == 200 and me.json()["name"] == "key:review-bot"
    assert me.json()["can"] == {"view": True, "annotate": True, "review": True, "manage": False}
    r = client.get("/api/projects", headers={"X-API-Key": predict_key})
    assert r.status_code == 403
    r = client.get("/api/projects", headers={"X-API-Key": "yk_00000000_" + "x" * 30})
    assert r.status_code == 401


def test_a_cookie_from_another_site_changes_nothing(world):
    _, _, app, _ = world
    client = client_for(app, "manager")
    r = client.post(
        "/api/projects",
        json={"name": "evil", "classes": ["a"]},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403 and "evil.example" in r.json()["error"]["message"]
    assert client.get("/api/projects").status_code == 200  # reading is fine


def test_the_session_cookie_is_httponly_and_strict_and_logout_ends_it(world):
    _, _, app, _ = world
    client = TestClient(app)
    r = client.post("/api/login", json={"name": "viewer1", "password": PASSWORD})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/api/me").json()["role"] == "viewer"
    client.post("/api/logout", json={})
    assert client.get("/api/me").status_code == 401


def test_repeated_wrong_passwords_are_slowed_down(world):
    _, _, app, _ = world
    client = TestClient(app)
    codes = [
        client.post("/api/login", json={"name": "nobody", "password": "wrong-one"}).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [401] * 10 and codes[10] == 429


def test_bad_requests_get_422_conflicts_409_with_the_current_task(tmp_path):
    store = studio(tmp_path)
    UserStore(store.workspace.database_url).add("annotator1", "annotator", PASSWORD)
    UserStore(store.workspace.database_url).add("reviewer1", "reviewer", PASSWORD)
    project_with_tasks(store, tmp_path / "img", 1)
    app = build_label_app(store.workspace)
    ann = client_for(app, "annotator1".removesuffix("1"))
    task = ann.post("/api/projects/cells/next", json={"stage": "annotate"}).json()
    url = f"/api/tasks/{task['id']}"
    outside = {"revision": task["revision"], "boxes": [box(1, 2, 500, 40)]}
    r = ann.put(url, json=outside)
    assert r.status_code == 422 and "outside the 80x60 image" in r.json()["error"]["message"]
    r = ann.put(url, json={"revision": task["revision"], "boxes": [], "extra": 1})
    assert r.status_code == 422
    saved = ann.put(url, json={"revision": task["revision"], "boxes": [box(1, 2, 30, 40)]})
    assert saved.status_code == 200
    stale = ann.put(url, json={"revision": task["revision"], "boxes": [box(2, 2, 30, 40)]})
    assert stale.status_code == 409
    assert stale.json()["current"]["boxes"][0]["box"] == [1, 2, 30, 40]
    r = ann.post(f"{url}/submit", json={"revision": saved.json()["revision"], "boxes": []})
    assert r.status_code == 200 and r.json()["stage"] == "review"
    assert ann.get("/api/tasks/999").status_code == 404
    img = ann.get(f"{url}/image")
    assert img.status_code == 200 and img.content[:4] == b"\x89PNG"
    page = ann.get("/")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-frame-options"] == "DENY"
