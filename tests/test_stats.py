"""Codebook statistics on hand-made token arrays and files with known answers."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy

from xy_tokenizer.codecs.xy.constants import CODEBOOK_SIZE
from xy_tokenizer.errors import TokenFileError, XYTokenizerError
from xy_tokenizer.io.fsutil import OutputExistsError
from xy_tokenizer.analysis.stats import (ALL_FILES, CSV_COLUMNS, LevelStats, StatsReport, format_report, level_stats,
                                pca_2d, token_file_stats, write_report)


def test_uniform_over_four_codes_and_single_code():
    codes = np.array([[0, 1, 2, 3, 3, 2, 1, 0],
                      [5, 5, 5, 5, 5, 5, 5, 5]])
    uniform, single = level_stats(codes, CODEBOOK_SIZE)

    assert (uniform.level, single.level) == (0, 1)
    assert (uniform.label, single.label) == ("L1", "L2")
    assert uniform.entropy_bits == 2.0
    assert uniform.perplexity == 4.0
    assert uniform.utilisation == 4 / 1024
    assert (uniform.total, uniform.used) == (8, 4)
    assert uniform.max_entropy_bits == 10.0
    assert uniform.top == [(0, 2), (1, 2), (2, 2), (3, 2)]
    assert uniform.counts.shape == (CODEBOOK_SIZE,) and uniform.counts.dtype == np.int64
    assert uniform.counts[:4].tolist() == [2, 2, 2, 2] and uniform.counts[4:].sum() == 0
    assert uniform.unused.tolist() == list(range(4, CODEBOOK_SIZE))

    assert single.entropy_bits == 0.0 and math.copysign(1.0, single.entropy_bits) == 1.0
    assert single.perplexity == 1.0
    assert (single.used, single.utilisation) == (1, 1 / 1024)
    assert single.top == [(5, 8)]
    assert single.unused.tolist() == [c for c in range(CODEBOOK_SIZE) if c != 5]


def test_skewed_distribution_entropy_and_top_ties():
    # p = 1/2, 1/4, 1/4 -> H = 1.5 bits; codes 3 and 9 tie, the lower code comes first.
    codes = np.array([[9, 7, 3, 7]])
    (s,) = level_stats(codes, CODEBOOK_SIZE, top_n=2)
    assert s.entropy_bits == 1.5
    assert s.perplexity == pytest.approx(2 ** 1.5)
    assert s.top == [(7, 2), (3, 1)]
    (s_all,) = level_stats(codes, CODEBOOK_SIZE)
    assert s_all.top == [(7, 2), (3, 1), (9, 1)]   # only used codes are listed


def test_entropy_matches_scipy_on_random_codes():
    rng = np.random.default_rng(3)
    codes = rng.zipf(1.3, size=(3, 5000)) % CODEBOOK_SIZE
    for s, row in zip(level_stats(codes, CODEBOOK_SIZE), codes):
        counts = np.bincount(row, minlength=CODEBOOK_SIZE)
        assert s.entropy_bits == pytest.approx(scipy_entropy(counts, base=2), rel=1e-12)
        assert s.used == len(np.unique(row))
        assert s.top[0] == (int(np.argmax(counts)), int(counts.max()))
        assert len(s.top) == 10
        assert [c for _, c in s.top] == sorted((c for _, c in s.top), reverse=True)


def test_aggregation_across_arrays_of_different_shapes():
    a = np.array([[1, 1, 2, 3],
                  [7, 7, 7, 8]])
    b = np.array([[1, 4, 4, 4, 4, 4]])
    level0, level1 = level_stats([a, b], CODEBOOK_SIZE)
    assert level0.counts[[1, 2, 3, 4]].tolist() == [3, 1, 1, 5]
    assert level0.total == 10 and level0.used == 4
    assert level0.top[:2] == [(4, 5), (1, 3)]
    assert level1.total == 4                       # only `a` has a second level
    assert level1.counts[[7, 8]].tolist() == [3, 1]
    # Same k: aggregating equals concatenating along time.
    c = np.array([[9, 9, 1, 0], [2, 2, 2, 2]])
    together = level_stats([a, c], CODEBOOK_SIZE)
    joined = level_stats(np.concatenate([a, c], axis=1), CODEBOOK_SIZE)
    for x, y in zip(together, joined):
        assert np.array_equal(x.counts, y.counts) and x.entropy_bits == y.entropy_bits


def test_small_codebook_size():
    (s,) = level_stats(np.array([[0, 1, 2, 3]]), codebook_size=4)
    assert (s.utilisation, s.max_entropy_bits, s.entropy_bits, s.unused.size) == (1.0, 2.0, 2.0, 0)


@pytest.mark.parametrize("bad", [
    np.array([[0, 1024]]),             # out of range
    np.array([[-1, 3]]),
    np.array([[0.0, 1.0]]),            # not integers
    np.array([1, 2, 3]),               # not (k, T)
])
def test_invalid_arrays_are_rejected(bad):
    with pytest.raises(TokenFileError, match="codes"):
        level_stats(bad, CODEBOOK_SIZE)


def test_no_arrays_is_an_error():
    with pytest.raises(XYTokenizerError, match="at least one"):
        level_stats([], CODEBOOK_SIZE)


def _make_files(tmp_path):
    first = np.array([[0, 1, 2, 3, 3, 2, 1, 0], [5] * 8], dtype=np.int16)
    second = np.array([[0, 0, 0, 0, 9, 9], [6, 6, 6, 6, 6, 6]], dtype=np.int64)
    paths = [tmp_path / "one.npy", tmp_path / "two.npy"]
    np.save(paths[0], first)
    np.save(paths[1], second)
    return paths, [first, second]


def test_token_file_stats_per_file_and_overall(tmp_path):
    paths, arrays = _make_files(tmp_path)
    report = token_file_stats(paths, codebook_size=CODEBOOK_SIZE)
    assert list(report.per_file) == [str(p) for p in paths]
    assert report.per_file[str(paths[0])][0].entropy_bits == 2.0
    assert report.per_file[str(paths[1])][1].entropy_bits == 0.0
    expected = level_stats(arrays, CODEBOOK_SIZE)
    for got, want in zip(report.overall, expected):
        assert np.array_equal(got.counts, want.counts)
    # code 0: twice in one.npy, four times in two.npy
    assert report.overall[0].top[0] == (0, 6)
    assert report.overall[1].counts[[5, 6]].tolist() == [8, 6]
    # a path given twice counts once
    again = token_file_stats([paths[0], paths[0]], codebook_size=CODEBOOK_SIZE)
    assert again.overall[0].total == 8


def test_token_file_stats_names_a_bad_file(tmp_path):
    paths, _ = _make_files(tmp_path)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([[0, 2000]]))
    with pytest.raises(TokenFileError, match="bad.npy"):
        token_file_stats([paths[0], bad], codebook_size=CODEBOOK_SIZE)


def test_csv_round_trip(tmp_path):
    paths, _ = _make_files(tmp_path)
    report = token_file_stats(paths, codebook_size=CODEBOOK_SIZE)
    out = write_report(report, tmp_path / "out" / "stats.csv")
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    sections = list(report.per_file.items()) + [(ALL_FILES, report.overall)]
    expected = [(name, s) for name, levels in sections for s in levels]
    assert len(rows) == len(expected) == 6
    for row, (name, s) in zip(rows, expected):
        assert row["file"] == name
        assert row["level"] == f"L{s.level + 1}"
        assert (int(row["total"]), int(row["used"])) == (s.total, s.used)
        assert float(row["utilisation"]) == s.utilisation
        assert float(row["entropy_bits"]) == s.entropy_bits
        assert float(row["perplexity"]) == s.perplexity
        top = [tuple(int(v) for v in pair.split(":")) for pair in row["top"].split(";")]
        assert top == s.top
    assert rows[0]["top"] == "0:2;1:2;2:2;3:2"
    assert [r["level"] for r in rows[:2]] == ["L1", "L2"]
    assert [r["file"] for r in rows[-2:]] == [ALL_FILES, ALL_FILES]


def test_json_round_trip(tmp_path):
    paths, _ = _make_files(tmp_path)
    report = token_file_stats(paths, codebook_size=CODEBOOK_SIZE)
    out = write_report(report, tmp_path / "stats.json")
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["codebook_size"] == CODEBOOK_SIZE
    assert list(document["files"]) == [str(p) for p in paths]

    def rebuilt(d) -> LevelStats:
        return LevelStats.from_counts(d["level"], np.array(d["counts"]))

    for name, levels in report.per_file.items():
        for d, s in zip(document["files"][name], levels, strict=True):
            assert d["counts"] == s.counts.tolist() and d["unused"] == s.unused.tolist()
            assert d["label"] == f"L{d['level'] + 1}"
            assert [tuple(p) for p in d["top"]] == s.top
            assert (d["entropy_bits"], d["perplexity"], d["utilisation"]) == (
                s.entropy_bits, s.perplexity, s.utilisation)
            back = rebuilt(d)
            assert back.entropy_bits == s.entropy_bits and back.top == s.top
    assert [d["total"] for d in document["overall"]] == [14, 14]


def test_write_report_refuses_overwrite_and_unknown_formats(tmp_path):
    paths, _ = _make_files(tmp_path)
    report = token_file_stats(paths, codebook_size=CODEBOOK_SIZE)
    target = tmp_path / "stats.csv"
    target.write_text("keep me", encoding="utf-8")
    with pytest.raises(OutputExistsError):
        write_report(report, target)
    assert target.read_text(encoding="utf-8") == "keep me"
    write_report(report, target, overwrite=True)
    assert target.read_text(encoding="utf-8").startswith("file,level,")
    with pytest.raises(XYTokenizerError, match=r"\.csv or \.json"):
        write_report(report, tmp_path / "stats.txt")
    assert not (tmp_path / "stats.txt").exists()
    assert not [p.name for p in tmp_path.iterdir() if ".part" in p.name]


def test_format_report_shows_every_file_and_the_total(tmp_path):
    paths, _ = _make_files(tmp_path)
    text = format_report(token_file_stats(paths, codebook_size=CODEBOOK_SIZE))
    assert str(paths[0]) in text and str(paths[1]) in text
    assert f"{ALL_FILES} (2 files)" in text
    assert "entropy (bits / 10)" in text
    assert "2.000" in text          # one.npy level 0
    assert "0:2 1:2 2:2 3:2" in text
    level_cells = [line.split()[0] for line in text.splitlines() if line.startswith("  ")
                   and line.split()[0] != "level"]
    assert level_cells == ["L1", "L2"] * 3          # two files and ALL, levels shown from 1
    single = format_report(StatsReport(per_file={"x.npy": level_stats(np.array([[1, 2]]), CODEBOOK_SIZE)},
                                       overall=level_stats(np.array([[1, 2]]), CODEBOOK_SIZE)))
    assert ALL_FILES not in single and "x.npy" in single


def test_pca_2d_recovers_known_axes_with_fixed_signs():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((16, 2)))
    t = rng.standard_normal(300) * 3.0
    s = rng.standard_normal(300)
    t -= t.mean()
    s -= s.mean()
    s -= (s @ t) / (t @ t) * t                      # orthogonal scores: exact principal axes
    vectors = 5.0 + np.outer(t, basis[:, 0]) + np.outer(s, basis[:, 1])
    out = pca_2d(vectors.astype(np.float32))
    assert out.shape == (300, 2) and out.dtype == np.float64
    for column, truth in zip(out.T, (t, s)):
        expected = truth * np.sign(truth[np.argmax(np.abs(truth))])
        np.testing.assert_allclose(column, expected, atol=1e-4)
        assert column[np.argmax(np.abs(column))] > 0
    # The same cloud reflected gives the same picture: signs do not depend on the SVD.
    np.testing.assert_allclose(pca_2d(-vectors), pca_2d(vectors), atol=1e-9)


def test_pca_2d_degenerate_inputs():
    assert np.array_equal(pca_2d(np.ones((1, 8))), np.zeros((1, 2)))
    line = pca_2d(np.array([[0.0, 0.0], [1.0, 1.0], [3.0, 3.0]]))
    assert np.allclose(line[:, 1], 0.0)
    np.testing.assert_allclose(np.abs(line[:, 0]), np.abs(np.array([-4, -1, 5]) / 3 * math.sqrt(2)))
    with pytest.raises(XYTokenizerError, match=r"\(N, D\)"):
        pca_2d(np.zeros(5))
    with pytest.raises(XYTokenizerError, match="NaN"):
        pca_2d(np.array([[0.0, np.nan], [1.0, 2.0]]))


def test_codebook_size_comes_from_the_sidecars(tmp_path):
    """Tokens of a 128-code model are measured against 128 codes, not 1024."""
    from xy_tokenizer.io.tokens import save_tokens

    codes = np.array([[0, 1, 2, 3] * 4] * 8)
    a, _ = save_tokens(tmp_path / "small.npy", codes, {"format_version": 1, "codebook_size": 128})
    report = token_file_stats([a])
    assert report.overall[0].counts.size == 128
    assert report.overall[0].utilisation == pytest.approx(4 / 128)
    assert token_file_stats([a], codebook_size=1024).overall[0].counts.size == 1024
    b, _ = save_tokens(tmp_path / "big.npy", codes, {"format_version": 1, "codebook_size": 1024})
    with pytest.raises(XYTokenizerError, match="different sizes"):
        token_file_stats([a, b])
    plain = tmp_path / "plain.npy"
    np.save(plain, codes)
    # no sidecar and no size given: the smallest power of two above the largest code (3 -> 4)
    assert token_file_stats([plain]).overall[0].counts.size == 4
    assert token_file_stats([plain], codebook_size=1024).overall[0].counts.size == 1024
