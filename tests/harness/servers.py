"""Throw-away redis-server, PostgreSQL and MariaDB instances for the test suites.

Each server gets a fresh temporary directory and a free port on 127.0.0.1 and
is torn down afterwards. PostgreSQL refuses to run as root, so when we are
root the data directory is handed to the unprivileged `postgres` user (created
by Debian's postgresql package) and every server command runs through
`runuser`; MariaDB the same way as the `mysql` user (Debian's mariadb-server).
Nothing here touches the system's own redis, PostgreSQL or MariaDB service.

Used two ways: scripts/with-servers starts them around `make test` and exports
SYNCTOOL_TEST_REDIS_URL / SYNCTOOL_TEST_PG_* / SYNCTOOL_TEST_MYSQL_* ;
tests/e2e/conftest.py reuses those when present and otherwise starts its own.
"""
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

PG_USER = "synctool"
PG_PASSWORD = "synctool-test-pw"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start within {timeout}s")


class Redis:
    def __init__(self, *extra_args):
        self.dir = tempfile.mkdtemp(prefix="synctool-redis-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--logfile", os.path.join(self.dir, "redis.log"),
             *extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL {name} not found: run scripts/install-deps")
    return found[-1]


class Postgres:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="synctool-pg-")
        self.port = free_port()
        self.root = os.geteuid() == 0
        os.chmod(self.dir, 0o755)
        data = os.path.join(self.dir, "data")
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(PG_PASSWORD + "\n")
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        self._run([_pg_bin("initdb"), "-D", data, "-U", PG_USER,
                   "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                   "--locale=C.UTF-8", "--no-sync"])
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.dir} -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off "
                f"-c max_connections=200 "
                # logical decoding for the cdc strategy (tests/e2e/test_cdc.py)
                f"-c wal_level=logical -c max_replication_slots=32 "
                f"-c max_wal_senders=32")
        # Extra server settings, e.g. SYNCTOOL_TEST_PG_SETTINGS="shared_buffers=1GB"
        # for benchmarks whose tables should fit the buffer cache.
        for setting in os.environ.get("SYNCTOOL_TEST_PG_SETTINGS", "").split():
            if "=" not in setting:
                raise RuntimeError(f"SYNCTOOL_TEST_PG_SETTINGS: '{setting}' is not name=value")
            opts += f" -c {setting}"
        self._run([_pg_bin("pg_ctl"), "-D", data, "-o", opts, "-l",
                   os.path.join(self.dir, "pg.log"), "-w", "-t", "60", "start"])
        self.data = data
        _wait_port(self.port)
        self.host, self.user, self.password = "127.0.0.1", PG_USER, PG_PASSWORD
        self.dbname = "postgres"
        self.conninfo = (f"host=127.0.0.1 port={self.port} user={PG_USER} "
                         f"password={PG_PASSWORD} dbname=postgres")

    def _run(self, cmd):
        if self.root:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, cwd=self.dir)

    def psql(self, sql, dbname="postgres"):
        env = dict(os.environ, PGPASSWORD=PG_PASSWORD)
        out = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", PG_USER, "-d", dbname, "-c", sql],
            env=env, check=True, capture_output=True, text=True)
        return out.stdout

    def stop(self):
        try:
            self._run([_pg_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "stop"])
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


MYSQL_USER = "synctool"
MYSQL_PASSWORD = "synctool-test-pw"
MYSQL_DBNAME = "synctool"


class MariaDB:
    """mariadbd from Debian's mariadb-server on a free loopback port.

    The datadir is made by mariadb-install-db in a temp dir (0.5 s); the
    server runs without any my.cnf (--no-defaults), with its own socket in
    that dir, durability off (tests and benchmarks only), LOCAL INFILE on,
    and an init file that creates the synctool user (password auth, every
    privilege) and the synctool database (utf8mb4, binary collation).
    Extra server options: SYNCTOOL_TEST_MYSQL_SETTINGS="name=value ...".
    """

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="synctool-my-")
        self.port = free_port()
        self.root = os.geteuid() == 0
        os.chmod(self.dir, 0o755)
        data = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        init = os.path.join(self.dir, "init.sql")
        with open(init, "w") as f:
            f.write(
                f"CREATE DATABASE IF NOT EXISTS {MYSQL_DBNAME} "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;\n"
                f"CREATE USER IF NOT EXISTS '{MYSQL_USER}'@'%' IDENTIFIED BY '{MYSQL_PASSWORD}';\n"
                f"CREATE USER IF NOT EXISTS '{MYSQL_USER}'@'localhost' "
                f"IDENTIFIED BY '{MYSQL_PASSWORD}';\n"
                f"GRANT ALL PRIVILEGES ON *.* TO '{MYSQL_USER}'@'%' WITH GRANT OPTION;\n"
                f"GRANT ALL PRIVILEGES ON *.* TO '{MYSQL_USER}'@'localhost' WITH GRANT OPTION;\n")
        if self.root:
            shutil.chown(self.dir, "mysql", "mysql")
            shutil.chown(init, "mysql", "mysql")
        self._run(["mariadb-install-db", "--no-defaults", f"--datadir={data}",
                   "--auth-root-authentication-method=normal", "--skip-test-db",
                   "--skip-name-resolve"])
        cmd = ["mariadbd", "--no-defaults", f"--datadir={data}", f"--port={self.port}",
               "--bind-address=127.0.0.1", f"--socket={self.socket}",
               f"--pid-file={os.path.join(self.dir, 'mysqld.pid')}",
               f"--log-error={os.path.join(self.dir, 'mysqld.log')}",
               f"--init-file={init}", f"--tmpdir={self.dir}",
               "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
               "--sync-frm=0", "--skip-name-resolve", "--local-infile=1",
               "--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin",
               "--max-connections=200", "--innodb-buffer-pool-size=256M"]
        for setting in os.environ.get("SYNCTOOL_TEST_MYSQL_SETTINGS", "").split():
            if "=" not in setting:
                raise RuntimeError(f"SYNCTOOL_TEST_MYSQL_SETTINGS: '{setting}' is not name=value")
            cmd.append("--" + setting)
        if self.root:
            cmd = ["runuser", "-u", "mysql", "--"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     cwd=self.dir)
        self.host, self.user, self.password = "127.0.0.1", MYSQL_USER, MYSQL_PASSWORD
        self.dbname = MYSQL_DBNAME
        self._wait_ready()

    def _run(self, cmd):
        if self.root:
            cmd = ["runuser", "-u", "mysql", "--"] + cmd
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, cwd=self.dir)

    def _wait_ready(self, timeout=60.0):
        """The port opens before the init file has run: wait for our user."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                log = os.path.join(self.dir, "mysqld.log")
                tail = open(log).read()[-2000:] if os.path.exists(log) else ""
                raise RuntimeError(f"mariadbd exited with {self.proc.returncode}:\n{tail}")
            r = subprocess.run(self.client_args() + ["-e", "SELECT 1"],
                               capture_output=True, env=self.client_env())
            if r.returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"mariadbd on port {self.port} did not start within {timeout}s")

    def client_env(self):
        return dict(os.environ, MYSQL_PWD=self.password)

    def client_args(self, dbname=None):
        return ["mariadb", "--no-defaults", "--default-character-set=utf8mb4", "-h", self.host, "-P", str(self.port),
                "-u", self.user, "--batch", "--raw", "--skip-column-names",
                dbname or self.dbname]

    def sql(self, sql, dbname=None):
        out = subprocess.run(self.client_args(dbname) + ["-e", sql], env=self.client_env(),
                             check=True, capture_output=True, text=True)
        return out.stdout

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def mysql_sql(host, port, user, password, dbname, sql):
    """Runs sql with the mariadb client against an existing server."""
    env = dict(os.environ, MYSQL_PWD=password)
    out = subprocess.run(["mariadb", "--no-defaults", "--default-character-set=utf8mb4", "-h", host, "-P", str(port), "-u", user,
                          "--batch", "--raw", "--skip-column-names", dbname, "-e", sql],
                         env=env, check=True, capture_output=True, text=True)
    return out.stdout


def env_for(redis=None, pg=None, my=None):
    env = {}
    if redis:
        env["SYNCTOOL_TEST_REDIS_URL"] = redis.url
    if pg:
        env.update({
            "SYNCTOOL_TEST_PG_HOST": pg.host,
            "SYNCTOOL_TEST_PG_PORT": str(pg.port),
            "SYNCTOOL_TEST_PG_USER": pg.user,
            "SYNCTOOL_TEST_PG_PASSWORD": pg.password,
            "SYNCTOOL_TEST_PG_DBNAME": pg.dbname,
            "SYNCTOOL_TEST_PG_CONNINFO": pg.conninfo,
        })
    if my:
        env.update({
            "SYNCTOOL_TEST_MYSQL_HOST": my.host,
            "SYNCTOOL_TEST_MYSQL_PORT": str(my.port),
            "SYNCTOOL_TEST_MYSQL_USER": my.user,
            "SYNCTOOL_TEST_MYSQL_PASSWORD": my.password,
            "SYNCTOOL_TEST_MYSQL_DBNAME": my.dbname,
            "SYNCTOOL_TEST_MYSQL_SOCKET": my.socket,
        })
    return env
