import json
import re
import string
from html.parser import HTMLParser

import pytest

from app.failures import FAILURE_GROUPS
from app.i18n import Translator, choose_language, load_messages, parse_accept_language
from app.tasks import TaskStatus
from app.upstream_errors import ErrorKind
from tests.helpers import REPO

KEY_CALL = re.compile(r"""\bt\(\s*["']([a-zA-Z0-9_.]+)["']""")
# ASGI event names ("http.response.start") look like keys under http.; they are not.
MESSAGE_KEY = re.compile(
    r"""["']((?:errors|notes|upstream|http(?!\.(?:request|response|disconnect))|form|task)\.[a-z0-9_.]+)["']"""
)


def test_both_languages_have_exactly_the_same_keys():
    messages = load_messages()
    assert set(messages["en"]) == set(messages["zh-CN"])


def test_chinese_strings_are_really_translated():
    messages = load_messages()
    def words(text: str) -> bool:
        return bool(re.search("[a-z]{4}", re.sub(r"{\w+[^}]*}", "", text)))

    same = [k for k, v in messages["en"].items() if messages["zh-CN"][k] == v and words(v)]
    assert same == []


def placeholders(text: str) -> set[tuple[str, str, str]]:
    """The {fields} of a format string: name, conversion and format spec ("{size_mb:.1f}", "{value!r}")."""
    return {(name, conversion or "", spec or "") for _, name, spec, conversion in string.Formatter().parse(text)
            if name is not None}


def test_placeholders_match_between_languages():
    messages = load_messages()
    differ = {key: (placeholders(english), placeholders(messages["zh-CN"][key]))
              for key, english in messages["en"].items()
              if placeholders(english) != placeholders(messages["zh-CN"][key])}
    assert differ == {}


def test_placeholder_parsing_sees_names_conversions_and_specs():
    assert placeholders("{size_mb:.1f} MB，{value!r}") == {("size_mb", "", ".1f"), ("value", "r", "")}
    assert placeholders("1280:720 (no fields)") == set()


# CJK ideographs plus CJK and full-width punctuation (。，：（）…): what Chinese prose is made of.
CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
HALF_WIDTH = ",:;!?()"


def half_width_by_cjk(text: str) -> list[str]:
    """Half-width , : ; ! ? ( ) in Chinese prose: touching a CJK character (one space apart at most) or
    another such mark, as in "时长(秒):"; placeholders count as neither."""
    prose = re.sub(r"{[^{}]*}", "0", text)

    def neighbours(i: int) -> list[int]:
        left = i - 2 if i >= 2 and prose[i - 1] == " " else i - 1
        right = i + 2 if i + 2 < len(prose) and prose[i + 1] == " " else i + 1
        return [j for j in (left, right) if 0 <= j < len(prose)]

    marks = [i for i, char in enumerate(prose) if char in HALF_WIDTH]
    flagged = {i for i in marks if any(re.match(f"[{CJK}]", prose[j]) for j in neighbours(i))}
    while spread := {i for i in marks if i not in flagged and set(neighbours(i)) & flagged}:
        flagged |= spread
    return [prose[i] for i in sorted(flagged)]


@pytest.mark.parametrize(
    "text, found",
    [
        ("{model} 支持的时长(秒):{allowed}。", ["(", ")", ":"]),
        ("描述画面运动,例如: 海浪", [",", ":"]),
        ("已重新编码为 JPEG({from_mb} MB)，以满足", [")"]),
        ("不是有效的 data URI(data:image/png;base64,…)。", [")"]),
        ("真的吗?是的!", ["?", "!"]),
        ("比例 1280:720，种子 {seed}；https://example.com/a,b?c", []),
        ("data URI 大小为 {size_mb:.1f} MB，上限为 {max_mb:.0f} MB。", []),
    ],
)
def test_the_punctuation_check_finds_half_width_marks_in_chinese(text, found):
    assert half_width_by_cjk(text) == found


def test_chinese_uses_full_width_punctuation():
    zh = load_messages()["zh-CN"]
    offending = {key: half_width_by_cjk(text) for key, text in zh.items() if half_width_by_cjk(text)}
    assert offending == {}


def test_chinese_durations_are_in_seconds_written_as_such():
    zh = load_messages()["zh-CN"]
    assert zh["form.seconds"] == "{n} 秒"
    assert [key for key, text in zh.items() if re.search(r"\d\s?s\b|}\s?s\b", text)] == []


def static_keys() -> set[str]:
    keys = set()
    for path in (REPO / "templates").glob("*.html"):
        keys |= set(KEY_CALL.findall(path.read_text("utf-8")))
    for path in (REPO / "app").rglob("*.py"):
        keys |= set(MESSAGE_KEY.findall(path.read_text("utf-8")))
    # Prefixes completed at run time ("status." ~ status) and template names are not keys.
    return {k for k in keys if not k.endswith((".", ".html"))}


def dynamic_keys() -> set[str]:
    keys = {f"status.{s}" for s in TaskStatus}
    for group in {*FAILURE_GROUPS.values(), "unknown"}:
        keys |= {f"failure.{group}.title", f"failure.{group}.advice"}
    keys |= {f"upstream.kind.{kind}" for kind in ErrorKind}
    keys |= {"form.first_frame", "form.last_frame"}
    for path in (REPO / "app").rglob("*.py"):
        text = path.read_text("utf-8")
        keys |= {f"errors.{c}" for c in re.findall(r'ImageProblem\("([a-z_]+)"', text)}
        keys |= {f"errors.{c}" for c in re.findall(r'RuleIssue\("[A-Za-z]+", "([a-z_]+)"', text)}
        keys |= {f"notes.{c}" for c in re.findall(r'"(note_[a-z_]+)"', text)}
    return keys


def test_every_key_the_code_uses_exists():
    english = load_messages()["en"]
    missing = sorted(k for k in static_keys() | dynamic_keys() if k not in english)
    assert missing == []


def test_the_key_scan_really_finds_keys():
    assert {"form.generate", "errors.both_file_and_url", "errors.image_ratio", "notes.note_reencoded"} <= (
        static_keys() | dynamic_keys())


@pytest.mark.parametrize(
    "header, expected",
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", ["zh-CN", "en"]),
        ("en-GB,en;q=0.9,zh-TW;q=0.5", ["en", "zh-CN"]),
        ("fr-FR, de;q=0.5", []),
        ("en;q=0.2, zh-Hans;q=0.9", ["zh-CN", "en"]),
        ("zh;q=0", []),
        ("", []),
    ],
)
def test_accept_language(header, expected):
    assert parse_accept_language(header) == expected


def test_explicit_choice_beats_cookie_beats_browser():
    assert choose_language("en", "zh-CN", "zh-CN", "en") == "en"
    assert choose_language(None, "zh-CN", "en", "en") == "zh-CN"
    assert choose_language(None, "xx", "zh", "en") == "zh-CN"
    assert choose_language(None, None, "fr", "zh-CN") == "zh-CN"


def test_translator_formats_and_falls_back():
    t = Translator("zh-CN")
    assert t("form.seconds", n=5) == "5 秒"
    assert t("no.such.key") == "no.such.key"
    assert Translator("klingon").lang == "en"


def test_locale_files_are_valid_json_with_string_values():
    for lang in ("en", "zh-CN"):
        data = json.loads((REPO / "app" / "locales" / f"{lang}.json").read_text("utf-8"))
        assert all(isinstance(v, str) and v for v in data.values())


class PageText(HTMLParser):
    """The text a reader sees: text nodes and placeholders, without scripts and styles."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in ("script", "style")
        self.parts += [value for name, value in attrs if name in ("placeholder", "title", "alt") and value]

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def test_chinese_pages_join_their_strings_with_full_width_punctuation(sim_console, png):
    sim_console.cookies.set("lang", "zh-CN")
    fields = {"model": "gen4_turbo", "ratio": "1280:720", "duration": "5"}
    frame = {"first_frame": ("a.png", png, "image/png")}
    form = sim_console.get("/").text
    refused = sim_console.post("/tasks", data={**fields, "seed": "x"}, files=frame).text
    created = sim_console.post("/tasks", data={**fields, "promptText": "[sim:moderation]"}, files=frame)
    task = sim_console.get(created.headers["location"]).text
    assert "种子" in refused and "预计费用" in form
    for html in (form, refused, task, sim_console.get("/tasks").text):
        text = "\n".join(PageText(html).parts)
        assert half_width_by_cjk(text) == [], [line for line in text.splitlines() if half_width_by_cjk(line)]
