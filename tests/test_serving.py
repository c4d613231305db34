"""The logged pyfunc model: portable (the package travels with it) and served over HTTP by MLflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.models import load_model
from pipeline.tracking.serving import predict_table
from tests.conftest import BIN
from tests.services import free_port, server_process

# Innocuous chat lines, two conversations interleaved as a client might send them.
REQUEST_ROWS = [
    ("chat-1", 0, "alex", "hey, did you finish the maths homework?"),
    ("chat-2", 0, "sam", "are we still on for football on saturday"),
    ("chat-1", 1, "kim", "almost, question 4 was hard"),
    ("chat-1", 2, "alex", "you can always talk to me, this stays between us ok"),
    ("chat-2", 1, "lee", "yes, bring your boots"),
]
COLUMNS = ["conversation_id", "message_index", "author", "text"]


@pytest.fixture(scope="module")
def mlflow_env(baseline_mlflow_env):
    """The MLflow store the baselines were logged to (conftest.py)."""
    return baseline_mlflow_env


@pytest.fixture(scope="module")
def trained_models(baseline_models):
    """The baselines, trained (and logged to MLflow) by the CLI once per session (conftest.py):
    kind -> (directory, model URI)."""
    models = {}
    for kind in ("lexicon", "tfidf"):
        out = baseline_models / kind
        models[kind] = (out, json.loads(out.with_name(f"{kind}.mlflow.json").read_text())["model_uri"])
    return models


@pytest.fixture(scope="module")
def trained(trained_models):
    return trained_models["tfidf"]


def _request_frame() -> pd.DataFrame:
    return pd.DataFrame(REQUEST_ROWS, columns=COLUMNS)


def _expected(model_dir: Path) -> pd.DataFrame:
    return predict_table(load_model(model_dir), _request_frame())


@pytest.mark.parametrize("kind", ["lexicon", "tfidf"])
def test_logged_model_carries_the_package(kind, trained_models, mlflow_env, tmp_path):
    """code_paths: the package is copied into the model and put first on sys.path when it loads."""
    model_dir, uri = trained_models[kind]
    script = (
        "import json, sys\n"
        "import mlflow\n"
        "local = mlflow.artifacts.download_artifacts(sys.argv[1], dst_path=sys.argv[2])\n"
        "print(local)\n"
    )
    env = {**mlflow_env, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    done = subprocess.run(
        [sys.executable, "-c", script, uri, tmp_path / "dl"], capture_output=True, text=True, env=env, check=True
    )
    local = Path(done.stdout.strip().splitlines()[-1])
    assert (local / "code" / "pipeline" / "__init__.py").is_file()
    assert (local / "code" / "pipeline" / "tracking" / "serving.py").is_file()
    flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["code"] == "code"
    requirements = (local / "requirements.txt").read_text().split()
    assert any(r.startswith("scikit-learn==") for r in requirements) and any(
        r.startswith("mlflow==") for r in requirements
    )
    # A fresh process outside the repository (no configs/schema.yaml there) loads the package from
    # the model, not from the checkout.
    probe = (
        "import json, sys\n"
        "import mlflow.pyfunc, pandas as pd\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "import pipeline\n"
        "frame = pd.DataFrame(json.loads(sys.argv[2]), columns=json.loads(sys.argv[3]))\n"
        "answer = model.predict(frame)\n"
        "print(json.dumps({'package': pipeline.__file__, 'answer': answer.to_dict('records')}))\n"
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", probe, local, json.dumps(REQUEST_ROWS), json.dumps(COLUMNS)],
        capture_output=True,
        text=True,
        env=env,
        cwd=outside,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(result["package"]).resolve() == (local / "code" / "pipeline" / "__init__.py").resolve()
    assert pd.DataFrame(result["answer"]).equals(_expected(model_dir))


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


@pytest.fixture
def served(trained, mlflow_env, tmp_path):
    """``mlflow models serve`` on the model's runs:/ URI, on a free loopback port; stopped at the end."""
    _, uri = trained
    port = free_port()
    env = {**mlflow_env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # the server runs `uvicorn`
    command = [
        str(BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        uri,
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    url = f"http://127.0.0.1:{port}"
    with server_process(command, f"{url}/ping", "the model server", env=env, cwd=tmp_path, log=tmp_path / "serve.log"):
        yield url


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.mark.slow
def test_served_model_answers_the_message_table(served, trained, schema):
    model_dir, _ = trained
    expected = _expected(model_dir)
    status, body = _post(
        f"{served}/invocations", {"dataframe_split": {"columns": COLUMNS, "data": [list(r) for r in REQUEST_ROWS]}}
    )
    assert status == 200, body
    assert list(body) == ["predictions"]
    predictions = body["predictions"]  # one record per input row, in the input's order
    assert len(predictions) == len(REQUEST_ROWS)
    assert list(predictions[0]) == [
        "conversation_id",
        "message_index",
        *[f"p_{label}" for label in schema.label_ids],
        "risk",
        "alert",
    ]
    answer = pd.DataFrame(predictions)
    assert answer[["conversation_id", "message_index"]].values.tolist() == [[c, i] for c, i, _, _ in REQUEST_ROWS]
    pd.testing.assert_frame_equal(answer, expected)  # the same numbers as the model directory gives
    assert answer["alert"].sum() <= 2 and answer["risk"].between(0, 1).all()
    # dataframe_records works too, and message_index may be left out (row order is message order)
    status, body = _post(
        f"{served}/invocations",
        {"dataframe_records": [{"conversation_id": c, "author": a, "text": t} for c, _, a, t in REQUEST_ROWS]},
    )
    assert status == 200, body
    pd.testing.assert_frame_equal(pd.DataFrame(body["predictions"]), expected)
    # a bad request is a 4xx with a message, and the server keeps serving
    status, body = _post(f"{served}/invocations", {"rows": []})
    assert 400 <= status < 500 and "message" in body and "error_code" in body
    assert _get(f"{served}/health") == 200
