"""Input formats: what is accepted, and how bad input is refused (file and line named)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from passgate.breached.errors import BreachedImportError
from passgate.breached.formats import read_source
from passgate.breached.importer import import_corpus
from passgate.breached.index import BreachedIndex
from tests.breached.helpers import hash_lines, sha1_digest, sha1_hex, write_lines

CORPUS = {"password": 3, "123456": 7, "hunter2": 1, "correct horse": 12}


def _import(tmp_path: Path, *sources: Path, **options: object) -> BreachedIndex:
    index_path = tmp_path / "breached.idx"
    import_corpus(sources, index_path, **options)  # type: ignore[arg-type]
    return BreachedIndex.open(index_path)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("lower", [False, True], ids=["upper", "lower"])
def test_sha1_file_in_every_encoding_gives_the_same_counts(
    tmp_path: Path, compress: bool, crlf: bool, lower: bool
) -> None:
    source = write_lines(
        tmp_path / "pwned.txt", hash_lines(CORPUS, lower=lower), crlf=crlf, compress=compress
    )
    with _import(tmp_path, source) as index:
        assert {p: index.count(sha1_digest(p)) for p in CORPUS} == CORPUS
        assert index.count(sha1_digest("not in the corpus")) is None


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "pwned.txt.gz", hash_lines(CORPUS))  # not compressed
    other = write_lines(tmp_path / "other.txt", hash_lines({"qwerty": 2}), compress=True)
    with _import(tmp_path, source, other) as index:
        assert index.count(sha1_digest("qwerty")) == 2
        assert index.count(sha1_digest("password")) == 3


def test_last_line_without_newline_is_read(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "h.txt", hash_lines(CORPUS), final_newline=False)
    with _import(tmp_path, source) as index:
        assert index.count(sha1_digest("correct horse")) == 12


def test_range_directory_plain_gzip_crlf_lower(tmp_path: Path) -> None:
    directory = tmp_path / "ranges"
    directory.mkdir()
    by_prefix: dict[str, list[str]] = {}
    for password, count in CORPUS.items():
        digest = sha1_hex(password)
        by_prefix.setdefault(digest[:5], []).append(f"{digest[5:]}:{count}")
    for i, (prefix, lines) in enumerate(sorted(by_prefix.items())):
        name = prefix.lower() if i % 2 else prefix
        write_lines(
            directory / (f"{name}.txt.gz" if i == 0 else f"{name}.txt"),
            [line.lower() for line in lines] if i % 2 else lines,
            crlf=i == 1,
            compress=i == 0,
        )
    (directory / "README.md").write_text("ignored: not a range file\n")
    with _import(tmp_path, directory, with_range=True) as index:
        assert {p: index.count(sha1_digest(p)) for p in CORPUS} == CORPUS
        digest = sha1_hex("123456")
        assert (digest[5:], 7) in index.range(digest[:5])


def test_range_padding_lines_with_count_zero_are_dropped(tmp_path: Path) -> None:
    digest = sha1_hex("password")
    source = write_lines(
        tmp_path / f"{digest[:5]}.txt", [f"{digest[5:]}:0", f"{sha1_hex('x')[5:]}:4"]
    )
    with _import(tmp_path, source, fmt="range-dir") as index:
        assert index.count(sha1_digest("password")) is None
        assert len(index) == 1


def test_password_list_is_hashed_and_duplicates_counted(tmp_path: Path) -> None:
    source = tmp_path / "rockyou.txt"
    source.write_bytes(
        "password\r\nmot de passe été\r\n\r\npassword\r\n pass:word \r\npassword".encode()
    )
    with _import(tmp_path, source) as index:
        assert index.count(sha1_digest("password")) == 3
        assert index.count(sha1_digest("mot de passe été")) == 1
        assert index.count(sha1_digest(" pass:word ")) == 1
        assert index.count(sha1_digest("pass:word")) is None
        assert len(index) == 3


def test_format_passwords_hashes_even_hex_looking_lines(tmp_path: Path) -> None:
    hexlike = sha1_hex("a")
    source = write_lines(tmp_path / "list.txt", [hexlike])
    with pytest.raises(BreachedImportError, match="--format passwords"):
        import_corpus([source], tmp_path / "i.idx")
    with _import(tmp_path, source, fmt="passwords") as index:
        assert index.count(sha1_digest(hexlike)) == 1
        assert index.count(sha1_digest("a")) is None


def test_ntlm_file_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "ntlm.txt", ["", "8846F7EAEE8FB117AD06BDD830B7586C:42"])
    with pytest.raises(BreachedImportError, match=r"ntlm\.txt:2: NTLM"):
        import_corpus([source], tmp_path / "i.idx")


def test_ntlm_line_inside_sha1_file_is_refused(tmp_path: Path) -> None:
    lines = [*hash_lines(CORPUS), "8846F7EAEE8FB117AD06BDD830B7586C:42"]
    source = write_lines(tmp_path / "mixed.txt", lines)
    with pytest.raises(BreachedImportError, match=r"mixed\.txt:5: NTLM"):
        import_corpus([source], tmp_path / "i.idx")


def test_ntlm_range_file_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "ranges"
    directory.mkdir()
    write_lines(directory / "8846F.txt", ["7EAEE8FB117AD06BDD830B7586C:42"])
    with pytest.raises(BreachedImportError, match=r"8846F\.txt:1: NTLM"):
        import_corpus([directory], tmp_path / "i.idx")


GOOD = sha1_hex("good")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (GOOD[:-1] + "G:5", "bad hex digit"),
        (GOOD[:-1] + ":5", "expected 40 hex digits"),
        (GOOD + "0:5", "expected 40 hex digits"),
        (GOOD, "missing ':COUNT'"),
        (GOOD + ":", "missing count"),
        (GOOD + ":12a", "not a decimal number"),
        (GOOD + ":-1", "not a decimal number"),
        (GOOD + ": 1", "not a decimal number"),
        (GOOD + ":1:2", "not a decimal number"),
        (GOOD + ":1234567890123", "longer than 12 digits"),
    ],
)
def test_malformed_line_is_refused_with_file_line_and_reason(
    tmp_path: Path, line: str, reason: str
) -> None:
    source = write_lines(tmp_path / "bad.txt", [*hash_lines(CORPUS)[:2], "", line], crlf=True)
    with pytest.raises(BreachedImportError, match=r"bad\.txt:4: ") as caught:
        import_corpus([source], tmp_path / "i.idx")
    assert reason in str(caught.value)


def test_line_numbers_stay_right_across_blocks(tmp_path: Path) -> None:
    lines = [*hash_lines({f"pw{i}": i + 1 for i in range(500)}), "oops:1"]
    source = write_lines(tmp_path / "long.txt", lines, compress=True)
    with pytest.raises(BreachedImportError, match=r"long\.txt:501: "):
        list(read_source(source, "sha1", block_size=100))


def test_truncated_gzip_is_refused(tmp_path: Path) -> None:
    data = gzip.compress("\n".join(hash_lines({f"p{i}": 1 for i in range(2000)})).encode())
    source = tmp_path / "cut.txt.gz"
    source.write_bytes(data[: len(data) // 2])
    with pytest.raises(BreachedImportError, match=r"cut\.txt\.gz:\d+: truncated or corrupt gzip"):
        import_corpus([source], tmp_path / "i.idx")


def test_invalid_utf8_password_list_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "list.txt"
    source.write_bytes(b"fine\nalso fine\nbad \xff byte\n")
    with pytest.raises(BreachedImportError, match=r"list\.txt:3: not valid UTF-8"):
        import_corpus([source], tmp_path / "i.idx")


def test_empty_inputs_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    blank = write_lines(tmp_path / "blank.txt", ["", "", ""])
    directory = tmp_path / "ranges"
    directory.mkdir()
    with pytest.raises(BreachedImportError, match=r"empty\.txt: empty file"):
        import_corpus([empty], tmp_path / "i.idx")
    with pytest.raises(BreachedImportError, match="empty input"):
        import_corpus([blank], tmp_path / "i.idx")
    with pytest.raises(BreachedImportError, match="no range files"):
        import_corpus([directory], tmp_path / "i.idx")
    with pytest.raises(BreachedImportError, match="no source"):
        import_corpus([], tmp_path / "i.idx")
    assert not (tmp_path / "i.idx").exists()


def test_missing_source_and_wrong_format_for_directory(tmp_path: Path) -> None:
    with pytest.raises(BreachedImportError, match="no such file"):
        import_corpus([tmp_path / "nope.txt"], tmp_path / "i.idx")
    with pytest.raises(BreachedImportError, match="only --format range-dir"):
        import_corpus([tmp_path], tmp_path / "i.idx", fmt="sha1")
