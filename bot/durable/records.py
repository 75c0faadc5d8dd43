"""What the bot reads back from Redis is checked before it acts on it: an HMAC on every record.

Redis is shared, so it is untrusted: anyone who can reach it could enqueue a question
nobody asked (answered in any channel, from any document) or rewrite the answers
ledger. Every job (bot/durable/jobqueue_redis.py) and every ledger record (bot/followthrough/ledger_redis.py)
the bot writes carries an HMAC-SHA256 over its content and its place (the job id, the
answer id, the document path), so a record cannot be forged, changed, or moved to
another question, answer or document; one that fails the check is dropped and logged in
one line. Redis's own protection (an ACL user and password, TLS: docs/scaling.md) is the
first wall, this is the second.

The key: REDIS_RECORD_SECRET when set (at least 32 characters, the same on every replica),
else derived from SLACK_SIGNING_SECRET, else from SLACK_BOT_TOKEN (the secrets every
replica already shares). Rotating the secret it comes from drops the records signed
with the old one: questions waiting in the queue then, and answers watched for changes.
The key is a one-way derivation (HMAC) of that secret and is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

log = logging.getLogger(__name__)

MIN_SECRET_CHARS = 32
_CONTEXT = b"ragbot redis records v1"


class RecordSigner:
    """Signs and checks records by kind ("job", "answer", "cite", "notice") and their parts."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a record signer needs a secret")
        self._key = hmac.new(secret.encode("utf-8"), _CONTEXT, hashlib.sha256).digest()

    def __repr__(self) -> str:  # never the key
        return "RecordSigner(…)"

    def sign(self, kind: str, *parts: object) -> str:
        message = json.dumps([kind, *[_part(p) for p in parts]], ensure_ascii=False, separators=(",", ":"))
        return hmac.new(self._key, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def verify(self, mac: object, kind: str, *parts: object) -> bool:
        if not isinstance(mac, str | bytes) or not mac:
            return False
        given = mac.decode("ascii", "replace") if isinstance(mac, bytes) else mac
        return hmac.compare_digest(given, self.sign(kind, *parts))


def _part(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str | int | float | type(None)) else str(value)


def signer_from(*, record_secret: str | None, signing_secret: str | None, bot_token: str | None) -> RecordSigner:
    """The signer for this deployment (see the module docstring); ValueError naming the variable otherwise."""
    if record_secret:
        if len(record_secret) < MIN_SECRET_CHARS:
            raise ValueError(f"REDIS_RECORD_SECRET: must be at least {MIN_SECRET_CHARS} characters "
                             "(e.g. `openssl rand -hex 32`), the same on every replica")
        return RecordSigner(record_secret)
    for secret in (signing_secret, bot_token):
        if secret:
            return RecordSigner(secret)
    raise ValueError("REDIS_RECORD_SECRET: needed with REDIS_URL when neither SLACK_SIGNING_SECRET nor "
                     "SLACK_BOT_TOKEN is set (records in Redis are signed with it)")


def dropped(what: str, ident: object, reason: str = "unsigned or tampered") -> None:
    """One log line for a record that failed its check; the id as data (shortened), never the record."""
    log.warning("dropped %s %s from Redis: %s (someone who can write to Redis wrote it, or the key changed)",
                what, _shown(ident), reason)


def _shown(ident: object) -> str:
    text = ident.decode("utf-8", "replace") if isinstance(ident, bytes) else str(ident)
    return repr(text[:80])

