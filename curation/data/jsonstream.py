"""Incremental parsing of one (large) top-level JSON array.

`iter_json_array` reads a text handle in fixed-size chunks and decodes one element at a
time with `json.JSONDecoder.raw_decode`, so memory holds one chunk plus the element being
decoded, never the whole file. An element nested too deep for the decoder (RecursionError)
is stepped over unread and yielded as `TooDeep`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from configs.errors import UserError

CHUNK_CHARS = 1 << 16
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_PENDING = re.compile(r"[ \t\n\r]*|\.|[eE][-+]?")
_CUT_MARGIN = 8  # longer than any token a cut can leave incomplete ("\\uXXX", "fals")
_DECODER = json.JSONDecoder()
_STRUCTURE = re.compile(r'["\[\]{}]')
_STRING_STOP = re.compile(r'["\\]')


@dataclass(frozen=True)
class TooDeep:
    """Stands in for an array element nested deeper than Python's JSON decoder can go."""

    detail: str = "JSON nesting deeper than Python's decoder can go"


class JsonStreamError(UserError, ValueError):
    """The text is not one well-formed JSON array; `offset` counts characters from 0."""

    def __init__(
        self, message: str, offset: int, line: int, column: int, position: int | None = None
    ) -> None:
        super().__init__(message)
        self.message, self.offset, self.line, self.column = message, offset, line, column
        self.position = position  # the array element being read, if any

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.message, self.offset, self.line, self.column, self.position)

    def __str__(self) -> str:
        text = f"{self.message} at char {self.offset} (line {self.line}, column {self.column})"
        return text if self.position is None else f"{text} while reading record {self.position}"


class _Window:
    """A sliding window over a text handle: `text[pos:]` is what is left to parse."""

    def __init__(self, handle: TextIO, chunk_chars: int) -> None:
        self.handle, self.chunk_chars = handle, chunk_chars
        self.text, self.pos = "", 0
        self.dropped = 0  # characters before text[0]
        self.dropped_lines = 0  # newlines among them
        self.dropped_line_start = 0  # offset where the line holding text[0] starts
        self.eof = False

    def extend(self) -> bool:
        """Drop the parsed prefix and append a chunk; False at end of file."""
        if self.eof:
            return False
        # Read at least as much as is pending, so one huge value costs linear time.
        chunk = self.handle.read(max(self.chunk_chars, len(self.text) - self.pos))
        if not chunk:
            self.eof = True
            return False
        newline = self.text.rfind("\n", 0, self.pos)
        if newline >= 0:
            self.dropped_line_start = self.dropped + newline + 1
        self.dropped_lines += self.text.count("\n", 0, self.pos)
        self.dropped += self.pos
        self.text, self.pos = self.text[self.pos :] + chunk, 0
        return True

    def peek(self) -> str:
        """Skip whitespace; the next character, or '' at end of file."""
        while True:
            self.pos = _WHITESPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.extend():
                return ""

    def decode(self) -> Any:
        """Decode the value at `pos`, reading more text while the window end may cut it."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except RecursionError:
                self.skip()
                return TooDeep()
            except json.JSONDecodeError as err:
                # An error caused by the cut sits right at the window end, except an
                # unterminated string, which is reported where it starts.
                cut = len(self.text) - err.pos <= _CUT_MARGIN
                if not (cut or err.msg.startswith("Unterminated string")) or not self.extend():
                    raise self.error(err.msg.removesuffix(" at"), err.pos) from None
                continue
            # "1.5e" decodes as 1.5 when "10" is still unread, so a value is only known to be
            # complete once something other than whitespace or a number's tail follows it.
            if _PENDING.fullmatch(self.text, end) and self.extend():
                continue
            self.pos = end
            return value

    def skip(self) -> None:
        """Move past the array or object at `pos` by matching brackets outside strings,
        in linear time and without recursion."""
        depth, in_string = 0, False
        while True:
            found = (_STRING_STOP if in_string else _STRUCTURE).search(self.text, self.pos)
            if found is None or (found.group() == "\\" and found.end() == len(self.text)):
                # out of text (or an escape cut by the window end): read on from here
                self.pos = len(self.text) if found is None else found.start()
                if not self.extend():
                    raise self.error("unexpected end of file inside a record")
                continue
            char, self.pos = found.group(), found.end()
            if char == "\\":
                self.pos += 1  # the escaped character
            elif char == '"':
                in_string = not in_string
            elif char in "[{":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return

    def error(self, message: str, pos: int | None = None) -> JsonStreamError:
        pos = self.pos if pos is None else pos
        newline = self.text.rfind("\n", 0, pos)
        line_start = self.dropped + newline + 1 if newline >= 0 else self.dropped_line_start
        offset = self.dropped + pos
        line = self.dropped_lines + self.text.count("\n", 0, pos) + 1
        return JsonStreamError(message, offset, line, offset - line_start + 1)


def iter_json_array(handle: TextIO, chunk_chars: int = CHUNK_CHARS) -> Iterator[tuple[int, Any]]:
    """Yield (position, element) for each element of the JSON array that fills `handle`."""
    window = _Window(handle, chunk_chars)
    first = window.peek()
    if first != "[":
        found = "an empty file" if first == "" else f"{first!r}"
        raise window.error(f"top level is not a JSON array (found {found})")
    window.pos += 1
    position = 0
    if window.peek() != "]":
        while True:
            try:
                value = window.decode()
            except JsonStreamError as err:
                raise _reading(err, position) from None
            yield position, value
            position += 1
            after = window.peek()
            if after == "]":
                break
            if after != ",":
                found = "the end of the file" if after == "" else repr(after)
                message = f"expected ',' or ']' after a record, found {found}"
                raise _reading(window.error(message), position)
            window.pos += 1
            window.peek()
    window.pos += 1
    if window.peek() != "":
        raise window.error("extra data after the closing ']'")


def _reading(err: JsonStreamError, position: int) -> JsonStreamError:
    return JsonStreamError(err.message, err.offset, err.line, err.column, position)
