"""The Reddit sandbox over raw HTTP: auth, listings, budget, faults, control API, serve()."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from bot.sandbox.reddit import RedditSandbox, load_items, serve

BASIC = {"Authorization": "Basic " + base64.b64encode(b"client-a:secret").decode()}


def post(number: int, subreddit: str = "python") -> dict[str, Any]:
    return {
        "kind": "t3",
        "data": {
            "id": f"p{number}",
            "name": f"t3_p{number}",
            "subreddit": subreddit,
            "title": f"post {number}",
        },
    }


def comment(number: int, subreddit: str = "python") -> dict[str, Any]:
    return {
        "kind": "t1",
        "data": {
            "id": f"c{number}",
            "name": f"t1_c{number}",
            "subreddit": subreddit,
            "body": f"comment {number}",
            "link_id": "t3_p0",
            "parent_id": "t3_p0",
        },
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Client:
    """A raw HTTP client holding one access token."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base, self.token = http, base, ""

    async def login(self, basic: dict[str, str] = BASIC) -> None:
        form = {"grant_type": "password", "username": "roveit_bot", "password": "pw"}
        async with self.http.post(
            f"{self.base}/api/v1/access_token", data=form, headers=basic
        ) as r:
            self.token = (await r.json())["access_token"]

    async def get(self, path: str, **params: str) -> tuple[int, CIMultiDict[str], Any]:
        headers = {"Authorization": f"bearer {self.token}"}
        async with self.http.get(self.base + path, params=params, headers=headers) as response:
            text = await response.text()
            return response.status, CIMultiDict(response.headers), text

    async def json(self, path: str, **params: str) -> Any:
        status, _, text = await self.get(path, **params)
        assert status == 200, text
        return json.loads(text)

    async def post(self, path: str, form: dict[str, str]) -> Any:
        headers = {"Authorization": f"bearer {self.token}"}
        async with self.http.post(self.base + path, data=form, headers=headers) as response:
            assert response.status == 200
            return await response.json()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def names(listing: dict[str, Any]) -> list[str]:
    return [child["data"]["name"] for child in listing["data"]["children"]]


async def test_budget_counts_per_client_and_resets_with_the_window(
    http: aiohttp.ClientSession,
) -> None:
    clock = FakeClock()
    async with RedditSandbox(rate_limit=3, rate_window=60.0, clock=clock) as sb:
        client = Client(http, sb.base_url)
        await client.login()
        seen = []
        for _ in range(4):
            status, headers, _ = await client.get("/api/v1/me")
            seen.append((status, headers["x-ratelimit-remaining"], headers["x-ratelimit-used"]))
            clock.now += 10
        assert seen == [(200, "2.0", "1"), (200, "1.0", "2"), (200, "0.0", "3"), (429, "0.0", "4")]
        assert headers["x-ratelimit-reset"] == "30"

        other = Client(http, sb.base_url)
        await other.login({"Authorization": "Basic " + base64.b64encode(b"client-b:s").decode()})
        assert (await other.get("/api/v1/me"))[0] == 200

        clock.now += 30
        status, headers, _ = await client.get("/api/v1/me")
        assert (status, headers["x-ratelimit-used"]) == (200, "1")


async def test_auth_errors_unknown_paths_and_long_multireddits(
    http: aiohttp.ClientSession,
) -> None:
    async with RedditSandbox() as sb:
        client = Client(http, sb.base_url)
        assert (await client.get("/api/v1/me"))[0] == 401
        await client.login()
        status, headers, text = await client.get("/api/nope")
        assert (status, json.loads(text)) == (404, {"message": "Not Found", "error": 404})
        assert "x-ratelimit-remaining" in headers
        long_path = "/r/" + "+".join(f"sub{index:05d}" for index in range(300)) + "/new"
        assert (await client.get(long_path))[0] == 414
        form = {"grant_type": "password", "username": "someone_else", "password": "pw"}
        async with http.post(f"{sb.base_url}/api/v1/access_token", data=form, headers=BASIC) as r:
            assert await r.json() == {"error": "invalid_grant"}
        async with http.post(f"{sb.base_url}/api/v1/access_token", data=form) as r:
            assert r.status == 401


async def test_listings_page_like_reddit(http: aiohttp.ClientSession) -> None:
    items = [post(n, "Python" if n % 2 else "rust") for n in range(150)]
    async with RedditSandbox(items) as sb:
        client = Client(http, sb.base_url)
        await client.login()
        sb.release(140)
        everything = [f"t3_p{n}" for n in reversed(range(140))]
        assert names(await client.json("/r/all/new")) == everything[:25]
        first = await client.json("/r/all/new", limit="500")
        assert names(first) == everything[:100] and first["data"]["after"] == "t3_p40"
        rest = await client.json("/r/all/new", limit="100", after="t3_p40")
        assert names(rest) == everything[100:] and rest["data"]["after"] is None
        newer = await client.json("/r/all/new", before="t3_p10", limit="3")
        assert names(newer) == ["t3_p13", "t3_p12", "t3_p11"]
        assert names(await client.json("/r/all/new", before="t3_nope")) == []
        assert names(await client.json("/r/PYTHON/new", limit="3")) == [
            "t3_p139",
            "t3_p137",
            "t3_p135",
        ]
        assert names(await client.json("/r/all-python/new", limit="2")) == ["t3_p138", "t3_p136"]
        assert names(await client.json("/r/python+rust/new", limit="2")) == everything[:2]
        assert names(await client.json("/r/all/comments")) == []
        assert sb.listing_requests() == 9


async def test_added_pm_reaches_the_inbox_and_mark_read_clears_it(
    http: aiohttp.ClientSession,
) -> None:
    async with RedditSandbox() as sb:
        client = Client(http, sb.base_url)
        await client.login()
        name = sb.add_item({"kind": "t4", "data": {"author": "alice", "dest": "ROVEIT_BOT"}})
        sb.add_item({"kind": "t4", "data": {"author": "alice", "dest": "bob"}})
        assert name.startswith("t4_") and len(name) == 11
        assert names(await client.json("/message/unread", mark="false")) == [name]
        assert (await client.json("/api/v1/me"))["inbox_count"] == 1
        assert await client.post("/api/read_message", {"id": name}) == {}
        assert names(await client.json("/message/unread")) == []
        assert names(await client.json("/message/inbox")) == [name]
        assert sb.writes[0]["type"] == "read_message" and sb.writes[0]["marked"] == [name]


async def test_write_errors_use_reddits_error_envelope(http: aiohttp.ClientSession) -> None:
    async with RedditSandbox([post(1)]) as sb:
        client = Client(http, sb.base_url)
        await client.login()
        sb.release_all()
        missing = await client.post("/api/comment", {"thing_id": "t3_gone", "text": "hi"})
        assert missing["json"]["errors"][0][0] == "INVALID_ID"
        sb.ratelimit_next("any", minutes=1, count=2)
        for form in (
            {"thing_id": "t3_p1", "text": "a"},
            {"to": "bob", "subject": "s", "text": "t"},
        ):
            path = "/api/comment" if "thing_id" in form else "/api/compose"
            limited = await client.post(path, form)
            assert limited["json"]["errors"] == [
                [
                    "RATELIMIT",
                    "Looks like you've been doing that a lot. Take a break for 1 minute before "
                    "trying again.",
                    "ratelimit",
                ]
            ]
        assert sb.writes == []
        made = await client.post("/api/comment", {"thing_id": "t3_p1", "text": "ok"})
        assert made["json"]["data"]["things"][0]["data"]["parent_id"] == "t3_p1"


async def test_faults_are_seeded_and_recorded(http: aiohttp.ClientSession) -> None:
    async def statuses(seed: int) -> list[int]:
        async with RedditSandbox(rng=random.Random(seed)) as sb:
            client = Client(http, sb.base_url)
            await client.login()
            sb.faults.error_rate = 0.5
            return [(await client.get("/api/v1/me"))[0] for _ in range(12)]

    first = await statuses(7)
    assert first == await statuses(7)
    assert set(first) - {200} <= {500, 502, 503} and 200 in first and len(set(first)) > 1


async def test_latency_drop_and_malformed(http: aiohttp.ClientSession) -> None:
    async with RedditSandbox() as sb:
        client = Client(http, sb.base_url)
        await client.login()
        calls: list[int] = []

        def latency() -> float:
            calls.append(1)
            return 0.05

        sb.faults.latency = latency
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert (await client.get("/api/v1/me"))[0] == 200
        assert loop.time() - started >= 0.05 and calls == [1]
        sb.faults.latency = 0.0

        sb.faults.malformed_rate = 1.0
        status, _, text = await client.get("/api/v1/me")
        assert status == 200
        with pytest.raises(ValueError):
            json.loads(text)
        sb.faults.malformed_rate = 0.0

        sb.faults.drop_rate = 1.0
        with pytest.raises(aiohttp.ClientError):
            await client.get("/api/v1/me")
        assert sb.requests[-1].status == 0


async def test_control_api_drives_the_sandbox(http: aiohttp.ClientSession) -> None:
    async with RedditSandbox([post(n) for n in range(5)]) as sb:
        control = f"{sb.base_url}/_sandbox"
        async with http.post(f"{control}/release", params={"n": "2"}) as r:
            assert await r.json() == {"released": ["t3_p0", "t3_p1"]}
        async with http.post(f"{control}/release", params={"n": "all"}) as r:
            assert len((await r.json())["released"]) == 3
        async with http.post(f"{control}/items", json={"kind": "t3", "data": {"title": "x"}}) as r:
            added = (await r.json())["name"]
        assert sb.store.get(added) is not None
        async with http.post(f"{control}/faults", json={"burst_429": 1, "latency": 0}) as r:
            assert (await r.json())["burst_429"] == 1
        async with http.post(f"{control}/faults", json={"chaos": 1}) as r:
            assert r.status == 400
        async with http.post(f"{control}/ratelimit", json={"kind": "compose", "minutes": 3}) as r:
            assert r.status == 200

        client = Client(http, sb.base_url)
        await client.login()
        assert (await client.get("/api/v1/me"))[0] == 429
        limited = await client.post("/api/compose", {"to": "bob", "subject": "s", "text": "t"})
        assert "3 minutes" in limited["json"]["errors"][0][1]
        await client.post("/api/compose", {"to": "bob", "subject": "s", "text": "t"})

        async with http.get(f"{control}/writes") as r:
            assert [w["type"] for w in await r.json()] == ["compose"]
        async with http.get(f"{control}/requests") as r:
            recorded = await r.json()
        assert [(q["method"], q["path"], q["status"]) for q in recorded][-2:] == [
            ("POST", "/api/compose", 200),
            ("POST", "/api/compose", 200),
        ]
        assert recorded[-1]["form"] == {"to": "bob", "subject": "s", "text": "t"}
        async with http.get(f"{control}/state") as r:
            state = await r.json()
        # 5 released posts, the added one, and the PM the bot sent.
        assert (state["pending"], state["released"], state["writes"]) == (0, 7, 1)
        async with http.get(f"{control}/nothing") as r:
            assert r.status == 404


async def test_replay_releases_items_over_time() -> None:
    async with RedditSandbox([post(n) for n in range(30)]) as sb:
        sb.start_replay(items_per_second=400)
        assert await sb.wait_for_released(30, timeout=5) == 30
        await sb.stop_replay()
        assert sb.store.pending_count == 0


async def test_wait_for_writes_times_out_when_nothing_is_written() -> None:
    async with RedditSandbox() as sb:
        with pytest.raises(TimeoutError):
            await sb.wait_for_writes(1, timeout=0.05)


def test_load_items_reads_plain_and_gzip_json_lines(tmp_path: Path) -> None:
    lines = "\n".join(json.dumps(thing) for thing in (post(1), comment(2))) + "\n\n"
    plain, packed, bad = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz", tmp_path / "c.jsonl"
    plain.write_text(lines)
    packed.write_bytes(gzip.compress(lines.encode()))
    bad.write_text('{"kind": "t3"}\n')
    assert load_items(plain) == load_items(packed) == [post(1), comment(2)]
    with pytest.raises(ValueError, match="c.jsonl:1"):
        load_items(bad)


async def test_serve_runs_until_cancelled(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(json.dumps(post(n)) for n in range(3)))
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(
            host="127.0.0.1",
            port=0,
            items_path=items,
            items_per_second=1000,
            on_ready=ready.set_result,
        )
    )
    base = await asyncio.wait_for(ready, timeout=5)
    async with http.post(f"{base}/_sandbox/release", params={"n": "all"}) as r:
        assert r.status == 200
    async with http.get(f"{base}/_sandbox/state") as r:
        assert (await r.json())["released"] == 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(aiohttp.ClientError):
        async with http.get(f"{base}/_sandbox/state"):
            pass


async def test_info_by_id_and_url_and_comment_trees(http: aiohttp.ClientSession) -> None:
    linked = {**post(0)["data"], "url": "https://i.redd.it/cat.jpg"}
    reply = {**comment(2)["data"], "parent_id": "t1_c1"}
    items = [{"kind": "t3", "data": linked}, comment(1), {"kind": "t1", "data": reply}, post(9)]
    async with RedditSandbox(items) as sb:
        client = Client(http, sb.base_url)
        await client.login()
        sb.release(3)
        by_id = await client.json("/api/info", id="t1_c2,t3_p9,t3_p0")
        assert names(by_id) == ["t1_c2", "t3_p0"]  # t3_p9 is not released yet
        by_url = await client.json("/api/info", url="https://i.redd.it/cat.jpg")
        assert names(by_url) == ["t3_p0"]
        post_page, comments_page = await client.json("/comments/p0/slug", limit="2048")
        assert names(post_page) == ["t3_p0"] and names(comments_page) == ["t1_c1"]
        nested = comments_page["data"]["children"][0]["data"]["replies"]
        assert names(nested) == ["t1_c2"]
        assert (await client.get("/comments/p9"))[0] == 404
