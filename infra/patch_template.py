"""Post-process the SAM template that `chalice package --merge-template` produced.

    python -m infra.patch_template out/sam.yaml   (or out/sam.json)

Chalice 1.34 leaves gaps this step closes, in place:

1. Every SQS event source gets ``FunctionResponseTypes: [ReportBatchItemFailures]``
   (SAM ``Events`` of Type SQS and any raw AWS::Lambda::EventSourceMapping on SQS).
   Without it AWS deletes a whole batch even when the handler reported failures.
2. A queue given by name (``on_sqs_message(queue='recon-jobs')``) is referenced as
   ``Fn::GetAtt [<Queue>, Arn]`` when infra/resources.yml defines it, so the event
   source mapping is created after its queue.
3. Such a queue's VisibilityTimeout is raised to at least its consumer's Lambda
   timeout plus batching window (AWS refuses the mapping otherwise).
4. The Chalice role gets access to the infra resources (send to the recon queues,
   read/write the artifacts bucket, answer Step Functions task tokens, start/stop/describe
   executions of the stream runs' state machine, publish to the event bus, read data-source
   secrets named recon/...; not the dead-letter queues), Chalice's SQS poll grant on "*" is
   narrowed to the queues the role's functions poll, and every
   function gets ARTIFACTS_BUCKET and STREAM_STATE_MACHINE_ARN in its environment.
5. The REST API's own answers (no route, throttled, payload too large, any other 4xx/5xx
   API Gateway produces itself) get the contract's error shape: gateway responses from
   chalicelib/api/core.py, and the greedy ``{proxy+}`` path declares its path parameter.
6. The functions that hold whole files in /tmp and run DuckDB (the consumers of the stream step
   and file queues) get Lambda's largest ephemeral storage (Chalice has no setting for it; the
   default 512 MB is below the step worker's output cache and any large input or spill), and the
   step worker's DuckDB memory limit (STREAM_ENGINE_MEMORY, unless set) is 60 % of its function's
   memory, leaving the rest to the interpreter and libraries.

Idempotent: patching an already patched template changes nothing.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

REPORT = "ReportBatchItemFailures"
_SUB_ARN_RE = re.compile(r"^arn:\$\{AWS::Partition\}:sqs:\$\{AWS::Region\}:\$\{AWS::AccountId\}:(?P<name>[A-Za-z0-9_-]+)$")
_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sqs:[^:]*:[^:]*:(?P<name>[A-Za-z0-9_-]+)$")
ACCESS_POLICY = "ReconInfraAccessPolicy"
FILE_WORKER_QUEUES = {"recon-stream-steps", "recon-files"}   # consumers hold whole files in /tmp
ENGINE_QUEUE = "recon-stream-steps"                          # consumer runs the matching engine
EPHEMERAL_STORAGE_MB = 10240                                 # Lambda's maximum
ENGINE_MEMORY_SHARE = 0.6
DATA_SOURCE_SECRETS = "recon/"   # Secrets Manager names the functions may read (docs/operations.md)


def _queue_name_from_ref(queue: Any) -> Optional[str]:
    if isinstance(queue, dict) and "Fn::Sub" in queue and isinstance(queue["Fn::Sub"], str):
        m = _SUB_ARN_RE.match(queue["Fn::Sub"])
        return m.group("name") if m else None
    if isinstance(queue, str):
        m = _ARN_RE.match(queue)
        return m.group("name") if m else None
    return None


def _is_sqs_arn(value: Any) -> bool:
    if isinstance(value, str):
        return ":sqs:" in value
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            return True  # GetAtt <Queue>.Arn: checked by the caller against the resource type
        return ":sqs:" in json.dumps(value)
    return False


def _add_response_type(props: Dict[str, Any]) -> None:
    types = list(props.get("FunctionResponseTypes") or [])
    if REPORT not in types:
        types.append(REPORT)
    props["FunctionResponseTypes"] = types


def _queues_by_name(resources: Dict[str, Any]) -> Dict[str, str]:
    out = {}
    for logical_id, res in resources.items():
        if res.get("Type") == "AWS::SQS::Queue":
            name = (res.get("Properties") or {}).get("QueueName")
            if isinstance(name, str):
                out[name] = logical_id
    return out


def _int_or_none(value: Any) -> Optional[int]:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _visibility(template: Dict[str, Any], queue_props: Dict[str, Any]) -> int:
    vt = queue_props.get("VisibilityTimeout", 30)
    if isinstance(vt, dict) and "Ref" in vt:
        default = (template.get("Parameters") or {}).get(vt["Ref"], {}).get("Default")
        return _int_or_none(default) or 30
    return _int_or_none(vt) or 30


def patch(template: Dict[str, Any]) -> List[str]:
    """Patch ``template`` in place; return a human-readable list of what changed."""
    changes: List[str] = []
    resources: Dict[str, Any] = template.setdefault("Resources", {})
    queues = _queues_by_name(resources)
    globals_timeout = _int_or_none(((template.get("Globals") or {}).get("Function") or {}).get("Timeout"))
    needed_visibility: Dict[str, Tuple[int, str]] = {}

    for logical_id, res in list(resources.items()):
        rtype = res.get("Type")
        props = res.setdefault("Properties", {})
        if rtype == "AWS::Serverless::Function":
            timeout = _int_or_none(props.get("Timeout")) or globals_timeout or 3
            for event_id, event in (props.get("Events") or {}).items():
                if event.get("Type") != "SQS":
                    continue
                eprops = event.setdefault("Properties", {})
                if REPORT not in (eprops.get("FunctionResponseTypes") or []):
                    _add_response_type(eprops)
                    changes.append("%s.%s: FunctionResponseTypes=[%s]" % (logical_id, event_id, REPORT))
                name = _queue_name_from_ref(eprops.get("Queue"))
                if name and name in queues:
                    eprops["Queue"] = {"Fn::GetAtt": [queues[name], "Arn"]}
                    changes.append("%s.%s: Queue -> GetAtt %s.Arn" % (logical_id, event_id, queues[name]))
                queue_id = None
                q = eprops.get("Queue")
                if isinstance(q, dict) and isinstance(q.get("Fn::GetAtt"), list):
                    queue_id = q["Fn::GetAtt"][0]
                if queue_id in resources:
                    need = timeout + (_int_or_none(eprops.get("MaximumBatchingWindowInSeconds")) or 0)
                    prev = needed_visibility.get(queue_id, (0, ""))
                    if need > prev[0]:
                        needed_visibility[queue_id] = (need, logical_id)
        elif rtype == "AWS::Lambda::EventSourceMapping":
            arn = props.get("EventSourceArn")
            is_sqs = _is_sqs_arn(arn)
            if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                target = arn["Fn::GetAtt"][0] if isinstance(arn["Fn::GetAtt"], list) else str(arn["Fn::GetAtt"]).split(".")[0]
                is_sqs = resources.get(target, {}).get("Type") == "AWS::SQS::Queue"
            if is_sqs and REPORT not in (props.get("FunctionResponseTypes") or []):
                _add_response_type(props)
                changes.append("%s: FunctionResponseTypes=[%s]" % (logical_id, REPORT))

    for queue_id, (need, consumer) in sorted(needed_visibility.items()):
        qprops = resources[queue_id].setdefault("Properties", {})
        current = _visibility(template, qprops)
        if need > current:
            qprops["VisibilityTimeout"] = need
            changes.append("%s: VisibilityTimeout %s -> %d (consumer %s)" % (queue_id, current, need, consumer))

    changes.extend(_grant_infra_access(template))
    changes.extend(_shape_gateway_answers(template))
    changes.extend(_size_file_workers(template, queues))
    return changes


def _size_file_workers(template: Dict[str, Any], queues: Dict[str, str]) -> List[str]:
    """Ephemeral storage for the functions that keep files in /tmp; the engine's memory limit."""
    resources = template["Resources"]
    names = {queue_id: name for name, queue_id in queues.items()}
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    changes: List[str] = []
    for lid, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        polled = set()
        for event in (props.get("Events") or {}).values():
            q = (event.get("Properties") or {}).get("Queue") if event.get("Type") == "SQS" else None
            if isinstance(q, dict) and isinstance(q.get("Fn::GetAtt"), list):
                polled.add(names.get(q["Fn::GetAtt"][0]))
        if not polled & FILE_WORKER_QUEUES:
            continue
        if "EphemeralStorage" not in props:
            props["EphemeralStorage"] = {"Size": EPHEMERAL_STORAGE_MB}
            changes.append("%s: EphemeralStorage %d MB" % (lid, EPHEMERAL_STORAGE_MB))
        if ENGINE_QUEUE in polled:
            env = props.setdefault("Environment", {}).setdefault("Variables", {})
            memory = _int_or_none(props.get("MemorySize")) or _int_or_none(globals_fn.get("MemorySize")) or 128
            if "STREAM_ENGINE_MEMORY" not in env:
                env["STREAM_ENGINE_MEMORY"] = "%dMB" % int(memory * ENGINE_MEMORY_SHARE)
                changes.append("%s: Environment STREAM_ENGINE_MEMORY=%s" % (lid, env["STREAM_ENGINE_MEMORY"]))
    return changes


GATEWAY_RESPONSES = "x-amazon-apigateway-gateway-responses"


def _shape_gateway_answers(template: Dict[str, Any]) -> List[str]:
    from chalicelib.api.core import gateway_responses
    from chalicelib.domain.support import SUPPORT_CONTACT

    changes: List[str] = []
    wanted = gateway_responses(SUPPORT_CONTACT)
    for logical_id, res in template["Resources"].items():
        if res.get("Type") not in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi"):
            continue
        body = (res.get("Properties") or {}).get("DefinitionBody") or (res.get("Properties") or {}).get("Body")
        if not isinstance(body, dict) or "paths" not in body:
            continue
        if body.get(GATEWAY_RESPONSES) != wanted:
            body[GATEWAY_RESPONSES] = wanted
            changes.append("%s: gateway responses %s" % (logical_id, ", ".join(sorted(wanted))))
        for path, operations in body["paths"].items():
            for name in re.findall(r"\{(\w+)\+\}", path):
                for method, op in operations.items():
                    if not isinstance(op, dict) or method.startswith("x-"):
                        continue
                    params = op.setdefault("parameters", [])
                    if not any(p.get("name") == name and p.get("in") == "path" for p in params):
                        params.append({"name": name, "in": "path", "required": True, "type": "string"})
                        changes.append("%s: %s %s declares path parameter %s" % (logical_id, method.upper(), path, name))
    return changes


def _grant_infra_access(template: Dict[str, Any]) -> List[str]:
    resources = template["Resources"]
    roles = [lid for lid, r in resources.items() if r.get("Type") == "AWS::IAM::Role"
             and "lambda.amazonaws.com" in json.dumps(r.get("Properties", {}).get("AssumeRolePolicyDocument", {}))]
    queue_ids = sorted(lid for lid, r in resources.items() if r.get("Type") == "AWS::SQS::Queue")
    bucket = "ArtifactsBucket" if resources.get("ArtifactsBucket", {}).get("Type") == "AWS::S3::Bucket" else None
    machines = sorted(lid for lid, r in resources.items() if r.get("Type") == "AWS::StepFunctions::StateMachine")
    buses = sorted(lid for lid, r in resources.items() if r.get("Type") == "AWS::Events::EventBus")
    changes: List[str] = []
    function_env: Dict[str, Any] = {}
    if bucket:
        function_env["ARTIFACTS_BUCKET"] = {"Ref": bucket}
    if len(machines) == 1:  # the stream runs' state machine: no ListStateMachines lookup on AWS
        function_env["STREAM_STATE_MACHINE_ARN"] = {"Ref": machines[0]}
    for lid, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        env = res["Properties"].setdefault("Environment", {}).setdefault("Variables", {})
        for name, value in function_env.items():
            if name not in env:
                env[name] = value
                changes.append("%s: Environment %s=Ref %s" % (lid, name, value["Ref"]))
    changes.extend(_scope_event_source_grants(resources))
    if not roles or ACCESS_POLICY in resources or not (queue_ids or bucket):
        return changes
    # the dead-letter queues are for operators (inspect, redrive): no function reads or writes them
    dead_letter = {json.dumps(((r.get("Properties") or {}).get("RedrivePolicy") or {}).get("deadLetterTargetArn"))
                   for r in resources.values() if r.get("Type") == "AWS::SQS::Queue"}
    queue_ids = [q for q in queue_ids if json.dumps({"Fn::GetAtt": [q, "Arn"]}) not in dead_letter]
    statements: List[Dict[str, Any]] = []
    if queue_ids:
        statements.append({
            "Sid": "ReconQueues",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes",
                       "sqs:ChangeMessageVisibility", "sqs:ReceiveMessage", "sqs:DeleteMessage"],
            "Resource": [{"Fn::GetAtt": [q, "Arn"]} for q in queue_ids],
        })
        statements.append({
            "Sid": "StepFunctionsTaskTokens",
            "Effect": "Allow",
            "Action": ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
            "Resource": "*",
        })
    if machines:
        statements.append({
            "Sid": "StreamRunExecutions",
            "Effect": "Allow",
            "Action": ["states:StartExecution"],
            "Resource": [{"Ref": m} for m in machines],
        })
        statements.append({
            "Sid": "StreamRunExecutionControl",
            "Effect": "Allow",
            "Action": ["states:StopExecution", "states:DescribeExecution"],
            "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${%s.Name}:*" % m}
                         for m in machines],
        })
    if buses:
        statements.append({
            "Sid": "ReconEvents",
            "Effect": "Allow",
            "Action": ["events:PutEvents"],
            "Resource": [{"Fn::GetAtt": [b, "Arn"]} for b in buses],
        })
    # POSTGRES data sources may name their credentials by {"secretArn": ...}: secrets under recon/ only
    statements.append({
        "Sid": "DataSourceSecrets",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
                                + DATA_SOURCE_SECRETS + "*"},
    })
    if bucket:
        statements.append({
            "Sid": "ReconArtifactsObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            "Resource": {"Fn::Sub": "${%s.Arn}/*" % bucket},
        })
        statements.append({
            "Sid": "ReconArtifactsBucket",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": {"Fn::GetAtt": [bucket, "Arn"]},
        })
    resources[ACCESS_POLICY] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "recon-infra-access",
            "Roles": [{"Ref": r} for r in sorted(roles)],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
        },
    }
    changes.append("%s: queues/bucket/task-token access for %s" % (ACCESS_POLICY, ", ".join(sorted(roles))))
    return changes


def _scope_event_source_grants(resources: Dict[str, Any]) -> List[str]:
    """Chalice grants an SQS-triggered role Receive/Delete/GetQueueAttributes on every queue ("*");
    narrow that statement to the queues the role's functions are subscribed to."""
    polled: Dict[str, List[Any]] = {}
    for res in resources.values():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        role = (res.get("Properties") or {}).get("Role")
        if not (isinstance(role, dict) and isinstance(role.get("Fn::GetAtt"), list)):
            continue
        for event in ((res["Properties"].get("Events")) or {}).values():
            queue = (event.get("Properties") or {}).get("Queue")
            if event.get("Type") == "SQS" and queue is not None and queue not in polled.setdefault(role["Fn::GetAtt"][0], []):
                polled[role["Fn::GetAtt"][0]].append(queue)
    changes: List[str] = []
    for role_id, queues in sorted(polled.items()):
        for policy in (resources.get(role_id, {}).get("Properties") or {}).get("Policies") or []:
            for stmt in (policy.get("PolicyDocument") or {}).get("Statement") or []:
                actions = stmt.get("Action") if isinstance(stmt.get("Action"), list) else [stmt.get("Action")]
                if stmt.get("Resource") == "*" and actions and all(str(a).startswith("sqs:") for a in actions):
                    stmt["Resource"] = list(queues)
                    changes.append("%s: %s scoped to its %d polled queue(s)" % (role_id, ", ".join(actions), len(queues)))
    return changes


def load(path: Path) -> Dict[str, Any]:
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)
    return yaml.safe_load(text)


def dump(path: Path, template: Dict[str, Any]) -> None:
    if path.suffix == ".json":
        path.write_text(json.dumps(template, indent=2, sort_keys=True) + "\n")
    else:
        path.write_text(yaml.safe_dump(template, allow_unicode=True, sort_keys=True))


def find_template(out_dir: Path) -> Path:
    for name in ("sam.yaml", "sam.yml", "sam.json"):
        if (out_dir / name).is_file():
            return out_dir / name
    raise FileNotFoundError("no sam.yaml/sam.json in %s" % out_dir)


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m infra.patch_template <out-dir or sam.yaml/sam.json>", file=sys.stderr)
        return 2
    target = Path(argv[0])
    path = find_template(target) if target.is_dir() else target
    template = load(path)
    changes = patch(template)
    dump(path, template)
    for line in changes:
        print("patched %s" % line)
    sqs_events = [
        (fid, eid) for fid, r in template["Resources"].items() if r.get("Type") == "AWS::Serverless::Function"
        for eid, e in (r["Properties"].get("Events") or {}).items() if e.get("Type") == "SQS"
    ]
    print("%s: %d SQS event source(s), all with %s" % (path, len(sqs_events), REPORT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
