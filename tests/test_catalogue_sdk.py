import importlib
import importlib.util
import json
import subprocess
import sys
import typing
from types import ModuleType

import pytest

from app.catalogue import RATIO_PATTERN, CatalogueError, load_catalogue
from app.catalogue_sdk import SdkUnavailable, generate_catalogue, load_facts
from tests.helpers import REPO

EXAMPLE = REPO / "examples" / "catalogue-official.json"

runwayml = pytest.importorskip("runwayml")
sdk_params = importlib.import_module("runwayml.types.image_to_video_create_params")


def sdk_request_types() -> dict[str, type]:
    """The installed SDK's image_to_video TypedDicts by model id, read here independently."""
    types = {}
    for request_type in typing.get_args(sdk_params.ImageToVideoCreateParams):
        hints = typing.get_type_hints(request_type)
        (model_id,) = typing.get_args(hints["model"])
        types[model_id] = request_type
    return types


def literal(hint) -> list:
    if typing.get_origin(hint) is typing.Literal:
        return list(typing.get_args(hint))
    return [v for arg in typing.get_args(hint) for v in literal(arg)]


@pytest.fixture(scope="module")
def generated():
    return generate_catalogue()


def test_the_official_models_are_there_and_gen3a_turbo_only_if_the_sdk_has_it(generated):
    ids = [m.id for m in generated.catalogue.models]
    assert ids[:4] == ["gen4.5", "gen4_turbo", "veo3.1", "veo3.1_fast"]
    assert ("gen3a_turbo" in ids) == ("gen3a_turbo" in sdk_request_types())
    assert generated.sdk_version == runwayml.__version__
    assert runwayml.__version__ in generated.catalogue.source


def test_every_model_follows_the_sdks_literal_types(generated):
    types = sdk_request_types()
    for spec in generated.catalogue.models:
        hints = typing.get_type_hints(types[spec.id])
        ratios = [r for r in literal(hints["ratio"]) if RATIO_PATTERN.match(r)]
        assert spec.ratios == tuple(ratios), spec.id
        durations = [d for d in literal(hints["duration"]) if isinstance(d, int)]
        if durations:
            assert spec.durations == tuple(sorted(durations)), spec.id
        image = typing.get_args(hints["prompt_image"])
        items = [typing.get_args(arg)[0] for arg in image if typing.get_origin(arg) is not None]
        item_hints = typing.get_type_hints(items[0]) if items and items[0] is not object else {}
        if "position" in item_hints:
            assert set(spec.positions) == set(literal(item_hints["position"])), spec.id


def test_what_the_sdk_says_about_the_main_models(generated):
    catalogue = generated.catalogue
    gen45, turbo, veo = catalogue.get("gen4.5"), catalogue.get("gen4_turbo"), catalogue.get("veo3.1")
    assert gen45.durations == tuple(range(2, 11)) and gen45.prompt_required and gen45.positions == ("first",)
    assert gen45.prompt_max_units == 1000
    assert turbo.positions == ("first",) and not turbo.prompt_required
    assert veo.ratios == ("1280:720", "720:1280", "1080:1920", "1920:1080")
    assert veo.durations == (4, 6, 8) and veo.positions == ("first", "last")
    # No model of the official API takes the relay's own fields.
    assert catalogue.optional_fields == ()
    assert not any(m.accepts("watermark") or m.accepts("notify_hook") for m in catalogue.models)


def test_prices_come_from_the_facts_file_and_unknown_ones_are_marked(generated):
    catalogue = generated.catalogue
    assert catalogue.get("gen4.5").price(5) == 60 and catalogue.get("gen4.5").price(10) == 120
    assert catalogue.get("gen4_turbo").price(5) == 25 and catalogue.get("gen4_turbo").price(10) == 50
    veo = catalogue.get("veo3.1")
    assert not veo.price_known and veo.price(4) is None and "No price known" in veo.note
    assert json.loads(catalogue.as_public_json())["veo3.1"]["prices"] == {}


def test_gen4_turbo_durations_come_from_the_facts_file_and_say_so(generated):
    turbo = generated.catalogue.get("gen4_turbo")
    assert turbo.durations == (5, 10) and "facts file" in turbo.note


def test_models_the_form_cannot_offer_are_listed_with_a_reason(generated):
    listed = {m.id for m in generated.catalogue.models}
    skipped = dict(generated.skipped)
    assert listed | set(skipped) == set(sdk_request_types())
    assert not listed & set(skipped)
    assert all(reason for reason in skipped.values())


def test_facts_can_fill_what_the_sdk_leaves_open(tmp_path):
    facts = load_facts()
    custom = facts.model_copy(update={
        "prices": facts.prices.model_copy(update={"credits_per_second": {"veo3.1": 40}}),
        "durations": facts.durations.model_copy(update={"models": {"gen4_turbo": (5, 10), "kling3.0_pro": (5, 10)}}),
    })
    path = tmp_path / "facts.json"
    path.write_text(custom.model_dump_json(), "utf-8")
    catalogue = generate_catalogue(load_facts(path)).catalogue
    assert catalogue.get("veo3.1").price(8) == 320
    assert catalogue.get("gen4.5").price(5) is None  # this facts file has no gen4.5 price
    if "kling3.0_pro" in sdk_request_types():
        assert catalogue.get("kling3.0_pro").durations == (5, 10)


def test_a_bad_facts_file_is_one_clear_line(tmp_path, cli):
    path = tmp_path / "facts.json"
    path.write_text('{"prices": {"source": "x", "credits_per_second": {"a": "cheap"}}}', "utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_facts(path)
    assert "facts file" in str(caught.value) and "\n" not in str(caught.value)
    refused = cli("catalogue", "from-sdk", "--facts", str(path))
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1


def test_the_committed_example_is_a_fresh_generation(generated):
    """Upgrade the SDK and this fails until the example is regenerated (see README)."""
    assert EXAMPLE.read_text("utf-8") == generated.to_json()


def test_the_cli_writes_a_loadable_catalogue_to_output(tmp_path, cli):
    target = tmp_path / "out" / "catalogue.json"
    captured = cli("catalogue", "from-sdk", "--output", str(target))
    assert captured.returncode == 0 and captured.stdout == ""
    assert f"to {target}" in captured.stderr and "left out" in captured.stderr
    assert load_catalogue(target).get("gen4.5") is not None
    assert not list(target.parent.glob("*.part"))


def test_the_cli_prints_to_stdout_without_output(cli):
    printed = cli("catalogue", "from-sdk")
    assert printed.returncode == 0 and json.loads(printed.stdout)["models"][0]["id"] == "gen4.5"


def test_the_console_runs_on_the_generated_catalogue(open_console):
    page = open_console(CONSOLE_CATALOGUE=EXAMPLE).get("/")
    assert page.status_code == 200
    assert 'value="veo3.1_fast"' in page.text


def test_without_the_sdk_the_error_says_to_install_it():
    def missing(name: str) -> ModuleType:
        raise ModuleNotFoundError(f"No module named {name!r}")

    with pytest.raises(SdkUnavailable, match="install the runwayml package"):
        generate_catalogue(import_module=missing)


def test_the_cli_without_the_sdk_exits_with_the_install_hint(tmp_path):
    # sys.modules[name] = None makes every import of the SDK fail, as if it were not installed.
    code = (
        "import sys; sys.modules['runwayml'] = None; from app.cli import main; "
        f"sys.exit(main(['catalogue', 'from-sdk', '--output', {str(tmp_path / 'c.json')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "install the runwayml package" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "c.json").exists()


def test_the_console_does_not_import_the_sdk():
    code = "import sys; sys.modules['runwayml'] = None; from app.main import create_app; import app.cli; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


FAKE_SDK = '''
from __future__ import annotations

from typing import Iterable, Union
from typing_extensions import Annotated, Literal, Required, TypedDict


class PropertyInfo:
    def __init__(self, alias=None):
        self.alias = alias


class Frame(TypedDict, total=False):
    position: Required[Literal["first", "last"]]
    uri: Required[str]


class Defaulted(TypedDict, total=False):
    model: Required[Literal["defaulted"]]
    prompt_image: Required[Annotated[Union[str, Iterable[Frame]], PropertyInfo(alias="promptImage")]]
    ratio: Required[Literal["1280:720", "auto_720p"]]
    duration: Literal[5, 10]
    """The duration of the output video in seconds. Defaults to 10."""
    prompt_text: Annotated[str, PropertyInfo(alias="promptText")]
    """A string up to 2,500 characters (measured in UTF-16 code units)."""
    watermark: bool


class Prose(TypedDict, total=False):
    model: Required[Literal["prose"]]
    prompt_image: Required[Annotated[Union[str, Iterable[object]], PropertyInfo(alias="promptImage")]]
    """Use position `first`/`last` for keyframe mode."""
    ratio: Literal["960:960"]
    duration: Union[int, Literal["auto"]]
    """Seconds of video, a whole number between 3 and 6."""
    prompt_text: Required[Annotated[str, PropertyInfo(alias="promptText")]]
    """A non-empty prompt."""


class Frameless(TypedDict, total=False):
    model: Required[Literal["frameless"]]
    prompt_image: Required[Annotated[str, PropertyInfo(alias="promptImage")]]
    ratio: Required[Literal["auto_1080p"]]
    duration: int


ImageToVideoCreateParams = Union[Defaulted, Prose, Frameless]
'''


@pytest.fixture
def fake_sdk(tmp_path, monkeypatch):
    """A stand-in SDK module, loaded from a real file so its field docstrings can be read."""
    source = tmp_path / "fake_image_to_video_params.py"
    source.write_text(FAKE_SDK, "utf-8")
    spec = importlib.util.spec_from_file_location("fake_image_to_video_params", source)
    params = importlib.util.module_from_spec(spec)
    # Registered as a real import would be: type hints are resolved in the module's namespace.
    monkeypatch.setitem(sys.modules, spec.name, params)
    spec.loader.exec_module(params)
    package = ModuleType("runwayml")
    package.__version__ = "9.9.9"
    modules = {"runwayml": package, "runwayml.types.image_to_video_create_params": params}
    return modules.__getitem__


def test_defaults_limits_and_fields_are_read_from_the_types_and_their_docs(fake_sdk):
    generated = generate_catalogue(import_module=fake_sdk)
    catalogue = generated.catalogue
    assert catalogue.source.startswith("runwayml 9.9.9")
    defaulted = catalogue.get("defaulted")
    assert defaulted.default_duration == 10 and defaulted.durations == (5, 10)
    assert defaulted.ratios == ("1280:720",) and "auto_720p" in defaulted.note
    assert defaulted.prompt_max_units == 2500 and not defaulted.prompt_required
    assert defaulted.optional_fields == ("watermark",) and not defaulted.accepts("notify_hook")
    prose = catalogue.get("prose")
    assert prose.durations == (3, 4, 5, 6) and prose.default_duration is None and "auto" in prose.note
    assert prose.positions == ("first", "last") and "description" in prose.note
    assert prose.prompt_required and prose.prompt_max_units == 1000 and "1000 is assumed" in prose.note
    assert dict(generated.skipped) == {"frameless": "no W:H ratio, only auto_1080p"}
    written = json.loads(generated.to_json())
    assert written["models"][0]["optional_fields"] == ["watermark"]
    assert "optional_fields" not in written["models"][1]  # inherits the catalogue's empty list
