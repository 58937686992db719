"""The rollup and query sections: defaults that leave ``sluice serve`` alone, errors that name
the key, and consumer properties that keep commits manual."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.core.config.base import ConfigError
from sluice.core.config.settings import load_settings
from sluice.downstream.rollup.consumer import consumer_properties
from sluice.downstream.rollup.sqlite import SqliteRollupStore
from sluice.downstream.rollup.store import StoreUnavailable


def test_the_defaults_are_a_local_sqlite_file_and_a_loopback_query_listener() -> None:
    settings = load_settings(environ={})

    assert settings.rollup.store.backend == "sqlite"
    assert settings.query.listen.startswith("127.0.0.1:")
    assert settings.rollup.ops_listen != settings.ops.listen


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"SLUICE__ROLLUP__STOR": "x"}, "rollup.stor: unknown key"),
        ({"SLUICE__ROLLUP__STORE__BACKEND": "postgres"}, "postgres_dsn is required"),
        ({"SLUICE__ROLLUP__CLIENT": '{"enable.auto.commit": true}'}, "rollup.client"),
        ({"SLUICE__ROLLUP__BATCH_MAX_RECORDS": "0"}, "rollup.batch_max_records"),
        ({"SLUICE__QUERY__LISTEN": "0.0.0.0:8080"}, "query.listen"),
        ({"SLUICE__QUERY__PAGE_SIZE": "5000"}, "page_size must not exceed max_page_size"),
        ({"SLUICE__QUERY__MAX_TOP": "-1"}, "query.max_top"),
        ({"SLUICE__ROLLUP__CLIENT__SESSION.TIMEOUT.MS": "soon"}, "rollup.client"),
        ({"SLUICE__ROLLUP__CLIENT__FETCH.MIN.BYTEZ": "1"}, "fetch.min.bytez"),
    ],
)
def test_a_bad_value_is_refused_naming_the_key(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(environ=environ)


def test_consumer_properties_pass_through_but_commits_stay_manual() -> None:
    settings = load_settings(
        environ={
            "SLUICE__KAFKA__CLIENT": '{"security.protocol": "SSL", "fetch.wait.max.ms": 100}',
            "SLUICE__ROLLUP__CLIENT": '{"fetch.wait.max.ms": 10}',
            "SLUICE__ROLLUP__GROUP_ID": "rollups",
        }
    )

    properties = consumer_properties(settings.rollup, settings.kafka)

    assert properties["security.protocol"] == "SSL"
    assert properties["fetch.wait.max.ms"] == 10
    assert properties["group.id"] == "rollups"
    assert properties["enable.auto.commit"] is False
    assert properties["enable.auto.offset.store"] is False


def test_an_unusable_sqlite_path_is_reported_as_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    with pytest.raises(StoreUnavailable, match="a-file"):
        SqliteRollupStore(blocker / "rollup.db").open()
