"""The AWS deployment as code (`deploy/aws/safecase.yaml`).

Three checks, from the cheapest: cfn-lint validates the whole template against the AWS resource
schemas; the template's security promises are read back from it (encryption, Object Lock in
compliance mode, least-privilege roles); and the stack is deployed into moto's CloudFormation
emulation, after which the buckets, the queue and the notifications are asked for through the
S3 and SQS APIs.

moto does not emulate every resource type the template declares (ElastiCache replication
groups, Glue tables, Secrets Manager secrets, EMR Serverless applications, bucket and queue
policies). For the deployment those are taken out and references to them become stand-ins;
`EMULATED_ELSEWHERE` lists them, and a test fails if a type it names stops being declared or
starts being one moto supports, so the list cannot silently grow. moto's bucket resource also
applies only encryption and tags; the bucket's other declared properties (versioning, Object
Lock, lifecycle tiers, the public access block, the notifications) are applied after the stack
completes through the S3 API, translated field by field as CloudFormation does, so S3's own
validation accepts them and the notification is shown to deliver.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from cfnlint.api import lint_file
from cfnlint.decode import decode_str
from moto import mock_aws

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "aws" / "safecase.yaml"
REGION = "eu-central-1"
STACK = "safecase-test"

# Resource types the template declares and moto's CloudFormation cannot create.
EMULATED_ELSEWHERE = {
    "AWS::EMRServerless::Application",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::ElastiCache::SubnetGroup",
    "AWS::Glue::Database",
    "AWS::Glue::Table",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SecretsManager::Secret",
}


def _template() -> dict[str, Any]:
    decoded, problems = decode_str(TEMPLATE.read_text())
    assert not problems, problems
    return json.loads(json.dumps(decoded, default=str))


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _lint(path: Path) -> list[str]:
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in lint_file(path)]


def test_cfn_lint_finds_nothing():
    assert _lint(TEMPLATE) == []


def test_cfn_lint_catches_a_broken_template(tmp_path):
    """The lint check can fail: a bucket with an unknown property is reported."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        TEMPLATE.read_text().replace("ObjectLockEnabled: true", "ObjectLockEnabld: true", 1)
    )
    problems = _lint(broken)
    assert any("ObjectLockEnabld" in p for p in problems), problems


def test_buckets_are_encrypted_with_their_own_key_and_locked():
    template = _template()
    buckets = _resources(template, "AWS::S3::Bucket")
    assert set(buckets) == {"LakeBucket", "EvidenceBucket"}
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["ObjectLockEnabled"] is True, name
        assert props["VersioningConfiguration"]["Status"] == "Enabled", name
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", name
        assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {
            "Fn::GetAtt": ["DataKey", "Arn"]
        }
        assert all(props["PublicAccessBlockConfiguration"].values()), name
        assert bucket["DeletionPolicy"] == "Retain", name
    lock = buckets["EvidenceBucket"]["Properties"]["ObjectLockConfiguration"]
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    tiers = buckets["LakeBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0]
    assert [t["StorageClass"] for t in tiers["Transitions"]] == ["STANDARD_IA", "GLACIER"]


def _allow_statements(template: dict[str, Any]):
    for name, role in _resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if statement["Effect"] == "Allow":
                    yield name, statement


def test_roles_grant_no_wildcard_actions_and_no_open_resources():
    template = _template()
    # The only action AWS offers no resource-level permission for.
    unscoped_ok = {"ecr:GetAuthorizationToken"}
    for role, statement in _allow_statements(template):
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        assert not any("*" in a for a in actions), (role, actions)
        if statement["Resource"] == "*":
            assert set(actions) <= unscoped_ok, (role, actions)


def test_only_the_migrate_task_can_read_the_owner_url():
    template = _template()
    readers = [
        name
        for name, statement in _allow_statements(template)
        if isinstance(statement["Resource"], list)
        and {"Ref": "DatabaseOwnerUrlSecretArn"} in statement["Resource"]
    ]
    assert readers == ["MigrateExecutionRole"]
    tasks = _resources(template, "AWS::ECS::TaskDefinition")
    for name, task in tasks.items():
        secrets = {
            s["Name"] for c in task["Properties"]["ContainerDefinitions"] for s in c["Secrets"]
        }
        assert ("DATABASE_OWNER_URL" in secrets) == (name == "MigrateTask"), name


def test_the_lake_queue_accepts_only_the_lake_bucket():
    template = _template()
    statement = template["Resources"]["DriveQueuePolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ][0]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    source = statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    bucket_name = template["Resources"]["LakeBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    assert source == f"arn:${{AWS::Partition}}:s3:::{bucket_name}"


def _stand_in(value: Any, removed: set[str]) -> Any:
    """``value`` with every reference to a removed resource replaced by a placeholder."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in removed:
            return f"stand-in-{value['Ref']}"
        if set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][0] in removed:
            return f"stand-in-{'-'.join(value['Fn::GetAtt'])}"
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            pattern = re.compile(r"\$\{(" + "|".join(map(re.escape, removed)) + r")(\.[^}]*)?\}")
            return {"Fn::Sub": pattern.sub(lambda m: f"stand-in-{m.group(1)}", value["Fn::Sub"])}
        return {k: _stand_in(v, removed) for k, v in value.items()}
    if isinstance(value, list):
        return [_stand_in(v, removed) for v in value]
    return value


def test_every_type_left_out_of_the_deployment_is_declared_and_unsupported_by_moto():
    from moto.cloudformation.parsing import resource_class_from_type

    declared = {r["Type"] for r in _template()["Resources"].values()}
    assert declared >= EMULATED_ELSEWHERE
    for kind in declared:
        supported = resource_class_from_type(kind) is not None
        assert supported != (kind in EMULATED_ELSEWHERE), kind


def _resolve(value: Any, values: dict[str, Any]) -> Any:
    """A declared property with its ``Ref`` and ``Fn::GetAtt ... Arn`` resolved in the stack."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return values[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        logical, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn", value
        identifier = values[logical]
        if identifier.startswith("http"):  # a queue's physical id is its URL
            attrs = boto3.client("sqs", region_name=REGION).get_queue_attributes(
                QueueUrl=identifier, AttributeNames=["QueueArn"]
            )
            return attrs["Attributes"]["QueueArn"]
        # The stack's one KMS key (moto's physical id for a key is not its id).
        [key] = boto3.client("kms", region_name=REGION).list_keys()["Keys"]
        return key["KeyArn"]
    if isinstance(value, dict):
        return {k: _resolve(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, values) for v in value]
    return value


def _apply_bucket_properties(bucket: str, declared: dict[str, Any], values: dict) -> None:
    props = _resolve(declared, values)
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration=props["VersioningConfiguration"]
    )
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
    )
    if "ObjectLockConfiguration" in props:
        lock = props["ObjectLockConfiguration"]
        retention = lock["Rule"]["DefaultRetention"]
        s3.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": lock["ObjectLockEnabled"],
                "Rule": {
                    "DefaultRetention": {"Mode": retention["Mode"], "Days": int(retention["Days"])}
                },
            },
        )
    if "LifecycleConfiguration" in props:
        rules = [
            {
                "ID": rule["Id"],
                "Status": rule["Status"],
                "Filter": {"Prefix": rule.get("Prefix", "")},
                "Transitions": [
                    {"Days": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]}
                    for t in rule.get("Transitions", [])
                ],
                "NoncurrentVersionTransitions": [
                    {
                        "NoncurrentDays": int(t["TransitionInDays"]),
                        "StorageClass": t["StorageClass"],
                    }
                    for t in rule.get("NoncurrentVersionTransitions", [])
                ],
            }
            for rule in props["LifecycleConfiguration"]["Rules"]
        ]
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": rules}
        )
    if "NotificationConfiguration" in props:
        queues = [
            {
                "QueueArn": q["Queue"],
                "Events": [q["Event"]],
                "Filter": {"Key": {"FilterRules": q["Filter"]["S3Key"]["Rules"]}},
            }
            for q in props["NotificationConfiguration"]["QueueConfigurations"]
        ]
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": queues}
        )


@pytest.fixture(scope="module")
def deployed():
    template = _template()
    removed = {k for k, v in template["Resources"].items() if v["Type"] in EMULATED_ELSEWHERE}
    for name in removed:
        del template["Resources"][name]
    for resource in template["Resources"].values():
        depends = resource.get("DependsOn")
        if isinstance(depends, str) and depends in removed:
            del resource["DependsOn"]
    template = _stand_in(template, removed)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{'ab'[i % 2]}"
            )["Subnet"]["SubnetId"]
            for i in range(4)
        ]
        secrets = boto3.client("secretsmanager", region_name=REGION)
        arns = {
            name: secrets.create_secret(Name=name, SecretString="set-by-the-operator")["ARN"]
            for name in ("DatabaseUrl", "DatabaseOwnerUrl", "SigningKey")
        }
        certificate = boto3.client("acm", region_name=REGION).request_certificate(
            DomainName="safecase.example.com"
        )["CertificateArn"]
        parameters = {
            "VpcId": vpc,
            "PublicSubnetIds": ",".join(subnets[:2]),
            "PrivateSubnetIds": ",".join(subnets[2:]),
            "CertificateArn": certificate,
            "SiteHostName": "safecase.example.com",
            "ContainerImage": f"123456789012.dkr.ecr.{REGION}.amazonaws.com/safecase:1",
            "DatabaseUrlSecretArn": arns["DatabaseUrl"],
            "DatabaseOwnerUrlSecretArn": arns["DatabaseOwnerUrl"],
            "SigningKeySecretArn": arns["SigningKey"],
        }
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # any other type moto skips fails the test
            cloudformation.create_stack(
                StackName=STACK,
                TemplateBody=json.dumps(template),
                Parameters=[
                    {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()
                ],
                Capabilities=["CAPABILITY_IAM"],
            )
        stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
        resources = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
        values = {
            name: parameters.get(name, spec.get("Default"))
            for name, spec in template["Parameters"].items()
        } | physical
        for logical in ("LakeBucket", "EvidenceBucket"):
            _apply_bucket_properties(
                physical[logical], template["Resources"][logical]["Properties"], values
            )
        yield {
            "stack": stack,
            "outputs": {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]},
            "resources": resources,
            "declared": template["Resources"],
        }


def test_the_stack_completes_with_every_emulated_resource(deployed):
    assert deployed["stack"]["StackStatus"] == "CREATE_COMPLETE"
    created = {r["LogicalResourceId"] for r in deployed["resources"]}
    assert created == set(deployed["declared"])


def test_the_buckets_exist_as_declared(deployed):
    s3 = boto3.client("s3", region_name=REGION)
    lake = deployed["outputs"]["LakeBucketName"]
    evidence = deployed["outputs"]["EvidenceBucketName"]
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {lake, evidence}
    for bucket in (lake, evidence):
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert rule["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    lock = s3.get_object_lock_configuration(Bucket=evidence)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    retention = lock["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == ("COMPLIANCE", 3650)
    tiers = s3.get_bucket_lifecycle_configuration(Bucket=lake)["Rules"][0]["Transitions"]
    assert [(t["Days"], t["StorageClass"]) for t in tiers] == [
        (30, "STANDARD_IA"),
        (180, "GLACIER"),
    ]


def test_new_drives_are_announced_on_the_queue(deployed):
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    lake = deployed["outputs"]["LakeBucketName"]
    queue_arn = deployed["outputs"]["DriveQueueArn"]
    queue_url = deployed["outputs"]["DriveQueueUrl"]
    notifications = s3.get_bucket_notification_configuration(Bucket=lake)
    [config] = notifications["QueueConfigurations"]
    assert config["QueueArn"] == queue_arn
    assert config["Events"] == ["s3:ObjectCreated:*"]
    assert config["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "drives/"}]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 5
    # moto delivers the notification: a drive under the prefix arrives as one message, an
    # object elsewhere does not.
    s3.put_object(Bucket=lake, Key="drives/2026/drive-0001.parquet", Body=b"PAR1")
    s3.put_object(Bucket=lake, Key="results/other.parquet", Body=b"PAR1")
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    # S3 URL-encodes the key in its event records.
    keys = [
        unquote_plus(record["s3"]["object"]["key"])
        for message in received
        for record in json.loads(message["Body"]).get("Records", [])
    ]
    assert keys == ["drives/2026/drive-0001.parquet"]


def test_the_glue_tables_describe_what_runs_write():
    """Athena reads the Parquet files with the Glue tables' columns: they must be the same."""
    import pyarrow as pa

    from validation import results_lake

    hive = {pa.string(): "string", pa.int32(): "int", pa.int64(): "bigint"}
    hive |= {pa.float64(): "double", pa.bool_(): "boolean"}
    template = _template()
    for table, columns in (
        ("CaseResultsTable", results_lake.CASE_SCHEMA),
        ("VerdictsTable", results_lake.VERDICT_SCHEMA),
    ):
        declared = template["Resources"][table]["Properties"]["TableInput"]
        assert [(c["Name"], c["Type"]) for c in declared["StorageDescriptor"]["Columns"]] == [
            (f.name, hive[f.type]) for f in columns
        ], table
        assert [p["Name"] for p in declared["PartitionKeys"]] == ["project", "campaign", "run"]
