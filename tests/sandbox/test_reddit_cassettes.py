"""Replay asyncpraw's recorded Reddit exchanges against the sandbox and compare shapes.

The cassettes in ../shared/reddit/cassettes are real Reddit responses. Each request is
sent to the sandbox as recorded (method, path, query, form body), after loading the items
that Reddit's answer contained, and the sandbox's answer must have the same shape:
status, top-level keys, Listing structure, kinds (and names) of children, and whether
x-ratelimit headers were sent.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest

from bot.sandbox.reddit import RedditSandbox

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "reddit"
CASSETTES = SHARED / "cassettes"
NAMES = [
    "TestComment.test_reply",
    "TestInbox.test_mark_read",
    "TestInbox.test_stream",
    "TestInbox.test_unread",
    "TestMessage.test_reply",
    "TestMultiredditStreams.test_comments",
    "TestRedditor.test_message",
    "TestSubmission.test_crosspost",
    "TestSubmission.test_reply",
    "TestSubredditStreams.test_comments__with_pause",
    "TestSubredditStreams.test_submissions",
    "TestUser.test_me",
]
# The recorded account; the inbox items are addressed to this placeholder.
RECORDED_USER = "<USERNAME>"
RATELIMIT_HEADERS = ("x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset")
BASIC = "Basic " + base64.b64encode(b"sandbox-client:sandbox-secret").decode()

Json = Any


class Exchange:
    """One recorded interaction, decoded into what the sandbox needs."""

    def __init__(self, interaction: dict[str, Any]) -> None:
        request, response = interaction["request"], interaction["response"]
        url = urlsplit(request["uri"])
        self.method: str = request["method"]
        self.path: str = url.path
        self.query: list[tuple[str, str]] = parse_qsl(url.query)
        self.form: list[tuple[str, str]] = _form_pairs(request.get("body"))
        self.status: int = response["status"]["code"]
        self.headers = {key.lower() for key in response["headers"]}
        self.body: Json = json.loads(response["body"]["string"])

    @property
    def is_token(self) -> bool:
        return self.path == "/api/v1/access_token"


def _form_pairs(body: Any) -> list[tuple[str, str]]:
    """Form bodies were recorded as pairs or a dict; values as asyncprawcore sends them."""
    if not body:
        return []
    pairs = body.items() if isinstance(body, dict) else body
    return [(str(k), str(v).lower() if isinstance(v, bool) else str(v)) for k, v in pairs]


def _listed_things(body: Json) -> list[dict[str, Any]]:
    """Top-level children of every Listing in a response, oldest first."""
    if isinstance(body, list):
        return [thing for part in body for thing in _listed_things(part)]
    if isinstance(body, dict) and body.get("kind") == "Listing":
        return list(reversed(body["data"]["children"]))
    return []


def load(name: str) -> list[Exchange]:
    path = CASSETTES / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"real Reddit cassettes not found at {CASSETTES} (expected ../shared/reddit)")
    return [Exchange(interaction) for interaction in json.loads(path.read_text())["interactions"]]


class Replayer:
    """Sends recorded requests to a sandbox, feeding it the items each answer needs."""

    def __init__(self, sandbox: RedditSandbox, http: aiohttp.ClientSession) -> None:
        self.sandbox = sandbox
        self.http = http
        self.token = ""
        self.renamed: dict[str, str] = {}
        self.multi_subs: set[str] = set()

    def seed(self, exchange: Exchange) -> None:
        """Publish what Reddit's answer shows, and stub the parent a write replies to."""
        for thing in _listed_things(exchange.body):
            if self.sandbox.store.get(thing["data"]["name"]) is None:
                self.sandbox.add_item(thing)
        multi = re.match(r"^/user/([^/]+)/m/([^/]+)/", exchange.path)
        if multi:
            self.multi_subs |= {
                thing["data"]["subreddit"] for thing in _listed_things(exchange.body)
            }
            self.sandbox.define_multireddit(multi[1], multi[2], sorted(self.multi_subs))
        form = dict(exchange.form)
        thing_id = form.get("thing_id", "")
        if thing_id and self.sandbox.store.get(thing_id) is None:
            made = exchange.body["json"]["data"]["things"][0]["data"]
            kind, _, ident = thing_id.partition("_")
            stub = {"name": thing_id, "id": ident, "link_id": made.get("link_id")}
            self.sandbox.add_item({"kind": kind, "data": {**stub, "subreddit": made["subreddit"]}})

    def _rename(self, text: str) -> str:
        for old, new in self.renamed.items():
            text = text.replace(old, new)
        return text

    async def send(self, exchange: Exchange) -> tuple[int, set[str], Json]:
        headers = {"Authorization": BASIC if exchange.is_token else f"bearer {self.token}"}
        async with self.http.request(
            exchange.method,
            self.sandbox.base_url + self._rename(exchange.path),
            params=[(key, self._rename(value)) for key, value in exchange.query],
            data=[(key, self._rename(value)) for key, value in exchange.form] or None,
            headers=headers,
        ) as response:
            body = await response.json()
            got_headers = {key.lower() for key in response.headers}
        if exchange.is_token:
            self.token = body["access_token"]
        self._learn_new_names(exchange.body, body)
        return response.status, got_headers, body

    def _learn_new_names(self, recorded: Json, got: Json) -> None:
        """A crosspost gets a new id in the sandbox; later requests must use it."""
        try:
            old, new = recorded["json"]["data"], got["json"]["data"]
        except (KeyError, TypeError):
            return
        if "id" in old and "id" in new:
            self.renamed[old["name"]] = new["name"]
            self.renamed[old["id"]] = new["id"]


def assert_same_shape(
    recorded: Json,
    got: Json,
    where: str,
    *,
    created: bool = False,
    renamed: dict[str, str] | None = None,
) -> None:
    """Structure must match; data of things the sandbox itself made must carry every key."""
    assert type(got) is type(recorded), f"{where}: {type(got).__name__} != {type(recorded)}"
    if isinstance(recorded, list):
        assert len(got) == len(recorded), f"{where}: {len(got)} parts, recorded {len(recorded)}"
        for index, (rec, new) in enumerate(zip(recorded, got, strict=True)):
            assert_same_shape(rec, new, f"{where}[{index}]", created=created, renamed=renamed)
    elif isinstance(recorded, dict) and recorded.get("kind") == "Listing":
        _assert_same_listing(recorded["data"], got["data"], where, renamed or {})
    elif isinstance(recorded, dict) and {"kind", "data"} <= set(recorded):
        assert got["kind"] == recorded["kind"], f"{where}: kind {got['kind']}"
        assert set(got) == set(recorded), f"{where}: keys {sorted(got)}"
        if created:
            missing = set(recorded["data"]) - set(got["data"])
            assert not missing, f"{where}: made a {got['kind']} without {sorted(missing)}"
    elif isinstance(recorded, dict):
        missing = set(recorded) - set(got)
        assert not missing, f"{where}: missing keys {sorted(missing)}"
        for key in ("json", "data"):
            if isinstance(recorded.get(key), dict):
                assert_same_shape(recorded[key], got[key], f"{where}.{key}", created=created)
        if "things" in recorded:
            assert_same_shape(recorded["things"], got["things"], f"{where}.things", created=True)


def _assert_same_listing(
    recorded: dict[str, Any], got: dict[str, Any], where: str, renamed: dict[str, str]
) -> None:
    assert set(got) == set(recorded), f"{where}: Listing keys {sorted(got)} != {sorted(recorded)}"
    want = [
        (child["kind"], renamed.get(child["data"]["name"], child["data"]["name"]))
        for child in recorded["children"]
    ]
    have = [(child["kind"], child["data"]["name"]) for child in got["children"]]
    assert have == want, f"{where}: children differ"
    assert (got["after"] is None) == (recorded["after"] is None), f"{where}: after"
    if recorded["dist"] is not None:
        assert got["dist"] == recorded["dist"], f"{where}: dist"


@pytest.mark.parametrize("name", NAMES)
async def test_cassette_replays_with_the_same_shapes(name: str) -> None:
    exchanges = load(name)
    async with (
        RedditSandbox(username=RECORDED_USER, rate_limit=10_000) as sandbox,
        aiohttp.ClientSession() as http,
    ):
        replayer = Replayer(sandbox, http)
        for index, exchange in enumerate(exchanges):
            where = f"{name} #{index} {exchange.method} {exchange.path}"
            replayer.seed(exchange)
            status, headers, body = await replayer.send(exchange)
            assert status == exchange.status, f"{where}: status {status}"
            for header in RATELIMIT_HEADERS:
                assert (header in headers) == (header in exchange.headers), f"{where}: {header}"
            assert_same_shape(exchange.body, body, where, renamed=replayer.renamed)
    assert len(sandbox.requests) == len(exchanges)
