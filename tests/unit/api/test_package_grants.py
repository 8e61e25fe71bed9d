"""The packaged Lambda role may call what the code calls on AWS and nothing wider: Step Functions
executions of the stream runs' state machine (scoped to it), PutEvents on the recon bus; functions
find the state machine from their environment."""
from __future__ import annotations

from pathlib import Path

import yaml

from infra import patch_template

RESOURCES = Path(__file__).resolve().parents[3] / "infra" / "resources.yml"


def _template() -> dict:
    infra = yaml.safe_load(RESOURCES.read_text())
    resources = dict(infra["Resources"])
    resources["DefaultRole"] = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}}
    resources["APIHandler"] = {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "app.app"}}
    return {"Resources": resources, "Parameters": infra.get("Parameters", {})}


def test_role_may_drive_stream_runs_and_publish_events_scoped_to_their_resources():
    template = _template()
    patch_template.patch(template)
    statements = {s["Sid"]: s for s in template["Resources"]["ReconInfraAccessPolicy"]["Properties"]
                  ["PolicyDocument"]["Statement"]}
    start = statements["StreamRunExecutions"]
    assert start["Action"] == ["states:StartExecution"] and start["Resource"] == [{"Ref": "StreamRunsStateMachine"}]
    control = statements["StreamRunExecutionControl"]
    assert control["Action"] == ["states:StopExecution", "states:DescribeExecution"]
    assert control["Resource"][0]["Fn::Sub"].endswith(":execution:${StreamRunsStateMachine.Name}:*")
    assert statements["ReconEvents"] == {"Sid": "ReconEvents", "Effect": "Allow", "Action": ["events:PutEvents"],
                                         "Resource": [{"Fn::GetAtt": ["EventBus", "Arn"]}]}
    for stmt in statements.values():  # nothing but task-token answers on "*"
        if stmt["Resource"] == "*":
            assert all(a.startswith("states:SendTask") for a in stmt["Action"]), stmt
    env = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert env["STREAM_STATE_MACHINE_ARN"] == {"Ref": "StreamRunsStateMachine"}
    assert patch_template.patch(template) == []
