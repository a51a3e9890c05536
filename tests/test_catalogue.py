import json
from pathlib import Path

import pytest

from app.catalogue import SEED_MAX, CatalogueError, check_request, load_catalogue, utf16_units
from tests.helpers import REPO

VENDOR_RATIOS = {
    "gen3a_turbo": ("1280:768", "768:1280"),
    "gen4_turbo": ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"),
}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data), "utf-8")
    return path


def codes(issues):
    return [(i.field, i.code) for i in issues]


def test_default_is_exactly_the_vendor_docs_two_models():
    catalogue = load_catalogue()
    assert {m.id: m.ratios for m in catalogue.models} == VENDOR_RATIOS
    for model in catalogue.models:
        assert model.durations == (5, 10)
        assert set(model.positions) == {"first", "last"}
        assert model.prompt_max_units == 1000
        assert model.price(10) == 2 * model.price(5)


def test_operator_file_extends_the_catalogue(tmp_path):
    catalogue = load_catalogue(REPO / "examples" / "catalogue-official.json")
    gen45 = catalogue.get("gen4.5")
    assert gen45.positions == ("first",) and gen45.prompt_required
    assert gen45.durations == tuple(range(2, 11))
    assert catalogue.get("veo3.1").ratios == ("1280:720", "720:1280", "1080:1920", "1920:1080")
    assert catalogue.get("gen3a_turbo") is None


def test_operator_file_restricts_the_catalogue(tmp_path):
    path = write(tmp_path, {"models": [{"id": "gen4_turbo", "ratios": ["960:960"], "durations": [5]}]})
    catalogue = load_catalogue(path)
    assert [m.id for m in catalogue.models] == ["gen4_turbo"]
    assert codes(check_request(catalogue, model="gen4_turbo", ratio="1280:720", duration=10,
                               positions=["first"], prompt="", seed=None)) == [
        ("ratio", "ratio_not_allowed"), ("duration", "duration_not_allowed")]


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"models": []}, "models"),
        ({"models": [{"id": "x", "ratios": ["16/9"], "durations": [5]}]}, "W:H"),
        ({"models": [{"id": "x", "ratios": ["1:1"], "durations": [5], "positions": ["last"]}]}, "first"),
        ({"models": [{"id": "x", "ratios": ["1:1"], "durations": [5], "prices": {"10": 3}}]}, "prices"),
        ({"models": [{"id": "x", "ratios": ["1:1"], "durations": [5]}] * 2}, "unique"),
        ({"models": [{"id": "x", "ratios": ["1:1"], "durations": [5], "colour": "red"}]}, "colour"),
    ],
)
def test_a_bad_catalogue_file_is_one_clear_line(tmp_path, data, fragment):
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(write(tmp_path, data))
    message = str(caught.value)
    assert fragment in message and "\n" not in message


def test_unreadable_catalogue_file(tmp_path):
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", "utf-8")
    with pytest.raises(CatalogueError):
        load_catalogue(broken)


def test_rules_follow_the_model():
    catalogue = load_catalogue()
    ok = dict(model="gen3a_turbo", ratio="768:1280", duration=10, positions=["first", "last"], prompt="x", seed=0)
    assert check_request(catalogue, **ok) == []
    assert codes(check_request(catalogue, **(ok | {"ratio": "1280:720"}))) == [("ratio", "ratio_not_allowed")]
    assert codes(check_request(catalogue, **(ok | {"model": "gen5"}))) == [("model", "model_unknown")]
    assert codes(check_request(catalogue, **(ok | {"positions": ["last"]}))) == [
        ("promptImage", "first_frame_required")]
    assert codes(check_request(catalogue, **(ok | {"positions": ["first", "first"]}))) == [
        ("promptImage", "position_repeated")]


def test_last_frame_refused_where_the_model_has_no_last_position(tmp_path):
    path = write(tmp_path, {"models": [{"id": "one", "ratios": ["1:1"], "durations": [5], "positions": ["first"]}]})
    issues = check_request(load_catalogue(path), model="one", ratio="1:1", duration=5,
                           positions=["first", "last"], prompt="", seed=None)
    assert codes(issues) == [("promptImage", "position_not_allowed")]
    assert issues[0].params["position"] == "last"


def test_prompt_is_counted_in_utf16_units():
    assert utf16_units("abc") == 3
    assert utf16_units("海浪") == 2
    assert utf16_units("🌊") == 2  # outside the BMP: a surrogate pair
    catalogue = load_catalogue()
    base = dict(model="gen4_turbo", ratio="960:960", duration=5, positions=["first"], seed=None)
    assert check_request(catalogue, prompt="🌊" * 500, **base) == []
    assert codes(check_request(catalogue, prompt="🌊" * 500 + "a", **base)) == [("promptText", "prompt_too_long")]


@pytest.mark.parametrize("seed, valid", [(0, True), (SEED_MAX, True), (-1, False), (SEED_MAX + 1, False)])
def test_seed_range(seed, valid):
    issues = check_request(load_catalogue(), model="gen4_turbo", ratio="960:960", duration=5,
                           positions=["first"], prompt="", seed=seed)
    assert (issues == []) is valid


def test_prompt_required_by_model(tmp_path):
    path = write(tmp_path, {"models": [{"id": "p", "ratios": ["1:1"], "durations": [5], "prompt_required": True}]})
    catalogue = load_catalogue(path)
    args = dict(model="p", ratio="1:1", duration=5, positions=["first"], seed=None)
    assert codes(check_request(catalogue, prompt="  ", **args)) == [("promptText", "prompt_required")]
    assert check_request(catalogue, prompt="go", **args) == []


def test_public_json_is_what_the_browser_needs():
    data = json.loads(load_catalogue().as_public_json())
    assert data["gen3a_turbo"] == {
        "ratios": ["1280:768", "768:1280"], "durations": [5, 10], "positions": ["first", "last"],
        "promptMax": 1000, "promptRequired": False, "defaultDuration": None,
        "optionalFields": ["watermark", "notify_hook"], "prices": {"5": 25.0, "10": 50.0},
    }


def test_a_lone_surrogate_counts_as_one_unit_instead_of_crashing():
    assert utf16_units("a\ud800b") == 3


def test_the_repeated_position_is_the_one_named():
    issues = check_request(load_catalogue(), model="gen4_turbo", ratio="960:960", duration=5,
                           positions=["first", "first", "last"], prompt="", seed=None)
    assert [(i.code, i.params["position"]) for i in issues] == [("position_repeated", "first")]



def test_default_catalogue_accepts_the_relays_optional_fields():
    catalogue = load_catalogue()
    assert catalogue.optional_fields == ("watermark", "notify_hook")
    for model in catalogue.models:
        assert model.accepts("watermark") and model.accepts("notify_hook")
        assert model.price_known
    # The official schema lets gen4_turbo's duration be left out; the catalogue's note says why 5.
    assert [(m.id, m.default_duration) for m in catalogue.models] == [("gen4_turbo", 5), ("gen3a_turbo", None)]
    assert "states no default" in catalogue.models[0].note


def test_a_catalogue_without_the_new_keys_behaves_as_before(tmp_path):
    path = write(tmp_path, {"models": [{"id": "old", "ratios": ["1:1"], "durations": [5, 10]}]})
    catalogue = load_catalogue(path)
    old = catalogue.get("old")
    # Today's console sends watermark and notify_hook to every upstream: an old file keeps that.
    assert old.optional_fields == ("watermark", "notify_hook") and old.accepts("notify_hook")
    assert old.default_duration is None and old.effective_duration(None) is None
    assert not old.price_known and old.price(5) is None
    args = dict(model="old", ratio="1:1", positions=["first"], prompt="", seed=None)
    assert codes(check_request(catalogue, duration=None, **args)) == [("duration", "duration_not_allowed")]


def test_models_inherit_the_catalogues_optional_fields_unless_they_list_their_own(tmp_path):
    path = write(tmp_path, {
        "optional_fields": [],
        "models": [
            {"id": "strict", "ratios": ["1:1"], "durations": [5]},
            {"id": "hooked", "ratios": ["1:1"], "durations": [5], "optional_fields": ["notify_hook"]},
        ],
    })
    catalogue = load_catalogue(path)
    assert catalogue.get("strict").optional_fields == ()
    assert not catalogue.get("strict").accepts("watermark")
    assert catalogue.get("hooked").accepts("notify_hook") and not catalogue.get("hooked").accepts("watermark")
    public = json.loads(catalogue.as_public_json())
    assert public["strict"]["optionalFields"] == [] and public["hooked"]["optionalFields"] == ["notify_hook"]


def test_a_default_duration_stands_in_for_a_missing_one(tmp_path):
    path = write(tmp_path, {"models": [{"id": "d", "ratios": ["1:1"], "durations": [4, 6, 8], "default_duration": 6}]})
    catalogue = load_catalogue(path)
    spec = catalogue.get("d")
    assert spec.effective_duration(None) == 6 and spec.effective_duration(8) == 8
    args = dict(model="d", ratio="1:1", positions=["first"], prompt="", seed=None)
    assert check_request(catalogue, duration=None, **args) == []
    assert codes(check_request(catalogue, duration=5, **args)) == [("duration", "duration_not_allowed")]
    assert json.loads(catalogue.as_public_json())["d"]["defaultDuration"] == 6


@pytest.mark.parametrize(
    "model, fragment",
    [
        ({"default_duration": 7}, "default_duration 7"),
        ({"optional_fields": ["watermark", "watermark"]}, "twice"),
        ({"optional_fields": ["contentModeration"]}, "optional_fields"),
    ],
)
def test_bad_new_fields_are_one_clear_line(tmp_path, model, fragment):
    path = write(tmp_path, {"models": [{"id": "x", "ratios": ["1:1"], "durations": [5, 10]} | model]})
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_a_bad_top_level_optional_field_is_refused(tmp_path):
    path = write(tmp_path, {"optional_fields": ["seed"], "models": [{"id": "x", "ratios": ["1:1"], "durations": [5]}]})
    with pytest.raises(CatalogueError, match="optional_fields"):
        load_catalogue(path)
