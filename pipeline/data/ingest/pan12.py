"""PAN 2012 Sexual Predator Identification corpus (XML) into the conversation format.

The XML is ``<conversations><conversation id="..."><message line="N"><author/><time/><text/>
</message>...</conversation>...</conversations>``; the predator list has one author id per
line; the optional problem-2 file has ``conversation-id<TAB>line`` rows (the predators' most
distinctive lines), which become ``flagged: true``.

Parsed by streaming (``iterparse``, elements cleared as they are read): the full test corpus
(about 155,000 conversations, 2 million messages) fits in well under 1.5 GiB. Real files have
quirks, handled here: characters that XML 1.0 forbids, HTML entities and stray ampersands,
empty ``<text/>``, one-message conversations, a conversation id that appears twice (both
kept, the second renamed ``<id>#2``, with a warning), a list whose last line has no newline.
"""

from __future__ import annotations

import html
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pipeline.core.errors import DataError
from pipeline.data.corpus import Conversation, Message

# Characters XML 1.0 does not allow (control characters other than tab, newline, return).
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
_ENTITY = re.compile(r"&(#\d+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)?")


def _fix_entities(line: str) -> str:
    """Escape stray ``&`` and turn HTML entities (``&nbsp;``, ``&eacute;``) into characters."""

    def replace(match: re.Match) -> str:
        entity = match.group(1)
        if entity is None:
            return "&amp;"
        if entity.startswith("#"):
            return match.group(0)
        name = entity[:-1]
        if name in _XML_ENTITIES:
            return match.group(0)
        decoded = html.unescape(match.group(0))
        if decoded == match.group(0):  # unknown entity: keep it as text
            return "&amp;" + entity
        return html.escape(decoded, quote=False)

    return _ENTITY.sub(replace, line)


class _SanitizedXML:
    """A file-like object that cleans each line before the XML parser sees it."""

    def __init__(self, handle: IO[str]):
        self._handle = handle
        self._buffer = ""

    def read(self, size: int = -1) -> str:
        while size < 0 or len(self._buffer) < size:
            line = self._handle.readline()
            if not line:
                break
            self._buffer += _fix_entities(_ILLEGAL_XML.sub("", line))
        if size < 0:
            out, self._buffer = self._buffer, ""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def read_id_list(path: str | Path) -> set[str]:
    """One id per line; blank lines and surrounding spaces ignored; no final newline needed."""
    return {
        line.strip() for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()
    }


def read_flagged_lines(path: str | Path) -> set[tuple[str, str]]:
    """Problem-2 rows ``conversation-id<TAB>line`` as a set of (id, line)."""
    rows: set[tuple[str, str]] = set()
    for number, line in enumerate(Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split("\t") if "\t" in line else line.split()
        if len(parts) != 2:
            raise DataError.single(path, number, "(row)", "expected 'conversation-id<TAB>line'")
        rows.add((parts[0].strip(), parts[1].strip()))
    return rows


def _text(element: ET.Element | None) -> str:
    return (element.text or "") if element is not None else ""


def iter_pan12(
    corpus: str | Path,
    predators: set[str],
    flagged: set[tuple[str, str]] | None = None,
    language: str = "en",
    source: str = "pan12",
) -> Iterator[Conversation]:
    """Stream conversations from a PAN12 XML file."""
    flagged = flagged or set()
    seen: dict[str, int] = {}
    path = Path(corpus)
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        events = ET.iterparse(_SanitizedXML(handle), events=("start", "end"))
        root = None
        try:
            for event, element in events:
                if root is None and event == "start":
                    root = element
                if event != "end" or element.tag != "conversation":
                    continue
                original_id = element.get("id") or f"conversation-{sum(seen.values()) + 1}"
                seen[original_id] = seen.get(original_id, 0) + 1
                cid = original_id if seen[original_id] == 1 else f"{original_id}#{seen[original_id]}"
                if seen[original_id] > 1:
                    warnings.warn(
                        f"{path}: conversation id '{original_id}' appears again; kept as '{cid}'", stacklevel=2
                    )
                messages = []
                for index, message in enumerate(element.iter("message")):
                    line = message.get("line") or str(index + 1)
                    messages.append(
                        Message(
                            author=_text(message.find("author")).strip(),
                            time=_text(message.find("time")).strip() or None,
                            text=_text(message.find("text")),
                            flagged=True if (original_id, line) in flagged else None,
                            meta={"pan12_line": line},
                        )
                    )
                element.clear()
                if root is not None:
                    root.clear()  # drop finished conversations: constant memory
                if not messages:
                    continue  # an empty <conversation/> carries nothing to classify
                authors = {m.author for m in messages}
                suspects = sorted(authors & predators)
                yield Conversation(
                    conversation_id=cid,
                    language=language,
                    source=source,
                    kind="grooming" if suspects else "other",
                    label=1 if suspects else 0,
                    suspects=suspects or None,
                    messages=messages,
                )
        except ET.ParseError as exc:
            line, column = exc.position
            raise DataError.single(path, line, "(xml)", f"expected well-formed PAN12 XML: {exc}") from None
