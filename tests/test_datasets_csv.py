"""datasets.load_csv's header, separator and line numbers; binarize's one threshold rule and id columns."""

import numpy as np
import pytest

from bmm_numba.datasets import (
    CSVFormatError,
    NonBinaryError,
    binarize,
    id_like_columns,
    load_csv,
    load_digits_binary,
)


def _csv(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_header_only_when_names_are_followed_by_numbers(tmp_path):
    X, info = load_csv(_csv(tmp_path, "a,b,c\n1,0,1\n0,1,1\n"), return_info=True)
    np.testing.assert_array_equal(X, [[1, 0, 1], [0, 1, 1]])
    assert info.header == ("a", "b", "c") and info.header_line == 1 and info.delimiter == ","
    X, info = load_csv(_csv(tmp_path, "1,0,1\n0,1,1\n"), return_info=True)
    assert X.shape == (2, 3) and info.header is None and info.header_line is None
    assert load_csv(_csv(tmp_path, "a,b\n1,0\n")).shape == (1, 2)  # the old contract: X alone


def test_first_line_is_not_lost_when_the_next_is_not_numbers_either(tmp_path):
    # two lines of words: line 1 is no header; the error names it (it used to name line 2)
    with pytest.raises(CSVFormatError, match=r"d.csv, line 1, column 1: 'x' is not a number") as exc:
        load_csv(_csv(tmp_path, "x,1\ny,0\n"))
    assert exc.value.line == 1 and exc.value.column == 1
    with pytest.raises(CSVFormatError, match="line 1, column 1: 'a' is not a number, and no data rows follow"):
        load_csv(_csv(tmp_path, "a,b\n"))


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_separator_is_guessed(tmp_path, sep):
    text = sep.join("abc") + "\n" + "\n".join(sep.join(r) for r in (["1", "0", ""], ["0", "1", "1"])) + "\n"
    X, info = load_csv(_csv(tmp_path, text), return_info=True)
    np.testing.assert_array_equal(X, [[1, 0, np.nan], [0, 1, 1]])
    assert info.delimiter == sep and info.header == ("a", "b", "c")


def test_wrong_separator_names_the_right_one_at_line_1(tmp_path):
    path = _csv(tmp_path, "0;1;0\n1;0;1\n")
    with pytest.raises(CSVFormatError, match=r"line 1, column 1: '0;1;0' is not a number; the file looks "
                                             r"semicolon-separated: pass delimiter=';'") as exc:
        load_csv(path, delimiter=",")
    assert exc.value.suggested_delimiter == ";"
    np.testing.assert_array_equal(load_csv(path), [[0, 1, 0], [1, 0, 1]])


def test_line_of_row_counts_header_and_blank_lines(tmp_path):
    X, info = load_csv(_csv(tmp_path, "a,b\n\n1,0\n0,1\n\n\n1,1\n0,0\n"), return_info=True)
    assert X.shape == (4, 2)
    assert [info.line_of_row(r) for r in range(4)] == [3, 4, 7, 8]


def test_id_like_columns():
    X = np.array([[1, 0, 5], [2, 1, 5], [3, 0, 7], [7, 1, 9]], dtype=float)
    assert id_like_columns(X) == [0]
    assert id_like_columns(X[:2]) == []  # two rows: too few to tell
    assert id_like_columns(np.array([[0.5, 0], [1.5, 1], [2.5, 0]])) == []  # not integers
    assert id_like_columns(np.array([[3, 0], [2, 1], [1, 0]])) == []  # decreasing


def test_non_binary_error_advises_dropping_an_id_column_not_a_threshold():
    X = np.array([[1, 0], [2, 1], [3, 0]])
    with pytest.raises(NonBinaryError, match=r"column 0 \(0-based\) looks like a row id") as exc:
        binarize(X)
    assert exc.value.id_columns == [0] and "threshold" not in str(exc.value)
    with pytest.raises(NonBinaryError, match=r"X\[1, 0\], 0-based\); give a threshold") as exc:
        binarize(np.array([[0, 1], [7, 0]]))
    assert exc.value.id_columns == []


def test_one_threshold_rule_values_equal_to_the_threshold_become_1():
    X = np.array([[127, 128, 129], [0, 255, 128]])
    np.testing.assert_array_equal(binarize(X, 128), [[0, 1, 1], [0, 1, 1]])
    np.testing.assert_array_equal(binarize(X.astype(float), 128.0), [[0, 1, 1], [0, 1, 1]])
    raw, _ = load_digits_binary(threshold=None)
    for t in (1, 8, 16):
        np.testing.assert_array_equal(load_digits_binary(threshold=t)[0], binarize(raw, t))
