"""The MySQL -> PostgreSQL example (examples/mysql-to-postgres) runs with one
command against the harness's servers, as its README line says
(`scripts/with-servers examples/mysql-to-postgres/run`), and ends with the
warehouse holding exactly the source rows. Run on a copy, so the
repository's example directory gets no state files."""
import os
import shutil
import subprocess

from conftest import BIN, ROOT


def test_mysql_to_postgres_example_runs(tmp_path, mysql_server, pg_server):
    ex = tmp_path / "mysql-to-postgres"
    shutil.copytree(os.path.join(ROOT, "examples", "mysql-to-postgres"), ex)
    env = dict(os.environ, SYNCTOOL=BIN, ASAN_OPTIONS="detect_leaks=1",
               SYNCTOOL_TEST_MYSQL_HOST=mysql_server.host,
               SYNCTOOL_TEST_MYSQL_PORT=str(mysql_server.port),
               SYNCTOOL_TEST_MYSQL_USER=mysql_server.user,
               SYNCTOOL_TEST_MYSQL_PASSWORD=mysql_server.password,
               SYNCTOOL_TEST_PG_HOST=pg_server.host, SYNCTOOL_TEST_PG_PORT=str(pg_server.port),
               SYNCTOOL_TEST_PG_USER=pg_server.user,
               SYNCTOOL_TEST_PG_PASSWORD=pg_server.password,
               SYNCTOOL_TEST_PG_DBNAME=pg_server.dbname)
    r = subprocess.run([str(ex / "run")], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "full_weekly success" in r.stdout and "4 inserted" in r.stdout
    assert "delta_5m success" in r.stdout and "1 inserted, 1 updated, 0 deleted" in r.stdout
    assert "hash_nightly success" in r.stdout and "0 inserted, 0 updated, 1 deleted" in r.stdout
    rows = pg_server.psql("SELECT id, customer_id, paid, note FROM public.shop_orders ORDER BY id",
                          dbname=pg_server.dbname).splitlines()
    assert rows == ["1|100|t|first order", "2|18446744073709551615|t|paid 💶",
                    "3|101|t|grüße 😀", "5|103|f|new"]
    src = mysql_server.sql("SELECT COUNT(*) FROM example_shop.orders").strip()
    assert src == "4"
    mysql_server.sql("DROP DATABASE example_shop")
    pg_server.psql("DROP TABLE public.shop_orders", dbname=pg_server.dbname)
