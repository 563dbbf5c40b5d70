"""The webhook action against real local servers: what it sends, and what it refuses to reach."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web

from bot.engine.ports import ActionError, WebhookPort
from bot.webhook import (
    USER_AGENT,
    WebhookError,
    WebhookPolicy,
    WebhookResult,
    WebhookSender,
    address_allowed,
    check_url,
    post_webhook,
    webhook_session,
)

LOOPBACK_ONLY = (ipaddress.ip_network("127.0.0.1/32"),)
LOCAL = WebhookPolicy(allow_http=True, allowed_networks=LOOPBACK_ONLY, timeout=5.0)
DEFAULT = WebhookPolicy()
PAYLOAD = {"id": "t3_abc", "title": "RTX 4090 “deal”", "score": 12, "nsfw": False, "tags": [1, 2]}
STREAM_TOTAL = 10 * 2**20


class FakeDNS:
    """An injected resolver: names map to fixed answers, ``then`` to answers of later calls."""

    def __init__(
        self,
        answers: Mapping[str, list[str]] | None = None,
        *,
        then: Mapping[str, list[str]] | None = None,
    ) -> None:
        self.answers = dict(answers or {})
        self.then = dict(then or {})
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        first = host not in {called for called, _ in self.calls}
        self.calls.append((host, port))
        answer = self.answers.get(host) if first else self.then.get(host, self.answers.get(host))
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(answer)


@dataclass
class Hook:
    """A local webhook receiver that records what reached it."""

    port: int = 0
    received: list[tuple[str, Any, Mapping[str, str]]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    streamed: int = 0
    stream_done: asyncio.Event = field(default_factory=asyncio.Event)
    sni: list[str | None] = field(default_factory=list)

    def url(self, path: str, *, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.received]


def _app(hook: Hook) -> web.Application:
    async def record(request: web.Request) -> None:
        body = await request.read()
        hook.received.append((request.path_qs, body, dict(request.headers)))

    async def ok(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(text="ok")

    async def status(request: web.Request) -> web.Response:
        await record(request)
        headers = {"Retry-After": request.query["wait"]} if "wait" in request.query else {}
        return web.Response(status=int(request.match_info["code"]), text="nope", headers=headers)

    async def redirect(request: web.Request) -> web.Response:
        await record(request)
        target = request.query["to"]
        return web.Response(status=302, headers={"Location": target})

    async def hang(request: web.Request) -> web.Response:
        await record(request)
        await hook.release.wait()
        return web.Response(text="too late")

    async def stream(request: web.Request) -> web.StreamResponse:
        await record(request)
        response = web.StreamResponse()
        response.content_type = "text/plain"
        await response.prepare(request)
        chunk = b"a" * 65536
        try:
            while hook.streamed < STREAM_TOTAL:
                await response.write(chunk)
                hook.streamed += len(chunk)
        except ConnectionError:
            pass
        finally:
            hook.stream_done.set()
        return response

    app = web.Application()
    app.router.add_route("*", "/ok", ok)
    app.router.add_route("*", "/followed", ok)
    app.router.add_post("/status/{code}", status)
    app.router.add_post("/redirect", redirect)
    app.router.add_post("/hang", hang)
    app.router.add_post("/stream", stream)
    return app


async def _serve(hook: Hook, ssl_context: ssl.SSLContext | None = None) -> web.AppRunner:
    runner = web.AppRunner(_app(hook), shutdown_timeout=2.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    hook.port = runner.addresses[0][1]
    return runner


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    hook = Hook()
    runner = await _serve(hook)
    try:
        yield hook
    finally:
        hook.release.set()
        await runner.cleanup()


async def _refusal(
    url: str, *, policy: WebhookPolicy = DEFAULT, dns: FakeDNS | None = None
) -> WebhookError:
    with pytest.raises(WebhookError) as caught:
        await post_webhook(url, PAYLOAD, policy=policy, resolver=dns or FakeDNS())
    return caught.value


# --- delivery --------------------------------------------------------------------------


async def test_local_receiver_gets_the_exact_json_under_the_name(hook: Hook) -> None:
    dns = FakeDNS({"hook.test": ["127.0.0.1"]})
    url = hook.url("/ok?token=abc", host="hook.test")

    result = await post_webhook(url, PAYLOAD, policy=LOCAL, resolver=dns)

    assert result == WebhookResult(status=200, body_preview="ok", truncated=False)
    [(path, body, headers)] = hook.received
    assert path == "/ok?token=abc"
    assert json.loads(body) == PAYLOAD
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == USER_AGENT
    assert headers["Host"] == f"hook.test:{hook.port}"  # connected to the pinned IP, named as typed
    assert dns.calls == [("hook.test", hook.port)]


async def test_path_and_query_are_sent_exactly_as_typed(hook: Hook) -> None:
    """Signed URLs break if ``%2F`` is unquoted or ``+`` changed; send the bytes as typed."""
    url = hook.url("/ok?sig=a%2Fb%3D%3D&x=1+2&empty=")
    await post_webhook(url, {}, policy=LOCAL)
    assert hook.paths() == ["/ok?sig=a%2Fb%3D%3D&x=1+2&empty="]


async def test_ip_literal_allowed_by_policy_exception(hook: Hook) -> None:
    result = await post_webhook(hook.url("/ok"), {"a": 1}, policy=LOCAL, resolver=FakeDNS())
    assert result.status == 200
    assert hook.paths() == ["/ok"]


async def test_rebinding_name_is_resolved_once_and_the_vetted_address_is_used(hook: Hook) -> None:
    """The second answer (10.0.0.5) would be refused, but nothing asks again before connecting."""
    dns = FakeDNS({"rebind.test": ["127.0.0.1"]}, then={"rebind.test": ["10.0.0.5"]})
    result = await post_webhook(hook.url("/ok", host="rebind.test"), {}, policy=LOCAL, resolver=dns)
    assert result.status == 200
    assert len(dns.calls) == 1


async def test_shared_session_vets_and_delivers(hook: Hook) -> None:
    dns = FakeDNS({"hook.test": ["127.0.0.1"], "evil.test": ["127.0.0.1", "10.1.2.3"]})
    async with webhook_session(policy=LOCAL, resolver=dns) as session:
        for n in range(2):
            result = await post_webhook(
                hook.url("/ok", host="hook.test"), {"n": n}, policy=LOCAL, session=session
            )
            assert result.status == 200
        with pytest.raises(WebhookError, match=r"private address \(10\.1\.2\.3\)"):
            await post_webhook(hook.url("/ok", host="evil.test"), {}, policy=LOCAL, session=session)
        with pytest.raises(ValueError, match="different WebhookPolicy"):
            await post_webhook(hook.url("/ok"), {}, policy=DEFAULT, session=session)
        with pytest.raises(TypeError, match="resolver"):
            await post_webhook(hook.url("/ok"), {}, policy=LOCAL, session=session, resolver=dns)
    assert hook.paths() == ["/ok", "/ok"]


async def test_a_session_not_made_for_webhooks_is_rejected(hook: Hook) -> None:
    async with aiohttp.ClientSession() as plain:
        with pytest.raises(TypeError, match="webhook_session"):
            await post_webhook(hook.url("/ok"), {}, policy=LOCAL, session=plain)
    assert hook.received == []


# --- refused destinations --------------------------------------------------------------

REFUSED = [
    ("http://127.0.0.1/hook", {}, "https://"),
    ("https://127.0.0.1/hook", {}, r"loopback address \(127\.0\.0\.1\)"),
    ("https://localhost/hook", {"localhost": ["127.0.0.1"]}, "loopback"),
    ("https://intranet.test/", {"intranet.test": ["10.0.0.5"]}, r"private address \(10\.0\.0\.5\)"),
    (
        "https://m.test/",
        {"m.test": ["::ffff:127.0.0.1"]},
        r"loopback address \(127\.0\.0\.1\) inside",
    ),
    ("https://mix.test/", {"mix.test": ["93.184.216.34", "10.0.0.7"]}, r"private.*10\.0\.0\.7"),
    ("https://v6.test/", {"v6.test": ["2606:4700::1", "fd00::1"]}, "unique local"),
    ("https://2130706433/", {}, "unusual form"),
    ("https://0x7f.1/", {}, "unusual form"),
    ("https://0x7f000001/", {}, "unusual form"),
    ("https://017700000001/", {}, "unusual form"),
    ("https://0177.0.0.1/", {}, "unusual form"),
    ("https://127.1/", {}, "unusual form"),
    ("https://127.0.0.1./", {}, "unusual form"),
    ("https://[::1]/", {}, "loopback"),
    ("https://[fe80::1]/", {}, "link-local"),
    ("https://[fe80::1%25eth0]/", {}, "zone"),
    ("https://[::ffff:169.254.169.254]/", {}, "link-local address"),
    ("https://169.254.169.254/latest/meta-data/", {}, r"link-local address \(169\.254"),
    ("https://0.0.0.0/", {}, "unspecified"),
    ("https://100.64.0.1/", {}, "shared"),
    ("https://user:pass@example.com/", {}, "user name or password"),
    ("https://user@example.com/", {}, "user name or password"),
    ("https://:pass@example.com/", {}, "user name or password"),
    ("ftp://example.com/file", {}, "https://"),
    ("https://example.com:22/", {}, "port 22"),
    ("https://%31%32%37.0.0.1/", {}, "percent-encoded"),
    ("https://exa mple.com/", {}, "spaces"),
    ("https://evil.com\\@127.0.0.1/", {}, "backslashes"),
    ("https:///nohost", {}, "no host"),
    ("https://１２７.0.0.1/", {}, "loopback"),  # fullwidth digits normalize to 127.0.0.1
    ("https://" + "a" * 2000 + ".com/", {}, "at most 2000"),
]


@pytest.mark.parametrize(("url", "answers", "why"), REFUSED, ids=[r[0][:48] for r in REFUSED])
async def test_default_policy_refuses(url: str, answers: dict[str, list[str]], why: str) -> None:
    error = await _refusal(url, dns=FakeDNS(answers))
    assert not error.retryable
    assert error.reason == str(error)
    assert re.search(why, error.reason), error.reason


@pytest.mark.parametrize(
    ("answers", "why"),
    [
        (["127.0.0.1"], "loopback"),
        (["::ffff:127.0.0.1"], "loopback"),
        (["8.8.8.8", "127.0.0.1"], "loopback"),
        (["::1"], "loopback"),
    ],
)
async def test_refused_names_never_reach_a_listening_server(
    hook: Hook, answers: list[str], why: str
) -> None:
    """A live server on 127.0.0.1 proves the refusal happened before any connection."""
    policy = WebhookPolicy(allow_http=True, timeout=5.0)
    dns = FakeDNS({"victim.test": answers})
    error = await _refusal(hook.url("/ok", host="victim.test"), policy=policy, dns=dns)
    assert why in error.reason and not error.retryable
    error = await _refusal(hook.url("/ok"), policy=policy)
    assert "loopback" in error.reason
    assert hook.received == []


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        (
            "http://169.254.169.254/latest/meta-data/?token=s3cr3t",
            "http://169.254.169.254/latest/meta-data/",
        ),
        ("/followed?token=s3cr3t", "/followed"),
    ],
)
async def test_redirects_are_not_followed(hook: Hook, target: str, shown: str) -> None:
    url = hook.url("/redirect?to=" + quote(target, safe=""))
    error = await _refusal(url, policy=LOCAL)
    assert error.reason == f"webhooks do not follow redirects (to {shown})"
    assert not error.retryable
    assert "s3cr3t" not in error.reason
    assert [path.split("?")[0] for path in hook.paths()] == ["/redirect"]  # no second hop


# --- hostile or failing servers --------------------------------------------------------


async def test_huge_response_is_cut_at_the_cap(hook: Hook) -> None:
    policy = WebhookPolicy(
        allow_http=True, allowed_networks=LOOPBACK_ONLY, max_response_bytes=65536
    )
    started = time.perf_counter()
    result = await post_webhook(hook.url("/stream"), {}, policy=policy)
    elapsed = time.perf_counter() - started

    assert result.status == 200 and result.truncated
    assert result.body_preview == "a" * 65536
    await asyncio.wait_for(hook.stream_done.wait(), timeout=10)
    print(f"\n10 MB stream: client done in {elapsed:.3f} s; server got out {hook.streamed} bytes")
    assert hook.streamed < STREAM_TOTAL  # the client hung up; the rest was never sent


async def test_hanging_server_is_timed_out(hook: Hook) -> None:
    policy = WebhookPolicy(allow_http=True, allowed_networks=LOOPBACK_ONLY, timeout=0.3)
    started = time.perf_counter()
    error = await _refusal(hook.url("/hang"), policy=policy)
    elapsed = time.perf_counter() - started

    assert error.retryable
    assert error.reason == "the webhook did not answer within 0.3 s"
    assert hook.paths() == ["/hang"]
    assert elapsed < 3.0


@pytest.mark.parametrize(
    ("code", "retryable"), [(500, True), (503, True), (429, True), (404, False), (400, False)]
)
async def test_error_statuses(hook: Hook, code: int, retryable: bool) -> None:
    error = await _refusal(hook.url(f"/status/{code}"), policy=LOCAL)
    assert error.retryable is retryable
    assert error.reason.startswith(f"the webhook answered {code}")


@pytest.mark.parametrize(("wait", "expected"), [("7", 7.0), ("999999", 86400.0), ("soon", None)])
async def test_retry_after_is_passed_on(hook: Hook, wait: str, expected: float | None) -> None:
    error = await _refusal(hook.url(f"/status/429?wait={wait}"), policy=LOCAL)
    assert error.retryable and error.retry_after == expected


async def test_engine_port_maps_errors_to_action_errors(hook: Hook) -> None:
    sender: WebhookPort = WebhookSender(policy=LOCAL, resolver=FakeDNS({"h.test": ["127.0.0.1"]}))
    assert await sender.post(hook.url("/ok", host="h.test"), {"x": 1}) == 200
    with pytest.raises(ActionError) as busy:
        await sender.post(hook.url("/status/429?wait=5"), {})
    assert (busy.value.permanent, busy.value.retry_after) == (False, 5.0)
    with pytest.raises(ActionError) as gone:
        await sender.post(hook.url("/status/404"), {})
    assert gone.value.permanent
    with pytest.raises(ActionError, match="private address") as refused:
        await WebhookSender(resolver=FakeDNS({"lan.test": ["192.168.0.2"]})).post(
            "https://lan.test/hook", {}
        )
    assert refused.value.permanent


async def test_2xx_other_than_200_is_success(hook: Hook) -> None:
    result = await post_webhook(hook.url("/status/202"), {}, policy=LOCAL)
    assert result == WebhookResult(status=202, body_preview="nope")


async def test_unresolvable_name_is_retryable() -> None:
    error = await _refusal("https://nowhere.test/", dns=FakeDNS())
    assert error.retryable
    assert error.reason.startswith("could not resolve nowhere.test")


async def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = await _refusal(f"http://127.0.0.1:{port}/", policy=LOCAL)
    assert error.retryable
    assert error.reason.startswith("could not connect")


async def test_query_string_and_path_secrets_are_never_logged(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dns = FakeDNS({"hook.test": ["127.0.0.1"]})
    await post_webhook(
        hook.url("/ok?token=TOPSECRET", host="hook.test"), {}, policy=LOCAL, resolver=dns
    )
    error = await _refusal(hook.url("/status/404?token=TOPSECRET"), policy=LOCAL)
    assert "TOPSECRET" not in error.reason
    assert "TOPSECRET" not in caplog.text
    assert f"hook.test:{hook.port} answered 200" in caplog.text  # the log is still useful


# --- TLS: the name is used for SNI and the certificate check ---------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a throwaway certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=hook.test"],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


async def test_tls_uses_the_name_for_sni_and_refuses_an_untrusted_certificate(
    self_signed: tuple[Path, Path],
) -> None:
    hook = Hook()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed)
    context.sni_callback = lambda _sock, name, _ctx: hook.sni.append(name)
    runner = await _serve(hook, context)
    try:
        dns = FakeDNS({"hook.test": ["127.0.0.1"]})
        url = hook.url("/ok", host="hook.test", scheme="https")
        error = await _refusal(url, policy=WebhookPolicy(allowed_networks=LOOPBACK_ONLY), dns=dns)
    finally:
        await runner.cleanup()
    assert hook.sni == ["hook.test"]
    assert "certificate" in error.reason and not error.retryable
    assert hook.received == []


# --- the syntax check alone (module creation) ------------------------------------------


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://example.com/hook?x=1", "https://example.com/hook?x=1"),
        ("HTTPS://Example.COM:8443/a", "https://example.com:8443/a"),
        ("https://bücher.de/h", "https://xn--bcher-kva.de/h"),
        ("https://hooks.example.com./h", "https://hooks.example.com./h"),
        ("https://8.8.8.8/h", "https://8.8.8.8/h"),
        ("https://[2606:4700:4700::1111]/h", "https://[2606:4700:4700::1111]/h"),
    ],
)
def test_check_url_accepts_and_normalizes(url: str, normalized: str) -> None:
    assert check_url(url, DEFAULT) == normalized


def test_check_url_needs_no_dns_and_honours_allow_http() -> None:
    assert check_url("http://example.com/", WebhookPolicy(allow_http=True)) == "http://example.com/"
    with pytest.raises(WebhookError, match="https://"):
        check_url("http://example.com/", DEFAULT)


# --- the address table -----------------------------------------------------------------

REFUSED_ADDRESSES = [
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "169.254.169.254", "0.0.0.0", "0.1.2.3", "100.64.0.1", "100.127.255.254", "192.0.0.8",
    "192.0.2.1", "198.51.100.7", "203.0.113.9", "198.18.0.1", "198.19.255.255", "224.0.0.1",
    "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "ff02::1",
    "2001:db8::1", "3fff::1", "100::1", "64:ff9b:1::a00:1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:0:7f00:1",
    "::127.0.0.1", "::10.0.0.1",  # IPv4-compatible
    "2002:7f00:1::1", "2002:c0a8:101::1", "2002:a9fe:a9fe::",  # 6to4 around refused IPv4
    "64:ff9b::7f00:1", "64:ff9b::a00:5",  # NAT64 around refused IPv4
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo whose client is 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo with a public client: refused anyway
    "4000::1", "::2:3:4:5:6",  # outside 2000::/3 global unicast
]  # fmt: skip
ALLOWED_ADDRESSES = [
    "8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.1", "172.32.0.1",
    "2606:4700:4700::1111", "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808",
]  # fmt: skip


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_refused_addresses(address: str) -> None:
    assert not address_allowed(address, DEFAULT)
    assert not address_allowed(ipaddress.ip_address(address), DEFAULT)


@pytest.mark.parametrize("address", ALLOWED_ADDRESSES)
def test_allowed_addresses(address: str) -> None:
    assert address_allowed(address, DEFAULT)


def test_allowed_networks_are_explicit_exceptions() -> None:
    policy = WebhookPolicy(allowed_networks=(ipaddress.ip_network("10.20.0.0/16"),))
    assert address_allowed("10.20.3.4", policy)
    assert address_allowed("::ffff:10.20.3.4", policy)
    assert not address_allowed("10.21.0.1", policy)
    assert not address_allowed("127.0.0.1", policy)
