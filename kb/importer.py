"""Articles from and to files: Markdown with YAML front matter (one file per article and language) and CSV.

Markdown: ``<slug>.<language>.md``::

    ---
    slug: internet-not-working
    language: ru
    title: Не работает интернет
    category: connection
    tags: [internet, router]
    status: published
    questions:
      - не работает интернет
    ---
    The answer, Markdown.

CSV (UTF-8, a BOM is allowed): a header row with ``slug, language, title`` and optionally ``category, tags,
status, questions, body``; ``questions`` holds one question per line of the cell, ``tags`` a comma-separated
list. A zip may hold both kinds (any folders).

A batch is checked as a whole before anything is written: every problem is reported with its file and line,
and a batch with any problem imports nothing. Export writes the same formats, so import → export → import
gives the same content.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.errors import InvalidInput
from kb.schemas import ArticleContent

FIELDS = ("slug", "language", "title", "category", "tags", "status", "questions", "body")
FRONT_MATTER_KEYS = frozenset(FIELDS) - {"body"}
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_ZIP_BYTES = 64 * 1024 * 1024
MAX_ZIP_FILES = 20_000
_DELIMITER = "---"


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class ParsedArticle:
    content: ArticleContent
    file: str
    line: int


class ImportFailed(InvalidInput):
    """The batch had problems; nothing was imported. ``details["problems"]``: ``[{file, line, message}]``."""

    code = "import_failed"

    def __init__(self, problems: list[Problem]) -> None:
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(
            f"nothing was imported: {shown}{more}",
            problems=[{"file": p.file, "line": p.line, "message": p.message} for p in problems],
        )
        self.problems = problems


# --- reading -----------------------------------------------------------------------------------------


def _decode(raw: bytes, name: str, problems: list[Problem]) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(name, line, f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"))
        return None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _field_line(lines: list[str], key: str, default: int) -> int:
    for number, line in enumerate(lines, start=1):
        if line.startswith(f"{key}:"):
            return number
    return default


def _validation_problems(exc: ValidationError, name: str, line_of: Any) -> list[Problem]:
    out: list[Problem] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = error.get("loc", ())
        field = str(loc[0]) if loc else ""
        where = ".".join(str(p) for p in loc)
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = f"unknown field; expected some of {', '.join(FIELDS)}"
        out.append(Problem(name, line_of(field), f"{where}: {message}" if where else message))
    return out


def parse_markdown(raw: bytes, name: str, problems: list[Problem]) -> ParsedArticle | None:
    """One Markdown file with front matter; problems are appended (with line numbers), ``None`` returned."""
    before = len(problems)
    text = _decode(raw, name, problems)
    if text is None:
        return None
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != _DELIMITER:
        problems.append(Problem(name, 1, "the file must start with a '---' line opening the YAML front matter"))
        return None
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in (_DELIMITER, "...")), None)
    if end is None:
        problems.append(Problem(name, 1, "the front matter opened on line 1 is never closed with '---'"))
        return None
    front_lines = lines[1:end]
    try:
        data = yaml.safe_load("\n".join(front_lines))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = 2 + mark.line if mark is not None else 1
        message = f"broken front matter: {exc.problem or exc.context or 'invalid YAML'}"
        if exc.context and exc.context_mark is not None and exc.context_mark.line + 2 != line:
            message += f" ({exc.context} started on line {exc.context_mark.line + 2})"
        problems.append(Problem(name, line, message))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(name, 1, f"broken front matter: {exc}"))
        return None
    except RecursionError:
        problems.append(Problem(name, 2, "broken front matter: nested too deeply"))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(name, 2, "the front matter must be a mapping of fields (slug: ..., title: ...)"))
        return None
    fields: dict[str, Any] = {str(k): v for k, v in data.items()}
    if "body" in fields:
        problems.append(Problem(name, _field_line(front_lines, "body", 0) + 1, "the body goes after the front matter"))
    tags = fields.get("tags")
    if isinstance(tags, str):
        fields["tags"] = [t.strip() for t in tags.split(",") if t.strip()]
    if fields.get("questions") is None and "questions" in fields:
        fields["questions"] = []
    stem = Path(name).name.removesuffix(".md").split(".")
    if "slug" not in fields and stem and stem[0]:
        fields["slug"] = stem[0]
    if "language" not in fields and len(stem) >= 2:
        fields["language"] = stem[-1]
    fields["body"] = "\n".join(lines[end + 1 :])
    try:
        content = ArticleContent.model_validate(fields)
    except ValidationError as exc:
        problems.extend(
            _validation_problems(
                exc, name, lambda field: 1 + _field_line(front_lines, field, 0) if field != "body" else end + 2
            )
        )
        return None
    return ParsedArticle(content, name, 1) if len(problems) == before else None


def _split_list(cell: str, separator: str) -> list[str]:
    return [part.strip() for part in cell.split(separator) if part.strip()]


def parse_csv(raw: bytes, name: str, problems: list[Problem]) -> list[ParsedArticle]:
    """A CSV file of articles (see the module docstring); problems carry the line where the record starts."""
    text = _decode(raw, name, problems)
    if text is None:
        return []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        problems.append(Problem(name, 1, "the file is empty; expected a header row"))
        return []
    except csv.Error as exc:
        problems.append(Problem(name, 1, f"broken CSV: {exc}"))
        return []
    columns = [h.strip().lower() for h in header]
    unknown = [c for c in columns if c not in FIELDS]
    missing = [c for c in ("slug", "language", "title") if c not in columns]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown columns {', '.join(unknown)}")
        if missing:
            parts.append(f"missing columns {', '.join(missing)}")
        problems.append(Problem(name, 1, "; ".join(parts) + f" (columns: {', '.join(FIELDS)})"))
        return []
    out: list[ParsedArticle] = []
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(name, start, f"broken CSV: {exc}"))
            break
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            problems.append(Problem(name, line, f"expected {len(columns)} cells, found {len(row)}"))
            continue
        record: dict[str, Any] = dict(zip(columns, row, strict=True))
        if "questions" in record:
            record["questions"] = _split_list(record["questions"], "\n")
        if "tags" in record:
            record["tags"] = _split_list(record["tags"], ",")
        if not record.get("status", "x").strip():
            record.pop("status")
        try:
            out.append(ParsedArticle(ArticleContent.model_validate(record), name, line))
        except ValidationError as exc:
            problems.extend(_validation_problems(exc, name, lambda _field, line=line: line))
    return out


def _parse_one(raw: bytes, name: str, problems: list[Problem]) -> list[ParsedArticle]:
    if len(raw) > MAX_FILE_BYTES:
        problems.append(Problem(name, 1, f"the file is larger than {MAX_FILE_BYTES // 1024 // 1024} MB"))
        return []
    if name.lower().endswith(".csv"):
        return parse_csv(raw, name, problems)
    parsed = parse_markdown(raw, name, problems)
    return [parsed] if parsed is not None else []


def _check_batch(parsed: list[ParsedArticle], problems: list[Problem]) -> list[ArticleContent]:
    seen: dict[tuple[str, str], ParsedArticle] = {}
    for item in parsed:
        key = (item.content.slug, item.content.language)
        first = seen.get(key)
        if first is not None:
            problems.append(
                Problem(item.file, item.line, f"{key[0]} ({key[1]}) is already defined in {first.file}:{first.line}")
            )
        else:
            seen[key] = item
    if problems:
        raise ImportFailed(problems)
    return [item.content for item in parsed]


def parse_files(files: Iterable[tuple[str, bytes]]) -> list[ArticleContent]:
    """Parse ``(name, bytes)`` pairs (``.md`` or ``.csv``); raise :class:`ImportFailed` listing every problem."""
    problems: list[Problem] = []
    parsed: list[ParsedArticle] = []
    count = 0
    for name, raw in files:
        count += 1
        parsed.extend(_parse_one(raw, name, problems))
    if count == 0:
        raise ImportFailed([Problem("(batch)", 0, "no .md or .csv files found")])
    return _check_batch(parsed, problems)


def _folder_files(root: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in (".md", ".csv") and not path.name.startswith("."):
            yield str(path.relative_to(root)), path.read_bytes()


def _zip_files(raw: bytes) -> Iterator[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise ImportFailed([Problem("(upload)", 0, "not a zip archive")]) from None
    with archive:
        members = [
            m
            for m in archive.infolist()
            if not m.is_dir()
            and m.filename.lower().endswith((".md", ".csv"))
            and not m.filename.startswith("__MACOSX/")
            and not Path(m.filename).name.startswith(".")
        ]
        # Nothing is written to disk, but a name that climbs out of the archive (or is absolute) is a crafted
        # upload, not an export of ours: refuse it rather than import under a misleading name.
        escaping = [
            m.filename
            for m in archive.infolist()
            if m.filename.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", m.filename) or ":" in m.filename
        ]
        if escaping:
            raise ImportFailed(
                [Problem(name, 0, "a path outside the archive; nothing was imported") for name in escaping]
            )
        if len(members) > MAX_ZIP_FILES or sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            raise ImportFailed([Problem("(upload)", 0, "the archive is too large to import at once")])
        total = 0
        for member in sorted(members, key=lambda m: m.filename):
            try:
                with archive.open(member) as handle:
                    # Read one byte past the limit: a size header that lies is caught here, not in memory.
                    data = handle.read(MAX_FILE_BYTES + 1)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, OSError, zlib.error) as exc:
                # A bad checksum, a false size, an unsupported compression method or an encrypted member.
                raise ImportFailed(
                    [Problem(member.filename, 0, f"the file cannot be read from the archive: {exc}")]
                ) from None
            total += len(data)
            if total > MAX_ZIP_BYTES:
                raise ImportFailed([Problem("(upload)", 0, "the archive is too large to import at once")])
            yield member.filename, data


def parse_path(path: Path) -> list[ArticleContent]:
    """A folder (``.md`` and ``.csv`` files, recursively), a ``.zip``, a ``.csv`` or a single ``.md`` file."""
    if path.is_dir():
        return parse_files(_folder_files(path))
    if not path.exists():
        raise ImportFailed([Problem(str(path), 0, "no such file or folder")])
    raw = path.read_bytes()
    if path.suffix.lower() == ".zip":
        return parse_zip(raw)
    return parse_files([(path.name, raw)])


def parse_zip(raw: bytes) -> list[ArticleContent]:
    return parse_files(_zip_files(raw))


def parse_upload(raw: bytes, content_type: str, filename: str = "") -> list[ArticleContent]:
    """An upload: a zip (``application/zip``) or one CSV (``text/csv``) or Markdown file (``text/markdown``)."""
    if content_type in ("application/zip", "application/x-zip-compressed") or raw[:4] == b"PK\x03\x04":
        return parse_zip(raw)
    if content_type in ("text/csv", "application/csv") or filename.lower().endswith(".csv"):
        return parse_files([(filename or "upload.csv", raw)])
    if content_type in ("text/markdown", "text/x-markdown") or filename.lower().endswith(".md"):
        return parse_files([(filename or "upload.md", raw)])
    raise InvalidInput("upload a zip of .md/.csv files (application/zip) or one CSV file (text/csv)")


# --- writing -----------------------------------------------------------------------------------------


def _plain_ok(text: str, wrap: str) -> bool:
    if not text or text != text.strip() or "\n" in text:
        return False
    try:
        loaded = yaml.safe_load(wrap.format(text))
    except yaml.YAMLError:
        return False
    expected: Any = {"k": text} if wrap.startswith("k:") else [text]
    return bool(loaded == expected)


def _scalar(text: str, wrap: str = "k: {}") -> str:
    """A YAML scalar: plain when it reads back as the same string, else a double-quoted (JSON) string."""
    return text if _plain_ok(text, wrap) else json.dumps(text, ensure_ascii=False)


def to_markdown(article: ArticleContent) -> str:
    """The article as a Markdown file with front matter (the demo knowledge base's layout)."""
    lines = [
        _DELIMITER,
        f"slug: {article.slug}",
        f"language: {article.language}",
        f"title: {_scalar(article.title)}",
    ]
    if article.category:
        lines.append(f"category: {_scalar(article.category)}")
    if article.tags:
        flow = "[" + ", ".join(article.tags) + "]"
        try:
            flow_ok = yaml.safe_load(f"k: {flow}") == {"k": list(article.tags)}
        except yaml.YAMLError:
            flow_ok = False
        if not flow_ok:
            flow = "[" + ", ".join(json.dumps(t, ensure_ascii=False) for t in article.tags) + "]"
        lines.append(f"tags: {flow}")
    lines.append(f"status: {article.status.value}")
    if article.questions:
        lines.append("questions:")
        lines.extend(f"  - {_scalar(q, '- {}')}" for q in article.questions)
    lines.append(_DELIMITER)
    return "\n".join(lines) + "\n" + (article.body + "\n" if article.body else "")


def markdown_filename(article: ArticleContent) -> str:
    return f"{article.slug}.{article.language}.md"


def to_csv(articles: Iterable[ArticleContent]) -> str:
    """All articles as one CSV (starts with a BOM so spreadsheet programs read it as UTF-8)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    for a in articles:
        writer.writerow(
            [
                a.slug,
                a.language,
                a.title,
                a.category,
                ", ".join(a.tags),
                a.status.value,
                "\n".join(a.questions),
                a.body,
            ]
        )
    return "\ufeff" + buffer.getvalue()


def to_zip(articles: Iterable[ArticleContent]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for a in articles:
            archive.writestr(markdown_filename(a), to_markdown(a).encode("utf-8"))
    return buffer.getvalue()


def write_folder(path: Path, articles: Iterable[ArticleContent]) -> int:
    """Write one ``<slug>.<language>.md`` per article into ``path``; returns how many."""
    path.mkdir(parents=True, exist_ok=True)
    count = 0
    for a in articles:
        (path / markdown_filename(a)).write_text(to_markdown(a), encoding="utf-8")
        count += 1
    return count
