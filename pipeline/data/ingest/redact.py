"""Personal data protection for ingested corpora.

Text: e-mail addresses, phone numbers, URLs and @handles become placeholders. Authors:
ids become salted hashes, stable within a corpus (same salt, same id), so that per-author
splits and suspect lists still work while the original ids are not kept. The salt lives in
params.yaml (``ingest.salt``); change it to make ids unlinkable across releases.
"""

from __future__ import annotations

import hashlib
import re

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
URL = "[URL]"
HANDLE = "[HANDLE]"

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}\b")
_URL = re.compile(
    r"\b(?:https?://|www\.)[^\s<>\"']+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|io|fr|uk|de|info|biz|ly|me|tv|gg|app)"
    r"(?:/[^\s<>\"']*)?\b",
    re.IGNORECASE,
)
# A phone number: 7+ digits, optionally with +country code, spaces, dots, dashes or brackets.
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){2,4}(?![\w])")
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?")


def _phone(match: re.Match) -> str:
    digits = sum(c.isdigit() for c in match.group(0))
    return PHONE if 7 <= digits <= 15 else match.group(0)


def redact_text(text: str) -> str:
    """Replace e-mails, URLs, phone numbers and @handles (in that order) with placeholders."""
    text = _EMAIL.sub(EMAIL, text)
    text = _URL.sub(URL, text)
    text = _PHONE.sub(_phone, text)
    return _HANDLE.sub(HANDLE, text)


def pseudonymize(author: str, salt: str) -> str:
    """A salted, stable pseudonym for an author id."""
    return "a_" + hashlib.sha256(f"{salt}\x1f{author}".encode()).hexdigest()[:16]
