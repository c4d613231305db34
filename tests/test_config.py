"""The one typed configuration: params.yaml and --param, validated with file, line and a hint."""

from __future__ import annotations

import pytest
import yaml

from pipeline.config import ParamsError, load_params
from pipeline.config.models import MODEL_SETTINGS, TfidfSettings, TransformerSettings
from pipeline.experiments.train import training_settings
from tests.conftest import REPO, run_cli, run_console_script

PARAMS = REPO / "params.yaml"


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def _edited(tmp_path, old: str, new: str):
    """params.yaml with the first ``old`` line replaced by ``new``, and that line's number."""
    text = PARAMS.read_text(encoding="utf-8")
    line = _line_of(text, old)
    lines = text.splitlines()
    lines[line - 1] = lines[line - 1].replace(old, new)
    path = tmp_path / "params.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, line


def test_the_project_params_file_is_valid_and_check_says_so():
    params = load_params(PARAMS)
    assert params.seed == yaml.safe_load(PARAMS.read_text())["base"]["seed"]
    result = run_cli("params", "check", str(PARAMS))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_every_model_section_of_params_yaml_is_typed():
    raw = yaml.safe_load(PARAMS.read_text())
    params = load_params(PARAMS)
    for kind in raw["models"] + ["ensemble"]:
        section = params.model_section(kind)
        assert isinstance(section, MODEL_SETTINGS[kind])
        # what the file says is what the model gets (the mix keys are not model params)
        for key, value in (raw.get(kind) or {}).items():
            dumped = section.model_dump()[key]
            assert (list(dumped) if isinstance(dumped, tuple) else dumped) == value, (kind, key)


def test_an_unknown_key_is_refused_with_file_line_and_the_closest_key(tmp_path):
    # The tfidf section's C, misspelt: the error names the file, the line and the key meant.
    text = PARAMS.read_text(encoding="utf-8")
    tfidf_line = _line_of(text, "tfidf:")
    c_line = tfidf_line + next(
        i for i, line in enumerate(text.splitlines()[tfidf_line:], start=1) if line.strip().startswith("C:")
    )
    lines = text.splitlines()
    lines[c_line - 1] = lines[c_line - 1].replace("C:", "Cee:")
    path = tmp_path / "params.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = run_console_script("params", "check", str(path))  # the installed entry point, in a process
    assert result.returncode == 1
    assert f"{path}:{c_line}: tfidf.Cee: unknown key; did you mean 'C'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_wrong_type_is_refused_with_the_expected_type(tmp_path):
    path, line = _edited(tmp_path, "max_features: 200000", "max_features: lots")
    result = run_cli("params", "check", str(path))
    assert result.returncode == 1
    assert f"{path}:{line}: tfidf.max_features:" in result.stderr
    assert "expected an integer, found 'lots'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_misspelt_section_is_refused(tmp_path):
    path, line = _edited(tmp_path, "transformer:", "transfomer:")
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    assert f"{path}:{line}: transfomer: unknown key; did you mean 'transformer'?" in str(caught.value)


def test_bad_yaml_and_a_missing_file_are_clear_errors(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("tfidf: [\n", encoding="utf-8")
    result = run_cli("params", "check", str(broken))
    assert result.returncode == 1 and "expected valid YAML" in result.stderr
    result = run_cli("params", "check", str(tmp_path / "absent.yaml"))
    assert result.returncode != 0 and "Traceback" not in result.stderr


def test_param_overrides_are_typed_and_checked():
    chosen = training_settings("transformer", PARAMS, ["learning_rate=5e-5", "risk.method=coverage", "epochs=1"])
    assert chosen.model["learning_rate"] == pytest.approx(5e-5)  # YAML reads 5e-5 as a string: typed here
    assert chosen.model["epochs"] == 1
    assert chosen.risk["method"] == "coverage"
    assert "train_synthetic" not in chosen.model  # the training mix is not a model setting
    chosen = training_settings("tfidf", PARAMS, ["authored.weight=0"])
    assert chosen.authored_weight == 0

    with pytest.raises(
        ParamsError,
        match=r"--param lerning_rate=1: transformer.lerning_rate: unknown key; did you mean 'learning_rate'\?",
    ):
        training_settings("transformer", PARAMS, ["lerning_rate=1"])
    with pytest.raises(ParamsError, match=r"--param C=abc: tfidf.C: .*expected a number, found 'abc'"):
        training_settings("tfidf", PARAMS, ["C=abc"])
    with pytest.raises(ParamsError, match=r"expected key=value"):
        training_settings("tfidf", PARAMS, ["C"])


def test_train_refuses_a_bad_param_before_reading_any_data(tmp_path):
    missing = tmp_path / "never-read.jsonl"
    missing.write_text("not json\n", encoding="utf-8")
    result = run_cli(
        "train", "--model", "tfidf", "--train", str(missing), "--valid", str(missing),
        "--out", str(tmp_path / "model"), "--params", str(PARAMS), "--param", "Cee=3", "--no-track",
    )  # fmt: skip
    assert result.returncode == 1
    assert "--param Cee=3: tfidf.Cee: unknown key; did you mean 'C'?" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "model").exists()


def test_defaults_live_in_one_place():
    from pipeline.models.tfidf import TfidfModel
    from pipeline.models.transformer import TransformerModel

    labels = ["a", "b"]
    assert TfidfModel(labels).params == TfidfSettings().model_params()
    assert TransformerModel(labels, {"epochs": 3}).params == TransformerSettings(epochs=3).model_params()
    with pytest.raises(Exception, match="tfidf settings: Cee"):
        TfidfModel(labels, {"Cee": 3})
