"""Deploy infra/resources.yml to LocalStack (or any CloudFormation endpoint).

    python -m infra.local.deploy [--stack-name recon-local] [--param KEY=VALUE ...]

Reads AWS_ENDPOINT_URL (default http://127.0.0.1:4566) and AWS_REGION (default
us-east-1). Creates the stack, or updates it when it exists (no-op when nothing
changed), waits for completion, prints the outputs as JSON on stdout. On failure
it prints the stack's failed events with their reasons and exits non-zero.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import boto3
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "infra" / "resources.yml"
DEFAULT_STACK = "recon-local"
DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
LOCAL_PARAMETERS = {"ArtifactsBucketName": "recon-artifacts-local"}

_TERMINAL_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
_TERMINAL_FAIL = {
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "UPDATE_FAILED",
    "DELETE_COMPLETE",
    "DELETE_FAILED",
}


class DeployError(RuntimeError):
    """The stack did not reach a complete state; message carries the events."""


def _client(endpoint_url: Optional[str], region: Optional[str]):
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    kwargs: Dict[str, Any] = {"endpoint_url": endpoint_url, "region_name": region}
    if not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE")):
        # LocalStack accepts any credentials; do not depend on a developer profile.
        kwargs.update(aws_access_key_id="test", aws_secret_access_key="test")
    return boto3.client("cloudformation", **kwargs)


def _stack(cfn, name: str) -> Optional[Dict[str, Any]]:
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return stacks[0] if stacks else None


def _failure_events(cfn, name: str, since: float) -> List[str]:
    lines = []
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError as exc:
        return ["(could not read stack events: %s)" % exc]
    for ev in reversed(events):
        ts = ev.get("Timestamp")
        if ts is not None and ts.timestamp() < since - 5:
            continue
        status = ev.get("ResourceStatus", "")
        if "FAILED" in status or "ROLLBACK" in status:
            lines.append(
                "%s %s %s: %s"
                % (ev.get("LogicalResourceId"), ev.get("ResourceType"), status, ev.get("ResourceStatusReason", ""))
            )
    return lines or ["(no failed events reported)"]


def _wait(cfn, name: str, since: float, timeout: float) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        stack = _stack(cfn, name)
        status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
        if status in _TERMINAL_OK:
            return stack
        if status in _TERMINAL_FAIL:
            raise DeployError(
                "stack %s ended in %s (%s)\n  %s"
                % (name, status, (stack or {}).get("StackStatusReason", ""),
                   "\n  ".join(_failure_events(cfn, name, since)))
            )
        if time.monotonic() > deadline:
            raise DeployError(
                "stack %s still %s after %.0fs\n  %s"
                % (name, status, timeout, "\n  ".join(_failure_events(cfn, name, since)))
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def _parameters(values: Dict[str, str]) -> List[Dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())]


def deploy(
    template_path: os.PathLike | str = DEFAULT_TEMPLATE,
    stack_name: str = DEFAULT_STACK,
    parameters: Optional[Dict[str, str]] = None,
    endpoint_url: Optional[str] = None,
    region: Optional[str] = None,
    timeout: float = 300.0,
) -> Dict[str, str]:
    """Create or update ``stack_name`` from the template; return its outputs."""
    cfn = _client(endpoint_url, region)
    body = Path(template_path).read_text()
    params = dict(LOCAL_PARAMETERS if parameters is None else parameters)
    since = time.time()
    stack = _stack(cfn, stack_name)
    if stack is not None and stack["StackStatus"] in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED"):
        # A failed first create cannot be updated: start over.
        cfn.delete_stack(StackName=stack_name)
        _wait_deleted(cfn, stack_name, timeout)
        stack = None
    if stack is None:
        cfn.create_stack(
            StackName=stack_name,
            TemplateBody=body,
            Parameters=_parameters(params),
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    else:
        try:
            cfn.update_stack(
                StackName=stack_name,
                TemplateBody=body,
                Parameters=_parameters(params),
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            )
        except ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise
    stack = _wait(cfn, stack_name, since, timeout)
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _wait_deleted(cfn, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack = _stack(cfn, name)
        if stack is None or stack["StackStatus"] == "DELETE_COMPLETE":
            return
        if stack["StackStatus"] == "DELETE_FAILED":
            raise DeployError("could not delete failed stack %s" % name)
        time.sleep(0.5)
    raise DeployError("stack %s not deleted after %.0fs" % (name, timeout))


def _parse_params(items: Iterable[str]) -> Dict[str, str]:
    out = dict(LOCAL_PARAMETERS)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit("--param expects KEY=VALUE, got %r" % item)
        out[key] = value
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m infra.local.deploy", description=__doc__.splitlines()[0])
    ap.add_argument("--template", default=str(DEFAULT_TEMPLATE))
    ap.add_argument("--stack-name", default=DEFAULT_STACK)
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--endpoint-url", default=None, help="default: $AWS_ENDPOINT_URL or %s" % DEFAULT_ENDPOINT)
    ap.add_argument("--region", default=None, help="default: $AWS_REGION or us-east-1")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        outputs = deploy(
            args.template, args.stack_name, _parse_params(args.param),
            endpoint_url=args.endpoint_url, region=args.region, timeout=args.timeout,
        )
    except DeployError as exc:
        print("deploy failed: %s" % exc, file=sys.stderr)
        return 1
    except ClientError as exc:
        print("deploy failed: %s" % exc, file=sys.stderr)
        return 1
    print(json.dumps(outputs, indent=2, sort_keys=True))
    print("stack %s ready in %.1fs" % (args.stack_name, time.monotonic() - t0), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
