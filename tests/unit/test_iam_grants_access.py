"""The packaged Lambda grants, tested by access: moto's IAM enforcement decides each call.

The real app is packaged once (``chalice package --merge-template infra/resources.yml`` then
infra/patch_template.py, as infra/package.sh does). For every function of the package the test takes
the role the template gives it, gathers every policy the template attaches to that role (the role's
inline policies and each AWS::IAM::Policy naming it), resolves the intrinsics to concrete ARNs
(account 123456789012, us-east-1, the artifacts bucket named ``recon-artifacts-test``) and gives exactly
that document to an IAM user. With enforcement on (moto's ``INITIAL_NO_AUTH_ACTION_COUNT``), the
user's keys then make the calls that function's code makes on AWS, which must be allowed, and calls
outside the grant, which must be denied:

* SQS: GetQueueUrl, SendMessage / SendMessageBatch to the queues the function's code wakes
  (chalicelib/runs/wakeups.py, cdc/jobs.py, runs/webhooks.py, streams/files.py, streams/step_worker.py),
  and ReceiveMessage / DeleteMessage / GetQueueAttributes on the queue its event source mapping polls
  (Lambda polls with the function's role). Denied: another account's queue, the dead-letter queues,
  PurgeQueue / DeleteQueue / SetQueueAttributes.
* S3 (chalicelib/streams/storage.py): PutObject, GetObject, HeadObject, DeleteObject, ListObjectsV2 and
  a multipart upload (Create/UploadPart/Complete, Abort) on the artifacts bucket. Denied: the console
  bucket, any other bucket, DeleteBucket / PutBucketPolicy on the artifacts bucket.
* Step Functions (chalicelib/streams/state_machine.py): StartExecution of recon-stream-runs,
  StopExecution / DescribeExecution of its executions, SendTaskSuccess / Failure / Heartbeat. Denied:
  StartExecution of another state machine, DeleteStateMachine, ListStateMachines (the functions find
  the machine from STREAM_STATE_MACHINE_ARN).
* EventBridge (chalicelib/streams/events.py): PutEvents on recon-events. Denied: PutEvents on the
  default bus, PutRule.
* Secrets Manager (chalicelib/streams/data_sources.py, POSTGRES data sources given by ``secretArn``):
  GetSecretValue of a secret named ``recon/...``. Denied: a secret outside ``recon/``, PutSecretValue.

What moto enforces, and what it cannot:

* moto evaluates identity policies only (Allow / Deny, Action and Resource with wildcards; no
  conditions, permission boundaries, SCPs or resource policies such as the queue policies that let
  EventBridge send to recon-schedule / recon-maintenance / recon-stream-ticks / recon-stream-events;
  those stay checked statically in tests/unit/test_infra_template.py).
* moto checks S3 against the bucket / object ARN itself. For every other service it authorises
  against resource ``*``, so a grant scoped to one queue or one state machine would be refused and an
  over-broad one could not be told apart. The test therefore tells moto, per request, the ARN AWS
  authorises against (``_determine_resource``: the queue ARN of QueueUrl / QueueName, the state
  machine or execution ARN, the event bus ARN of each PutEvents entry, the secret ARN); the policy
  evaluation itself stays moto's. Task-token answers name no resource on AWS either (``*``).
  AWS authorises SendMessageBatch / DeleteMessageBatch by sqs:SendMessage / sqs:DeleteMessage; moto
  asks for the batch action, so the test maps it as AWS does.
* Lambda's own needs (CloudWatch Logs, X-Ray) and the Step Functions service role
  (StreamRunsRole) are not exercised as such: moto does not enforce IAM for the Lambda service's
  CloudWatch Logs writes nor for a state machine's own integrations. StreamRunsRole's document is
  still tested by access like a function's (it may send to recon-stream-steps and nothing else).
* All the functions share Chalice's DefaultRole, so every function may make every call listed
  here; the per-function tables below are what each function needs, and the denials are what no
  function may do.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

moto = pytest.importorskip("moto")
from moto import mock_aws, settings  # noqa: E402
from moto.core.responses import ActionAuthenticatorMixin  # noqa: E402
from moto.events.responses import EventsHandler  # noqa: E402
from moto.iam.access_control import IAMRequest  # noqa: E402
from moto.secretsmanager.responses import SecretsManagerResponse  # noqa: E402
from moto.sqs.responses import SQSResponse  # noqa: E402
from moto.stepfunctions.responses import StepFunctionResponse  # noqa: E402

from infra import patch_template, stage_project  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
RESOURCES = REPO_ROOT / "infra" / "resources.yml"
BIN = Path(sys.executable).parent
ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "recon-artifacts-test"
CONSOLE_BUCKET = "recon-console-test"
OTHER_BUCKET = "someone-elses-bucket"
MACHINE = "recon-stream-runs"
BUS = "recon-events"

# What each function's code calls on AWS (beyond polling its own queue): queues it sends to, and
# the S3 / Step Functions / EventBridge / Secrets Manager calls it makes.
S3_RW = ("s3:put", "s3:get", "s3:head", "s3:delete", "s3:list", "s3:multipart")
FUNCTIONS = {
    # health (GetQueueAttributes of recon-jobs), CDC jobs (recon-jobs), uploads (recon-files, S3),
    # stream runs (start / cancel executions; a canceled run is published and its webhooks queued),
    # data source tests (secrets), schedule wake-ups of a saved or resumed stream (recon-stream-ticks)
    "APIHandler": {"polls": None, "sends": ["recon-jobs", "recon-files", "recon-alerts", "recon-stream-ticks",
                                            "recon-stream-steps"],   # a canceled run settled (SETTLE)
                   "calls": ["sqs:attributes:recon-jobs", *S3_RW, "states:start", "states:stop",
                             "states:describe", "events:put", "secrets:get"]},
    "JobWorker": {"polls": "recon-jobs", "sends": ["recon-segments", "recon-alerts"], "calls": []},
    "SegmentWorker": {"polls": "recon-segments", "sends": ["recon-segments", "recon-alerts"], "calls": []},
    "Scheduler": {"polls": "recon-schedule", "sends": ["recon-jobs", "recon-schedule"], "calls": []},
    # sweeper hooks (chalicelib/runs/sweeper.py): CDC jobs, webhook deliveries, stalled uploads
    "Sweeper": {"polls": "recon-maintenance", "sends": ["recon-jobs", "recon-segments", "recon-alerts", "recon-files"],
                "calls": []},
    "AlertWorker": {"polls": "recon-alerts", "sends": ["recon-alerts"], "calls": []},
    "FileWorker": {"polls": "recon-files", "sends": [], "calls": ["s3:head", "s3:get", "s3:put", "s3:delete",
                                                                  "events:put"]},
    # steps: inputs and artifacts, task tokens, FINISH / EXCEPTIONS messages, the run's end published
    # and its webhooks queued, POSTGRES data sources
    "StreamStepWorker": {"polls": "recon-stream-steps", "sends": ["recon-stream-steps", "recon-alerts"],
                         "calls": [*S3_RW, "states:task", "states:describe", "states:start", "events:put",
                                   "secrets:get"]},
    "StreamEventWorker": {"polls": "recon-stream-events", "sends": [], "calls": ["states:start"]},
    "StreamScheduleDispatcher": {"polls": "recon-stream-ticks", "sends": ["recon-stream-ticks"],   # wake-ups
                                 "calls": ["states:start"]},
}


# ------------------------------------------------------------------ the packaged template

@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("package") / "out"
    project = stage_project.stage(REPO_ROOT, tmp_path_factory.mktemp("project"))   # as infra/package.sh does
    env = dict(os.environ, AWS_DEFAULT_REGION=REGION)
    env.pop("AWS_ENDPOINT_URL", None)
    subprocess.run([str(BIN / "chalice"), "package", "--stage", "dev", "--merge-template", str(RESOURCES), str(out)],
                   cwd=project, env=env, check=True, capture_output=True, text=True, timeout=600)
    assert patch_template.main([str(out)]) == 0
    return yaml.safe_load((out / "sam.yaml").read_text())


def _names(template: dict) -> dict:
    """Logical id -> the concrete name/ARN pieces intrinsics resolve to."""
    out = {}
    for lid, res in template["Resources"].items():
        props = res.get("Properties") or {}
        if res["Type"] == "AWS::SQS::Queue":
            name = props["QueueName"]
            out[lid] = {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}", "Ref": f"https://sqs/{name}", "Name": name}
        elif res["Type"] == "AWS::S3::Bucket":
            name = BUCKET if lid == "ArtifactsBucket" else CONSOLE_BUCKET
            out[lid] = {"Arn": f"arn:aws:s3:::{name}", "Ref": name}
        elif res["Type"] == "AWS::StepFunctions::StateMachine":
            arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{props['StateMachineName']}"
            out[lid] = {"Arn": arn, "Ref": arn, "Name": props["StateMachineName"]}
        elif res["Type"] == "AWS::Events::EventBus":
            out[lid] = {"Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{props['Name']}", "Ref": props["Name"],
                        "Name": props["Name"]}
    return out


def _resolve(value, names: dict):
    pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
    if isinstance(value, list):
        return [_resolve(v, names) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return pseudo.get(value["Ref"]) or names[value["Ref"]]["Ref"]
    if set(value) == {"Fn::GetAtt"}:
        lid, attr = value["Fn::GetAtt"] if isinstance(value["Fn::GetAtt"], list) else value["Fn::GetAtt"].split(".")
        return names[lid][attr]
    if set(value) == {"Fn::Sub"}:
        def sub(m):
            key = m.group(1)
            if key in pseudo:
                return pseudo[key]
            lid, _, attr = key.partition(".")
            return names[lid][attr or "Ref"]
        return re.sub(r"\$\{([^}]+)\}", sub, value["Fn::Sub"])
    return {k: _resolve(v, names) for k, v in value.items()}


def role_policies(template: dict, function: str) -> list[dict]:
    """Every policy document the template attaches to the function's role, intrinsics resolved."""
    return _policies_of(template, template["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0])


def _policies_of(template: dict, role: str) -> list[dict]:
    resources, names = template["Resources"], _names(template)
    docs = [p["PolicyDocument"] for p in resources[role]["Properties"].get("Policies") or []]
    assert not resources[role]["Properties"].get("ManagedPolicyArns"), "managed policies are not tested here"
    for res in resources.values():
        if res["Type"] == "AWS::IAM::Policy" and {"Ref": role} in res["Properties"]["Roles"]:
            docs.append(res["Properties"]["PolicyDocument"])
    return [_resolve(d, names) for d in docs]


# ------------------------------------------------------------------ moto with resource-level checks

def _queue_arn(self) -> str:
    url = self._get_param("QueueUrl")
    name = urlparse(url).path.rsplit("/", 1)[-1] if url else self._get_param("QueueName")
    return f"arn:aws:sqs:{self.region}:{self.current_account}:{name}" if name else "*"


def _sfn_resource(self) -> str:
    return self._get_param("stateMachineArn") or self._get_param("executionArn") or "*"


def _events_resource(self) -> str:
    if self._get_action() != "PutEvents":
        return "*"
    names = {e.get("EventBusName") or "default" for e in self._get_param("Entries") or []}
    assert len(names) == 1, "one bus per PutEvents call in these tests"
    name = names.pop()
    return name if name.startswith("arn:") else f"arn:aws:events:{self.region}:{self.current_account}:event-bus/{name}"


def _secret_resource(self) -> str:
    return self._get_param("SecretId") or "*"


# AWS authorises SQS batch calls by their single action (there is no sqs:SendMessageBatch permission);
# moto names the batch action itself.
_AWS_ACTION = {"sqs:SendMessageBatch": "sqs:SendMessage", "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
               "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}
_moto_check = IAMRequest.check_action_permitted


def _check_as_aws(self, resource: str) -> None:
    self._action = _AWS_ACTION.get(self._action, self._action)
    return _moto_check(self, resource)


@contextlib.contextmanager
def enforcing():
    """moto authorises every request from here on, against the ARN AWS would authorise against."""
    shims = {SQSResponse: _queue_arn, StepFunctionResponse: _sfn_resource, EventsHandler: _events_resource,
             SecretsManagerResponse: _secret_resource}
    before = settings.INITIAL_NO_AUTH_ACTION_COUNT
    for cls, fn in shims.items():
        cls._determine_resource = fn
    IAMRequest.check_action_permitted = _check_as_aws
    settings.INITIAL_NO_AUTH_ACTION_COUNT = ActionAuthenticatorMixin.request_count
    try:
        yield
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = before
        IAMRequest.check_action_permitted = _moto_check
        for cls in shims:
            del cls._determine_resource


def is_denial(exc: ClientError) -> bool:
    # moto answers an SQS (JSON protocol) denial in XML, which botocore reports as code "403"
    code = exc.response["Error"]["Code"]
    return code in ("AccessDenied", "AccessDeniedException") or (code == "403" and "<Code>AccessDenied<" in str(exc))


def denied(call) -> bool:
    try:
        call()
    except ClientError as exc:
        return is_denial(exc)  # else allowed, then refused for another reason (e.g. an unknown task token)
    return False


@pytest.fixture
def aws(template, monkeypatch):
    for k in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        admin = boto3.session.Session(region_name=REGION)
        sqs = admin.client("sqs")
        for res in template["Resources"].values():
            if res["Type"] == "AWS::SQS::Queue":
                sqs.create_queue(QueueName=res["Properties"]["QueueName"])
        sqs.create_queue(QueueName="other-team-queue")
        s3 = admin.client("s3")
        for b in (BUCKET, CONSOLE_BUCKET, OTHER_BUCKET):
            s3.create_bucket(Bucket=b)
            s3.put_object(Bucket=b, Key="uploads/1/seed.csv", Body=b"a,b\n1,2\n")
        iam = admin.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service":
                 "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        sfn_role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        sfn = admin.client("stepfunctions")
        definition = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}})
        machine = sfn.create_state_machine(name=MACHINE, definition=definition, roleArn=sfn_role)["stateMachineArn"]
        other = sfn.create_state_machine(name="someone-elses-machine", definition=definition,
                                         roleArn=sfn_role)["stateMachineArn"]
        running = sfn.start_execution(stateMachineArn=machine, name="9001")["executionArn"]
        admin.client("events").create_event_bus(Name=BUS)
        sm = admin.client("secretsmanager")
        ours = sm.create_secret(Name="recon/warehouse", SecretString='{"host": "db"}')["ARN"]
        theirs = sm.create_secret(Name="payroll/db", SecretString='{"host": "hr"}')["ARN"]
        yield {"admin": admin, "iam": iam, "machine": machine, "other_machine": other, "execution": running,
               "secret": ours, "other_secret": theirs}


def session_for(aws, function: str, template: dict, docs: list[dict] | None = None) -> boto3.session.Session:
    iam = aws["iam"]
    user = f"fn-{function}"
    iam.create_user(UserName=user)
    for n, doc in enumerate(role_policies(template, function) if docs is None else docs):
        iam.put_user_policy(UserName=user, PolicyName=f"p{n}", PolicyDocument=json.dumps(doc))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return boto3.session.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                                 region_name=REGION)


def _url(sqs, name: str) -> str:
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


def _calls(session, aws) -> dict:
    s3, sfn = session.client("s3"), session.client("stepfunctions")
    events, secrets, sqs = session.client("events"), session.client("secretsmanager"), session.client("sqs")

    def multipart():
        up = s3.create_multipart_upload(Bucket=BUCKET, Key="runs/1/1/1/matched.csv")
        part = s3.upload_part(Bucket=BUCKET, Key="runs/1/1/1/matched.csv", UploadId=up["UploadId"], PartNumber=1,
                              Body=b"x" * (5 * 1024 * 1024))
        s3.complete_multipart_upload(Bucket=BUCKET, Key="runs/1/1/1/matched.csv", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
        up = s3.create_multipart_upload(Bucket=BUCKET, Key="runs/1/1/1/aborted.csv")
        s3.abort_multipart_upload(Bucket=BUCKET, Key="runs/1/1/1/aborted.csv", UploadId=up["UploadId"])

    def task():
        for call, kw in (("send_task_heartbeat", {}), ("send_task_success", {"output": "{}"}),
                         ("send_task_failure", {"error": "StepAttemptFailed", "cause": "x"})):
            try:
                getattr(sfn, call)(taskToken="a-token-of-an-ended-task", **kw)
            except ClientError as exc:
                if is_denial(exc):
                    raise

    return {
        "sqs:attributes:recon-jobs": lambda: sqs.get_queue_attributes(QueueUrl=_url(sqs, "recon-jobs"),
                                                                      AttributeNames=["QueueArn"]),
        "s3:put": lambda: s3.put_object(Bucket=BUCKET, Key="uploads/2/new.csv", Body=b"a\n1\n"),
        "s3:get": lambda: s3.get_object(Bucket=BUCKET, Key="uploads/1/seed.csv")["Body"].read(),
        "s3:head": lambda: s3.head_object(Bucket=BUCKET, Key="uploads/1/seed.csv"),
        "s3:delete": lambda: s3.delete_object(Bucket=BUCKET, Key="uploads/2/gone.csv"),
        "s3:list": lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix="uploads/"),
        "s3:multipart": multipart,
        "states:start": lambda: sfn.start_execution(stateMachineArn=aws["machine"], name="9002", input="{}"),
        "states:stop": lambda: sfn.stop_execution(executionArn=aws["execution"], error="Canceled", cause="test"),
        "states:describe": lambda: sfn.describe_execution(executionArn=aws["execution"]),
        "states:task": task,
        "events:put": lambda: events.put_events(Entries=[{"EventBusName": BUS, "Source": "recon.files",
                                                          "DetailType": "FileReady", "Detail": "{}"}]),
        "secrets:get": lambda: secrets.get_secret_value(SecretId=aws["secret"]),
    }


# ------------------------------------------------------------------ the tests

def test_every_function_of_the_package_is_covered(template):
    functions = {lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions == set(FUNCTIONS)
    polled = {fid: (ev["Properties"]["Queue"]) for fid, r in template["Resources"].items()
              if r["Type"] == "AWS::Serverless::Function" for ev in (r["Properties"].get("Events") or {}).values()
              if ev["Type"] == "SQS"}
    names = _names(template)
    assert {fid: names[q["Fn::GetAtt"][0]]["Name"] for fid, q in polled.items()} == \
           {fid: spec["polls"] for fid, spec in FUNCTIONS.items() if spec["polls"]}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_the_function_may_make_the_calls_its_code_makes(aws, template, function):
    spec = FUNCTIONS[function]
    session = session_for(aws, function, template)
    sqs = session.client("sqs")
    calls = _calls(session, aws)
    with enforcing():
        for queue in spec["sends"]:
            url = _url(sqs, queue)
            sqs.send_message(QueueUrl=url, MessageBody="{}", DelaySeconds=1)
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "0", "MessageBody": "{}"}])
        if spec["polls"]:  # what the event source mapping does with the function's role
            url = _url(sqs, spec["polls"])
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
            sqs.send_message(QueueUrl=url, MessageBody="{}")
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        for name in spec["calls"]:
            calls[name]()


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_the_function_may_do_nothing_outside_its_grant(aws, template, function):
    session = session_for(aws, function, template)
    admin_sqs = aws["admin"].client("sqs")
    sqs, s3 = session.client("sqs"), session.client("s3")
    sfn, events, secrets = session.client("stepfunctions"), session.client("events"), session.client("secretsmanager")
    jobs, other = _url(admin_sqs, "recon-jobs"), _url(admin_sqs, "other-team-queue")
    dlqs = [_url(admin_sqs, r["Properties"]["QueueName"]) for r in template["Resources"].values()
            if r["Type"] == "AWS::SQS::Queue" and r["Properties"]["QueueName"].endswith("-dlq")]
    assert dlqs
    refused = {
        "send to another queue": lambda: sqs.send_message(QueueUrl=other, MessageBody="{}"),
        "read another queue": lambda: sqs.receive_message(QueueUrl=other),
        "purge a recon queue": lambda: sqs.purge_queue(QueueUrl=jobs),
        "delete a recon queue": lambda: sqs.delete_queue(QueueUrl=jobs),
        "reconfigure a recon queue": lambda: sqs.set_queue_attributes(QueueUrl=jobs,
                                                                      Attributes={"VisibilityTimeout": "0"}),
        "create a queue": lambda: sqs.create_queue(QueueName="recon-new"),
        **{f"read dead letters {u.rsplit('/', 1)[-1]}": (lambda u=u: sqs.receive_message(QueueUrl=u)) for u in dlqs},
        **{f"send dead letters {u.rsplit('/', 1)[-1]}": (lambda u=u: sqs.send_message(QueueUrl=u, MessageBody="{}"))
           for u in dlqs},
        "write the console bucket": lambda: s3.put_object(Bucket=CONSOLE_BUCKET, Key="index.html", Body=b"x"),
        "read the console bucket": lambda: s3.get_object(Bucket=CONSOLE_BUCKET, Key="uploads/1/seed.csv"),
        "read another bucket": lambda: s3.get_object(Bucket=OTHER_BUCKET, Key="uploads/1/seed.csv"),
        "list another bucket": lambda: s3.list_objects_v2(Bucket=OTHER_BUCKET),
        "delete the artifacts bucket": lambda: s3.delete_bucket(Bucket=BUCKET),
        "set the artifacts bucket policy": lambda: s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                    "Resource": f"arn:aws:s3:::{BUCKET}/*"}]})),
        "list the buckets": lambda: s3.list_buckets(),
        "start another state machine": lambda: sfn.start_execution(stateMachineArn=aws["other_machine"], name="1"),
        "delete the state machine": lambda: sfn.delete_state_machine(stateMachineArn=aws["machine"]),
        "list state machines": lambda: sfn.list_state_machines(),
        "publish on the default bus": lambda: events.put_events(Entries=[{"Source": "recon.files",
                                                                          "DetailType": "FileReady", "Detail": "{}"}]),
        "create a rule": lambda: events.put_rule(Name="recon-new", EventBusName=BUS, ScheduleExpression="rate(1 minute)"),
        "read a secret outside recon/": lambda: secrets.get_secret_value(SecretId=aws["other_secret"]),
        "write a recon secret": lambda: secrets.put_secret_value(SecretId=aws["secret"], SecretString="x"),
        "manage IAM": lambda: session.client("iam").create_user(UserName="intruder"),
    }
    with enforcing():
        allowed = [what for what, call in refused.items() if not denied(call)]
    assert not allowed, "allowed outside the grant: " + "; ".join(allowed)


def test_enforcement_is_on_and_the_resource_checks_bite(aws, template):
    """The harness itself can fail: an identity without the grant is refused the calls the functions make,
    and a grant scoped to another queue / machine / bus / secret does not open ours."""
    iam = aws["iam"]
    iam.create_user(UserName="scoped-elsewhere")
    iam.put_user_policy(UserName="scoped-elsewhere", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sqs:GetQueueUrl", "sqs:SendMessage"],
             "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:other-team-queue"},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::{OTHER_BUCKET}/*"},
            {"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": aws["other_machine"]},
            {"Effect": "Allow", "Action": ["events:PutEvents"],
             "Resource": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"},
            {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": aws["other_secret"]}]}))
    key = iam.create_access_key(UserName="scoped-elsewhere")["AccessKey"]
    session = boto3.session.Session(aws_access_key_id=key["AccessKeyId"],
                                    aws_secret_access_key=key["SecretAccessKey"], region_name=REGION)
    calls = _calls(session, aws)
    sqs = session.client("sqs")
    jobs = _url(aws["admin"].client("sqs"), "recon-jobs")
    with enforcing():
        assert not denied(lambda: sqs.send_message(QueueUrl=_url(sqs, "other-team-queue"), MessageBody="{}"))
        assert denied(lambda: sqs.send_message(QueueUrl=jobs, MessageBody="{}"))
        assert not denied(lambda: session.client("s3").get_object(Bucket=OTHER_BUCKET, Key="uploads/1/seed.csv"))
        for name in ("s3:get", "s3:put", "states:start", "events:put", "secrets:get", "states:task"):
            assert denied(calls[name]), name


def test_the_state_machine_role_may_only_send_step_messages(aws, template):
    roles = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"
             and "states.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])]
    assert roles == ["StreamRunsRole"]
    session = session_for(aws, "StreamRunsRole", template, _policies_of(template, "StreamRunsRole"))
    sqs = session.client("sqs")
    urls = {r["Properties"]["QueueName"]: _url(aws["admin"].client("sqs"), r["Properties"]["QueueName"])
            for r in template["Resources"].values() if r["Type"] == "AWS::SQS::Queue"}
    with enforcing():
        sqs.send_message(QueueUrl=urls["recon-stream-steps"], MessageBody='{"kind": "FINISH"}')
        others = [q for q, u in urls.items() if q != "recon-stream-steps"
                  and not denied(lambda u=u: sqs.send_message(QueueUrl=u, MessageBody="{}"))]
        assert others == []
        assert denied(lambda: sqs.receive_message(QueueUrl=urls["recon-stream-steps"]))
        assert denied(lambda: session.client("s3").get_object(Bucket=BUCKET, Key="uploads/1/seed.csv"))
