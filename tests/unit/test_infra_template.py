"""infra/resources.yml and the packaged SAM template (chalice package + infra/patch_template.py).

Two templates are checked the same way: a minimal Chalice project built in tmp_path
(always; it exercises batching windows, schedules and a queue given by ARN), and the
real app packaged by infra/package.sh. Each must pass cfn-lint, carry
ReportBatchItemFailures on every SQS event source, and redrive every work queue.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cfnlint.api import ManualArgs, lint_file

from infra import patch_template

REPO_ROOT = Path(__file__).resolve().parents[2]
RESOURCES = REPO_ROOT / "infra" / "resources.yml"
BIN = Path(sys.executable).parent
WORK_QUEUES = {"recon-jobs", "recon-segments", "recon-schedule", "recon-maintenance", "recon-alerts",
               "recon-stream-steps", "recon-stream-events", "recon-stream-ticks", "recon-files"}

MINI_APP = '''
from chalice import Chalice, Rate

app = Chalice(app_name="mini")


@app.on_sqs_message(queue="recon-jobs", batch_size=1)
def jobs(event):
    return {"batchItemFailures": []}


@app.on_sqs_message(queue="recon-alerts", batch_size=20, maximum_batching_window_in_seconds=5)
def alerts(event):
    return None


@app.on_sqs_message(queue_arn="arn:aws:sqs:us-east-1:123456789012:external-queue", batch_size=10)
def external(event):
    return None


@app.schedule(Rate(5, unit=Rate.MINUTES))
def tick(event):
    return None
'''


def _lint(path: Path) -> list:
    matches = lint_file(path, config=ManualArgs(regions=["us-east-1"]))
    return [str(m) for m in matches]


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _sqs_events(template: dict):
    for fid, res in template["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            for eid, ev in (res["Properties"].get("Events") or {}).items():
                if ev["Type"] == "SQS":
                    yield fid, eid, ev["Properties"]
        if res["Type"] == "AWS::Lambda::EventSourceMapping":
            yield fid, fid, res["Properties"]


def _assert_template_invariants(template: dict) -> None:
    resources = template["Resources"]
    events = list(_sqs_events(template))
    assert events, "no SQS event source in the template"
    for fid, eid, props in events:
        assert props.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], (fid, eid)
    by_name = {r["Properties"]["QueueName"]: (lid, r) for lid, r in resources.items()
               if r["Type"] == "AWS::SQS::Queue"}
    for name in WORK_QUEUES:
        lid, queue = by_name[name]
        redrive = queue["Properties"]["RedrivePolicy"]
        dlq_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert resources[dlq_id]["Properties"]["QueueName"] == name + "-dlq"
        assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
        assert name + "-dlq" in by_name
    # A queue consumed by a function must be visible for at least its timeout (AWS rejects the mapping).
    for fid, eid, props in events:
        q = props["Queue"]
        if isinstance(q, dict) and "Fn::GetAtt" in q:
            qprops = resources[q["Fn::GetAtt"][0]]["Properties"]
            vt = qprops["VisibilityTimeout"]
            vt = int(template["Parameters"][vt["Ref"]]["Default"]) if isinstance(vt, dict) else int(vt)
            assert vt >= int(resources[fid]["Properties"].get("Timeout", 60)), (fid, vt)


def test_resources_template_lints_clean_and_names_are_binding():
    assert _lint(RESOURCES) == []
    template = _load(RESOURCES)
    resources = template["Resources"]
    names = {r["Properties"].get("QueueName") for r in resources.values() if r["Type"] == "AWS::SQS::Queue"}
    assert names == WORK_QUEUES | {n + "-dlq" for n in WORK_QUEUES}
    rules = {r["Properties"]["Name"]: r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"}
    assert rules["recon-hourly"]["ScheduleExpression"] == "cron(0 * * * ? *)"
    assert rules["recon-hourly"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["ScheduleQueue", "Arn"]}
    assert rules["recon-sweeper"]["ScheduleExpression"] == "rate(1 minute)"
    assert rules["recon-sweeper"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["MaintenanceQueue", "Arn"]}
    assert template["Parameters"]["WorkQueueVisibilityTimeout"]["Default"] == 120
    assert template["Parameters"]["MaxReceiveCount"]["Default"] == 5
    # Both target queues let EventBridge send, scoped to their rule.
    policies = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::SQS::QueuePolicy"]
    allowed = {json.dumps(p["Queues"]): p["PolicyDocument"]["Statement"][0] for p in policies}
    for queue, rule in (("ScheduleQueue", "HourlyRule"), ("MaintenanceQueue", "SweeperRule")):
        stmt = allowed[json.dumps([{"Ref": queue}])]
        assert stmt["Principal"] == {"Service": "events.amazonaws.com"}
        assert stmt["Action"] == "sqs:SendMessage"
        assert stmt["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [rule, "Arn"]}
    assert "Export" in template["Outputs"]["ArtifactsBucketName"]


def _package_project(project: Path, out: Path) -> None:
    env = dict(os.environ, AWS_DEFAULT_REGION="us-east-1")
    env.pop("AWS_ENDPOINT_URL", None)
    subprocess.run(
        [str(BIN / "chalice"), "package", "--stage", "dev", "--merge-template", str(RESOURCES), str(out)],
        cwd=project, env=env, check=True, capture_output=True, text=True, timeout=300,
    )


def test_minimal_chalice_project_packages_to_a_valid_patched_template(tmp_path):
    project = tmp_path / "mini"
    (project / ".chalice").mkdir(parents=True)
    (project / "app.py").write_text(MINI_APP)
    (project / "requirements.txt").write_text("")
    (project / ".chalice" / "config.json").write_text(json.dumps({
        "version": "2.0", "app_name": "mini",
        "stages": {"dev": {"api_gateway_stage": "api", "lambda_timeout": 300}},
    }))
    out = tmp_path / "out"
    _package_project(project, out)
    sam = out / "sam.yaml"
    before = _load(sam)
    # Chalice alone leaves the gap the patch closes.
    assert all("FunctionResponseTypes" not in p for _, _, p in _sqs_events(before))

    assert patch_template.main([str(out)]) == 0
    template = _load(sam)
    _assert_template_invariants(template)
    resources = template["Resources"]
    jobs_event = next(p for f, _, p in _sqs_events(template) if f == "Jobs")
    assert jobs_event["Queue"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    alerts_event = next(p for f, _, p in _sqs_events(template) if f == "Alerts")
    assert alerts_event["BatchSize"] == 20 and alerts_event["MaximumBatchingWindowInSeconds"] == 5
    assert resources["AlertsQueue"]["Properties"]["VisibilityTimeout"] == 305
    external = next(p for f, _, p in _sqs_events(template) if f == "External")
    assert external["Queue"] == "arn:aws:sqs:us-east-1:123456789012:external-queue"
    assert external["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert resources["Jobs"]["Properties"]["Environment"]["Variables"]["ARTIFACTS_BUCKET"] == {"Ref": "ArtifactsBucket"}
    assert "ReconInfraAccessPolicy" in resources
    assert _lint(sam) == []
    # Idempotent.
    assert patch_template.patch(template) == []


def test_patch_handles_raw_event_source_mappings():
    template = {
        "Resources": {
            "Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}},
            "S": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 1}},
            "M1": {"Type": "AWS::Lambda::EventSourceMapping",
                   "Properties": {"EventSourceArn": {"Fn::GetAtt": ["Q", "Arn"]}, "FunctionName": "f"}},
            "M2": {"Type": "AWS::Lambda::EventSourceMapping",
                   "Properties": {"EventSourceArn": "arn:aws:sqs:us-east-1:1:other", "FunctionName": "f",
                                  "FunctionResponseTypes": ["ReportBatchItemFailures"]}},
            "M3": {"Type": "AWS::Lambda::EventSourceMapping",
                   "Properties": {"EventSourceArn": {"Fn::GetAtt": ["S", "Arn"]}, "FunctionName": "f"}},
        }
    }
    changes = patch_template.patch(template)
    r = template["Resources"]
    assert r["M1"]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert r["M2"]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "FunctionResponseTypes" not in r["M3"]["Properties"]
    assert changes == ["M1: FunctionResponseTypes=[ReportBatchItemFailures]"]


def _assert_worker_grants(template: dict) -> None:
    """What the stream workers do on AWS, each allowed to every function's role on the concrete resource:
    send to recon-stream-steps (FINISH / EXCEPTIONS messages), answer and heartbeat task tokens, start and
    stop executions of the stream runs' state machine, publish on the recon bus, read/write artifacts.
    Nothing but the task-token calls (their tokens name no resource) on "*"; no wildcard action."""
    resources = template["Resources"]
    queues = {r["Properties"]["QueueName"]: lid for lid, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    machine = next(lid for lid, r in resources.items() if r["Type"] == "AWS::StepFunctions::StateMachine")
    bus = next(lid for lid, r in resources.items() if r["Type"] == "AWS::Events::EventBus")
    roles = {fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in resources.values()
             if fn["Type"] == "AWS::Serverless::Function"}
    assert roles, "functions without a role of the template"
    policies = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
                and {x["Ref"] for x in r["Properties"]["Roles"]} >= roles]
    statements = [st for p in policies for st in p["PolicyDocument"]["Statement"]]
    for st in statements:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert st["Effect"] == "Allow" and not [a for a in actions if "*" in a], st
        if st["Resource"] == "*" or "*" in (st["Resource"] if isinstance(st["Resource"], list) else []):
            assert set(actions) <= {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}, st

    def allowed(action: str, resource) -> bool:
        for st in statements:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            targets = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            if action in actions and (resource in targets or "*" in targets):
                return True
        return False

    steps = {"Fn::GetAtt": [queues["recon-stream-steps"], "Arn"]}
    for action in ("sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueUrl"):
        assert allowed(action, steps), action
    for action in ("states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"):
        assert allowed(action, "*"), action
    assert allowed("states:StartExecution", {"Ref": machine})
    executions = {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
                             "${%s.Name}:*" % machine}
    assert allowed("states:StopExecution", executions) and allowed("states:DescribeExecution", executions)
    assert not allowed("states:StartExecution", "*") and not allowed("states:StopExecution", "*")
    assert allowed("events:PutEvents", {"Fn::GetAtt": [bus, "Arn"]}) and not allowed("events:PutEvents", "*")
    objects = {"Fn::Sub": "${ArtifactsBucket.Arn}/*"}
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"):
        assert allowed(action, objects), action
    # the functions find the state machine without listing them
    for fn in resources.values():
        if fn["Type"] == "AWS::Serverless::Function":
            assert fn["Properties"]["Environment"]["Variables"]["STREAM_STATE_MACHINE_ARN"] == {"Ref": machine}


def test_real_app_packages_with_package_sh(tmp_path):
    app_py = (REPO_ROOT / "app.py")
    assert app_py.is_file(), "app.py is missing"
    assert "on_sqs_message" in app_py.read_text(), "app.py declares no SQS handler"
    out = tmp_path / "out"
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("AWS_ENDPOINT_URL", None)
    proc = subprocess.run(["bash", str(REPO_ROOT / "infra" / "package.sh"), "--stage", "dev", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cfn-lint OK" in proc.stderr
    template = _load(out / "sam.yaml")
    _assert_template_invariants(template)
    _assert_worker_grants(template)
    assert (out / "deployment.zip").stat().st_size > 0
    # demo generators and local-only libraries stay out of what is deployed
    import zipfile
    names = zipfile.ZipFile(out / "deployment.zip").namelist()
    assert "app.py" in names and any(n.startswith("chalicelib/runs/") for n in names)
    assert not [n for n in names if n.startswith(("chalicelib/demo/", "infra/", "tests/", "croniter"))]
    # the functions that keep whole files in /tmp have room for them, and the matching engine's memory
    # limit leaves its function room for the interpreter (dev stage: .chalice/config.json)
    memory = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())["stages"]["dev"]["lambda_memory_size"]
    resources = template["Resources"]
    by_queue = {}
    for fid, _eid, props in _sqs_events(template):
        if "Queue" not in props:
            continue
        q = props["Queue"]["Fn::GetAtt"][0]
        by_queue[resources[q]["Properties"]["QueueName"]] = resources[fid]["Properties"]
    for queue in ("recon-stream-steps", "recon-files"):
        assert by_queue[queue].get("EphemeralStorage", {}).get("Size", 512) >= 10240, queue
    assert "EphemeralStorage" not in by_queue["recon-segments"]      # CDC workers keep nothing on disk
    limit = by_queue["recon-stream-steps"]["Environment"]["Variables"]["STREAM_ENGINE_MEMORY"]
    assert limit.endswith("MB") and memory // 2 <= int(limit[:-2]) < memory, (limit, memory)
    # what the functions read at run time: the catalog at CATALOG_PATH's default, and the matching
    # engine's DuckDB (which `chalice package` alone leaves out)
    assert "config/catalog.yml" in names
    assert zipfile.ZipFile(out / "deployment.zip").read("config/catalog.yml") == \
        (REPO_ROOT / "config" / "catalog.yml").read_bytes()
    assert "duckdb/__init__.py" in names and any(n.startswith(("_duckdb", "duckdb/")) and ".so" in n for n in names), \
        sorted(n for n in names if "duckdb" in n)[:20]
    # ... at infra/lambda-duckdb.txt's version, from a wheel built for a glibc no newer than Amazon Linux 2's
    # (2.26, Lambda's python3.11 runtime): a manylinux_2_27+ DuckDB fails to import there
    pin = re.search(r"^duckdb==(\S+)", (REPO_ROOT / "infra" / "lambda-duckdb.txt").read_text(), re.M).group(1)
    wheel_meta = [n for n in names if re.fullmatch(r"duckdb-[^/]+\.dist-info/WHEEL", n)]
    assert wheel_meta == [f"duckdb-{pin}.dist-info/WHEEL"], wheel_meta
    tags = re.findall(r"^Tag: (\S+)", zipfile.ZipFile(out / "deployment.zip").read(wheel_meta[0]).decode(), re.M)
    glibc = [tuple(map(int, m.groups())) for t in tags for m in [re.search(r"manylinux_(\d+)_(\d+)_x86_64", t)] if m]
    assert tags and all("cp311" in t for t in tags) and glibc and max(glibc) <= (2, 26), tags


def test_chalice_is_not_asked_for_what_package_sh_adds_itself(tmp_path):
    """`chalice package` would build DuckDB's source distribution (and its build requirements) from
    source for minutes before giving up on it; the staged project leaves it out of its requirements,
    and only it."""
    from infra import stage_project

    project = tmp_path / "src"
    (project / "chalicelib" / "__pycache__").mkdir(parents=True)
    (project / ".chalice").mkdir()
    (project / "app.py").write_text("app = None\n")
    (project / "chalicelib" / "__init__.py").write_text("")
    (project / "chalicelib" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (project / ".chalice" / "config.json").write_text("{}")
    (project / "requirements.txt").write_text(
        "# pinned\nchalice==1.31.3\nDuckDB==2.0.0  # engine\nduckdb-extensions==1.0\npsycopg[binary,pool]==3.2.3\n")
    staged = stage_project.stage(project, tmp_path / "staged")
    assert (staged / "requirements.txt").read_text().splitlines() == [
        "# pinned", "chalice==1.31.3", "duckdb-extensions==1.0", "psycopg[binary,pool]==3.2.3"]
    assert (staged / "app.py").read_text() == "app = None\n"
    assert (staged / ".chalice" / "config.json").is_file()
    assert not (staged / "chalicelib" / "__pycache__").exists()
    # Chalice's cache of built dependencies is the source project's, kept between packagings
    assert (staged / ".chalice" / "deployments").resolve() == (project / ".chalice" / "deployments").resolve()
    real = stage_project.packaged_requirements((REPO_ROOT / "requirements.txt").read_text())
    assert "duckdb" not in real.lower() and "chalice==" in real
