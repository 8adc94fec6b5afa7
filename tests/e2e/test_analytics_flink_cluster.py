"""FLINK-* applications on a real Apache Flink cluster: Freshet configured with
`[analytics.flink] rest_url` runs them there through Flink's REST API instead of its embedded
engine, driven only through boto3 `kinesisanalyticsv2`.

The cluster is Flink 2.3's standalone session cluster as the PyPI package `apache-flink` ships
it (bin/start-cluster.sh, on the installed JDK), started on free ports for this module. The JAR
application is tests/e2e/flink_job (compiled here against the cluster's jars); Flink SQL runs as
Freshet's SQL runner job (scripts/build-flink-sql-runner.sh). Snapshots are Flink savepoints: the
test checks each on disk and that a restored job was restored from exactly that savepoint, as
Flink's own checkpoint statistics report it.
"""

from __future__ import annotations

import glob
import io
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from firehose_helpers import wait_until

ROLE = "arn:aws:iam::000000000000:role/flink"
REPO = Path(__file__).resolve().parents[2]
FLINK_VENV = os.environ.get("FLINK_VENV", "/var/tmp/flinkvenv")


def flink_home() -> Path:
    found = sorted(glob.glob(f"{FLINK_VENV}/lib/python3*/site-packages/pyflink/bin/start-cluster.sh"))
    if not found:
        pytest.fail(f"no PyFlink in {FLINK_VENV}: scripts/install-flink.sh installs it")
    return Path(found[-1]).parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, home: Path, root: Path):
        self.home = home
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.savepoints = root / "savepoints"
        conf = root / "conf"
        conf.mkdir(parents=True)
        for f in (home / "conf").iterdir():
            if f.name != "config.yaml":
                shutil.copy(f, conf / f.name)
        # The packaged config's JVM options (module opens Flink needs on Java 17), then this
        # test's own: loopback only, free ports, small memory, four slots.
        java_opts = ""
        lines = (home / "conf" / "config.yaml").read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip() == "opts:" and i + 1 < len(lines) and lines[i + 1].strip().startswith("all:"):
                java_opts = lines[i + 1].strip()[len("all:"):].strip()
        (conf / "config.yaml").write_text(
            f"""env.java.opts.all: {java_opts}
jobmanager.bind-host: 127.0.0.1
jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: {free_port()}
jobmanager.memory.process.size: 1024m
taskmanager.bind-host: 127.0.0.1
taskmanager.host: 127.0.0.1
taskmanager.numberOfTaskSlots: 4
taskmanager.memory.process.size: 1280m
parallelism.default: 1
rest.address: 127.0.0.1
rest.bind-address: 127.0.0.1
rest.port: {self.port}
web.tmpdir: {root / "web"}
io.tmp.dirs: {root / "tmp"}
"""
        )
        (root / "log").mkdir()
        self.env = {
            **os.environ,
            "FLINK_CONF_DIR": str(conf),
            "FLINK_LOG_DIR": str(root / "log"),
            "FLINK_PID_DIR": str(root),
        }

    def start(self):
        subprocess.run([str(self.home / "bin" / "start-cluster.sh")], env=self.env, check=True,
                       stdout=subprocess.DEVNULL, timeout=120)
        wait_until(lambda: self.try_get("/overview", {}).get("slots-available", 0) >= 4,
                   timeout=90, interval=0.5, what="the Flink cluster's task slots")
        return self

    def stop(self):
        subprocess.run([str(self.home / "bin" / "stop-cluster.sh")], env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def get(self, path):
        with urllib.request.urlopen(self.url + "/v1" + path, timeout=10) as r:
            return json.loads(r.read())

    def try_get(self, path, default):
        try:
            return self.get(path)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return default

    def jobs(self, name):
        """The cluster's jobs named `name`: id -> state."""
        return {j["jid"]: j["state"] for j in self.get("/jobs/overview")["jobs"] if j["name"] == name}

    def running(self, name):
        running = [jid for jid, state in self.jobs(name).items() if state == "RUNNING"]
        return running[0] if len(running) == 1 else None

    def restored_from(self, job):
        """The savepoint path a job started from, as Flink's checkpoint statistics report it."""
        restored = self.get(f"/jobs/{job}/checkpoints").get("latest", {}).get("restored") or {}
        return restored.get("external_path")


def build_jar(home: Path, out: Path) -> bytes:
    classes = out.parent / "classes"
    classes.mkdir(parents=True, exist_ok=True)
    subprocess.run(["javac", "--release", "11", "-nowarn", "-cp", f"{home}/lib/*", "-d", str(classes),
                    str(REPO / "tests/e2e/flink_job/freshet/e2e/CountingJob.java")], check=True)
    subprocess.run(["jar", "--create", "--file", str(out), "--main-class", "freshet.e2e.CountingJob",
                    "-C", str(classes), "."], check=True)
    return out.read_bytes()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    home = flink_home()
    root = tmp_path_factory.mktemp("flink")
    cluster = Cluster(home, root).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def runner_jar(cluster, tmp_path_factory):
    out = tmp_path_factory.mktemp("runner") / "freshet-flink-sql-runner.jar"
    subprocess.run([str(REPO / "scripts/build-flink-sql-runner.sh"), str(cluster.home), str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def job_jar(cluster, tmp_path_factory):
    return build_jar(cluster.home, tmp_path_factory.mktemp("job") / "counting-job.jar")


@pytest.fixture(scope="module")
def freshet(cluster, runner_jar, tmp_path_factory):
    from freshet_e2e import FreshetServer

    root = tmp_path_factory.mktemp("freshet-flink-cluster")
    srv = FreshetServer(root / "data", root / "run", env={
        "FRESHET_ANALYTICS__FLINK__REST_URL": cluster.url,
        "FRESHET_ANALYTICS__FLINK__SQL_RUNNER_JAR": str(runner_jar),
        "FRESHET_ANALYTICS__FLINK__SAVEPOINT_DIR": cluster.savepoints.as_uri(),
        "FRESHET_ANALYTICS__FLINK__TIMEOUT_SECS": "60",
    }).start()
    yield srv
    srv.kill()


@pytest.fixture
def ka2(freshet):
    client = freshet.client(service="kinesisanalyticsv2")
    made = []
    yield client, made
    for name in made:
        try:
            if status(client, name) not in ("READY",):
                client.stop_application(ApplicationName=name, Force=True)
                wait_until(lambda: status(client, name) == "READY", timeout=60)
            created = client.describe_application(ApplicationName=name)["ApplicationDetail"]["CreateTimestamp"]
            client.delete_application(ApplicationName=name, CreateTimestamp=created)
        except client.exceptions.ResourceNotFoundException:
            pass


def status(client, name):
    return client.describe_application(ApplicationName=name)["ApplicationDetail"]["ApplicationStatus"]


def create(ka2, name, code, **configuration):
    client, made = ka2
    client.create_application(
        ApplicationName=name,
        RuntimeEnvironment="FLINK-1_20",
        ServiceExecutionRole=ROLE,
        ApplicationConfiguration={"ApplicationCodeConfiguration": code, **configuration},
    )
    made.append(name)


def zip_code(data: bytes):
    return {"CodeContentType": "ZIPFILE", "CodeContent": {"ZipFileContent": data}}


def start(client, name, restore="SKIP_RESTORE_FROM_SNAPSHOT", snapshot=None):
    config = {"ApplicationRestoreType": restore}
    if snapshot:
        config["SnapshotName"] = snapshot
    client.start_application(ApplicationName=name,
                             RunConfiguration={"ApplicationRestoreConfiguration": config})
    wait_until(lambda: status(client, name) in ("RUNNING", "READY"), timeout=90, interval=0.2,
               what=f"{name} to start")
    assert status(client, name) == "RUNNING", last_operation(client, name)


def last_operation(client, name):
    ops = client.list_application_operations(ApplicationName=name)["ApplicationOperationInfoList"]
    latest = max(ops, key=lambda o: o["StartTime"])
    return client.describe_application_operation(
        ApplicationName=name, OperationId=latest["OperationId"])["ApplicationOperationInfoDetails"]


def stop(client, name, force=False):
    client.stop_application(ApplicationName=name, Force=force)
    wait_until(lambda: status(client, name) == "READY", timeout=90, interval=0.2, what=f"{name} to stop")


def snapshot_path(cluster, before):
    """The one savepoint directory written since `before` (a set of names)."""
    new = {p.name for p in cluster.savepoints.glob("savepoint-*")} - before
    assert len(new) == 1, new
    path = cluster.savepoints / new.pop()
    assert (path / "_metadata").is_file()
    return path


def savepoints(cluster):
    return {p.name for p in cluster.savepoints.glob("savepoint-*")} if cluster.savepoints.exists() else set()


def test_jar_application_runs_snapshots_stops_and_restores_on_the_cluster(cluster, ka2, job_jar):
    client, _ = ka2
    name = "cluster-jar"
    job_name = "freshet-e2e-counting"
    create(ka2, name, zip_code(job_jar),
           EnvironmentProperties={"PropertyGroups": [
               {"PropertyGroupId": "JobGroup", "PropertyMap": {"name": job_name, "rate": "200"}}]},
           ApplicationSnapshotConfiguration={"SnapshotsEnabled": True})
    described = client.describe_application(ApplicationName=name)["ApplicationDetail"]
    code = described["ApplicationConfigurationDescription"]["ApplicationCodeConfigurationDescription"]
    assert code["CodeContentType"] == "ZIPFILE"
    assert code["CodeContentDescription"]["CodeSize"] == len(job_jar)

    start(client, name)
    # The properties reached the job: it is named by JobGroup.name.
    first = wait_until(lambda: cluster.running(job_name), timeout=30, what="the JAR's job")
    assert cluster.restored_from(first) is None

    before = savepoints(cluster)
    client.create_application_snapshot(ApplicationName=name, SnapshotName="manual")
    wait_until(lambda: client.describe_application_snapshot(ApplicationName=name, SnapshotName="manual")
               ["SnapshotDetails"]["SnapshotStatus"] == "READY", timeout=60)
    manual = snapshot_path(cluster, before)
    assert cluster.jobs(job_name)[first] == "RUNNING", "a snapshot leaves the job running"

    before = savepoints(cluster)
    stop(client, name)
    assert cluster.jobs(job_name)[first] == "FINISHED", "Stop stops the job with a savepoint"
    on_stop = snapshot_path(cluster, before)
    snaps = client.list_application_snapshots(ApplicationName=name)["SnapshotSummaries"]
    assert sorted(s["SnapshotName"] for s in snaps)[0] == "manual"
    assert len(snaps) == 2, snaps

    # The latest snapshot is the one Stop took: the next job starts from that savepoint.
    start(client, name, "RESTORE_FROM_LATEST_SNAPSHOT")
    second = wait_until(lambda: cluster.running(job_name), timeout=30, what="the restored job")
    assert second != first
    assert Path(cluster.restored_from(second).removeprefix("file:")) == on_stop
    stop(client, name)

    # A custom snapshot: the manual one.
    start(client, name, "RESTORE_FROM_CUSTOM_SNAPSHOT", "manual")
    third = wait_until(lambda: cluster.running(job_name), timeout=30, what="the job from 'manual'")
    assert Path(cluster.restored_from(third).removeprefix("file:")) == manual

    # A forced stop cancels the job and takes no snapshot.
    before = savepoints(cluster)
    stop(client, name, force=True)
    assert cluster.jobs(job_name)[third] == "CANCELED"
    assert savepoints(cluster) == before
    assert len(client.list_application_snapshots(ApplicationName=name)["SnapshotSummaries"]) == 3


SQL = """
CREATE TABLE numbers (n BIGINT, ts AS PROCTIME())
  WITH ('connector' = 'datagen', 'rows-per-second' = '${App.rate}', 'fields.n.min' = '1', 'fields.n.max' = '9');
CREATE TABLE sink (n BIGINT, c BIGINT, window_end TIMESTAMP(3)) WITH ('connector' = 'blackhole');
EXECUTE STATEMENT SET BEGIN
INSERT INTO sink SELECT n, COUNT(*), window_end
  FROM TABLE(TUMBLE(TABLE numbers, DESCRIPTOR(ts), INTERVAL '2' SECOND))
  GROUP BY n, window_start, window_end;
END;
"""


def test_sql_application_runs_as_the_sql_runner_job_and_restores_its_savepoint(cluster, ka2):
    client, _ = ka2
    name = "cluster-sql"
    create(ka2, name, {"CodeContentType": "PLAINTEXT", "CodeContent": {"TextContent": SQL}},
           EnvironmentProperties={"PropertyGroups": [
               {"PropertyGroupId": "App", "PropertyMap": {"rate": "100"}}]},
           ApplicationSnapshotConfiguration={"SnapshotsEnabled": True})
    start(client, name)
    # The SQL runner names the job after the application.
    first = wait_until(lambda: cluster.running(name), timeout=30, what="the SQL job")
    plan = cluster.get(f"/jobs/{first}/plan")["plan"]["nodes"]
    assert any("Window" in n["description"] or "window" in n["description"] for n in plan), plan

    before = savepoints(cluster)
    stop(client, name)
    on_stop = snapshot_path(cluster, before)
    start(client, name, "RESTORE_FROM_LATEST_SNAPSHOT")
    second = wait_until(lambda: cluster.running(name), timeout=30, what="the restored SQL job")
    assert Path(cluster.restored_from(second).removeprefix("file:")) == on_stop

    # An update of a running application stops it with a snapshot and starts the new version
    # from there.
    version = client.describe_application(ApplicationName=name)["ApplicationDetail"]["ApplicationVersionId"]
    before = savepoints(cluster)
    client.update_application(
        ApplicationName=name, CurrentApplicationVersionId=version,
        ApplicationConfigurationUpdate={"EnvironmentPropertyUpdates": {"PropertyGroups": [
            {"PropertyGroupId": "App", "PropertyMap": {"rate": "50"}}]}},
        RunConfigurationUpdate={"ApplicationRestoreConfiguration": {
            "ApplicationRestoreType": "RESTORE_FROM_LATEST_SNAPSHOT"}})
    wait_until(lambda: status(client, name) == "RUNNING" and cluster.running(name) not in (None, second),
               timeout=90, interval=0.2, what="the updated application")
    third = cluster.running(name)
    assert cluster.jobs(name)[second] == "FINISHED"
    assert Path(cluster.restored_from(third).removeprefix("file:")) == snapshot_path(cluster, before)


def test_sql_the_cluster_refuses_fails_the_start_with_flinks_reason(cluster, ka2):
    client, _ = ka2
    name = "cluster-bad-sql"
    create(ka2, name, {"CodeContentType": "PLAINTEXT", "CodeContent": {
        "TextContent": "CREATE TABLE s (n BIGINT) WITH ('connector' = 'blackhole');\n"
                       "INSERT INTO s SELECT n FROM no_such_table;"}})
    client.start_application(ApplicationName=name, RunConfiguration={
        "ApplicationRestoreConfiguration": {"ApplicationRestoreType": "SKIP_RESTORE_FROM_SNAPSHOT"}})
    wait_until(lambda: status(client, name) == "READY", timeout=90, interval=0.2, what="the failed start")
    failure = last_operation(client, name)
    assert failure["OperationStatus"] == "FAILED"
    message = failure["OperationFailureDetails"]["ErrorInfo"]["ErrorString"]
    assert "no_such_table" in message, message
    assert cluster.jobs(name) == {}, "nothing runs on the cluster"


def test_an_archive_that_is_neither_sql_nor_a_jar_is_refused_at_start(ka2):
    client, _ = ka2
    name = "cluster-python"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("main.py", "print('hello')\n")
    create(ka2, name, zip_code(buf.getvalue()))
    with pytest.raises(client.exceptions.InvalidApplicationConfigurationException) as e:
        client.start_application(ApplicationName=name, RunConfiguration={
            "ApplicationRestoreConfiguration": {"ApplicationRestoreType": "SKIP_RESTORE_FROM_SNAPSHOT"}})
    assert "Python applications are not supported" in e.value.response["Error"]["Message"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert status(client, name) == "READY"


def test_without_a_cluster_a_jar_is_refused_with_the_setting_to_set(server, job_jar):
    client = server.client(service="kinesisanalyticsv2")
    name = f"no-cluster-jar-{int(time.time() * 1000)}"
    client.create_application(ApplicationName=name, RuntimeEnvironment="FLINK-1_20", ServiceExecutionRole=ROLE,
                              ApplicationConfiguration={"ApplicationCodeConfiguration": zip_code(job_jar)})
    try:
        with pytest.raises(client.exceptions.InvalidApplicationConfigurationException) as e:
            client.start_application(ApplicationName=name, RunConfiguration={
                "ApplicationRestoreConfiguration": {"ApplicationRestoreType": "SKIP_RESTORE_FROM_SNAPSHOT"}})
        assert "[analytics.flink] rest_url" in e.value.response["Error"]["Message"]
    finally:
        created = client.describe_application(ApplicationName=name)["ApplicationDetail"]["CreateTimestamp"]
        client.delete_application(ApplicationName=name, CreateTimestamp=created)


def test_a_restarted_server_adopts_the_job_its_application_runs(cluster, job_jar, runner_jar, tmp_path):
    from freshet_e2e import FreshetServer

    env = {
        "FRESHET_ANALYTICS__FLINK__REST_URL": cluster.url,
        "FRESHET_ANALYTICS__FLINK__SAVEPOINT_DIR": cluster.savepoints.as_uri(),
    }
    srv = FreshetServer(tmp_path / "data", tmp_path / "run", env=env).start()
    client = srv.client(service="kinesisanalyticsv2")
    name = "cluster-adopt"
    job_name = "freshet-e2e-adopted"
    client.create_application(
        ApplicationName=name, RuntimeEnvironment="FLINK-1_20", ServiceExecutionRole=ROLE,
        ApplicationConfiguration={"ApplicationCodeConfiguration": zip_code(job_jar),
                                  "EnvironmentProperties": {"PropertyGroups": [
                                      {"PropertyGroupId": "JobGroup", "PropertyMap": {"name": job_name}}]}})
    start(client, name)
    job = wait_until(lambda: cluster.running(job_name), timeout=30, what="the job")
    srv.kill()
    # The job runs on without the control plane; a restarted server finds it, starts no other.
    assert cluster.jobs(job_name) == {job: "RUNNING"}
    srv = FreshetServer(tmp_path / "data", tmp_path / "run2", env=env).start()
    try:
        client = srv.client(service="kinesisanalyticsv2")
        wait_until(lambda: status(client, name) == "RUNNING", timeout=60, interval=0.2)
        assert cluster.jobs(job_name) == {job: "RUNNING"}
        stop(client, name, force=True)
        assert cluster.jobs(job_name) == {job: "CANCELED"}
    finally:
        srv.kill()



def test_a_job_cancelled_on_the_cluster_leaves_its_application_ready(cluster, ka2, job_jar):
    client, _ = ka2
    name = "cluster-cancelled"
    job_name = "freshet-e2e-cancelled"
    create(ka2, name, zip_code(job_jar), EnvironmentProperties={"PropertyGroups": [
        {"PropertyGroupId": "JobGroup", "PropertyMap": {"name": job_name}}]})
    start(client, name)
    job = wait_until(lambda: cluster.running(job_name), timeout=30, what="the job")
    request = urllib.request.Request(f"{cluster.url}/v1/jobs/{job}?mode=cancel", method="PATCH")
    urllib.request.urlopen(request, timeout=10).close()
    wait_until(lambda: status(client, name) == "READY", timeout=30, interval=0.2,
               what="the application to see its job ended")
    # Started again, it runs a new job.
    start(client, name)
    again = wait_until(lambda: cluster.running(job_name), timeout=30, what="a new job")
    assert again != job
