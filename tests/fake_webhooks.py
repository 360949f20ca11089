"""In-memory Discord and Slack incoming webhooks, served through ``httpx.MockTransport``.

    fake = FakeDiscord()
    client = httpx.Client(transport=httpx.MockTransport(fake.handle))
    env = {"DISCORD_URL": fake.url}

Each fake keeps every request it saw (``requests``, bodies already read) and the messages it
accepted (``messages``), answers the way the real service does (status codes and bodies as
documented), and can be told to fail: ``fail_next(n, status)`` answers the next ``n`` requests
with that status (``posted=True`` keeps the message anyway, the ambiguous case a 5xx or a
timeout leaves behind), ``rate_limit_next(n, retry_after)`` answers them with 429.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, ClassVar

import httpx

#: Discord's epoch-based ids are 64-bit and grow with time; the fake's grow by one tick.
FIRST_SNOWFLAKE = 1_300_000_000_000_000_000
SNOWFLAKE_STEP = 1 << 22


@dataclass
class _Fault:
    status: int
    posted: bool = False
    retry_after: float | None = None
    body: str | None = None


class _FakeWebhook:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._faults: list[_Fault] = []
        self.gone = False

    def fail_next(self, n: int = 1, status: int = 500, *, posted: bool = False,
                  body: str | None = None) -> None:
        """Answer the next ``n`` requests with ``status``; with ``posted`` the message is kept."""
        self._faults.extend(_Fault(status, posted, body=body) for _ in range(n))

    def rate_limit_next(self, n: int = 1, retry_after: float = 1.5) -> None:
        self._faults.extend(_Fault(429, retry_after=retry_after) for _ in range(n))

    def delete_webhook(self) -> None:
        """The webhook was removed by an admin: every later request is refused."""
        self.gone = True

    def _fault(self) -> _Fault | None:
        return self._faults.pop(0) if self._faults else None

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self._handle(request)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError


@dataclass
class DiscordFile:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class DiscordMessage:
    id: str
    content: str
    #: The whole JSON payload as received (``payload_json`` for multipart requests).
    payload: dict[str, Any]
    files: list[DiscordFile] = field(default_factory=list)
    query: dict[str, str] = field(default_factory=dict)


class FakeDiscord(_FakeWebhook):
    """``POST /api/webhooks/{id}/{token}`` ("Execute Webhook")."""

    MAX_CONTENT = 2000

    def __init__(self, webhook_id: str = "1100000000000000001", token: str = "s3cr3t-T0KEN_discord",
                 *, channel_id: str = "1100000000000000002", guild_id: str | None = None) -> None:
        super().__init__()
        self.webhook_id = webhook_id
        self.token = token
        self.channel_id = channel_id
        self.guild_id = guild_id
        self.messages: list[DiscordMessage] = []
        self._next_id = FIRST_SNOWFLAKE

    @property
    def url(self) -> str:
        return f"https://discord.com/api/webhooks/{self.webhook_id}/{self.token}"

    @staticmethod
    def _error(status: int, message: str, code: int, **extra: Any) -> httpx.Response:
        return httpx.Response(status, json={"message": message, "code": code, **extra})

    def _handle(self, request: httpx.Request) -> httpx.Response:
        segments = request.url.path.strip("/").split("/")
        if request.url.host != "discord.com" or len(segments) != 4 or segments[:2] != ["api", "webhooks"]:
            return self._error(404, "404: Not Found", 0)
        if request.method != "POST":
            return self._error(405, "405: Method Not Allowed", 0)
        if self.gone or segments[2] != self.webhook_id:
            return self._error(404, "Unknown Webhook", 10015)
        if segments[3] != self.token:
            return self._error(401, "Invalid Webhook Token", 50027)
        fault = self._fault()
        if fault is not None and fault.status == 429:
            wait = fault.retry_after or 0.0
            return httpx.Response(
                429, headers={"Retry-After": str(math.ceil(wait)), "X-RateLimit-Scope": "user"},
                json={"message": "You are being rate limited.", "retry_after": wait, "global": False})
        if fault is not None and not fault.posted:
            return self._fault_response(fault)
        try:
            payload, files = self._payload(request)
        except ValueError:
            return self._error(400, "The request body contains invalid JSON.", 50109)
        content = payload.get("content") or ""
        if not isinstance(content, str) or len(content) > self.MAX_CONTENT:
            return self._error(400, "Invalid Form Body", 50035, errors={"content": {"_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}})
        if not content and not files:
            return self._error(400, "Cannot send an empty message", 50006)
        fields = {f"files[{a.get('id')}]" for a in payload.get("attachments", []) if isinstance(a, dict)}
        if any(f.field not in fields for f in files):
            return self._error(400, "Invalid Form Body", 50035, errors={"attachments": "unmatched file"})
        message = DiscordMessage(str(self._next_id), content, payload, files, dict(request.url.params))
        self._next_id += SNOWFLAKE_STEP
        self.messages.append(message)
        if fault is not None:
            return self._fault_response(fault)
        if request.url.params.get("wait", "").lower() != "true":
            return httpx.Response(204)
        return httpx.Response(200, json=self._message_json(message))

    def _fault_response(self, fault: _Fault) -> httpx.Response:
        if fault.body is not None:
            return httpx.Response(fault.status, text=fault.body)
        if fault.status >= 500:
            return httpx.Response(fault.status, text="upstream connect error")
        return self._error(fault.status, "Injected failure", 0)

    def _message_json(self, message: DiscordMessage) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "id": message.id, "type": 0, "content": message.content, "channel_id": self.channel_id,
            "webhook_id": self.webhook_id, "mentions": [], "mention_roles": [], "pinned": False,
            "mention_everyone": False, "tts": False, "flags": 0, "embeds": [],
            "attachments": [
                {"id": str(FIRST_SNOWFLAKE + n), "filename": f.filename, "size": len(f.data),
                 "content_type": f.content_type,
                 "description": self._description(message, n)}
                for n, f in enumerate(message.files)],
        }
        if self.guild_id is not None:
            answer["guild_id"] = self.guild_id
        return answer

    @staticmethod
    def _description(message: DiscordMessage, n: int) -> str | None:
        for attachment in message.payload.get("attachments", []):
            if isinstance(attachment, dict) and attachment.get("id") == n:
                description = attachment.get("description")
                return description if isinstance(description, str) else None
        return None

    @staticmethod
    def _payload(request: httpx.Request) -> tuple[dict[str, Any], list[DiscordFile]]:
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            parts = parse_multipart(request)
            files = [DiscordFile(name, part.get_filename() or "", part.get_content_type(), part_bytes(part))
                     for name, part in parts if name.startswith("files[")]
            raw = next((part_bytes(part) for name, part in parts if name == "payload_json"), b"{}")
            payload = json.loads(raw)
        else:
            payload, files = json.loads(request.content), []
        if not isinstance(payload, dict):
            raise ValueError("payload is not an object")
        return payload, files


def parse_multipart(request: httpx.Request) -> list[tuple[str, EmailMessage]]:
    """(form field name, part) of a multipart/form-data body, in order."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    assert isinstance(message, EmailMessage)
    parts = []
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        name = part.get_param("name", header="content-disposition")
        parts.append((str(name), part))
    return parts


def part_bytes(part: EmailMessage) -> bytes:
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


class FakeSlack(_FakeWebhook):
    """``POST /services/T…/B…/…`` (an app's incoming webhook)."""

    #: What Slack answers for each status when a fault does not say.
    BODIES: ClassVar[dict[int, str]] = {
        400: "invalid_payload", 403: "action_prohibited", 404: "channel_not_found",
        410: "channel_is_archived", 500: "rollup_error"}

    def __init__(self, path: str = "/services/T0000TEAM/B0000HOOK/s3cr3tSlackT0ken") -> None:
        super().__init__()
        self.path = path
        self.messages: list[dict[str, Any]] = []
        self.archived = False

    @property
    def url(self) -> str:
        return f"https://hooks.slack.com{self.path}"

    def archive(self) -> None:
        """The channel behind the webhook was archived."""
        self.archived = True

    @staticmethod
    def _text(status: int, body: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.Response(status, headers={"Content-Type": "text/html", **(headers or {})},
                              content=body.encode())

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "hooks.slack.com" or request.url.path != self.path or self.gone:
            return self._text(404, "no_service")
        if request.method != "POST":
            return self._text(405, "invalid_method")
        if self.archived:
            return self._text(410, "channel_is_archived")
        fault = self._fault()
        if fault is not None and fault.status == 429:
            return self._text(429, "rate_limited", {"Retry-After": str(math.ceil(fault.retry_after or 0))})
        if fault is not None and not fault.posted:
            return self._text(fault.status, fault.body or self.BODIES.get(fault.status, "unknown_error"))
        try:
            payload = json.loads(request.content)
        except ValueError:
            return self._text(400, "invalid_payload")
        if not isinstance(payload, dict):
            return self._text(400, "invalid_payload")
        text = payload.get("text")
        if not isinstance(text, str) or not text.strip():
            return self._text(400, "no_text")
        self.messages.append(payload)
        if fault is not None:
            return self._text(fault.status, fault.body or self.BODIES.get(fault.status, "unknown_error"))
        return self._text(200, "ok")
