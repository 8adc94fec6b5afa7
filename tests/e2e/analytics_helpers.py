"""Driving one Kinesis Data Analytics application through boto3: its description, start,
stop and status, shared by the Analytics end-to-end tests. A subclass sets `self.kda` (a
`kinesisanalytics` client) and `self.app` (the application's name)."""

from __future__ import annotations

from firehose_helpers import wait_until


class ApplicationDriver:
    kda = None
    app = ""

    def detail(self):
        return self.kda.describe_application(ApplicationName=self.app)["ApplicationDetail"]

    def start(self, position="NOW"):
        input_id = self.detail()["InputDescriptions"][0]["InputId"]
        self.kda.start_application(
            ApplicationName=self.app,
            InputConfigurations=[{"Id": input_id, "InputStartingPositionConfiguration": {"InputStartingPosition": position}}],
        )
        self.wait_status("RUNNING")

    def stop(self):
        self.kda.stop_application(ApplicationName=self.app)
        self.wait_status("READY")

    def wait_status(self, status, timeout=30):
        wait_until(lambda: self.detail()["ApplicationStatus"] == status, timeout=timeout, what=f"application {status}")
