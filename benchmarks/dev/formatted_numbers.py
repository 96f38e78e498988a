"""Dev experiment: numbers written as a spreadsheet exports them ('$1,234.50', '12.5%',
'(300)'), read from a CSV: Lepton now reads them as numbers; before, pandas' text was
taken as categories (target-encoded past the one-hot cells) or left out as an identifier.

    python benchmarks/dev/formatted_numbers.py FIRST_SEED END_SEED [OUT.jsonl]
    python benchmarks/dev/formatted_numbers.py 0 3

Run it from a checkout of the code to compare (``PYTHONPATH=<checkout>``). The table
(3,000 rows, written to a CSV and read back with pandas' defaults): ``price`` in dollars
with thousands separators, ``discount`` in percent, ``margin`` in accounting notation
(negatives in parentheses), and one plain numeric column; the target is a smooth function
of all four plus noise. 75/25 split by seed; Lepton's fixed ``NeuralNetworkRegressor``
(defaults) held-out R^2 on the table as read, on it with ``margin`` written as plain
numbers, and on the plain numbers (the ceiling); how the preprocessing typed the three
columns.
"""
import sys

import numpy as np
import pandas as pd
from _rows import emit, read_back


def table(n: int = 3000):
    rng = np.random.default_rng(0)
    price = rng.lognormal(7, 1, n).round(2)
    discount = rng.choice([0, 5, 10, 12.5, 15, 20, 25, 30], n).astype(float)
    margin = rng.normal(200, 400, n).round(0)
    size = rng.normal(size=n)
    y = (np.log(price) - 7) + discount / 10 - margin / 400 + 0.5 * size ** 2 \
        + rng.normal(0, 0.3, n)
    clean = pd.DataFrame({"price": price, "discount": discount, "margin": margin,
                          "size": size})
    written = pd.DataFrame({
        "price": [f"${p:,.2f}" for p in price],
        "discount": [f"{d:g}%" for d in discount],
        "margin": [f"({-m:,.0f})" if m < 0 else f"{m:,.0f}" for m in margin],
        "size": size})
    return read_back(written), clean, y


def main() -> None:
    from sklearn.model_selection import train_test_split

    from lepton import NeuralNetworkRegressor

    first, end = int(sys.argv[1]), int(sys.argv[2])
    out = open(sys.argv[3], "a") if len(sys.argv) > 3 else None
    read, clean, y = table()
    for seed in range(first, end):
        train, test = train_test_split(np.arange(len(y)), test_size=0.25, random_state=seed)
        row = {"seed": seed}
        variants = (("as_read", read), ("plain_margin", read.assign(margin=clean.margin)),
                    ("clean", clean))
        for name, X in variants:
            model = NeuralNetworkRegressor(random_state=seed)
            try:
                model.fit(X.iloc[train], y[train])
            except ValueError as exc:
                row[name] = f"error: {str(exc)[:60]}"
                continue
            row[name] = round(model.score(X.iloc[test], y[test]), 4)
            if name != "clean":
                pre = model.preprocessor_
                row[f"{name}_typed"] = {col: next((kind for kind, cols in (
                    ("numeric", pre.numeric_columns_), ("categorical", pre.categorical_columns_),
                    ("dropped", list(pre.dropped_columns_))) if col in cols), "other")
                    for col in ("price", "discount", "margin")}
        emit(row, out)


if __name__ == "__main__":
    main()
