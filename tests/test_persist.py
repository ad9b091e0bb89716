"""Model files: plain JSON + NPZ, checksummed, and never unpickled."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from training.model.persist import ModelFileError, load_model, save_model


@pytest.fixture(scope="module")
def saved(heldback_model, tmp_path_factory):
    return save_model(heldback_model, tmp_path_factory.mktemp("models") / "model")


def test_round_trip_answers_identically_without_refitting(heldback_model, saved):
    loaded = load_model(saved)
    assert sorted(p.name for p in saved.iterdir()) == ["arrays.npz", "manifest.json", "model.json"]
    shares = np.ones((32, 52))
    a, b = heldback_model.forecast("whatsapp", shares), loaded.forecast("whatsapp", shares)
    pd.testing.assert_frame_equal(a.weekly, b.weekly)
    assert a.totals == b.totals
    assert loaded.attribute("facebook").totals == heldback_model.attribute("facebook").totals
    assert loaded.get_params() == heldback_model.get_params()


def test_altered_or_truncated_files_are_refused(saved, tmp_path):
    for name in ("arrays.npz", "model.json"):
        copy = tmp_path / name.split(".")[0]
        copy.mkdir()
        for f in saved.iterdir():
            (copy / f.name).write_bytes(f.read_bytes())
        data = (copy / name).read_bytes()
        (copy / name).write_bytes(data[: len(data) // 2])
        with pytest.raises(ModelFileError, match="checksum mismatch"):
            load_model(copy)
    with pytest.raises(ModelFileError, match="no manifest.json"):
        load_model(tmp_path)


class Exploit:
    def __reduce__(self):
        import os
        return (os.system, (f"touch {MARKER}",))


MARKER = None


def test_a_planted_pickle_is_never_executed(saved, tmp_path):
    """Even with a matching manifest, an object array (pickle) in arrays.npz is not loaded."""
    global MARKER
    MARKER = tmp_path / "pwned"
    planted = tmp_path / "model"
    planted.mkdir()
    for f in saved.iterdir():
        (planted / f.name).write_bytes(f.read_bytes())
    payload = np.array([Exploit()], dtype=object)
    np.savez(planted / "arrays.npz", **{"facebook/share": payload}, allow_pickle=True)
    import hashlib
    manifest = json.loads((planted / "manifest.json").read_text())
    manifest["sha256"]["arrays.npz"] = hashlib.sha256((planted / "arrays.npz").read_bytes()).hexdigest()
    (planted / "manifest.json").write_text(json.dumps(manifest))
    assert b"system" in (planted / "arrays.npz").read_bytes() or pickle   # the payload is really in the file
    with pytest.raises(ModelFileError, match="not a readable model"):
        load_model(planted)
    assert not MARKER.exists()


def test_a_model_saved_before_market_effects_loads_with_one_effect_for_every_market(heldback_model, saved, tmp_path):
    """A format-4 model file (no market effects) still loads and answers as it did: every market
    with its app's effect, as a model that finds no spread between markets answers."""
    from training.model.persist import FILES, sha256
    old = tmp_path / "format4"
    old.mkdir()
    meta = json.loads((saved / "model.json").read_text())
    for info in meta["apps"].values():
        del info["market_effects"]
    meta["format_version"] = 4
    (old / "model.json").write_text(json.dumps(meta))
    with np.load(saved / "arrays.npz") as npz:
        np.savez(old / "arrays.npz", **{k: npz[k] for k in npz.files if "/market" not in k})
    (old / "manifest.json").write_text(json.dumps({"format_version": 4, "sha256": {n: sha256(old / n) for n in FILES}}))
    loaded = load_model(old)
    for app in heldback_model.apps:
        pooling, table = loaded.market_effect_summary(app)
        assert not pooling.pooled and (table["relative"] == 1).all()
    shares = np.ones((32, 26))
    assert loaded.forecast("instagram", shares).totals == heldback_model.forecast("instagram", shares).totals
