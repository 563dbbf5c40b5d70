-- Modules, their history, chat settings, stream positions and kept items.
CREATE TABLE modules (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner       TEXT,               -- "chat:user id"; NULL for an anonymous module
    token_hash  TEXT,               -- sha256 of an anonymous module's claim token
    chat        TEXT NOT NULL,      -- discord | reddit | terminal
    place       TEXT NOT NULL,      -- where it is scoped: a Discord server, "dm:<user>", "reddit", "terminal"
    channel     TEXT,               -- where it was made: the target of "notify here"
    rule        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'deleted')),
    status_reason TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX modules_owner ON modules (owner);
CREATE INDEX modules_place ON modules (place, status);

CREATE TABLE matches (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    module_id   INTEGER NOT NULL REFERENCES modules (id),
    item        TEXT NOT NULL,      -- fullname, e.g. t3_abc
    author      TEXT NOT NULL DEFAULT '',
    matched_at  REAL NOT NULL,
    skipped     TEXT,               -- NULL when acted on; else why (limit, cooldown)
    UNIQUE (module_id, item)
);
CREATE INDEX matches_module_time ON matches (module_id, matched_at);
CREATE INDEX matches_module_author ON matches (module_id, author, matched_at);

-- The outbox: one row per action of a match, written with the match.
CREATE TABLE actions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    match_id    INTEGER NOT NULL REFERENCES matches (id),
    module_id   INTEGER NOT NULL,
    item        TEXT NOT NULL,
    idx         INTEGER NOT NULL,   -- the action's place in the rule
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,      -- JSON: everything the action needs
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed', 'dead')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     REAL NOT NULL,
    lease_until REAL,
    last_error  TEXT,
    result      TEXT,
    updated_at  REAL NOT NULL,
    UNIQUE (module_id, item, idx)
);
CREATE INDEX actions_due ON actions (status, next_at);

CREATE TABLE heartbeats (
    chat        TEXT NOT NULL,
    place       TEXT NOT NULL,
    channel     TEXT NOT NULL,
    every_seconds INTEGER NOT NULL,
    message_id  TEXT,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (chat, channel)
);

CREATE TABLE stream_positions (
    stream      TEXT PRIMARY KEY,   -- posts | comments
    last_item   TEXT NOT NULL,
    last_created REAL NOT NULL,
    updated_at  REAL NOT NULL
);

CREATE TABLE items (
    fullname    TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    subreddit   TEXT NOT NULL,
    created_utc REAL NOT NULL,
    data        TEXT NOT NULL       -- the thing as JSON
);

CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  REAL NOT NULL
);
