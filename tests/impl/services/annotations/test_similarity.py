"""The lexical matcher behind annotation reply: behaviour and a speed bound."""

from __future__ import annotations

import random
import time

from impl.services.annotations.similarity import Index, features, normalise, similarity

QUESTIONS = [
    "Is the tram to Belém accessible?",
    "What time does the museum open?",
    "How much is a day ticket for the metro?",
    "Where can I buy a ferry ticket?",
]


def _best(query: str) -> tuple[str, float]:
    found = Index.build([(str(i), q) for i, q in enumerate(QUESTIONS)]).best(query)
    assert found is not None
    return found


def test_identical_text_scores_one_regardless_of_case_and_accents() -> None:
    assert _best("is the tram to BELEM accessible")[1] > 0.999
    assert normalise("Belém Ärger") == "belem arger"


def test_ranking_prefers_the_closest_question() -> None:
    assert _best("Is the tram accessible?")[0] == "0"
    assert _best("When does the museum open")[0] == "1"
    assert _best("buy ferry tickets")[0] == "3"
    assert _best("How much is a metro day ticket?")[0] == "2"


def test_unrelated_text_scores_low() -> None:
    assert _best("hello there")[1] < 0.3
    assert Index.build([]).best("anything") is None
    assert Index.build([("a", "tram")]).best("!!!") is None


def test_word_order_and_typos() -> None:
    assert 0.5 < similarity("ticket price for the ferry", "ferry ticket price") < 1.0
    assert similarity("accesible tram", "accessible tram") > 0.5 > similarity("tram", "ferry")
    assert "b:time does" in features("What time does it open")


def test_speed_for_a_thousand_annotations() -> None:
    rng = random.Random(7)
    vocab = ["".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(3, 9))) for _ in range(3000)]
    docs = [(str(i), " ".join(rng.choice(vocab) for _ in range(10))) for i in range(1000)]
    started = time.perf_counter()
    index = Index.build(docs)
    built = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(10):
        assert index.best(docs[42][1]) == ("42", 1.0) or index.best(docs[42][1])[0] == "42"  # type: ignore[index]
    per_query = (time.perf_counter() - started) / 10
    assert built < 2.0 and per_query < 0.1, (built, per_query)
