import json
import re
from pathlib import Path

import pytest

from app.failures import FAILURE_GROUPS
from app.i18n import Translator, choose_language, load_messages, parse_accept_language
from app.tasks import TaskStatus
from app.upstream import ErrorKind

REPO = Path(__file__).resolve().parents[1]
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


def test_placeholders_match_between_languages():
    messages = load_messages()
    for key, english in messages["en"].items():
        assert set(re.findall(r"{(\w+)", english)) == set(re.findall(r"{(\w+)", messages["zh-CN"][key])), key


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
