"""Dev experiment: a free-text column whose classes are topics, each class using its own
60 of 3,000 words beside a shared Zipf-distributed background (review helper-54's
documents), plus a price with no signal. The SVD of the TF-IDF alone kept the background's
directions (held-out accuracy 0.27 on 20 classes); since stop 38 each class's naive Bayes
log-probability, cross-fitted, joins it.

    python benchmarks/dev/text_topics.py fixed CLASSES FIRST_SEED END_SEED [OUT.jsonl]
    python benchmarks/dev/text_topics.py search CLASSES FIRST_SEED END_SEED BUDGET [OUT.jsonl]
    python benchmarks/dev/text_topics.py fixed 20 0 3

3,000 training documents and 1,000 held out, drawn by seed. ``fixed``: Lepton's fixed
``NeuralNetworkClassifier`` on the table as it comes; ``search``: ``LeptonClassifier`` at
BUDGET seconds; each row also gives logistic regression on the documents' TF-IDF. Run it
from another checkout of the code to compare (``PYTHONPATH=<checkout>``). The rows of
stop 38 count the import of Lepton (about 2 s) in the first seed's ``fit_s``.
"""
import sys
import time

import numpy as np
import pandas as pd
from _rows import emit

VOCABULARY, TOPIC_WORDS, SIGNAL = 3000, 60, 0.2


def documents(n: int, classes: int, seed: int):
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i:04d}" for i in range(VOCABULARY)])
    background = 1.0 / np.arange(1, VOCABULARY + 1) ** 1.05
    background /= background.sum()
    topics = np.zeros((classes, VOCABULARY))
    chosen = np.random.default_rng(12345)  # the same topics for every seed
    for c in range(classes):
        topics[c, chosen.choice(VOCABULARY, TOPIC_WORDS, replace=False)] = 1.0 / TOPIC_WORDS
    y = rng.integers(0, classes, n)
    texts = [" ".join(words[rng.choice(VOCABULARY, rng.integers(8, 40),
                                       p=(1 - SIGNAL) * background + SIGNAL * topics[c])])
             for c in y]
    X = pd.DataFrame({"text": texts, "price": rng.gamma(2, 20, n)})
    return X, y


def main() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    mode, classes, first, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    budget = float(sys.argv[5]) if mode == "search" else None
    rest = sys.argv[6:] if mode == "search" else sys.argv[5:]
    out = open(rest[0], "a") if rest else None
    for seed in range(first, end):
        X, y = documents(4000, classes, seed)
        X_tr, X_te, y_tr, y_te = X[:3000], X[3000:], y[:3000], y[3000:]
        vectorizer = TfidfVectorizer()
        baseline = LogisticRegression(C=10, max_iter=3000).fit(
            vectorizer.fit_transform(X_tr.text), y_tr).score(vectorizer.transform(X_te.text), y_te)
        from lepton import LeptonClassifier, NeuralNetworkClassifier  # not in fit_s

        t0 = time.perf_counter()
        if mode == "fixed":
            model = NeuralNetworkClassifier(random_state=seed).fit(X_tr, y_tr)
        else:
            model = LeptonClassifier(time_budget=budget, random_state=seed).fit(X_tr, y_tr)
        emit({"mode": mode, "classes": classes, "seed": seed, "budget": budget,
              "accuracy": round(model.score(X_te, y_te), 4),
              "tfidf_logistic": round(baseline, 4),
              "fit_s": round(time.perf_counter() - t0, 2),
              "lepton": sys.modules["lepton"].__file__}, out)


if __name__ == "__main__":
    main()
