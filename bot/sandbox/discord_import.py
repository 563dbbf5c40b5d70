"""discord.py, imported without the audioop DeprecationWarning it raises on Python 3.11-3.12.

pytest runs with filterwarnings=error, so a bare `import discord` fails collection;
import it from here (`from bot.sandbox.discord_import import discord`) instead.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    import discord.app_commands
    import discord.gateway
    import discord.http

__all__ = ["discord"]
