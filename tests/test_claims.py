"""results/claims.md: every claim listed, verdicts joined from the notebooks' files, unknown ids refused."""
import pandas as pd
import pytest

from gslib import claims


def test_build_joins_verdicts_and_marks_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "results_dir", lambda profile: tmp_path)
    rows = pd.DataFrame({"claim": ["gs-all"], "ours": ["0.61 vs 0.55"], "verdict": ["replicated"]})
    claims.write_verdicts(rows, "03", "default")
    text = claims.build("default")
    assert "| GS improves FPN-finest (All) | Table 3: 80.2 -> 82.8 | 0.61 vs 0.55 | replicated | 03 |" in text
    assert text.count("| not yet tested |") == len(claims.CLAIMS) - 1
    assert f"{len(claims.CLAIMS)} claims: 1 replicated, {len(claims.CLAIMS) - 1} not yet tested." in text
    with pytest.raises(ValueError, match="unknown claim"):
        claims.write_verdicts(rows.assign(claim="no-such-claim"), "03", "default")


def test_claim_ids_are_unique_and_cover_notebook_01():
    from gslib.analyze import CLAIM_IDS

    ids = [c[0] for c in claims.CLAIMS]
    assert len(ids) == len(set(ids)) and set(CLAIM_IDS) <= set(ids)


def test_tally_counts_each_verdict_in_order_and_folds_the_not_yet_tested():
    assert claims.tally(["not yet tested (runs missing)", "inconclusive", "paper profile only (needs COCO)",
                         "replicated", "not yet tested", "replicated (computed)", "not replicated (reversed)"]) == \
        "2 replicated, 1 not replicated, 1 inconclusive, 1 paper profile only, 2 not yet tested"
    assert claims.tally([]) == ""
