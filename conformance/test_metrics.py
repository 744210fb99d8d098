"""Cross-checks the fraud model's metrics (crates/fraud/src/metrics.rs) against
scikit-learn (ROC AUC, average precision) and a transcription of the Handbook's
card_precision_top_k (chapter 3.4, pandas), on random score vectors.

Runs `posguard risk metrics` (hidden subcommand): JSON in, JSON out. Seeds come from
METRICS_CONFORMANCE_SEED (random if unset) and are in every failure message.
"""

import json
import os
import random
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
POSGUARD = ROOT / "target" / "debug" / "posguard"
META_SEED = int(os.environ.get("METRICS_CONFORMANCE_SEED", random.randrange(2**32)))
CASES = 40
TOLERANCE = 1e-9


def handbook_card_precision_top_k(predictions_df, top_k):
    """The Handbook's card_precision_top_k (chapter 3.4) with detected cards removed.
    Ties in score are broken by ascending CUSTOMER_ID (a stable sort), as posguard does."""

    def day_precision(df_day):
        df_day = (
            df_day.groupby("CUSTOMER_ID")
            .max()
            .sort_values(by="predictions", ascending=False, kind="mergesort")
            .reset_index(drop=False)
        )
        top = df_day.head(top_k)
        detected = list(top[top.TX_FRAUD == 1].CUSTOMER_ID)
        return detected, len(detected) / top_k

    days = sorted(predictions_df["TX_TIME_DAYS"].unique())
    detected_cards = []
    per_day = []
    for day in days:
        df_day = predictions_df[predictions_df["TX_TIME_DAYS"] == day]
        df_day = df_day[["predictions", "CUSTOMER_ID", "TX_FRAUD"]]
        df_day = df_day[~df_day.CUSTOMER_ID.isin(detected_cards)]
        found, precision = day_precision(df_day)
        per_day.append(precision)
        detected_cards.extend(found)
    return sum(per_day) / len(per_day), per_day


def case(seed):
    rng = random.Random(seed)
    n = rng.randrange(20, 3000)
    cards = rng.randrange(5, max(6, n // 3))
    fraud_rate = rng.choice([0.01, 0.05, 0.2, 0.5])
    # Some cases use coarse scores so that ties (one threshold for many rows) are tested.
    coarse = rng.random() < 0.4
    labels = [rng.random() < fraud_rate for _ in range(n)]
    if not any(labels):
        labels[0] = True
    if all(labels):
        labels[0] = False
    scores = [
        round(rng.random() + (0.3 if y else 0.0), 1 if coarse else 12) for y in labels
    ]
    days = [rng.randrange(0, 7) for _ in range(n)]
    card_ids = [rng.randrange(0, cards) for _ in range(n)]
    k = rng.choice([1, 5, 10, 100])
    return scores, labels, days, card_ids, k, coarse


def posguard_metrics(payload):
    out = subprocess.run(
        [str(POSGUARD), "risk", "metrics"],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("i", range(CASES))
def test_metrics_match_sklearn_and_the_handbook(i):
    seed = META_SEED + i
    scores, labels, days, card_ids, k, coarse = case(seed)
    got = posguard_metrics(
        {"scores": scores, "labels": labels, "days": days, "cards": card_ids, "k": k}
    )
    where = f"METRICS_CONFORMANCE_SEED={META_SEED} case {i} (n={len(scores)}, k={k})"
    assert got["roc_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=TOLERANCE), where
    assert got["average_precision"] == pytest.approx(
        average_precision_score(labels, scores), abs=TOLERANCE
    ), where
    if coarse:
        # With tied scores, which cards make a top k depends on the tie order; the
        # Handbook leaves it to pandas' sort. Only distinct scores are compared below.
        return
    df = pd.DataFrame(
        {
            "predictions": scores,
            "CUSTOMER_ID": card_ids,
            "TX_FRAUD": [int(y) for y in labels],
            "TX_TIME_DAYS": days,
        }
    )
    mean, per_day = handbook_card_precision_top_k(df, k)
    assert got["card_precision_at_k"] == pytest.approx(mean, abs=TOLERANCE), where
    assert got["card_precision_per_day"] == pytest.approx(per_day, abs=TOLERANCE), where
