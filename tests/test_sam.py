"""pylambda.sam: templates (tags, intrinsics, Globals, Conditions, parameters), errors with lines, `pylambda local`."""

from __future__ import annotations

import io
import json
import textwrap

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel, APIGatewayProxyEventV2Model

import pylambda.sam
from pylambda._cli import main

HANDLER = textwrap.dedent(
    """
    import os
    def handler(event, context):
        return {"env": {k: v for k, v in os.environ.items() if k.isupper() and not k.startswith(("AWS", "LAMBDA", "_"))
                        and k not in ("PATH", "LANG", "LC_CTYPE", "TZ", "PWD", "SHLVL", "TMPDIR", "HOME")},
                "event": event, "name": context.function_name, "memory": context.memory_limit_in_mb}
    """
)

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
  Sizes:
    Type: CommaDelimitedList
    Default: "small,large"
Mappings:
  StageMap:
    dev: {Memory: 256}
    prod: {Memory: 512}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
Globals:
  Function:
    Runtime: python3.11
    Timeout: 7
    Environment:
      Variables:
        FROM_GLOBALS: "yes"
        STAGE: !Ref Stage
Resources:
  Jobs:
    Type: AWS::SQS::Queue
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      FunctionName: !Sub "${AWS::StackName}-api-${Stage}"
      MemorySize: !FindInMap [StageMap, !Ref Stage, Memory]
      Policies: [AWSLambdaBasicExecutionRole]
      Environment:
        Variables:
          QUEUE_ARN: !GetAtt Jobs.Arn
          QUEUE_URL: !Ref Jobs
          JOINED: !Join ["-", [a, !Ref "AWS::Region", !Select [1, !Ref Sizes]]]
          MODE: !If [IsProd, live, test]
          SPLIT: !Select [0, !Split [",", "x,y"]]
          LITERAL: !Sub "${!NotAVar}"
          NUMBER: 3
          FLAG: true
  OnlyInProd:
    Type: AWS::Serverless::Function
    Condition: IsProd
    Properties:
      CodeUri: src/
      Handler: app.handler
"""


@pytest.fixture
def project(tmp_path):
    """A SAM project directory with one handler and the template above."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(HANDLER)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    return tmp_path


def test_intrinsics_globals_and_mappings_resolve(project):
    """!Sub/!Ref/!GetAtt/!Join/!Select/!Split/!If/!FindInMap, pseudo parameters and Globals give Lambda's values."""
    app = pylambda.sam.load(project / "template.yaml")
    assert sorted(app.functions) == ["Api"]  # OnlyInProd's condition is false
    fn = app.functions["Api"]
    assert fn.name == f"{project.name.replace('_', '-')}-api-dev"
    assert fn.config.memory_size == 256
    assert fn.config.timeout == 7
    assert fn.config.runtime == "python3.11"
    assert fn.config.dependencies == "isolated"
    assert fn.config.environment == {
        "FROM_GLOBALS": "yes", "STAGE": "dev",
        "QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:Jobs",
        "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/Jobs",
        "JOINED": "a-us-east-1-large", "MODE": "test", "SPLIT": "x", "LITERAL": "${NotAVar}",
        "NUMBER": "3", "FLAG": "true",
    }  # fmt: skip
    assert ("Api", "Policies", 36, "has no local effect") in app.ignored
    assert app.resources["Jobs"].arn == "arn:aws:sqs:us-east-1:123456789012:Jobs"


def test_parameter_overrides_and_env_vars(project):
    """Overrides select other values and conditions; env_vars override declared variables only, as SAM does."""
    env = {"Api": {"MODE": "overridden", "UNDECLARED": "x"}, "Parameters": {"FROM_GLOBALS": "all"}}
    app = pylambda.sam.load(project, parameter_overrides={"Stage": "prod"}, env_vars=env)
    assert sorted(app.functions) == ["Api", "OnlyInProd"]
    cfg = app.functions["Api"].config
    assert cfg.memory_size == 512
    assert cfg.environment["MODE"] == "overridden"
    assert cfg.environment["FROM_GLOBALS"] == "all"
    assert "UNDECLARED" not in cfg.environment


def test_attach_and_invoke(project, lambda_invoker):
    """A loaded function runs with its template configuration through the Invoker."""
    app = pylambda.sam.load(project / "template.yaml").attach(lambda_invoker)
    result = lambda_invoker.invoke(app.functions["Api"], {"x": 1})
    assert result.function_error is None, result.payload
    assert result.payload["env"]["STAGE"] == "dev"
    assert result.payload["memory"] == "256"


# fmt: off
BAD = [
    ("unsupported-property", "      Handler: app.handler\n      Bogus: 1\n", "Fn.Bogus (line 8)", "not supported"),
    ("unsupported-event", "      Handler: app.handler\n      Events:\n        E:\n          Type: IoT\n",
     "Fn.Events.E (line 9)", "IoT is not supported"),
    ("sns-needs-services", "      Handler: app.handler\n      Events:\n        E:\n          Type: SNS\n",
     "Fn.Events.E (line 9)", "are not supported"),
    ("import-value", "      Handler: !ImportValue Other\n", "Fn.Handler (line 7)", "Fn::ImportValue is not supported"),
    ("unknown-ref", "      Handler: !Ref Missing\n", "Fn.Handler (line 7)", "!Ref Missing"),
    ("bad-getatt", "      Handler: !GetAtt Fn.Nope\n", "Fn.Handler (line 7)", "!GetAtt Fn.Nope"),
    ("s3-code", "      Handler: app.handler\n      CodeUri: {Bucket: b, Key: k}\n", "Fn.CodeUri (line 8)", "S3"),
    ("bad-memory", "      Handler: app.handler\n      MemorySize: 64\n", "Fn.MemorySize (line 8)", "128 to 10240"),
    ("foreign-queue", "      Handler: app.handler\n      Events:\n        Q:\n          Type: SQS\n"
     "          Properties:\n            Queue: arn:aws:sqs:us-east-1:1:elsewhere\n",
     "Fn.Events.Q (line 9)", "not a queue of this template"),
]
# fmt: on


@pytest.mark.parametrize(("case", "props", "where", "message"), BAD, ids=[b[0] for b in BAD])
def test_errors_name_resource_property_and_line(tmp_path, case, props, where, message):
    """What cannot run locally is a TemplateError naming the resource, property and line, never a skip."""
    (tmp_path / "src").mkdir()
    text = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
    text += "    Properties:\n      CodeUri: src/\n" + props
    (tmp_path / "template.yaml").write_text(text)
    with pytest.raises(pylambda.sam.TemplateError) as info:
        pylambda.sam.load(tmp_path / "template.yaml")
    assert where in str(info.value)
    assert message in str(info.value)


def test_unknown_resource_type_and_missing_parameter(tmp_path):
    """An unknown resource type and a parameter without a default or an override are errors with lines."""
    (tmp_path / "t.yaml").write_text("Resources:\n  Machine:\n    Type: AWS::StepFunctions::StateMachine\n")
    with pytest.raises(pylambda.sam.TemplateError, match=r"t.yaml line 3: Machine: resource type"):
        pylambda.sam.load(tmp_path / "t.yaml")
    (tmp_path / "p.yaml").write_text("Parameters:\n  Key:\n    Type: String\nResources: {}\n")
    with pytest.raises(pylambda.sam.TemplateError, match=r"parameter Key \(line 2\) has no Default"):
        pylambda.sam.load(tmp_path / "p.yaml")
    (tmp_path / "y.yaml").write_text("Resources:\n  A: [\n")
    with pytest.raises(pylambda.sam.TemplateError, match="not valid YAML"):
        pylambda.sam.load(tmp_path / "y.yaml")


def test_local_invoke_command(project, monkeypatch, capsys):
    """`pylambda local invoke` finds template.yaml, reads -e FILE or -e -, and prints the response to stdout."""
    monkeypatch.chdir(project)
    (project / "event.json").write_text('{"from": "file"}')
    assert main(["local", "invoke", "Api", "-e", "event.json", "--parameter-overrides", "Stage=prod"]) == 0
    out, err = capsys.readouterr()
    payload = json.loads(out)
    assert payload["event"] == {"from": "file"}
    assert payload["env"]["MODE"] == "live"
    assert "REPORT RequestId" in err
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"from": "stdin"}')))
    assert main(["local", "invoke", "-t", "template.yaml", "Api", "-e", "-",
                 "--parameter-overrides", "ParameterKey=Stage,ParameterValue=dev"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["event"] == {"from": "stdin"}
    with pytest.raises(SystemExit, match="no function 'Nope'"):
        main(["local", "invoke", "Nope"])


@pytest.mark.parametrize(
    ("service", "event", "model"),
    [
        ("apigateway", "aws-proxy", APIGatewayProxyEventModel),
        ("apigateway", "http-api-proxy", APIGatewayProxyEventV2Model),
    ],
)
def test_generate_event_api_gateway_is_accepted_by_powertools(capsys, service, event, model):
    """`pylambda local generate-event apigateway ...` prints events powertools' parser models accept."""
    assert main(["local", "generate-event", service, event, "--method", "POST", "--path", "/a/b", "--body", "x"]) == 0
    parsed = model(**json.loads(capsys.readouterr().out))
    assert parsed.body == "x"


@pytest.mark.parametrize(
    ("service", "event", "key"),
    [("s3", "put", "Records"), ("sqs", "receive-message", "Records"), ("kinesis", "get-records", "Records"),
     ("dynamodb", "update", "Records"), ("cloudwatch", "scheduled-event", "detail-type")],
)  # fmt: skip
def test_generate_event_other_services(capsys, service, event, key):
    """generate-event prints each service's event shape."""
    assert main(["local", "generate-event", service, event]) == 0
    assert key in json.loads(capsys.readouterr().out)


def test_sqs_event_is_wired_to_the_templates_queue(tmp_path, lambda_invoker):
    """An SQS event reads the template's queue with its BatchSize; messages sent to app.resources reach the handler."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return len(event['Records'])\n")
    (tmp_path / "template.yaml").write_text(textwrap.dedent("""
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Work:
            Type: AWS::SQS::Queue
          Worker:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              Events:
                Batch:
                  Type: SQS
                  Properties:
                    Queue: !GetAtt Work.Arn
                    BatchSize: 5
        """))  # fmt: skip
    app = pylambda.sam.load(tmp_path / "template.yaml").attach(lambda_invoker)
    (mapping,) = lambda_invoker.event_source_mappings
    assert mapping.batch_size == 5
    for i in range(3):
        app.resources["Work"].send(f"m{i}")
    assert lambda_invoker.wait_for_idle(30)
    assert sum(h.result.payload for h in lambda_invoker.history if h.function_name == "Worker") == 3


def test_local_invoke_reports_events_it_cannot_wire(tmp_path, monkeypatch, capsys):
    """As `sam local invoke`, invoking a function with an SNS event works; the unwired event is reported, not hidden."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return event\n")
    text = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
    text += "    Properties:\n      CodeUri: src/\n      Handler: app.handler\n      Events:\n        Topic:\n"
    text += "          Type: SNS\n"
    (tmp_path / "template.yaml").write_text(text)
    app = pylambda.sam.load(tmp_path / "template.yaml", unwired_events_ok=True)
    assert app.ignored[-1][:3] == ("Fn", "Events.Topic", 9)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"Records": []}')))
    assert main(["local", "invoke", "-e", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"Records": []}
    assert "Fn.Events.Topic (line 9): SNS events are not supported" in err
