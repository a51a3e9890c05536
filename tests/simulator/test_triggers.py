"""Trigger words: the one list behind the behaviour, the root document and the README table."""

from __future__ import annotations

import re

from app.simulator.triggers import NOT_ENOUGH_CREDITS, SLOW_FACTOR, TRIGGERS, markdown_table, read_prompt
from tests.helpers import REPO

README = REPO / "README.md"


def readme_trigger_table() -> str:
    section = README.read_text(encoding="utf-8").split("\n## The simulator\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"^\| in the prompt \|.*?(?=^\s*$)", section, re.MULTILINE | re.DOTALL)
    assert match, "the README's simulator section has no trigger table"
    return match.group(0)


def test_the_readme_table_is_the_one_the_code_describes():
    assert readme_trigger_table() == markdown_table(), "paste markdown_table() into README.md"


def test_each_word_is_listed_once_in_the_table():
    words = [trigger.word for trigger in TRIGGERS]
    assert len(set(words)) == len(words) == 7
    assert all(word == word.lower() and word.startswith("[sim:") for word in words)


def test_the_table_says_what_the_code_does():
    table = markdown_table()
    assert NOT_ENOUGH_CREDITS in table
    assert SLOW_FACTOR == 3 and "three times as long" in table
    for trigger in TRIGGERS:
        if trigger.failure is not None:
            assert f"`{trigger.failure.code}`" in trigger.effect


def test_words_are_found_anywhere_in_any_case():
    effects = read_prompt("A cat [SIM:Slow] jumps; [Sim:Credits]")
    assert effects.slow and effects.no_credits and effects.failure is None
    assert read_prompt("a cat").failure is None and not read_prompt("sim:slow").slow


def test_the_first_failure_in_the_list_wins():
    effects = read_prompt("[sim:output-moderation] [sim:internal] [sim:moderation]")
    assert effects.failure is not None and effects.failure.code == "INPUT_PREPROCESSING.SAFETY.TEXT"
