"""The CloudWatch metric reads (`aws cloudwatch get-metric-statistics` and friends) on the same
port: a known workload's metrics come back with exact sums, listed with their dimensions, through
boto3 and the AWS CLI; bad requests get CloudWatch's errors (the JSON `__type`, the query code
SDKs report, the HTTP status)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest
from botocore.exceptions import ClientError

from firehose_helpers import ROLE, wait_until
from freshet_e2e import aws_cli, create_stream, error_of, raw_request

NS = "AWS/Kinesis"
MINUTE = dt.timedelta(minutes=1)


def window():
    now = dt.datetime.now(dt.timezone.utc)
    return now - 10 * MINUTE, now + MINUTE


@pytest.fixture(scope="module")
def cw(server):
    return server.client(service="cloudwatch")


def dims(stream):
    return [{"Name": "StreamName", "Value": stream}]


def total(cw, metric, stream, stat="Sum", namespace=NS, dimensions=None):
    start, end = window()
    points = cw.get_metric_statistics(Namespace=namespace, MetricName=metric, Dimensions=dimensions or dims(stream),
                                      StartTime=start, EndTime=end, Period=60, Statistics=[stat])["Datapoints"]
    return sum(p[stat] for p in points)


@pytest.fixture
def workload(server, kinesis, stream_name, cw):
    """7 PutRecord calls of 10 bytes and a PutRecords of 3, under key "k": 10 records of 11 bytes."""
    create_stream(kinesis, stream_name)
    for _ in range(7):
        kinesis.put_record(StreamName=stream_name, Data=b"0123456789", PartitionKey="k")
    kinesis.put_records(StreamName=stream_name, Records=[{"Data": b"0123456789", "PartitionKey": "k"}] * 3)
    # The history reads the metrics once a second.
    wait_until(lambda: total(cw, "IncomingRecords", stream_name) == 10, timeout=10, what="the records sampled")
    wait_until(lambda: total(cw, "PutRecords.TotalRecords", stream_name) == 3, timeout=10, what="PutRecords")
    return stream_name


def test_a_known_workload_has_exact_sums(cw, workload):
    assert total(cw, "IncomingRecords", workload) == 10
    assert total(cw, "IncomingBytes", workload) == 110
    assert total(cw, "PutRecord.Success", workload) == 7
    assert total(cw, "PutRecord.Requests", workload) == 7
    assert total(cw, "PutRecords.SuccessfulRecords", workload) == 3
    assert total(cw, "PutRecord.Latency", workload, stat="SampleCount") == 7
    start, end = window()
    points = cw.get_metric_statistics(Namespace=NS, MetricName="IncomingBytes", Dimensions=dims(workload),
                                      StartTime=start, EndTime=end, Period=60,
                                      Statistics=["Sum", "Maximum", "Minimum", "SampleCount", "Average"])["Datapoints"]
    for p in points:
        assert p["Unit"] == "Bytes"
        assert p["Timestamp"].second == 0 and p["Timestamp"].microsecond == 0  # whole minutes
        assert p["Minimum"] <= p["Average"] == p["Sum"] / p["SampleCount"] <= p["Maximum"]
    # Another unit than the metric's, or other dimensions: no datapoints.
    assert cw.get_metric_statistics(Namespace=NS, MetricName="IncomingBytes", Dimensions=dims(workload),
                                    StartTime=start, EndTime=end, Period=60, Statistics=["Sum"],
                                    Unit="Count")["Datapoints"] == []
    assert total(cw, "IncomingBytes", "no-such-stream") == 0


def test_the_aws_cli_reads_a_streams_metrics(server, workload, tmp_path):
    start, end = window()
    cli = aws_cli(server.endpoint, tmp_path, "cloudwatch")
    doc = cli("get-metric-statistics", "--namespace", NS, "--metric-name", "IncomingRecords",
              "--dimensions", f"Name=StreamName,Value={workload}", "--start-time", start.isoformat(),
              "--end-time", end.isoformat(), "--period", "600", "--statistics", "Sum")
    assert doc["Label"] == "IncomingRecords"
    assert sum(p["Sum"] for p in doc["Datapoints"]) == 10


def test_list_metrics_filters_by_name_and_dimensions(cw, workload):
    metrics = cw.list_metrics(Namespace=NS, Dimensions=[{"Name": "StreamName", "Value": workload}])["Metrics"]
    names = sorted(m["MetricName"] for m in metrics)
    assert {"IncomingBytes", "IncomingRecords", "PutRecord.Latency", "PutRecords.TotalRecords"} <= set(names)
    assert all(m["Namespace"] == NS and m["Dimensions"] == dims(workload) for m in metrics)
    # Never-moving metrics have no datapoints, so are not listed (as CloudWatch lists metrics with data).
    assert "ReadProvisionedThroughputExceeded" not in names
    only = cw.list_metrics(Namespace=NS, MetricName="IncomingRecords", RecentlyActive="PT3H",
                           Dimensions=[{"Name": "StreamName", "Value": workload}])["Metrics"]
    assert only == [{"Namespace": NS, "MetricName": "IncomingRecords", "Dimensions": dims(workload)}]
    assert cw.list_metrics(Namespace="AWS/Nothing")["Metrics"] == []
    with pytest.raises(ClientError) as e:
        cw.list_metrics(Namespace=NS, NextToken="not-a-token")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_get_metric_data_answers_each_query(cw, workload):
    start, end = window()
    metric = lambda name: {"Namespace": NS, "MetricName": name, "Dimensions": dims(workload)}  # noqa: E731
    out = cw.get_metric_data(StartTime=start, EndTime=end, ScanBy="TimestampAscending", MetricDataQueries=[
        {"Id": "records", "MetricStat": {"Metric": metric("IncomingRecords"), "Period": 60, "Stat": "Sum"}},
        {"Id": "latency", "Label": "put latency",
         "MetricStat": {"Metric": metric("PutRecord.Latency"), "Period": 600, "Stat": "SampleCount"}},
        {"Id": "hidden", "ReturnData": False,
         "MetricStat": {"Metric": metric("IncomingBytes"), "Period": 60, "Stat": "Sum"}},
    ])
    results = {r["Id"]: r for r in out["MetricDataResults"]}
    assert set(results) == {"records", "latency"}
    assert sum(results["records"]["Values"]) == 10 and results["records"]["Label"] == "IncomingRecords"
    assert results["records"]["Timestamps"] == sorted(results["records"]["Timestamps"])
    assert results["latency"]["Label"] == "put latency" and sum(results["latency"]["Values"]) == 7
    assert all(r["StatusCode"] == "Complete" for r in results.values())


def query_error(call):
    with pytest.raises(ClientError) as e:
        call()
    return error_of(e)


def test_bad_statistics_requests_get_cloudwatchs_errors(cw):
    start, end = window()
    base = dict(Namespace=NS, MetricName="IncomingRecords", StartTime=start, EndTime=end, Period=60)
    assert query_error(lambda: cw.get_metric_statistics(**base, Statistics=["Sum"], ExtendedStatistics=["p99"])) == (
        "InvalidParameterCombination", "Must specify either Statistics or ExtendedStatistics, but not both.", 400)
    assert query_error(lambda: cw.get_metric_statistics(**base)) == (
        "InvalidParameterCombination", "Must specify either Statistics or ExtendedStatistics, but not both.", 400)
    code, message, status = query_error(lambda: cw.get_metric_statistics(**base, ExtendedStatistics=["p99"]))
    assert (code, status) == ("InvalidParameterValue", 400) and "ExtendedStatistics" in message
    assert query_error(lambda: cw.get_metric_statistics(**{**base, "Period": 90}, Statistics=["Sum"])) == (
        "InvalidParameterValue", "The parameter Period must be a multiple of 60.", 400)
    assert query_error(lambda: cw.get_metric_statistics(**{**base, "StartTime": end, "EndTime": start},
                                                        Statistics=["Sum"])) == (
        "InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime.", 400)
    code, message, _ = query_error(lambda: cw.get_metric_statistics(
        **{**base, "StartTime": end - dt.timedelta(days=2)}, Statistics=["Sum"]))
    assert code == "InvalidParameterCombination"
    # 2,880 or 2,881 minutes: botocore sends whole seconds, so the range may end on a minute.
    assert re.match(r"You have requested up to 288[01] datapoints, which exceeds the limit of 1440\. ", message), message


def test_bad_metric_data_requests_get_cloudwatchs_errors(cw):
    start, end = window()
    stat = {"Metric": {"Namespace": NS, "MetricName": "IncomingRecords"}, "Period": 60, "Stat": "Sum"}
    code, message, status = query_error(lambda: cw.get_metric_data(
        StartTime=start, EndTime=end, MetricDataQueries=[{"Id": "m", "Expression": "SUM(METRICS())"}]))
    assert (code, status) == ("InvalidParameterValue", 400) and "Expression" in message
    assert query_error(lambda: cw.get_metric_data(StartTime=start, EndTime=end, MetricDataQueries=[
        {"Id": "a", "MetricStat": stat}, {"Id": "a", "MetricStat": stat}]))[:2] == (
        "InvalidParameterValue", "The value a for parameter MetricDataQueries.member.2.Id is not unique.")
    assert query_error(lambda: cw.get_metric_data(StartTime=start, EndTime=end, MetricDataQueries=[
        {"Id": "Upper", "MetricStat": stat}]))[:2] == (
        "InvalidParameterValue", "The value Upper for parameter MetricDataQueries.member.1.Id is invalid.")
    assert query_error(lambda: cw.get_metric_data(StartTime=start, EndTime=end, NextToken="t",
                                                  MetricDataQueries=[{"Id": "a", "MetricStat": stat}])) == (
        "InvalidNextToken", "The service returned an invalid NextToken.", 400)


def test_an_error_carries_its_type_and_query_code_on_the_wire(server):
    resp = raw_request(server, "GraniteServiceVersion20100801.GetMetricStatistics",
                       {"Namespace": NS, "MetricName": "M", "StartTime": 2, "EndTime": 1, "Period": 60,
                        "Statistics": ["Sum"]}, content_type="application/x-amz-json-1.0",
                       headers={"x-amzn-query-mode": "true"})
    assert resp.status == 400
    assert resp.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    assert json.loads(resp.body) == {"__type": "InvalidParameterValueException",
                                     "message": "The parameter StartTime must be less than the parameter EndTime."}
    # An operation this server does not serve (metrics are its own, not put by clients).
    resp = raw_request(server, "GraniteServiceVersion20100801.PutMetricData", {},
                       content_type="application/x-amz-json-1.0")
    assert (resp.status, json.loads(resp.body)) == (400, {"__type": "UnknownOperationException"})


def test_firehose_metrics_are_read_under_their_namespace(server, cw):
    stream_name = f"cw-{uuid.uuid4().hex[:12]}"
    fh = server.client(service="firehose")
    fh.create_delivery_stream(DeliveryStreamName=stream_name, ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::cw-metrics", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
    fh.put_record_batch(DeliveryStreamName=stream_name, Records=[{"Data": b"abc\n"}] * 4)
    delivery = [{"Name": "DeliveryStreamName", "Value": stream_name}]
    wait_until(lambda: total(cw, "IncomingRecords", None, namespace="AWS/Firehose", dimensions=delivery) == 4,
               timeout=10, what="the Firehose records sampled")
    wait_until(lambda: total(cw, "DeliveryToS3.Records", None, namespace="AWS/Firehose", dimensions=delivery) == 4,
               timeout=10, what="the delivery sampled")
    assert total(cw, "IncomingBytes", None, namespace="AWS/Firehose", dimensions=delivery) == 16


def test_success_averages_to_the_share_of_successful_calls(cw, workload):
    start, end = window()
    points = cw.get_metric_statistics(Namespace=NS, MetricName="PutRecord.Success", Dimensions=dims(workload),
                                      StartTime=start, EndTime=end, Period=600,
                                      Statistics=["Average", "SampleCount", "Sum"])["Datapoints"]
    assert sum(p["SampleCount"] for p in points) == 7 and sum(p["Sum"] for p in points) == 7
    assert all(p["Average"] == 1.0 for p in points)


def test_get_metric_data_pages_past_max_datapoints(cw, workload):
    start, end = window()
    metric = lambda name: {"Namespace": NS, "MetricName": name, "Dimensions": dims(workload)}  # noqa: E731
    queries = [{"Id": "records", "MetricStat": {"Metric": metric("IncomingRecords"), "Period": 60, "Stat": "Sum"}},
               {"Id": "calls", "MetricStat": {"Metric": metric("PutRecord.Requests"), "Period": 60, "Stat": "Sum"}}]
    values, pages, token = {"records": [], "calls": []}, 0, None
    while True:
        page = cw.get_metric_data(StartTime=start, EndTime=end, MetricDataQueries=queries, MaxDatapoints=1,
                                  **({"NextToken": token} if token else {}))
        pages += 1
        assert sum(len(r["Values"]) for r in page["MetricDataResults"]) == 1
        for r in page["MetricDataResults"]:
            values[r["Id"]] += r["Values"]
        token = page.get("NextToken")
        if not token:
            assert all(r["StatusCode"] == "Complete" for r in page["MetricDataResults"][-1:])
            break
        assert any(r["StatusCode"] == "PartialData" for r in page["MetricDataResults"])
    assert (sum(values["records"]), sum(values["calls"])) == (10, 7)
    assert pages == len(values["records"]) + len(values["calls"])


def test_model_checks_answer_with_cloudwatchs_query_codes(server):
    resp = raw_request(server, "GraniteServiceVersion20100801.GetMetricStatistics",
                       {"MetricName": "M", "StartTime": 1, "EndTime": 2, "Period": 60, "Statistics": ["Sum"]},
                       content_type="application/x-amz-json-1.0")
    assert resp.status == 400
    assert resp.headers["x-amzn-query-error"] == "MissingParameter;Sender"
    doc = json.loads(resp.body)
    assert doc["__type"] == "MissingRequiredParameterException" and "namespace" in doc["message"], doc
    resp = raw_request(server, "GraniteServiceVersion20100801.GetMetricStatistics",
                       {"Namespace": NS, "MetricName": "M", "StartTime": 1e20, "EndTime": 2e20, "Period": 60,
                        "Statistics": ["Sum"]}, content_type="application/x-amz-json-1.0")
    assert (resp.status, resp.headers["x-amzn-query-error"]) == (400, "InvalidParameterValue;Sender")
    assert json.loads(resp.body)["message"] == "The parameter StartTime is out of range."
