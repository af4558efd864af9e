"""``passgate users import``: Auth0's bulk-import file (JSON array or JSON lines) with
the users' hashes, row errors that do not stop the import, duplicates with and without
``--upsert``, ``--dry-run``, and files that are truncated or malformed (SQLite and
PostgreSQL; the file read in the command's process, and, as a large file is, in a child
process of its own)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from passgate.management import user_imports
from passgate.management.import_process import ChildReader
from passgate.management.user_imports import JobError, UserImporter
from passgate.storage.directory import DEFAULT_CONNECTION, Directory
from passgate.storage.schema import users
from passgate.storage.user_import import UserImports
from passgate.support.json_rows import FileError
from tests.import_hashes import FORMATS, user_for
from tests.support import Cli, refusal_lines

PASSWORD = "imported password 1"


@pytest.fixture(autouse=True, params=["in-process", "child-process"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: the file read by the command's process, and by a child process
    (every file counts as large)."""
    if request.param == "child-process":
        monkeypatch.setattr(user_imports, "PROCESS_FROM_BYTES", 0)
    return str(request.param)


@pytest.fixture
def cli(sql_url: str, tmp_path: Path) -> Cli:
    return Cli(tmp_path / "data", env={"PASSGATE_DATABASE_URL": sql_url})


def write(tmp_path: Path, rows: list[Any], *, lines: bool = False, name: str = "users") -> Path:
    path = tmp_path / f"{name}.json"
    if lines:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        path.write_text(json.dumps(rows, indent=1))
    return path


def count_users(engine: sa.Engine) -> int:
    with engine.connect() as db:
        return int(db.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())


def run_import(cli: Cli, path: Path, *options: str) -> tuple[int, dict[str, Any]]:
    result = cli.run("users", "import", str(path), *options, "--json")
    assert result.exit_code in (0, 1), (result.output, result.exception)
    return result.exit_code, json.loads(result.stdout)


def test_every_format_imports(cli: Cli, tmp_path: Path, engine: sa.Engine) -> None:
    rows = [user_for(name, PASSWORD) for name in FORMATS]
    code, report = run_import(cli, write(tmp_path, rows))
    assert code == 0, report["errors"]
    assert report["summary"] == {
        "total": len(FORMATS),
        "inserted": len(FORMATS),
        "updated": 0,
        "failed": 0,
    }
    assert report["connection"] == DEFAULT_CONNECTION
    assert count_users(engine) == len(FORMATS)


@pytest.mark.parametrize("lines", [False, True], ids=["array", "json-lines"])
def test_row_errors_do_not_stop_the_import(
    cli: Cli, tmp_path: Path, engine: sa.Engine, lines: bool
) -> None:
    rows: list[Any] = [
        user_for("auth0-bcrypt", PASSWORD),
        {"email": "not an email", "password_hash": "x"},
        {"email": "unknown@hash.example", "password_hash": "md5$abc$def"},
        {"email": "both@hash.example", "password_hash": "$2b$04$" + "a" * 53,
         "custom_password_hash": {"algorithm": "md5"}},
        {"password_hash": "$2b$04$" + "a" * 53},
        {"email": "extra@x.example", "mfa_factors": []},
        {"email": "big@x.example", "user_metadata": {"n": 2**64}},
        {"email": "nan@x.example", "user_metadata": {"n": 1e999}},
        "a string",
        {"email": "slow@x.example", "password_hash": "$2b$31$" + "a" * 53},
        {"email": "ok@x.example", "username": "okay", "user_metadata": {"plan": "gold"}},
    ]  # fmt: skip
    code, report = run_import(cli, write(tmp_path, rows, lines=lines))
    assert code == 1
    assert report["summary"] == {"total": 11, "inserted": 2, "updated": 0, "failed": 9}
    by_row = {error["row"]: error for error in report["errors"]}
    assert sorted(by_row) == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert by_row[2]["errors"][0]["path"] == "email"
    assert by_row[3]["errors"][0]["code"] == "INVALID_HASH"
    assert by_row[4]["errors"][0]["message"].endswith("mutually exclusive")
    assert by_row[5]["errors"][0]["code"] == "OBJECT_MISSING_REQUIRED_PROPERTY"
    assert by_row[6]["errors"][0]["code"] == "OBJECT_ADDITIONAL_PROPERTIES"
    assert "64-bit" in by_row[7]["errors"][0]["message"]
    assert "not a JSON number" in by_row[8]["errors"][0]["message"]  # json.dumps: Infinity
    assert "cap" in by_row[10]["errors"][0]["message"]
    text = json.dumps(report)
    assert "$2b$" not in text  # no hash is ever echoed
    assert count_users(engine) == 2


def test_duplicates_are_refused_without_upsert_and_updated_with_it(
    cli: Cli, tmp_path: Path, engine: sa.Engine
) -> None:
    first = user_for("auth0-bcrypt", PASSWORD, given_name="Ada", user_metadata={"a": 1})
    code, _ = run_import(cli, write(tmp_path, [first]))
    assert code == 0
    directory = Directory(engine)
    created = directory.find_by_email(DEFAULT_CONNECTION, str(first["email"]))
    assert created is not None
    with engine.connect() as db:
        stored = db.execute(
            sa.select(users.c.password_hash).where(users.c.id == created.id)
        ).scalar_one()

    again = user_for("django-pbkdf2-sha256", "another password", email=str(first["email"]).upper(),
                     given_name="Grace", user_metadata={"b": 2})  # fmt: skip
    code, report = run_import(cli, write(tmp_path, [again], name="again"))
    assert code == 1
    assert report["errors"][0]["errors"][0]["code"] == "DUPLICATED_USER"
    assert report["summary"]["failed"] == 1

    code, report = run_import(cli, write(tmp_path, [again], name="again"), "--upsert")
    assert code == 0
    assert report["summary"] == {"total": 1, "inserted": 0, "updated": 1, "failed": 0}
    updated = directory.get_user(created.id)
    assert updated is not None
    assert updated.profile.given_name == "Grace"
    assert dict(updated.profile.user_metadata) == {"b": 2}
    assert updated.email == created.email  # never changed by an upsert
    with engine.connect() as db:  # nor the password
        assert (
            db.execute(
                sa.select(users.c.password_hash).where(users.c.id == created.id)
            ).scalar_one()
            == stored
        )
    assert count_users(engine) == 1


def test_duplicates_inside_one_file(cli: Cli, tmp_path: Path, engine: sa.Engine) -> None:
    rows = [
        {"email": "twice@x.example", "username": "twice"},
        {"email": "TWICE@x.example"},
        {"email": "other@x.example", "username": "TWICE"},
        {"email": "id1@x.example", "user_id": "legacy-1"},
        {"email": "id2@x.example", "user_id": "auth0|legacy-1"},
    ]
    for options in (("--dry-run",), ()):
        code, report = run_import(cli, write(tmp_path, rows), *options)
        assert code == 1
        assert [error["row"] for error in sorted(report["errors"], key=lambda e: e["row"])] == [
            2,
            3,
            5,
        ], options
        assert report["summary"]["inserted"] == 2
        if options:
            assert count_users(engine) == 0  # a dry run writes nothing
    assert count_users(engine) == 2
    directory = Directory(engine)
    assert directory.get_user("auth0|legacy-1") is not None


def test_dry_run_writes_nothing(cli: Cli, tmp_path: Path, engine: sa.Engine) -> None:
    rows = [user_for(name, PASSWORD) for name in list(FORMATS)[:5]]
    code, report = run_import(cli, write(tmp_path, rows), "--dry-run")
    assert code == 0
    assert report["dry_run"] is True
    assert report["summary"]["inserted"] == 5
    assert count_users(engine) == 0
    text = cli.run("users", "import", str(write(tmp_path, rows)), "--dry-run")
    assert "would be created" in text.stdout
    assert "nothing was written" in text.stdout


@pytest.mark.parametrize(
    ("content", "row", "what"),
    [
        ('[{"email": "a@x.example"}, {"email": "b@x.ex', 2, "truncated"),
        ('[{"email": "a@x.example"}, {"email": "b@x.example"}', 2, "','"),
        ('[{"email": "a@x.example"}, {"email": "b@x.example"},', 3, "truncated"),
        ('[{"email": "a@x.example"} {"email": "b@x.example"}]', 1, "','"),
        ('[{"email": "a@x.example"}] trailing', 1, "after the array"),
        ('{"email": "a@x.example"}\n{"email": "b@', 2, "truncated"),
        ("", 1, "empty"),
        ("<users/>", 1, "JSON array or JSON lines"),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_broken_file_imports_nobody_and_names_the_row(
    cli: Cli, tmp_path: Path, engine: sa.Engine, content: str, row: int, what: str, dry_run: bool
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    result = cli.run("users", "import", str(path), *(("--dry-run",) if dry_run else ()))
    assert result.exit_code == 2, result.output
    message = " ".join(refusal_lines(result.stderr))
    assert f"row {row}" in message
    assert what in message
    assert "nothing was imported" in message
    assert "Traceback" not in result.output
    assert count_users(engine) == 0


def test_not_utf8_and_huge_rows(cli: Cli, tmp_path: Path, engine: sa.Engine) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'[{"email": "caf\xe9@x.example"}]')
    result = cli.run("users", "import", str(path))
    assert result.exit_code == 2
    assert "not UTF-8" in result.stderr

    deep = "[" * 100_000 + "]" * 100_000
    huge = "x" * (2 * 1024 * 1024)
    path = tmp_path / "hostile.json"
    path.write_text(
        f'[{{"email": "a@x.example", "user_metadata": {{"d": {deep}}}}},'
        f' {{"email": "b@x.example", "name": "{huge}"}},'
        f' {{"email": "c@x.example", "user_metadata": {{"n": {"9" * 5000}}}}},'
        ' {"email": "d@x.example", "user_metadata": {"n": 1e999}},'
        ' {"email": "ok@x.example"}]'
    )
    code, report = run_import(cli, path)
    assert code == 1
    messages = {error["row"]: error["errors"][0]["message"] for error in report["errors"]}
    assert set(messages) == {1, 2, 3, 4}
    assert "deep" in messages[1]
    assert "larger than" in messages[2]
    assert "4300" in messages[3] or "limit" in messages[3]
    assert "too large" in messages[4]
    assert count_users(engine) == 1


def test_connection_by_name_or_id_and_unknown(cli: Cli, tmp_path: Path, engine: sa.Engine) -> None:
    path = write(tmp_path, [{"email": "a@x.example"}])
    connection = Directory(engine).connection_by_name(DEFAULT_CONNECTION)
    assert connection is not None
    code, report = run_import(cli, path, "--connection", connection.id, "--dry-run")
    assert code == 0
    assert report["connection"] == DEFAULT_CONNECTION
    result = cli.run("users", "import", str(path), "--connection", "Nope")
    assert result.exit_code == 2
    assert "connection does not exist" in result.stderr
    assert count_users(engine) == 0


def test_export_json_lines_and_csv_with_fields(cli: Cli, tmp_path: Path, engine: sa.Engine) -> None:
    rows = [
        user_for("auth0-bcrypt", PASSWORD, username="ada", user_metadata={"plan": "gold"}),
        user_for("django-pbkdf2-sha256", PASSWORD, blocked=True),
    ]
    assert run_import(cli, write(tmp_path, rows))[0] == 0
    result = cli.run("users", "export")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    lines.sort(key=lambda line: str(line["email"]))  # one batch: created together
    assert [line["email"] for line in lines] == [row["email"] for row in rows]
    assert lines[0]["user_metadata"] == {"plan": "gold"}
    assert lines[1]["blocked"] is True
    assert "$2b$" not in result.stdout
    assert "pbkdf2_sha256$" not in result.stdout

    out = tmp_path / "users.csv"
    result = cli.run(
        "users", "export", "--format", "csv", "--connection", DEFAULT_CONNECTION,
        "--fields", "email=Email,username,user_metadata.plan=Plan,blocked", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    header, *body = out.read_text().splitlines()
    assert header == "Email,username,Plan,blocked"
    assert sorted(body) == [
        "auth0-bcrypt@import.example,ada,gold,false",
        "django-pbkdf2-sha256@import.example,,,true",
    ]
    for refused in ("password_hash", "nope", "app_metadata.x.y,hash"):
        result = cli.run("users", "export", "--fields", refused)
        assert result.exit_code == 2, (refused, result.output)
    result = cli.run("users", "export", "--connection", "Nope")
    assert result.exit_code == 2


def test_a_missing_file_is_refused(cli: Cli, tmp_path: Path) -> None:
    result = cli.run("users", "import", str(tmp_path / "missing.json"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr
    assert "Traceback" not in result.output


def test_export_json_is_one_document(cli: Cli, tmp_path: Path) -> None:
    assert cli.json("users", "export") == []
    assert (
        run_import(cli, write(tmp_path, [{"email": "a@x.example"}, {"email": "b@x.example"}]))[0]
        == 0
    )
    exported = cli.json("users", "export", "--fields", "email")
    assert sorted(exported, key=str) == [{"email": "a@x.example"}, {"email": "b@x.example"}]


@pytest.mark.parametrize(
    ("upsert", "dry_run"),
    # A dry run predicts what the import does: with upsert it remembers the users the
    # batches before would have created (they are not in the database).
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["import", "upsert", "dry-run", "dry-run-upsert"],
)
def test_rows_across_batches_keep_their_numbers_and_duplicates(
    tmp_path: Path, engine: sa.Engine, reader: str, upsert: bool, dry_run: bool
) -> None:
    """Batches of 3 rows: a duplicate of a row two batches back, refused rows between, and
    every error in row order with its row's number and offset."""
    rows: list[Any] = [{"email": f"u{i}@x.example", "username": f"u{i}"} for i in range(10)]
    rows[4] = {"email": "U1@x.example", "given_name": "Again"}  # a duplicate (of row 2)
    rows[6] = {"email": "bad"}
    rows[7] = {"email": "name@x.example", "username": "U3"}  # row 4's username
    rows[8] = "not an object"
    path = write(tmp_path, rows, lines=True)
    directory = Directory(engine)
    directory.ensure_connection(DEFAULT_CONNECTION)
    importer = UserImporter(directory=directory, writer=UserImports(engine), batch=3)
    connection = importer.connection(DEFAULT_CONNECTION)
    errors: list[JobError] = []
    options: dict[str, Any] = {
        "connection": connection, "upsert": upsert, "dry_run": dry_run, "on_error": errors.append,
    }  # fmt: skip
    if reader == "child-process":
        with ChildReader(path, upsert=upsert, dry_run=dry_run, batch=3) as batches:
            summary = importer.run_file(path, reader=iter(batches), **options)
    else:
        summary = importer.run_file(path, **options)
    duplicate = [] if upsert else [5]
    assert [error.row for error in errors] == sorted([*duplicate, 7, 8, 9])
    assert summary.json() == {
        "total": 10,
        "inserted": 6,
        "updated": 1 if upsert else 0,
        "failed": 4 - (1 if upsert else 0),
    }
    starts = [0, *(i + 1 for i, char in enumerate(path.read_text()) if char == "\n")]
    assert all(error.offset == starts[error.row - 1] for error in errors)
    by_row = {error.row: error for error in errors}
    assert by_row[8].user == {"email": "name@x.example", "username": "U3"}
    assert by_row[8].errors[0].code == "DUPLICATED_USER"
    assert by_row[9].user == {}
    assert count_users(engine) == (0 if dry_run else 6)


def test_a_file_error_in_the_child_is_the_same_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[{"email": "a@x.example"}, {"email": "b@x.ex')
    with pytest.raises(FileError) as raised, ChildReader(path, upsert=False, dry_run=False) as got:
        list(got)
    assert raised.value.row == 2
    assert "truncated" in str(raised.value)
    with (
        pytest.raises(OSError, match="No such file"),
        ChildReader(tmp_path / "missing.json", upsert=False, dry_run=False) as got,
    ):
        list(got)


def test_postgresql_statistics_are_refreshed_as_an_import_grows(
    cli: Cli, tmp_path: Path, engine: sa.Engine
) -> None:
    """Planned on the statistics of an empty table, each batch's lookup read every user
    of the connection: an import refreshes them (ANALYZE) as it grows."""
    if engine.dialect.name != "postgresql":
        pytest.skip("about PostgreSQL")
    rows = [{"email": f"u{i}@x.example"} for i in range(5)]
    assert run_import(cli, write(tmp_path, rows))[0] == 0
    with engine.connect() as db:
        tuples = db.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass('users')"
        ).scalar_one()
    assert tuples == 5  # -1 until the table is first analyzed
