"""list_models() and remove() on the real ramalama CLI and its store."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ramalama_sdk import ModelNotFoundError, RamalamaError, RamalamaModel
from ramalama_sdk.store.management import ModelInfo, list_models, parse_model_list, remove


def _pulled(source: Path, directory: Path, name: str) -> str:
    """A copy of ``source`` named ``name``, pulled into the store; its URI."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    shutil.copyfile(source, target)
    uri = "file://" + str(target)  # as typed by a user, spaces included
    RamalamaModel(model=uri).download()
    return uri


def _find(name: str) -> ModelInfo | None:
    return next((info for info in list_models() if info.name == name), None)


def _template_free_gguf(path: Path) -> Path:
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("no chat template here")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_list_shows_pulled_model_with_size_and_time(model_file: Path, tmp_path: Path) -> None:
    before = datetime.now(timezone.utc)
    uri = _pulled(model_file, tmp_path, "listed.gguf")
    after = datetime.now(timezone.utc)

    info = _find(uri)
    assert info is not None, [m.name for m in list_models()]
    # The size counts the chat template ramalama extracts from the GGUF
    # and stores beside it (a few hundred bytes).
    assert model_file.stat().st_size <= info.size <= model_file.stat().st_size + 4096
    assert info.modified.tzinfo is not None and info.modified.utcoffset() is not None
    assert before - timedelta(seconds=5) <= info.modified <= after + timedelta(seconds=5)
    remove(uri)


def test_size_is_the_file_size_for_a_model_without_template(tmp_path: Path) -> None:
    model = _template_free_gguf(tmp_path / "plain.gguf")
    uri = model.as_uri()
    RamalamaModel(model=uri).download()
    info = _find(uri)
    assert info is not None
    assert info.size == model.stat().st_size
    remove(uri)


def test_remove_makes_the_model_disappear(model_file: Path, tmp_path: Path) -> None:
    uri = _pulled(model_file, tmp_path, "removed.gguf")
    assert _find(uri) is not None
    remove(uri)
    assert _find(uri) is None
    # Gone from the store, so removing it again is an unknown model.
    with pytest.raises(ModelNotFoundError):
        remove(uri)


def test_remove_unknown_model_raises_naming_it(tmp_path: Path) -> None:
    uri = (tmp_path / "never-pulled.gguf").as_uri()
    with pytest.raises(ModelNotFoundError) as caught:
        remove(uri)
    assert uri in str(caught.value)
    assert caught.value.model == uri
    assert caught.value.exit_code == 22
    assert isinstance(caught.value, LookupError)


def test_remove_unknown_model_with_ignore_is_quiet(model_file: Path, tmp_path: Path) -> None:
    kept = _pulled(model_file, tmp_path, "kept.gguf")
    remove((tmp_path / "never-pulled.gguf").as_uri(), ignore=True)
    remove("no-such-shortname-anywhere", ignore=True)
    assert _find(kept) is not None  # nothing else was touched
    remove(kept)


def test_unknown_shortname_is_not_found() -> None:
    with pytest.raises(ModelNotFoundError, match="no-such-shortname-anywhere"):
        remove("no-such-shortname-anywhere")


def test_names_with_spaces_are_one_argument(model_file: Path, tmp_path: Path) -> None:
    uri = _pulled(model_file, tmp_path / "my models", "tiny model.gguf")
    assert " " in uri
    assert _find(uri) is not None
    remove(uri)
    assert _find(uri) is None


def test_a_name_like_an_option_stays_a_name() -> None:
    # Taken as the option, 'ramalama rm --help' would print help and succeed.
    with pytest.raises(ModelNotFoundError, match="--help"):
        remove("--help")
    remove("--help", ignore=True)


def test_empty_store_lists_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAMALAMA_STORE", str(tmp_path / "empty-store"))
    assert list_models() == []


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("Error: something else", "not JSON"),
        ('{"name": "m"}', "not a JSON array"),
        ('["m"]', "not an object"),
        ('[{"size": 1, "modified": "2026-01-01T00:00:00+00:00"}]', "no name"),
        ('[{"name": "m", "size": "1", "modified": "2026-01-01T00:00:00+00:00"}]', "size"),
        ('[{"name": "m", "size": true, "modified": "2026-01-01T00:00:00+00:00"}]', "size"),
        ('[{"name": "m", "size": 1}]', "modification time"),
        ('[{"name": "m", "size": 1, "modified": "yesterday"}]', "unreadable time"),
        ('[{"name": "m", "size": 1, "modified": "2026-01-01T00:00:00"}]', "without a timezone"),
    ],
)
def test_malformed_list_answer_raises_with_the_output(answer: str, why: str) -> None:
    with pytest.raises(RamalamaError) as caught:
        parse_model_list(answer)
    assert why in str(caught.value)
    assert answer in str(caught.value)


def test_list_answer_keeps_order_and_offsets() -> None:
    answer = (
        '[{"shortname": "tiny", "name": "hf://a/b", "modified": '
        '"2026-05-01T10:00:00+02:00", "size": 5, "extra": 1},'
        ' {"shortname": "", "name": "file:///m.gguf", "modified": '
        '"2026-05-01T08:00:00.250000+00:00", "size": 0}]'
    )
    first, second = parse_model_list(answer)
    assert first == ModelInfo("hf://a/b", 5, datetime(2026, 5, 1, 8, tzinfo=timezone.utc))
    assert first.modified.utcoffset() == timedelta(hours=2)
    assert second.name == "file:///m.gguf" and second.size == 0


def test_download_copies_a_changed_file_again(model_file: Path, tmp_path: Path) -> None:
    """ramalama keeps the copy it took of a file:// model; download() sees new
    content itself (tests/test_stale_models.py), and force=True always copies."""
    from ramalama_sdk import RamalamaModel

    path = tmp_path / "changing.gguf"
    shutil.copyfile(model_file, path)
    uri = path.as_uri()
    model = RamalamaModel(model=uri)
    model.download()
    (before,) = [m.size for m in list_models() if m.name == uri]
    with open(path, "ab") as out:
        out.write(bytes(4096))
    model.download()
    assert [m.size for m in list_models() if m.name == uri] == [before + 4096]
    model.download(force=True)
    assert [m.size for m in list_models() if m.name == uri] == [before + 4096]
    remove(uri)
    assert all(m.name != uri for m in list_models())
