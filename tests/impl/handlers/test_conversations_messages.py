"""Conversations, history pagination, rename, delete, variables, feedback, suggestions, files."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sse_client import headers


class Api:
    def __init__(self, server: Any, mode: str = "chat") -> None:
        self.base = server.base_url
        self.h = headers(server.keys[mode])

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.base + path, params=params, headers=self.h, timeout=10)

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(self.base + path, json=body, headers=self.h, timeout=10)

    def chat(self, user: str, query: str, cid: str = "") -> dict[str, Any]:
        resp = self.post(
            "/chat-messages",
            {"query": query, "inputs": {}, "user": user, "conversation_id": cid, "auto_generate_name": False},
        )
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body


@pytest.fixture(scope="module")
def api(live_server: Any) -> Api:
    return Api(live_server)


def walk_conversations(api: Api, user: str, limit: int, sort_by: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    last_id = ""
    for _ in range(50):
        page = api.get("/conversations", user=user, limit=limit, sort_by=sort_by, last_id=last_id).json()
        assert len(page["data"]) <= limit
        seen.extend(page["data"])
        if not page["has_more"]:
            return seen
        assert len(page["data"]) == limit
        last_id = page["data"][-1]["id"]
    raise AssertionError("pagination did not end")


def test_conversation_pagination_all_sort_orders(api: Api) -> None:
    ids = [api.chat("pager", f"conv {i}")["conversation_id"] for i in range(13)]
    for sort_by in ("created_at", "-created_at", "updated_at", "-updated_at"):
        for limit in (1, 4, 13, 100):
            got = walk_conversations(api, "pager", limit, sort_by)
            got_ids = [c["id"] for c in got]
            assert sorted(got_ids) == sorted(ids), (sort_by, limit)  # no duplicates, no gaps
            expected = ids if not sort_by.startswith("-") else list(reversed(ids))
            assert got_ids == expected, (sort_by, limit)
    exact = api.get("/conversations", user="pager", limit=13).json()
    assert exact["has_more"] is False and len(exact["data"]) == 13
    assert api.get("/conversations", user="pager", limit=12).json()["has_more"] is True
    # Continuing a conversation moves it to the front of the default order.
    api.chat("pager", "again", ids[0])
    assert api.get("/conversations", user="pager", limit=1).json()["data"][0]["id"] == ids[0]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"limit": 0}, 400, "invalid_param"),
        ({"limit": 101}, 400, "invalid_param"),
        ({"sort_by": "name"}, 400, "invalid_param"),
        ({"last_id": "8d8d8d8d-1111-4222-8333-444455556666"}, 404, "not_found"),
    ],
)
def test_conversation_list_rejections(api: Api, params: dict[str, Any], status: int, code: str) -> None:
    resp = api.get("/conversations", user="pager", **params)
    assert resp.status_code == status and resp.json()["code"] == code


def test_message_history_pages_backwards_chronologically(api: Api) -> None:
    cid = api.chat("historian", "q0")["conversation_id"]
    for i in range(1, 11):
        api.chat("historian", f"q{i}", cid)
    for limit in (1, 3, 11, 20):
        collected: list[str] = []
        first_id = ""
        while True:
            page = api.get(
                "/messages", user="historian", conversation_id=cid, limit=limit, first_id=first_id
            ).json()
            queries = [m["query"] for m in page["data"]]
            assert queries == sorted(queries, key=lambda q: int(q[1:]))  # oldest first within a page
            collected = queries + collected
            if not page["has_more"]:
                break
            first_id = page["data"][0]["id"]
        assert collected == [f"q{i}" for i in range(11)], limit
    empty = api.get("/messages", user="historian", conversation_id="").json()
    assert empty == {"limit": 20, "has_more": False, "data": []}
    bad = api.get(
        "/messages", user="historian", conversation_id=cid, first_id="8d8d8d8d-1111-4222-8333-444455556666"
    )
    assert bad.status_code == 404 and bad.json()["message"] == "First Message Not Exists."


def test_rename_delete_and_variables(api: Api) -> None:
    cid = api.chat("renamer", "Plan a trip to Lisbon in spring")["conversation_id"]
    renamed = api.post(f"/conversations/{cid}/name", {"name": "Lisbon", "user": "renamer"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Lisbon"
    auto = api.post(f"/conversations/{cid}/name", {"auto_generate": True, "user": "renamer"}).json()
    assert auto["name"] == "Plan a trip to Lisbon in"
    blank = api.post(f"/conversations/{cid}/name", {"name": "  ", "user": "renamer"})
    assert blank.status_code == 400 and blank.json()["code"] == "invalid_param"
    other = api.post(f"/conversations/{cid}/name", {"name": "x", "user": "intruder"})
    assert other.status_code == 404
    variables = api.get(f"/conversations/{cid}/variables", user="renamer")
    assert variables.json() == {"limit": 20, "has_more": False, "data": []}
    put = httpx.put(
        f"{api.base}/conversations/{cid}/variables/8d8d8d8d-1111-4222-8333-444455556666",
        json={"value": 1, "user": "renamer"},
        headers=api.h,
        timeout=10,
    )
    assert put.status_code == 404 and put.json()["message"] == "Conversation Variable Not Exists."
    foreign = httpx.request(
        "DELETE", f"{api.base}/conversations/{cid}", json={"user": "intruder"}, headers=api.h, timeout=10
    )
    assert foreign.status_code == 404
    deleted = httpx.request(
        "DELETE", f"{api.base}/conversations/{cid}", json={"user": "renamer"}, headers=api.h, timeout=10
    )
    assert deleted.status_code == 204 and deleted.content == b""
    again = httpx.request(
        "DELETE", f"{api.base}/conversations/{cid}", json={"user": "renamer"}, headers=api.h, timeout=10
    )
    assert again.status_code == 404
    assert cid not in [c["id"] for c in api.get("/conversations", user="renamer").json()["data"]]
    assert (
        api.post(
            "/chat-messages", {"query": "x", "inputs": {}, "user": "renamer", "conversation_id": cid}
        ).status_code
        == 404
    )


def test_feedback_semantics_and_app_list(api: Api, live_server: Any) -> None:
    mid = api.chat("rater", "rate me")["id"]
    path = f"/messages/{mid}/feedbacks"
    none_yet = api.post(path, {"rating": None, "user": "rater"})
    assert (
        none_yet.status_code == 400
        and none_yet.json()["message"] == "rating cannot be None when feedback not exists"
    )
    assert api.post(path, {"rating": "like", "content": "good", "user": "rater"}).json() == {
        "result": "success"
    }
    assert api.post(path, {"rating": "dislike", "user": "rater"}).json() == {"result": "success"}
    listed = [f for f in api.get("/app/feedbacks", limit=101).json()["data"] if f["message_id"] == mid]
    assert len(listed) == 1 and listed[0]["rating"] == "dislike" and listed[0]["content"] is None
    assert isinstance(listed[0]["created_at"], str)
    cid = listed[0]["conversation_id"]
    hist = api.get("/messages", user="rater", conversation_id=cid).json()["data"]
    assert hist[0]["feedback"] == {"rating": "dislike"}
    assert api.post(path, {"rating": "like", "user": "intruder"}).status_code == 404
    assert api.post(path, {"rating": None, "user": "rater"}).json() == {"result": "success"}
    assert not [f for f in api.get("/app/feedbacks", limit=101).json()["data"] if f["message_id"] == mid]
    # The completion app is another app: it cannot rate this message.
    other_app = Api(live_server, "completion").post(path, {"rating": "like", "user": "rater"})
    assert other_app.status_code == 404


def test_suggested_questions(api: Api, live_server: Any) -> None:
    mid = api.chat("curious", "whales and dolphins")["id"]
    resp = api.get(f"/messages/{mid}/suggested", user="curious")
    assert resp.json() == {
        "result": "success",
        "data": [
            "Can you tell me more about whales and dolphins?",
            "What is an example of whales and dolphins?",
            "Why does whales and dolphins matter?",
        ],
    }
    assert api.get(f"/messages/{mid}/suggested", user="stranger").status_code == 404


def test_upload_preview_and_isolation(api: Api, live_server: Any) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    up = httpx.post(
        api.base + "/files/upload",
        files={"file": ("pic.png", png, "image/png")},
        data={"user": "uploader"},
        headers=api.h,
        timeout=10,
    )
    assert up.status_code == 201, up.text
    info = up.json()
    assert info["name"] == "pic.png" and info["size"] == len(png) and info["extension"] == "png"
    fid = info["id"]
    fresh = api.get(f"/files/{fid}/preview")
    assert fresh.status_code == 404 and fresh.json()["code"] == "file_not_found"
    api.post(
        "/chat-messages",
        {
            "query": "see",
            "inputs": {},
            "user": "uploader",
            "files": [{"type": "image", "transfer_method": "local_file", "upload_file_id": fid}],
        },
    )
    shown = api.get(f"/files/{fid}/preview")
    assert shown.status_code == 200 and shown.content == png
    assert shown.headers["content-type"] == "image/png"
    attached = api.get(f"/files/{fid}/preview", as_attachment="true")
    assert attached.headers["content-type"] == "application/octet-stream"
    assert attached.headers["content-disposition"] == "attachment; filename*=UTF-8''pic.png"
    other = Api(live_server, "completion").get(f"/files/{fid}/preview")
    assert other.status_code == 403 and other.json()["code"] == "file_access_denied"
    # user before file in the multipart body works too
    swapped = httpx.post(
        api.base + "/files/upload",
        headers=api.h,
        timeout=10,
        files=[("user", (None, "uploader")), ("file", ("a.txt", b"hi", "text/plain"))],
    )
    assert swapped.status_code == 201
    bad_name = httpx.post(
        api.base + "/files/upload", files={"file": ("a|b.txt", b"x", "text/plain")}, headers=api.h, timeout=10
    )
    assert (
        bad_name.status_code == 400 and bad_name.json()["message"] == "Filename contains invalid characters"
    )
    big = httpx.post(
        api.base + "/files/upload",
        files={"file": ("big.png", b"0" * (10 * 1024 * 1024 + 1), "image/png")},
        headers=api.h,
        timeout=30,
    )
    assert big.status_code == 413 and big.json() == {"code": "file_too_large", "message": "", "status": 413}
