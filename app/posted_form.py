"""Reading a posted form body (urlencoded or multipart) strictly: capped in files, fields and part
size, and naming each text field whose bytes are not valid in their charset instead of guessing.
"""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from starlette.datastructures import FormData
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser, parse_options_header
from starlette.requests import Request


class FormUnreadable(Exception):
    """The body is not a form we can parse (malformed multipart, a part over its size)."""


@dataclass
class PostedForm:
    """A parsed form, and the names of the text fields whose bytes were not valid in their charset."""

    data: FormData
    undecodable: frozenset[str] = frozenset()


async def read_form(request: Request, *, max_files: int, max_fields: int, max_part_size: int) -> PostedForm:
    """Parse a urlencoded or multipart body, keeping note of text that is not valid UTF-8.

    Starlette decodes such bytes as Latin-1, which would send mojibake upstream; here the value is
    dropped and its field named, so the form can say which field to type again.
    Raises FormUnreadable; anything the body stream raises (a client gone, a body over its cap)
    passes through, with the temporary files of the parts read so far closed.
    """
    content_type, _ = parse_options_header(request.headers.get("content-type"))
    parser: _StrictMultiPartParser | _StrictFormParser
    try:
        async with aclosing(request.stream()) as stream:
            if content_type == b"multipart/form-data":
                parser = _StrictMultiPartParser(
                    request.headers, stream, max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
                )
            elif content_type == b"application/x-www-form-urlencoded":
                parser = _StrictFormParser(request.headers, stream, max_fields=max_fields, max_part_size=max_part_size)
            else:
                return PostedForm(FormData())
            data = await parser.parse()
    except MultiPartException:
        raise FormUnreadable() from None
    return PostedForm(data, frozenset(parser.undecodable))


class _StrictMultiPartParser(MultiPartParser):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.undecodable: set[str] = set()

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode(self._charset or "utf-8")
            except (UnicodeDecodeError, LookupError):
                self.undecodable.add(part.field_name)
                part.data = bytearray()
        super().on_part_end()


class _StrictFormParser(FormParser):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.undecodable: set[str] = set()

    def on_field_end(self) -> None:
        try:
            name = _form_decode(self._field_name)
        except UnicodeDecodeError:
            name = None
        try:
            _form_decode(self._field_value)
        except UnicodeDecodeError:
            if name is not None:
                self.undecodable.add(name)
            self._field_value = bytearray()
        super().on_field_end()


def _form_decode(raw: bytearray) -> str:
    """A urlencoded name or value as UTF-8, strictly (Starlette's parser would guess)."""
    return unquote_to_bytes(bytes(raw).replace(b"+", b" ")).decode("utf-8")
