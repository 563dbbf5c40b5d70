"""Reddit JSON shapes for the sandbox: things the bot creates, listings, errors.

Field sets follow the recorded responses in ../shared/reddit/cassettes so that
asyncpraw parses sandbox output exactly as it parses Reddit's.
"""

from __future__ import annotations

import html
import zlib
from collections.abc import Sequence
from typing import Any

Thing = dict[str, Any]

MAX_LIMIT = 100
DEFAULT_LIMIT = 25

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(number: int) -> str:
    """Reddit ids are base 36; the sandbox mints its own in that alphabet."""
    if number == 0:
        return "0"
    digits: list[str] = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_BASE36[rest])
    return "".join(reversed(digits))


def stable_id(text: str, *, digits: int = 7) -> str:
    """A per-name id that is the same in every process (unlike hash())."""
    return base36(zlib.crc32(text.casefold().encode()) % 36**digits)


def fullname(thing: Thing) -> str:
    return str(thing["data"]["name"])


def error_body(status: int, message: str) -> dict[str, Any]:
    """Reddit's JSON body for plain HTTP errors."""
    return {"message": message, "error": status}


def api_errors(errors: Sequence[Sequence[str]]) -> dict[str, Any]:
    """The `api_type=json` error envelope that asyncpraw turns into RedditAPIException."""
    return {"json": {"errors": [list(error) for error in errors]}}


def ratelimit_message(*, minutes: int = 0, seconds: int | None = None) -> str:
    """Reddit's RATELIMIT wording; asyncpraw parses the amount out of it."""
    if seconds is not None:
        amount = f"{seconds} second{'s' if seconds != 1 else ''}"
    else:
        amount = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return (
        f"Looks like you've been doing that a lot. Take a break for {amount} before trying again."
    )


def listing(
    children: Sequence[Thing],
    *,
    after: str | None = None,
    before: str | None = None,
    dist: int | None | bool = True,
    geo_filter: bool = False,
) -> dict[str, Any]:
    """A Listing exactly as Reddit nests it; `dist=True` means len(children)."""
    data: dict[str, Any] = {
        "modhash": None,
        "dist": len(children) if dist is True else dist,
        "children": list(children),
        "after": after,
        "before": before,
    }
    if geo_filter:
        data["geo_filter"] = ""
    return {"kind": "Listing", "data": data}


def parse_limit(raw: str | None) -> int:
    """Reddit's rule: default 25, at most 100, garbage means the default."""
    try:
        value = int(raw) if raw is not None else DEFAULT_LIMIT
    except ValueError:
        return DEFAULT_LIMIT
    if value <= 0:
        return DEFAULT_LIMIT
    return min(value, MAX_LIMIT)


def page(
    newest_first: Sequence[Thing],
    *,
    limit: int,
    before: str | None,
    after: str | None,
    geo_filter: bool = False,
) -> dict[str, Any]:
    """Slice a newest-first sequence the way Reddit pages with before/after cursors.

    `before=X` gives the `limit` items just newer than X (what streams poll with);
    a cursor that is not (or no longer) listed gives an empty page, as on Reddit.
    """
    names = [fullname(thing) for thing in newest_first]
    if after:
        if after not in names:
            return listing([], geo_filter=geo_filter)
        start = names.index(after) + 1
        chunk = newest_first[start : start + limit]
        prev_before = fullname(chunk[0]) if chunk else None
        return listing(chunk, after=_after(chunk, limit), before=prev_before, geo_filter=geo_filter)
    if before:
        if before not in names:
            return listing([], geo_filter=geo_filter)
        end = names.index(before)
        start = max(0, end - limit)
        chunk = newest_first[start:end]
        prev_before = fullname(chunk[0]) if chunk and start > 0 else None
        return listing(chunk, before=prev_before, geo_filter=geo_filter)
    chunk = newest_first[:limit]
    return listing(chunk, after=_after(chunk, limit), geo_filter=geo_filter)


def _after(chunk: Sequence[Thing], limit: int) -> str | None:
    """Reddit names the last child as `after` whenever a page comes back full."""
    return fullname(chunk[-1]) if chunk and len(chunk) == limit else None


def body_html(text: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(part)}</p>\n" for part in text.split("\n\n") if part)
    return f'<div class="md">{paragraphs}</div>'


def _author_fields(username: str) -> dict[str, Any]:
    return {
        "author": username,
        "author_fullname": f"t2_{stable_id(username)}",
        "author_flair_text": None,
        "author_flair_css_class": None,
        "author_flair_richtext": [],
        "author_flair_type": "text",
        "author_flair_template_id": None,
        "author_flair_background_color": None,
        "author_flair_text_color": None,
        "author_patreon_flair": False,
        "author_premium": False,
    }


_COMMON_FLAGS: dict[str, Any] = {
    "approved": False,
    "ignore_reports": False,
    "removed": False,
    "spam": False,
    "approved_at_utc": None,
    "approved_by": None,
    "banned_at_utc": None,
    "banned_by": None,
    "mod_reason_by": None,
    "mod_reason_title": None,
    "mod_note": None,
    "removal_reason": None,
    "likes": True,
    "saved": False,
    "archived": False,
    "locked": False,
    "stickied": False,
    "distinguished": None,
    "edited": False,
    "gilded": 0,
    "gildings": {},
    "all_awardings": [],
    "awarders": [],
    "total_awards_received": 0,
    "top_awarded_type": None,
    "treatment_tags": [],
    "user_reports": [],
    "mod_reports": [],
    "report_reasons": [],
    "num_reports": 0,
    "can_gild": False,
    "can_mod_post": False,
    "send_replies": True,
    "no_follow": False,
    "score": 1,
    "ups": 1,
    "downs": 0,
}


def new_comment(
    *, thing_id: str, parent: Thing | None, text: str, username: str, now: float
) -> Thing:
    """The t1 Reddit returns from /api/comment, authored by the bot."""
    parent_data = parent["data"] if parent else {}
    is_post = thing_id.startswith("t3_")
    link_id = thing_id if is_post else str(parent_data.get("link_id", ""))
    subreddit = str(parent_data.get("subreddit", ""))
    post_id = link_id.removeprefix("t3_")
    data: dict[str, Any] = {
        **_COMMON_FLAGS,
        **_author_fields(username),
        "id": "",
        "name": "",
        "link_id": link_id,
        "parent_id": thing_id,
        "body": text,
        "body_html": body_html(text),
        "replies": "",
        "subreddit": subreddit,
        "subreddit_id": parent_data.get("subreddit_id"),
        "subreddit_name_prefixed": f"r/{subreddit}" if subreddit else None,
        "subreddit_type": "public",
        "link_title": parent_data.get("title") if is_post else parent_data.get("link_title"),
        "link_author": parent_data.get("author") if is_post else parent_data.get("link_author"),
        "link_permalink": parent_data.get("permalink"),
        "permalink": f"/r/{subreddit}/comments/{post_id}/_/",
        "over_18": bool(parent_data.get("over_18", False)),
        "is_submitter": False,
        "collapsed": False,
        "collapsed_reason": None,
        "collapsed_because_crowd_control": None,
        "controversiality": 0,
        "score_hidden": False,
        "associated_award": None,
        "rte_mode": "markdown",
        "created": now,
        "created_utc": now,
    }
    return {"kind": "t1", "data": data}


def new_message(
    *,
    to: str,
    subject: str,
    text: str,
    username: str,
    now: float,
    parent: Thing | None = None,
) -> Thing:
    """A t4 as Reddit lists it: a fresh PM, or a reply within a conversation."""
    parent_data = parent["data"] if parent else {}
    first_name = parent_data.get("first_message_name") or parent_data.get("name")
    data: dict[str, Any] = {
        "first_message": None,
        "first_message_name": first_name if parent else None,
        "subreddit": None,
        "likes": None,
        "replies": "",
        "author": username,
        "author_fullname": _author_fields(username)["author_fullname"],
        "id": "",
        "name": "",
        "subject": f"re: {parent_data.get('subject', '')}" if parent else subject,
        "associated_awarding_id": None,
        "score": 0,
        "num_comments": None,
        "parent_id": parent_data.get("name") if parent else None,
        "subreddit_name_prefixed": None,
        "new": True,
        "type": "unknown",
        "body": text,
        "body_html": f"<!-- SC_OFF -->{body_html(text)}<!-- SC_ON -->",
        "dest": to,
        "was_comment": False,
        "context": "",
        "distinguished": None,
        "created": now,
        "created_utc": now,
    }
    return {"kind": "t4", "data": data}


def new_crosspost(*, parent: Thing, subreddit: str, title: str, username: str, now: float) -> Thing:
    """The t3 a crosspost creates, carrying its parent in crosspost_parent_list."""
    parent_data = parent["data"]
    data: dict[str, Any] = {
        **_COMMON_FLAGS,
        **_author_fields(username),
        "id": "",
        "name": "",
        "title": title,
        "selftext": "",
        "selftext_html": None,
        "is_self": False,
        "subreddit": subreddit,
        "subreddit_name_prefixed": f"r/{subreddit}",
        "subreddit_type": "public",
        "subreddit_id": None,
        "domain": f"self.{parent_data.get('subreddit', '')}"
        if parent_data.get("is_self")
        else parent_data.get("domain", ""),
        "url": parent_data.get("permalink", parent_data.get("url", "")),
        "crosspost_parent": fullname(parent),
        "crosspost_parent_list": [dict(parent_data)],
        "num_comments": 0,
        "num_crossposts": 0,
        "over_18": bool(parent_data.get("over_18", False)),
        "spoiler": bool(parent_data.get("spoiler", False)),
        "link_flair_text": None,
        "link_flair_richtext": [],
        "link_flair_type": "text",
        "thumbnail": "",
        "media": None,
        "secure_media": None,
        "media_embed": {},
        "secure_media_embed": {},
        "is_video": False,
        "hidden": False,
        "upvote_ratio": 1.0,
        "created": now,
        "created_utc": now,
    }
    return {"kind": "t3", "data": data}


def finish_thing(thing: Thing, *, thing_id: str) -> Thing:
    """Give a freshly built thing its id, fullname and permalink."""
    data = thing["data"]
    data["id"] = thing_id
    data["name"] = f"{thing['kind']}_{thing_id}"
    if thing["kind"] == "t1":
        data["permalink"] = data["permalink"].removesuffix("_/") + f"_/{thing_id}/"
    elif thing["kind"] == "t3":
        data["permalink"] = f"/r/{data['subreddit']}/comments/{thing_id}/_/"
    return thing


_ME_DEFAULTS: dict[str, Any] = {
    "accept_chats": False,
    "accept_followers": True,
    "accept_pms": True,
    "awardee_karma": 0,
    "awarder_karma": 0,
    "can_create_subreddit": True,
    "can_edit_name": False,
    "coins": 0,
    "features": {},
    "force_password_reset": False,
    "gold_creddits": 0,
    "gold_expiration": None,
    "has_android_subscription": False,
    "has_external_account": False,
    "has_gold_subscription": False,
    "has_ios_subscription": False,
    "has_mod_mail": False,
    "has_paypal_subscription": False,
    "has_stripe_subscription": False,
    "has_subscribed": True,
    "has_subscribed_to_premium": False,
    "has_verified_email": True,
    "has_visited_new_profile": False,
    "hide_from_robots": True,
    "icon_img": "",
    "in_beta": False,
    "in_chat": False,
    "in_redesign_beta": False,
    "is_employee": False,
    "is_gold": False,
    "is_mod": False,
    "is_sponsor": False,
    "is_suspended": False,
    "linked_identities": [],
    "new_modmail_exists": False,
    "num_friends": 0,
    "oauth_client_id": "",
    "over_18": False,
    "password_set": True,
    "pref_autoplay": False,
    "pref_clickgadget": 5,
    "pref_geopopular": "",
    "pref_nightmode": False,
    "pref_no_profanity": True,
    "pref_show_presence": False,
    "pref_show_snoovatar": False,
    "pref_show_trending": False,
    "pref_show_twitter": False,
    "pref_top_karma_subreddits": False,
    "pref_video_autoplay": False,
    "seen_give_award_tooltip": False,
    "seen_layout_switch": True,
    "seen_premium_adblock_modal": False,
    "seen_redesign_modal": True,
    "seen_subreddit_chat_ftux": False,
    "snoovatar_img": "",
    "snoovatar_size": None,
    "suspension_expiration_utc": None,
    "verified": True,
}


def me_data(username: str, *, inbox_count: int, client_id: str = "") -> dict[str, Any]:
    """The `/api/v1/me` body, with every key the recorded responses carry."""
    return {
        **_ME_DEFAULTS,
        "name": username,
        "id": stable_id(username),
        "created": 1_500_000_000.0,
        "created_utc": 1_500_000_000.0,
        "link_karma": 1,
        "comment_karma": 1,
        "total_karma": 2,
        "has_mail": inbox_count > 0,
        "inbox_count": inbox_count,
        "oauth_client_id": client_id,
        "subreddit": {
            "display_name": f"u_{username}",
            "display_name_prefixed": f"u/{username}",
            "name": f"t5_{stable_id('u_' + username, digits=6)}",
            "title": "",
            "public_description": "",
            "description": "",
            "url": f"/user/{username}/",
            "subreddit_type": "user",
            "over_18": False,
            "subscribers": 0,
            "user_is_moderator": True,
            "user_is_subscriber": False,
            "user_is_banned": False,
            "user_is_muted": False,
            "user_is_contributor": False,
        },
    }


def redditor_about(name: str) -> Thing:
    return {
        "kind": "t2",
        "data": {
            "name": name,
            "id": stable_id(name),
            "created": 1_500_000_000.0,
            "created_utc": 1_500_000_000.0,
            "link_karma": 1,
            "comment_karma": 1,
            "is_employee": False,
            "is_mod": False,
            "is_gold": False,
            "verified": True,
            "accept_chats": False,
            "is_friend": False,
        },
    }


def subreddit_about(name: str) -> Thing:
    return {
        "kind": "t5",
        "data": {
            "display_name": name,
            "display_name_prefixed": f"r/{name}",
            "name": f"t5_{stable_id(name, digits=6)}",
            "id": stable_id(name, digits=6),
            "title": name,
            "public_description": "",
            "description": "",
            "subscribers": 1,
            "over18": False,
            "subreddit_type": "public",
            "url": f"/r/{name}/",
            "created_utc": 1_500_000_000.0,
        },
    }


COMPOSE_OK: dict[str, Any] = {
    "jquery": [
        [0, 1, "call", ["body"]],
        [1, 2, "attr", "find"],
        [2, 3, "call", [".status"]],
        [3, 4, "attr", "show"],
        [4, 5, "call", []],
        [5, 6, "attr", "text"],
        [6, 7, "call", ["your message has been delivered"]],
    ],
    "success": True,
}
