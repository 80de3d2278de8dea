"""Message text as Telegram stores it: parse modes resolved, whitespace trimmed, entities detected.

Telegram measures entity offsets and lengths in UTF-16 code units, so an emoji before a hashtag
shifts it by two; everything here speaks UTF-16 so the bot's offset handling is exercised honestly.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

Entity = dict[str, Any]

# A hashtag is '#' plus word characters, not glued to a preceding word, and not all digits.
_HASHTAG = re.compile(r"(?<![\w#])#(?!\d+(?!\w))\w{1,256}")
_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}(?!\w)")
# Entities whose text is never scanned for hashtags, commands or mentions.
_OPAQUE = {"code", "pre", "text_link", "url"}

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "span": "spoiler",
}


class EntityParseError(ValueError):
    """The text does not parse in its parse_mode; str() is Telegram's description after 'Bad Request: '."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def detect_entities(text: str, skip: list[Entity] = ()) -> list[Entity]:  # type: ignore[assignment]
    """Hashtags, bot commands and @mentions Telegram finds by itself, outside `skip`'s opaque entities."""
    opaque = [(e["offset"], e["offset"] + e["length"]) for e in skip if e["type"] in _OPAQUE]
    found = []
    for kind, pattern in (("hashtag", _HASHTAG), ("bot_command", _COMMAND), ("mention", _MENTION)):
        for match in pattern.finditer(text):
            offset = utf16_len(text[: match.start()])
            length = utf16_len(match.group())
            if not any(start < offset + length and offset < end for start, end in opaque):
                found.append({"type": kind, "offset": offset, "length": length})
    return found


def render(
    text: str, parse_mode: str | None, entities: list[Entity] | None = None
) -> tuple[str, list[Entity]]:
    """What Telegram stores for a sent text: (plain text, entities sorted by offset)."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        text, entities = _parse_html(text)
    elif mode == "markdownv2":
        text, entities = _parse_markdown_v2(text)
    elif mode not in ("", "markdown"):
        raise EntityParseError(f"unsupported parse_mode {parse_mode!r}")
    entities = list(entities or [])
    text, entities = _strip(text, entities)
    entities += detect_entities(text, entities)
    return text, sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def _strip(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Telegram trims surrounding whitespace; entities move with the text and are clipped to it."""
    lead = utf16_len(text) - utf16_len(text.lstrip())
    stripped = text.strip()
    size = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, size)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


class _HtmlEntities(HTMLParser):
    """Telegram's HTML subset: unknown tags are an error, not ignored."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.text = ""
        self.entities: list[Entity] = []
        self.open: list[tuple[str, int, Entity]] = []

    def _byte_offset(self) -> int:
        line, column = self.getpos()
        before = self.source.split("\n")[: line - 1]
        return sum(len(x.encode()) + 1 for x in before) + len(
            self.source.split("\n")[line - 1][:column].encode()
        )

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag not in _HTML_TAGS or (tag == "span" and attributes.get("class") != "tg-spoiler"):
            raise EntityParseError(
                f'can\'t parse entities: Unsupported start tag "{tag}" at byte offset {self._byte_offset()}'
            )
        entity: Entity = {"type": _HTML_TAGS[tag]}
        if tag == "a":
            entity["url"] = attributes.get("href") or ""
        if tag == "blockquote" and "expandable" in attributes:
            entity["type"] = "expandable_blockquote"
        if tag == "code" and self.open and self.open[-1][0] == "pre" and attributes.get("class"):
            self.open[-1][2]["language"] = str(attributes["class"]).removeprefix("language-")
        self.open.append((tag, utf16_len(self.text), entity))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1][0] != tag:
            raise EntityParseError(
                f"can't parse entities: Unmatched end tag at byte offset {self._byte_offset()}, "
                f'expected "</{self.open[-1][0] if self.open else ""}>", found "</{tag}>"'
            )
        _, start, entity = self.open.pop()
        length = utf16_len(self.text) - start
        if length and not (entity["type"] == "code" and self.open and self.open[-1][0] == "pre"):
            self.entities.append({**entity, "offset": start, "length": length})

    def handle_data(self, data: str) -> None:
        self.text += data


def _parse_html(source: str) -> tuple[str, list[Entity]]:
    parser = _HtmlEntities(source)
    parser.feed(source)
    parser.close()
    if parser.open:
        raise EntityParseError(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{parser.open[-1][0]}\""
        )
    return parser.text, parser.entities


_MD_MARKERS = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}
_MD_RESERVED = set("_*[]()~`>#+-=|{}.!")


def _parse_markdown_v2(source: str) -> tuple[str, list[Entity]]:
    """MarkdownV2 (no custom emoji or block quotes); unescaped reserved characters fail as on Telegram."""
    text, entities = "", []
    open_: list[tuple[str, int]] = []  # (marker, UTF-16 offset where it opened)
    i = 0
    while i < len(source):
        char = source[i]
        if char == "\\" and i + 1 < len(source):
            text += source[i + 1]
            i += 2
            continue
        if source.startswith("```", i) or char == "`":
            fence = "```" if source.startswith("```", i) else "`"
            end = source.find(fence, i + len(fence))
            if end < 0:
                raise EntityParseError(
                    f"can't parse entities: Can't find end of Pre entity at byte offset {i}"
                )
            body = source[i + len(fence) : end].replace("\\`", "`").replace("\\\\", "\\")
            entity: Entity = {"type": "pre" if fence == "```" else "code"}
            if fence == "```" and "\n" in body and body.split("\n", 1)[0].strip():
                language, body = body.split("\n", 1)
                entity["language"] = language.strip()
            entities.append({**entity, "offset": utf16_len(text), "length": utf16_len(body)})
            text += body
            i = end + len(fence)
            continue
        if char == "[":
            open_.append(("[", utf16_len(text)))
            i += 1
            continue
        if char == "]" and open_ and open_[-1][0] == "[" and source.startswith("(", i + 1):
            end = source.find(")", i)
            if end < 0:
                raise EntityParseError(f"can't parse entities: Can't find end of a URL at byte offset {i}")
            _, start = open_.pop()
            url = source[i + 2 : end].replace("\\)", ")")
            entities.append(
                {"type": "text_link", "offset": start, "length": utf16_len(text) - start, "url": url}
            )
            i = end + 1
            continue
        marker = next((m for m in ("__", "||", "*", "_", "~") if source.startswith(m, i)), None)
        if marker:
            if open_ and open_[-1][0] == marker:
                _, start = open_.pop()
                if utf16_len(text) > start:
                    entities.append(
                        {"type": _MD_MARKERS[marker], "offset": start, "length": utf16_len(text) - start}
                    )
            else:
                open_.append((marker, utf16_len(text)))
            i += len(marker)
            continue
        if char in _MD_RESERVED:
            raise EntityParseError(
                f"can't parse entities: Character '{char}' is reserved and must be escaped with the "
                "preceding '\\'"
            )
        text += char
        i += 1
    if open_:
        raise EntityParseError(
            f"can't parse entities: Can't find end of {_MD_MARKERS.get(open_[-1][0], 'TextUrl').title()} "
            f"entity at byte offset {len(source.encode())}"
        )
    return text, entities
