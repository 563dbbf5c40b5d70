"""The webhook action: an SSRF-safe JSON POST to a URL a chat user typed.

A user-supplied URL must never reach the bot's own network: loopback, private
ranges, cloud metadata (169.254.169.254) and the IPv6 forms that embed them.
Every address a name resolves to is vetted, and the connection is made only to
those vetted addresses (the vetting happens inside the aiohttp resolver the
connector uses, so a DNS rebind between check and connect cannot happen). The
Host header and TLS SNI/certificate check keep using the name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import socket
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.engine.ports import ActionError

__all__ = [
    "USER_AGENT",
    "WebhookError",
    "WebhookPolicy",
    "WebhookResult",
    "WebhookSender",
    "address_allowed",
    "check_url",
    "post_webhook",
    "webhook_session",
]

log = logging.getLogger(__name__)

USER_AGENT = "roveit-webhook/1"
READ_CHUNK = 16384
MAX_RETRY_AFTER = 86400

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Iterable[str]]]
"""An async ``(host, port) -> addresses`` lookup; the default asks the system resolver."""


@dataclass(frozen=True)
class WebhookPolicy:
    """Where webhooks may go and how much they may cost."""

    allow_http: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    timeout: float = 10.0
    max_response_bytes: int = 65536
    max_url_length: int = 2000


DEFAULT_POLICY = WebhookPolicy()


class WebhookError(Exception):
    """A webhook that was refused or failed; ``reason`` is shown to the module's owner."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after  # seconds the server asked for (Retry-After), if any


@dataclass(frozen=True)
class WebhookResult:
    """A 2xx answer; the body is cut at the policy's max_response_bytes."""

    status: int
    body_preview: str
    truncated: bool = False


# --- addresses -------------------------------------------------------------------------

_V4_REFUSED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "an unspecified address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "an IETF protocol address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a reserved relay address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
)
_V6_REFUSED: tuple[tuple[str, str], ...] = (
    ("::/128", "an unspecified address"),
    ("::1/128", "a loopback address"),
    ("64:ff9b:1::/48", "a local NAT64 address"),
    ("100::/64", "a discard-only address"),
    ("2001:db8::/32", "a documentation address"),
    ("2001::/23", "an IETF protocol address"),
    ("3fff::/20", "a documentation address"),
    ("5f00::/16", "a segment-routing address"),
    ("fc00::/7", "a private (unique local) address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "a multicast address"),
)
_V4_TABLE = tuple((ipaddress.IPv4Network(net), words) for net, words in _V4_REFUSED)
_V6_TABLE = tuple((ipaddress.IPv6Network(net), words) for net, words in _V6_REFUSED)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_V4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _as_ip(ip: str | IPAddress) -> IPAddress:
    if isinstance(ip, str):
        return ipaddress.ip_address(ip.split("%", 1)[0])
    return ip


def _in_allowed(ip: IPAddress, policy: WebhookPolicy) -> bool:
    return any(ip.version == net.version and ip in net for net in policy.allowed_networks)


def _v4_refusal(ip: ipaddress.IPv4Address) -> str | None:
    for net, words in _V4_TABLE:
        if ip in net:
            return f"{words} ({ip})"
    if ip.is_multicast or ip.is_reserved or ip.is_private or not ip.is_global:
        return f"a non-public address ({ip})"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """IPv4 addresses an IPv6 address carries and would deliver to (mapped, 6to4, NAT64...)."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _V4_MAPPED or ip in _V4_TRANSLATED or ip in _V4_COMPATIBLE or ip in _NAT64:
        return (low32,)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo
    return ()


def _v6_refusal(ip: ipaddress.IPv6Address, policy: WebhookPolicy) -> str | None:
    if ip.is_unspecified or ip.is_loopback:
        return (
            f"an unspecified address ({ip})" if ip.is_unspecified else f"a loopback address ({ip})"
        )
    embedded = _embedded_ipv4(ip)
    for inner in embedded:
        words = _refusal(inner, policy)
        if words is not None:
            return f"{words} inside {ip}"
    if embedded and ip.teredo is None:
        return None  # mapped, compatible, NAT64 or 6to4: judged by the IPv4 inside
    for net, words in _V6_TABLE:
        if ip in net:
            return f"{words} ({ip})"
    if ip not in _V6_GLOBAL_UNICAST:
        return f"a reserved address ({ip})"
    return None


def _refusal(ip: IPAddress, policy: WebhookPolicy) -> str | None:
    """Why ``ip`` is refused (``"a private address (10.0.0.1)"``), or None when allowed."""
    if _in_allowed(ip, policy):
        return None
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_refusal(ip)
    return _v6_refusal(ip, policy)


def address_allowed(ip: str | IPAddress, policy: WebhookPolicy = DEFAULT_POLICY) -> bool:
    """Whether a webhook may connect to ``ip``: public unicast, or inside allowed_networks."""
    return _refusal(_as_ip(ip), policy) is None


# --- URLs ------------------------------------------------------------------------------

_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_DEFAULT_PORTS = frozenset({80, 443})
_FIRST_UNPRIVILEGED_PORT = 1024


def _refuse(reason: str) -> WebhookError:
    return WebhookError(reason, retryable=False)


def _has_bad_characters(url: str) -> bool:
    return any(ch.isspace() or ch == "\\" or not ch.isprintable() for ch in url)


def _check_ip_literal(ip: IPAddress, policy: WebhookPolicy) -> None:
    words = _refusal(ip, policy)
    if words is not None:
        raise _refuse(f"the URL points to {words}")


def _check_host(host: str, policy: WebhookPolicy) -> None:
    if "%" in host:
        raise _refuse("the host must not be percent-encoded or carry an IPv6 zone")
    if ":" in host:
        try:
            ip6 = ipaddress.IPv6Address(host)
        except ValueError:
            raise _refuse(f"the host [{host}] is not a valid IPv6 address") from None
        _check_ip_literal(ip6, policy)
        return
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        if not _CANONICAL_IPV4.fullmatch(host):
            raise _refuse(
                f"the host {host} is an IP address in an unusual form; write it as a.b.c.d"
            )
        _check_ip_literal(ipaddress.IPv4Address(host), policy)
        return
    if name == "localhost" or name.endswith(".localhost"):
        raise _refuse(f"the URL points to a loopback host ({host})")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise _refuse(f"the host name {host} is not valid")


def _check_port(port: int | None) -> None:
    if port is None or port in _DEFAULT_PORTS or _FIRST_UNPRIVILEGED_PORT <= port <= 65535:
        return
    raise _refuse(f"port {port} is not allowed; use 80, 443 or a port from 1024 up")


def _parse(url: str, policy: WebhookPolicy) -> URL:
    if len(url) > policy.max_url_length:
        raise _refuse(f"the URL is {len(url)} characters; at most {policy.max_url_length}")
    if _has_bad_characters(url):
        raise _refuse("the URL contains spaces, control characters or backslashes")
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        raise _refuse("the URL is not valid") from None
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parsed.scheme not in schemes:
        raise _refuse("webhook URLs must start with https://")
    if "@" in (parsed.raw_authority or ""):
        raise _refuse("the URL must not contain a user name or password")
    if not parsed.raw_host:
        raise _refuse("the URL has no host")
    _check_port(parsed.explicit_port)
    _check_host(parsed.raw_host, policy)
    return parsed


def _wire_url(url: str, parsed: URL) -> URL:
    """The URL to send: the vetted host, and the path and query exactly as typed.

    yarl re-quotes a query (``sig=a%2Fb`` becomes ``sig=a/b``), which would break
    signed webhook URLs; an ASCII path and query are kept byte for byte.
    """
    typed = URL(url, encoded=True)
    rest = typed.raw_path + typed.raw_query_string
    if not rest.isascii():
        return parsed.with_fragment(None)
    return URL.build(
        scheme=parsed.scheme,
        host=parsed.raw_host or "",
        port=parsed.explicit_port,
        path=typed.raw_path,
        query_string=typed.raw_query_string,
        encoded=True,
    )


def check_url(url: str, policy: WebhookPolicy = DEFAULT_POLICY) -> str:
    """The normalized URL when its syntax is acceptable (no DNS); WebhookError otherwise."""
    return str(_parse(url, policy))


def _origin(url: URL) -> str:
    """The URL without path, query or credentials: safe to log (paths may hold tokens)."""
    if not url.raw_host:
        return "(relative URL)"
    host = f"[{url.raw_host}]" if ":" in url.raw_host else url.raw_host
    port = f":{url.explicit_port}" if url.explicit_port is not None else ""
    return f"{url.scheme}://{host}{port}"


def _without_query(location: str) -> str:
    try:
        target = URL(location)
    except (ValueError, TypeError):
        return "an invalid URL"
    origin = _origin(target) if target.raw_host else ""
    return f"{origin}{target.raw_path}"


# --- resolution and connecting ---------------------------------------------------------


async def _system_lookup(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


async def _vetted_addresses(
    host: str, port: int, *, policy: WebhookPolicy, lookup: Resolver
) -> list[IPAddress]:
    """Every address ``host`` resolves to, or WebhookError if any one of them is refused."""
    try:
        raw = list(await lookup(host, port))
    except OSError as exc:
        reason = f"could not resolve {host} ({exc.strerror or type(exc).__name__})"
        raise WebhookError(reason, retryable=True) from None
    addresses: list[IPAddress] = []
    for item in raw:
        try:
            ip = _as_ip(item)
        except ValueError:
            raise _refuse(f"{host} resolved to something that is not an address") from None
        words = _refusal(ip, policy)
        if words is not None:
            raise _refuse(f"the host resolves to {words}")
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise WebhookError(f"{host} has no address", retryable=True)
    return addresses


class _VettingResolver(AbstractResolver):
    """The connector's only resolver: it hands aiohttp nothing but vetted addresses."""

    def __init__(self, *, policy: WebhookPolicy, lookup: Resolver) -> None:
        self.policy = policy
        self._lookup = lookup

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await _vetted_addresses(host, port, policy=self.policy, lookup=self._lookup)
        return [_pinned(host, ip, port) for ip in addresses]

    async def close(self) -> None:
        return None


def _pinned(host: str, ip: IPAddress, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return ResolveResult(
        hostname=host, host=str(ip), port=port, family=family, proto=0, flags=socket.AI_NUMERICHOST
    )


_SESSION_POLICIES: weakref.WeakKeyDictionary[aiohttp.ClientSession, WebhookPolicy] = (
    weakref.WeakKeyDictionary()
)


def webhook_session(
    *, policy: WebhookPolicy = DEFAULT_POLICY, resolver: Resolver | None = None
) -> aiohttp.ClientSession:
    """A reusable session for post_webhook whose every connection goes to vetted addresses."""
    vetting = _VettingResolver(policy=policy, lookup=resolver or _system_lookup)
    connector = aiohttp.TCPConnector(resolver=vetting, use_dns_cache=False)
    session = aiohttp.ClientSession(
        connector=connector,
        trust_env=False,  # a proxy from the environment would resolve names itself
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,  # no decompression bombs; the preview is raw bytes
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )
    _SESSION_POLICIES[session] = policy
    return session


def _require_vetted(
    session: aiohttp.ClientSession, policy: WebhookPolicy, resolver: Resolver | None
) -> None:
    if resolver is not None:
        raise TypeError("pass resolver to webhook_session(), not with a session")
    owned = _SESSION_POLICIES.get(session)
    if owned is None:
        raise TypeError("post_webhook needs a session made by webhook_session()")
    if owned != policy:
        raise ValueError("the session was made with a different WebhookPolicy")


# --- posting ---------------------------------------------------------------------------


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body, and whether more was left unread."""
    body = bytearray()
    while len(body) < limit:
        chunk = await response.content.read(min(READ_CHUNK, limit - len(body)))
        if not chunk:
            return bytes(body), False
        body += chunk
    return bytes(body), not response.content.at_eof()


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


def _status_error(response: aiohttp.ClientResponse) -> WebhookError:
    status = response.status
    if 300 <= status < 400:
        target = _without_query(response.headers.get("Location", ""))
        return _refuse(f"webhooks do not follow redirects (to {target})")
    words = f"the webhook answered {status} {response.reason or ''}".rstrip()
    if status == 429 or status >= 500:
        wait = _retry_after(response.headers.get("Retry-After"))
        return WebhookError(words, retryable=True, retry_after=wait)
    return _refuse(words)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the delay form; an HTTP date is ignored), capped at a day."""
    if value is None or not value.strip().isdigit():
        return None
    return float(min(int(value.strip()), MAX_RETRY_AFTER))


async def _answer(response: aiohttp.ClientResponse, policy: WebhookPolicy) -> WebhookResult:
    if not 200 <= response.status < 300:
        raise _status_error(response)
    body, truncated = await _read_capped(response, policy.max_response_bytes)
    if truncated:
        response.close()  # drop the connection instead of draining a huge body
    preview = _decode(body, response.charset)
    return WebhookResult(status=response.status, body_preview=preview, truncated=truncated)


def _client_error(exc: Exception, timeout: float) -> WebhookError:
    if isinstance(exc, TimeoutError):
        return WebhookError(f"the webhook did not answer within {timeout:g} s", retryable=True)
    if isinstance(exc, aiohttp.ClientSSLError):
        return _refuse("the webhook's TLS certificate could not be verified")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return WebhookError(f"could not connect ({exc.strerror or 'refused'})", retryable=True)
    return WebhookError(f"the connection failed ({type(exc).__name__})", retryable=True)


async def _send(
    session: aiohttp.ClientSession, url: URL, body: bytes, policy: WebhookPolicy
) -> WebhookResult:
    timeout = aiohttp.ClientTimeout(total=policy.timeout)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    try:
        async with asyncio.timeout(policy.timeout):
            async with session.post(
                url, data=body, headers=headers, allow_redirects=False, timeout=timeout
            ) as response:
                return await _answer(response, policy)
    except WebhookError:
        raise
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise _client_error(exc, policy.timeout) from None


async def post_webhook(
    url: str,
    payload: Mapping[str, Any],
    *,
    policy: WebhookPolicy,
    session: aiohttp.ClientSession | None = None,
    resolver: Resolver | None = None,
) -> WebhookResult:
    """POST ``payload`` as JSON to a vetted address of ``url``; WebhookError says why not."""
    if session is not None:
        _require_vetted(session, policy, resolver)
    target = _wire_url(url, _parse(url, policy))
    body = json.dumps(dict(payload), ensure_ascii=False).encode("utf-8")
    try:
        if session is None:
            async with webhook_session(policy=policy, resolver=resolver) as own:
                result = await _send(own, target, body, policy)
        else:
            result = await _send(session, target, body, policy)
    except WebhookError as exc:
        log.info("webhook to %s failed: %s", _origin(target), exc.reason)
        raise
    log.info("webhook to %s answered %d", _origin(target), result.status)
    return result


class WebhookSender:
    """The engine's WebhookPort: a refused or failed webhook becomes an ActionError."""

    def __init__(
        self, *, policy: WebhookPolicy = DEFAULT_POLICY, resolver: Resolver | None = None
    ) -> None:
        self.policy = policy
        self._resolver = resolver

    async def post(self, url: str, payload: Mapping[str, Any]) -> int:
        try:
            result = await post_webhook(url, payload, policy=self.policy, resolver=self._resolver)
        except WebhookError as exc:
            raise ActionError(
                exc.reason, retry_after=exc.retry_after, permanent=not exc.retryable
            ) from None
        return result.status
