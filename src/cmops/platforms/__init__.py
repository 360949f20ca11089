"""The platform adapters, one module each, and the one static registry that names them."""

from __future__ import annotations

import importlib

from cmops.platforms.base import Adapter, ChannelUnusable, Setup

#: platform name in cmops.yaml -> "module:class". Imported only when a channel uses it.
REGISTRY: dict[str, str] = {
    "feed": "cmops.platforms.feed:FeedAdapter",
    "bluesky": "cmops.platforms.bluesky:BlueskyAdapter",
    "mastodon": "cmops.platforms.mastodon:MastodonAdapter",
    "discord": "cmops.platforms.webhooks:DiscordAdapter",
    "slack": "cmops.platforms.webhooks:SlackAdapter",
}


def adapter_for(setup: Setup) -> Adapter:
    """The adapter for ``setup.channel``; raises ChannelUnusable for platforms without one."""
    target = REGISTRY.get(setup.channel.platform)
    if target is None:
        raise ChannelUnusable(
            f"channel {setup.channel.id!r}: publishing to {setup.channel.platform} is not "
            f"supported yet (length checks only); remove it from the post's channels")
    factory = adapter_class(setup.channel.platform)
    assert factory is not None
    adapter: Adapter = factory(setup)  # type: ignore[call-arg]
    return adapter


def adapter_class(platform: str) -> type[Adapter] | None:
    target = REGISTRY.get(platform)
    if target is None:
        return None
    module_name, class_name = target.split(":")
    cls: type[Adapter] = getattr(importlib.import_module(module_name), class_name)
    return cls


#: platform -> (can_edit, can_delete), as the adapter classes declare them (a test keeps the
#: two in step); here so that planning needs no adapter, and no network stack, imported.
CAPABILITIES: dict[str, tuple[bool, bool]] = {
    "feed": (True, True),
    "bluesky": (False, True),
    "mastodon": (True, True),
    "discord": (False, False),
    "slack": (False, False),
}


def can_edit(platform: str) -> bool:
    return CAPABILITIES.get(platform, (False, False))[0]


def can_delete(platform: str) -> bool:
    return CAPABILITIES.get(platform, (False, False))[1]
