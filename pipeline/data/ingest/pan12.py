"""PAN 2012 Sexual Predator Identification corpus (XML) into the conversation format.

The XML is ``<conversations><conversation id="..."><message line="N"><author/><time/><text/>
</message>...</conversation>...</conversations>``; the predator list has one author id per
line; the optional problem-2 file has ``conversation-id<TAB>line`` rows (the predators' most
distinctive lines), which become ``flagged: true``.

Parsed by streaming (expat, one conversation held at a time): the full test corpus (about
155,000 conversations, 2 million messages) fits in well under 1.5 GiB. Real files have quirks,
handled here: characters that XML 1.0 forbids, HTML entities and stray ampersands, empty
``<text/>``, one-message conversations, a conversation id that appears twice (both kept, the
second renamed ``<id>#2``, or the first ``#N`` no id of the file uses, with a warning), a list
whose last line has no newline. The declared encoding (``<?xml ... encoding="ISO-8859-1"?>``,
or a byte-order mark) is honoured; UTF-8 is the default.

Hostile input is refused with the file and line: ``<!DOCTYPE``/``<!ENTITY`` anywhere (entity
expansion), a root element other than ``<conversations>``, a file without conversations.
"""

from __future__ import annotations

import codecs
import html
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from pydantic import ValidationError

from pipeline.core.errors import DataError, PipelineError, Problem
from pipeline.data.corpus import Conversation, Message

ROOT = "conversations"
# Characters XML 1.0 does not allow (control characters other than tab, newline, return; lone
# surrogates, which some decoders such as UTF-7 can produce).
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
_ENTITY = re.compile(r"&(#\d+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)?")
# A DTD is where entities are declared: refusing it rules out entity expansion ("billion laughs")
# and external entities, whatever the parser would do with them.
_DECLARATION = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_ENCODING = re.compile(rb"<\?xml[^>]*?\sencoding\s*=\s*[\"']([A-Za-z][A-Za-z0-9._-]*)[\"']")
_BOMS = (  # UTF-32 first: its little-endian mark begins with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_FIELDS = ("author", "time", "text")
_MAX_PROBLEMS = 100  # stop reading a hopeless file early
_FEED_CHARS = 1 << 16


def _legal_char(code: int) -> bool:
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


def _fix_entities(line: str) -> str:
    """Escape stray ``&``, turn HTML entities (``&nbsp;``, ``&eacute;``) into characters and drop
    references to characters XML forbids (as the characters themselves are dropped)."""

    def replace(match: re.Match) -> str:
        entity = match.group(1)
        if entity is None:
            return "&amp;"
        if entity.startswith("#"):
            digits = entity[2:-1] if entity[1] in "xX" else entity[1:-1]
            if len(digits) > 8:  # far beyond U+10FFFF (and int() refuses thousands of digits)
                return ""
            return match.group(0) if _legal_char(int(digits, 16 if entity[1] in "xX" else 10)) else ""
        name = entity[:-1]
        if name in _XML_ENTITIES:
            return match.group(0)
        decoded = html.unescape(match.group(0))
        if decoded == match.group(0):  # unknown entity: keep it as text
            return "&amp;" + entity
        # as character references: a literal newline (&NewLine;) would shift every later line number
        return "".join(f"&#{ord(char)};" for char in decoded)

    return _ENTITY.sub(replace, line)


def read_id_list(path: str | Path) -> set[str]:
    """One id per line; blank lines and surrounding spaces ignored; no final newline needed."""
    return {line.strip() for line in _read_text(path).splitlines() if line.strip()}


def read_flagged_lines(path: str | Path) -> set[tuple[str, str]]:
    """Problem-2 rows ``conversation-id<TAB>line`` as a set of (id, line)."""
    rows: set[tuple[str, str]] = set()
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split("\t") if "\t" in line else line.split()
        if len(parts) != 2:
            raise DataError.single(path, number, "(row)", "expected 'conversation-id<TAB>line'")
        if not parts[1].strip().isdigit():
            raise DataError.single(path, number, "line", f"expected a message line number, found {parts[1].strip()!r}")
        rows.add((parts[0].strip(), parts[1].strip()))
    return rows


def _read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DataError.single(path, None, "(file)", f"cannot be read: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------- parsing


def _encoding(path: Path, head: bytes) -> str:
    """The encoding of the file: its byte-order mark, else its declaration, else UTF-8."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    match = _ENCODING.match(head)
    if match is None:
        return "utf-8"
    name = match.group(1).decode("ascii")
    try:
        # the declaration itself is ASCII, so the encoding must be too (which rules out UTF-16
        # without a mark, and codecs that are not text encodings or cannot replace bad bytes)
        usable = "<?xml".encode(name) == b"<?xml" and b"<?xml\xff".decode(name, "replace").startswith("<?xml")
    except (LookupError, ValueError, TypeError):
        usable = False
    if not usable:
        raise DataError.single(
            path, 1, "(encoding)", f'expected an encoding such as UTF-8 or ISO-8859-1, found encoding="{name}"'
        )
    return name


def _short(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


@dataclass
class _RawMessage:
    line: int  # of <message> in the file
    number: str | None  # its line="..." attribute
    fields: dict[str, tuple[int, str]] = field(default_factory=dict)  # author/time/text: (line, text)

    def text(self, name: str) -> str:
        return self.fields.get(name, (0, ""))[1]


@dataclass
class _RawConversation:
    line: int
    ordinal: int  # 1 for the first <conversation> of the file
    id: str | None
    messages: list[_RawMessage] = field(default_factory=list)


class _Builder:
    """expat handlers that build one conversation at a time, with the line of every element."""

    def __init__(self, path: Path):
        self.path = path
        self.parser = expat.ParserCreate(encoding="utf-8")  # we feed text we decoded ourselves
        self.parser.buffer_text = True
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._characters
        # unreachable after the line check of _lines, kept so that no DTD can ever be processed
        self.parser.StartDoctypeDeclHandler = self._refuse_declaration
        self.parser.EntityDeclHandler = self._refuse_declaration
        self.depth = 0
        self.conversation: _RawConversation | None = None
        self.open_messages: list[tuple[int, _RawMessage]] = []  # (depth, message), innermost last
        self.field: tuple[int, _RawMessage, str] | None = None  # the element whose text is collected
        self.pieces: list[str] = []
        self.ordinal = 0
        self.finished: list[_RawConversation] = []

    def _error(self, where: str, message: str) -> DataError:
        return DataError.single(self.path, self.parser.CurrentLineNumber, where, message)

    def _refuse_declaration(self, *_args) -> None:
        raise self._error("(xml)", "DOCTYPE/ENTITY declarations are not accepted (entity expansion)")

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        depth, self.depth = self.depth, self.depth + 1
        line = self.parser.CurrentLineNumber
        if depth == 0 and name != ROOT:
            raise self._error("(xml)", f"expected the PAN 2012 root element <{ROOT}>, found <{name[:60]}>")
        if name == "conversation":
            if depth != 1:
                raise self._error("<conversation>", f"expected <conversation> directly inside <{ROOT}>")
            self.ordinal += 1
            self.conversation = _RawConversation(line, self.ordinal, attributes.get("id") or None)
        elif name == "message" and self.conversation is not None:
            message = _RawMessage(line, attributes.get("line") or None)
            self.conversation.messages.append(message)  # at its start: document order, even if nested
            self.open_messages.append((depth, message))
        elif (
            name in _FIELDS
            and self.field is None
            and self.open_messages
            and self.open_messages[-1][0] == depth - 1
            and name not in self.open_messages[-1][1].fields  # the first <author> counts, as ever
        ):
            self.field = (depth, self.open_messages[-1][1], name)
            self.pieces = []
            self.field[1].fields[name] = (line, "")

    def _characters(self, data: str) -> None:
        if self.field is not None and self.depth == self.field[0] + 1:  # its own text, not a child's
            self.pieces.append(data)

    def _end(self, name: str) -> None:
        self.depth -= 1
        depth = self.depth
        if self.field is not None and self.field[0] == depth:
            _, message, field_name = self.field
            message.fields[field_name] = (message.fields[field_name][0], "".join(self.pieces))
            self.field = None
        if self.open_messages and self.open_messages[-1][0] == depth:
            self.open_messages.pop()
        if name == "conversation" and depth == 1 and self.conversation is not None:
            self.finished.append(self.conversation)
            self.conversation = None


def _lines(handle, path: Path) -> Iterator[str]:
    """The file's lines, cleaned for the parser; a DTD or entity declaration is refused here,
    before the parser sees it, with its line."""
    for number, raw in enumerate(iter(handle.readline, ""), start=1):
        line = _fix_entities(_ILLEGAL_XML.sub("", raw))
        if "<!" in line and _DECLARATION.search(line):
            raise DataError.single(
                path, number, "(xml)", "DOCTYPE/ENTITY declarations are not accepted (entity expansion)"
            )
        yield line


def _raw_conversations(path: Path) -> Iterator[_RawConversation]:
    """Every ``<conversation>`` of the file, in order, as it is parsed."""
    try:
        with path.open("rb") as handle:
            encoding = _encoding(path, handle.read(1024))
        handle = path.open(encoding=encoding, errors="replace", newline="")
    except OSError as exc:
        raise DataError.single(path, None, "(file)", f"cannot be read: {exc.strerror or exc}") from None
    builder = _Builder(path)
    try:
        with handle:
            batch: list[str] = []
            size = 0
            for line in _lines(handle, path):
                batch.append(line)
                size += len(line)
                if size >= _FEED_CHARS:
                    builder.parser.Parse("".join(batch), False)
                    batch, size = [], 0
                    yield from builder.finished
                    builder.finished.clear()
            builder.parser.Parse("".join(batch), True)
            yield from builder.finished
            builder.finished.clear()
    except expat.ExpatError as exc:
        raise DataError.single(path, exc.lineno, "(xml)", f"expected well-formed PAN12 XML: {exc}") from None
    except (UnicodeError, LookupError) as exc:  # a codec that fails despite errors="replace"
        raise DataError.single(path, None, "(encoding)", f"cannot be decoded as {encoding}: {exc}") from None


def _conversation_ids(path: Path) -> set[str]:
    """Every conversation id the file declares (read again, only when an id must be made up)."""
    ids: set[str] = set()
    try:
        for raw in _raw_conversations(path):
            if raw.id is not None:
                ids.add(raw.id)
    except PipelineError:
        pass  # the main pass reports it when it gets there; ids after it are never written
    return ids


def iter_pan12(
    corpus: str | Path,
    predators: set[str],
    flagged: set[tuple[str, str]] | None = None,
    language: str = "en",
    source: str = "pan12",
    predators_file: str | Path | None = None,
) -> Iterator[Conversation]:
    """Stream conversations from a PAN12 XML file. Raises ``DataError`` (file, line, field) on
    bad input; warns when no author is in ``predators`` (read from ``predators_file``)."""
    if not re.fullmatch("[a-z]{2}", language):
        raise PipelineError(f"language: expected a two-letter ISO 639-1 code such as 'en' or 'fr', found '{language}'")
    flagged = flagged or set()
    path = Path(corpus)
    taken: set[str] = set()
    file_ids: set[str] | None = None
    next_suffix: dict[str, int] = {}
    problems: list[Problem] = []
    written = 0
    predator_found = False
    try:
        for raw in _raw_conversations(path):
            if not raw.messages:
                continue  # an empty <conversation/> carries nothing to classify
            if raw.id is not None and raw.id not in taken:
                cid = raw.id
            else:
                # a repeated or missing id: a new one that no conversation of the file uses
                if file_ids is None:
                    file_ids = _conversation_ids(path)
                base = raw.id or f"conversation-{raw.ordinal}"
                cid, suffix = base, next_suffix.get(base, 2)  # not from 2 again: an id repeated n times is not O(n^2)
                while cid in taken or cid in file_ids:
                    cid, suffix = f"{base}#{suffix}", suffix + 1
                next_suffix[base] = suffix
                if raw.id is not None:
                    warnings.warn(
                        f"{path}:{raw.line}: conversation id '{raw.id}' appears again; kept as '{cid}'", stacklevel=2
                    )
            taken.add(cid)
            conversation = _conversation(path, raw, cid, predators, flagged, language, source, problems)
            if len(problems) >= _MAX_PROBLEMS:
                break
            if conversation is None or problems:
                continue  # nothing is written after a problem: keep reading only to report them all
            predator_found = predator_found or conversation.label == 1
            written += 1
            yield conversation
    except DataError as exc:
        raise DataError(problems + exc.problems) from None
    if problems:
        raise DataError(problems)
    if written == 0:
        raise DataError.single(path, None, "(xml)", "expected at least one <conversation> with a <message>, found none")
    if not predator_found:
        listed = f"the predators list {predators_file}" if predators_file else "the predators list"
        warnings.warn(
            f"{path}: {listed} has {len(predators)} author id(s) and none is an author of this corpus: "
            "every label will be 0",
            stacklevel=2,
        )


def _conversation(
    path: Path,
    raw: _RawConversation,
    cid: str,
    predators: set[str],
    flagged: set[tuple[str, str]],
    language: str,
    source: str,
    problems: list[Problem],
) -> Conversation | None:
    """One conversation in the format, or None with its problems added to ``problems``."""
    messages = []
    for index, raw_message in enumerate(raw.messages):
        number = raw_message.number or str(index + 1)
        time = raw_message.text("time").strip() or None
        if not raw_message.text("author").strip():  # the predator labels are read from authors
            line = raw_message.fields.get("author", (raw_message.line, ""))[0]
            problems.append(Problem(str(path), line, "<author>", "expected the author id of the message, found none"))
            continue
        try:
            messages.append(
                Message(
                    author=raw_message.text("author").strip(),
                    time=time,
                    text=raw_message.text("text"),
                    flagged=True if (raw.id or cid, number) in flagged else None,
                    meta={"pan12_line": number},
                )
            )
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else "message"
                line = raw_message.fields.get(name, (raw_message.line, ""))[0]
                found = f", found {_short(raw_message.text(name))}" if name in _FIELDS else ""
                reason = error["ctx"]["error"] if error["type"] == "value_error" else error["msg"]
                problems.append(Problem(str(path), line, f"<{name}>", f"{reason}{found}"))
    if len(messages) != len(raw.messages):
        return None
    suspects = sorted({m.author for m in messages} & predators)
    try:
        return Conversation(
            conversation_id=cid,
            language=language,
            source=source,
            kind="grooming" if suspects else "other",
            label=1 if suspects else 0,
            suspects=suspects or None,
            messages=messages,
        )
    except ValidationError as exc:  # not expected: every field is checked above
        problems.append(Problem(str(path), raw.line, "<conversation>", str(exc.errors()[0]["msg"])))
        return None
