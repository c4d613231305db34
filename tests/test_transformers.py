"""The encoder kinds (`transformer`, `embed`): inputs, determinism, resume, save/load, MLflow.

Most tests use a randomly initialised two-layer BERT built with the packaged tokenizer (fast);
one trains the real packaged MiniLM for a few steps through the CLI and checks its MLflow model.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from pipeline.core.errors import PipelineError
from pipeline.data.split import split_corpus
from pipeline.data.synth.generator import SynthConfig, synthesize
from pipeline.models import EmbedModel, TransformerModel, load_model
from pipeline.models.encoder import PairEncoder, load_tokenizer, resolve_encoder, training_batches
from pipeline.schema import load_schema
from tests.conftest import REPO, run_cli, write_tiny_encoder


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return write_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def small_splits():
    conversations = list(synthesize(SynthConfig(conversations=80), seed=5))
    return split_corpus(conversations, "conversation", valid=0.25, test=0.25, seed=3)


def tiny_params(encoder, tmp_path, **extra):
    return {
        "model": str(encoder),
        "epochs": 2,
        "batch_size": 16,
        "max_train_samples": 160,
        "max_valid_conversations": 10,
        "checkpoint_dir": str(tmp_path / "checkpoints"),
        "checkpoint_every": 1,
        "learning_rate": 1e-3,
        **extra,
    }


def probabilities(model, conversations):
    return np.vstack(model.message_probabilities(conversations))


# ------------------------------------------------------------------------------- inputs


def test_message_comes_first_and_context_loses_its_oldest_tokens():
    tokenizer = load_tokenizer(resolve_encoder("minilm"))
    encode = PairEncoder(tokenizer, max_length=12)
    [features] = encode(["see you at practice"], [["one two three", "four five six"]])
    tokens = tokenizer.convert_ids_to_tokens(features["input_ids"])
    assert len(tokens) == 12
    assert tokens[:6] == ["[CLS]", "see", "you", "at", "practice", "[SEP]"]
    assert tokens[-3:] == ["five", "six", "[SEP]"]  # the turn just before the message survives
    assert "one" not in tokens and "two" not in tokens  # the oldest turn is cut first
    assert features["token_type_ids"] == [0] * 6 + [1] * 6


def test_a_long_message_is_cut_and_context_dropped():
    tokenizer = load_tokenizer(resolve_encoder("minilm"))
    [features] = PairEncoder(tokenizer, max_length=8)(["word " * 50], [["earlier turn"]])
    tokens = tokenizer.convert_ids_to_tokens(features["input_ids"])
    assert tokens == ["[CLS]"] + ["word"] * 6 + ["[SEP]"]


def test_training_batches_cover_every_example_once_and_depend_only_on_the_seed():
    lengths = [5, 9, 3, 7, 1, 8, 2, 6, 4, 10] * 7
    batches = training_batches(lengths, 8, seed=4)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert batches == training_batches(lengths, 8, seed=4)
    assert batches != training_batches(lengths, 8, seed=5)


def test_an_unknown_encoder_is_refused_without_downloading(tmp_path):
    with pytest.raises(PipelineError, match="nothing is downloaded"):
        resolve_encoder("bert-base-uncased")
    with pytest.raises(PipelineError, match="local Hugging Face model folder"):
        resolve_encoder(tmp_path)


def test_cli_reports_a_missing_encoder_and_writes_nothing(small_splits, tmp_path):
    from pipeline.data import corpus

    for name in ("train", "valid"):
        corpus.write_conversations(tmp_path / f"{name}.jsonl", small_splits[name])
    result = run_cli(
        "train",
        "--model",
        "transformer",
        "--train",
        tmp_path / "train.jsonl",
        "--valid",
        tmp_path / "valid.jsonl",
        "--out",
        tmp_path / "model",
        "--param",
        f"model={tmp_path / 'no-such-model'}",
        "--no-track",
    )
    assert result.returncode == 1
    assert "no-such-model" in result.stderr and "config.json" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "model").exists()


# -------------------------------------------------------------------------- transformer


@pytest.fixture(scope="module")
def tiny_transformer(tiny_encoder, small_splits, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny-transformer")
    label_ids = load_schema().label_ids
    model = TransformerModel(label_ids, tiny_params(tiny_encoder, tmp), seed=11)
    epochs = []
    model.on_epoch = lambda epoch, metrics: epochs.append((epoch, metrics))
    model.fit(small_splits["train"], small_splits["valid"])
    return model, epochs, tmp


def test_transformer_learns_saves_and_loads(tiny_transformer, small_splits, tmp_path):
    model, epochs, _ = tiny_transformer
    assert [e for e, _ in epochs] == [1, 2]
    assert {"train_loss", "valid_macro_f1", "learning_rate"} <= set(epochs[0][1])
    model.save(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "encoder" / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(len(model.label_ids))] == model.label_ids
    assert config["label2id"] == {label: i for i, label in enumerate(model.label_ids)}
    loaded = load_model(tmp_path / "model")
    assert isinstance(loaded, TransformerModel)
    np.testing.assert_allclose(
        probabilities(loaded, small_splits["test"]), probabilities(model, small_splits["test"]), atol=1e-5
    )
    np.testing.assert_allclose(loaded.thresholds_, model.thresholds_, atol=1e-6)  # model.json keeps 6 decimals
    assert json.loads((tmp_path / "model" / "model.json").read_text())["training"] == model.history_


def test_transformer_same_seed_same_model(tiny_transformer, tiny_encoder, small_splits, tmp_path):
    model, _, _ = tiny_transformer
    again = TransformerModel(model.label_ids, tiny_params(tiny_encoder, tmp_path), seed=11)
    again.fit(small_splits["train"], small_splits["valid"])
    np.testing.assert_array_equal(
        probabilities(again, small_splits["test"]), probabilities(model, small_splits["test"])
    )
    assert again.history_ == model.history_


def test_transformer_resumes_after_an_interruption(tiny_transformer, tiny_encoder, small_splits, tmp_path):
    reference, _, _ = tiny_transformer
    params = tiny_params(tiny_encoder, tmp_path)

    def interrupt(step):
        if step == 13:  # in the second epoch (10 batches per epoch)
            raise KeyboardInterrupt

    first = TransformerModel(reference.label_ids, params, seed=11)
    first.on_step = interrupt
    with pytest.raises(KeyboardInterrupt):
        first.fit(small_splits["train"], small_splits["valid"])
    [checkpoint] = list((tmp_path / "checkpoints").iterdir())
    assert {p.name for p in checkpoint.iterdir()} == {"last.pt", "best.pt"}

    resumed = TransformerModel(reference.label_ids, params, seed=11)
    resumed.fit(small_splits["train"], small_splits["valid"])
    assert resumed.resumed_from_step_ == 13
    np.testing.assert_array_equal(
        probabilities(resumed, small_splits["test"]), probabilities(reference, small_splits["test"])
    )
    np.testing.assert_array_equal(resumed.thresholds_, reference.thresholds_)
    assert not checkpoint.exists()  # removed once training finished


def test_a_checkpoint_of_other_params_is_not_resumed(tiny_encoder, small_splits, tmp_path):
    label_ids = load_schema().label_ids
    first = TransformerModel(label_ids, tiny_params(tiny_encoder, tmp_path), seed=11)
    first.on_step = lambda step: (_ for _ in ()).throw(KeyboardInterrupt) if step == 3 else None
    with pytest.raises(KeyboardInterrupt):
        first.fit(small_splits["train"], small_splits["valid"])
    other = TransformerModel(label_ids, tiny_params(tiny_encoder, tmp_path, learning_rate=5e-4), seed=11)
    other.fit(small_splits["train"], small_splits["valid"])
    assert other.resumed_from_step_ is None
    assert len(list((tmp_path / "checkpoints").iterdir())) == 1  # the other run's checkpoint is left alone


# -------------------------------------------------------------------------------- embed


def test_embed_fits_saves_and_loads(tiny_encoder, small_splits, tmp_path):
    label_ids = load_schema().label_ids
    model = EmbedModel(label_ids, {"model": str(tiny_encoder), "max_valid_conversations": 10}, seed=2)
    model.fit(small_splits["train"], small_splits["valid"])
    before = probabilities(model, small_splits["test"])
    assert before.shape == (sum(len(c.messages) for c in small_splits["test"]), len(label_ids))
    assert ((before >= 0) & (before <= 1)).all()
    model.save(tmp_path / "embed")
    loaded = load_model(tmp_path / "embed")
    np.testing.assert_allclose(probabilities(loaded, small_splits["test"]), before, atol=1e-6)
    # Same seed, same data: the same model.
    again = EmbedModel(label_ids, {"model": str(tiny_encoder), "max_valid_conversations": 10}, seed=2)
    again.fit(small_splits["train"], small_splits["valid"])
    np.testing.assert_array_equal(probabilities(again, small_splits["test"]), before)


def test_embed_features_are_the_message_and_its_weighted_context(tiny_encoder, small_splits):
    label_ids = load_schema().label_ids
    model = EmbedModel(label_ids, {"model": str(tiny_encoder), "context_messages": 1, "context_weight": 0.5})
    model._load_encoder(tiny_encoder, "cpu")
    conversation = small_splits["test"][0]
    features = model._message_features([conversation])
    texts = [m.text for m in conversation.messages[:2]]
    vectors = model.embed(texts)
    dim = vectors.shape[1]
    np.testing.assert_allclose(features[0, :dim], vectors[0], atol=1e-5)
    np.testing.assert_allclose(features[0, dim:], 0.0)  # the first message has no context
    np.testing.assert_allclose(features[1, :dim], vectors[1], atol=1e-5)
    np.testing.assert_allclose(features[1, dim:], 0.5 * vectors[0], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


# ------------------------------------------------------------- the real MiniLM, via CLI


def test_real_minilm_trains_saves_scores_and_logs_an_mlflow_model(small_splits, tmp_path):
    from pipeline.data import corpus

    for name in ("train", "valid", "test"):
        corpus.write_conversations(tmp_path / f"{name}.jsonl", small_splits[name])
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    out = tmp_path / "models" / "transformer"
    result = run_cli(
        "train",
        "--model",
        "transformer",
        "--train",
        tmp_path / "train.jsonl",
        "--valid",
        tmp_path / "valid.jsonl",
        "--out",
        out,
        "--params",
        REPO / "params.yaml",
        "--param",
        "max_train_samples=48",
        "--param",
        "epochs=1",
        "--param",
        "max_valid_conversations=6",
        "--param",
        f"checkpoint_dir={tmp_path / 'checkpoints'}",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "encoder" / "model.safetensors").exists()
    reference = json.loads(out.with_name("transformer.mlflow.json").read_text())

    scored = tmp_path / "scored.jsonl"
    result = run_cli("score", "--model", out, "--data", tmp_path / "test.jsonl", "--out", scored, env=env)
    assert result.returncode == 0, result.stderr
    first = json.loads(scored.read_text().splitlines()[0])
    assert set(first["messages"][0]["meta"]["grooming_risk"]["scores"]) == set(load_schema().label_ids)

    # The MLflow side: per-epoch metrics, pinned requirements, and a pyfunc that scores a table.
    import mlflow

    from pipeline import tracking
    from pipeline.data.corpus import to_message_frame

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    client = mlflow.MlflowClient()
    history = client.get_metric_history(reference["run_id"], "valid_macro_f1")
    assert [m.step for m in history] == [1]
    requirements_file = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{reference['model_uri']}/requirements.txt", dst_path=str(tmp_path / "req")
    )
    requirements = open(requirements_file, encoding="utf-8").read()
    assert "torch==" in requirements and "transformers==" in requirements
    pyfunc = mlflow.pyfunc.load_model(reference["model_uri"])
    table = to_message_frame(small_splits["test"][:2])[["conversation_id", "message_index", "author", "text"]]
    answer = pyfunc.predict(table)
    assert len(answer) == len(table)
    assert {"p_secrecy", "risk", "alert"} <= set(answer.columns)
    direct = load_model(out)
    expected = np.vstack(direct.message_probabilities(small_splits["test"][:2]))[:, direct.label_ids.index("secrecy")]
    np.testing.assert_allclose(answer["p_secrecy"].to_numpy(), expected, atol=1e-5)
    assert tracking.MODEL_ARTIFACT in reference["model_uri"]


# ----------------------------------------------------- model folders are data, never code


@pytest.fixture(scope="module")
def saved_encoder_models(tiny_transformer, tiny_encoder, small_splits, tmp_path_factory):
    """A saved transformer and a saved embed model (tiny encoder), to copy and tamper with."""
    root = tmp_path_factory.mktemp("saved-encoder-models")
    tiny_transformer[0].save(root / "transformer")
    label_ids = load_schema().label_ids
    embed = EmbedModel(label_ids, {"model": str(tiny_encoder), "max_valid_conversations": 10}, seed=2)
    embed.fit(small_splits["train"], small_splits["valid"]).save(root / "embed")
    return root


@pytest.mark.parametrize(
    "kind, planted, removed, message",
    [
        # the pickled weights transformers would otherwise fall back to
        ("transformer", "encoder/pytorch_model.bin", "encoder/model.safetensors", "unexpected file in a transformer"),
        ("embed", "encoder/pytorch_model.bin", None, "unexpected file in a embed"),
        # remote code a config's auto_map could point at
        ("transformer", "encoder/modeling_payload.py", None, "unexpected file in a transformer"),
        # the old classifier file, and a pickle in place of the safetensors ones
        ("embed", "classifier.joblib", None, "unexpected file in a embed"),
        ("embed", "classifier.safetensors", None, "not a readable safetensors file"),
        ("transformer", "encoder/model.safetensors", None, "cannot load a model"),
    ],
)
def test_a_payload_in_an_encoder_model_folder_never_runs(
    saved_encoder_models, tmp_path, kind, planted, removed, message
):
    from tests.test_model_trust import plant

    folder = tmp_path / kind
    import shutil

    shutil.copytree(saved_encoder_models / kind, folder)
    if removed:
        (folder / removed).unlink()
    marker = tmp_path / "ran"
    plant(folder / planted, marker)
    with pytest.raises(PipelineError) as error:
        load_model(folder)
    assert message in str(error.value)
    assert not marker.exists()


def test_a_checkpoint_is_read_as_tensors_only(tmp_path):
    """``last.pt`` is loaded with ``weights_only=True``: a pickled payload is refused, not run."""
    from pipeline.models.transformer import Checkpoints
    from tests.test_model_trust import plant

    marker = tmp_path / "ran"
    plant(tmp_path / "checkpoint" / "last.pt", marker)
    with pytest.raises(PipelineError, match="holds something other than tensors and plain values"):
        Checkpoints(tmp_path / "checkpoint").load()
    assert not marker.exists()
