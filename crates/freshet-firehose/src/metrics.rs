//! Per delivery stream counters under Firehose's CloudWatch metric names, on `/metrics` (see
//! `freshet_runtime::metrics`: dots become underscores, the stream is a label).

use freshet_runtime::metrics::{Counter, Exposition, Gauge};

macro_rules! metrics {
    ($($field:ident => $name:literal, $kind:ident;)*) => {
        #[derive(Default, Debug)]
        pub struct Metrics {
            $(pub $field: metrics!(@type $kind),)*
            /// The recent deliveries, for the console.
            pub activity: freshet_runtime::recent::Recent<crate::activity::Delivery>,
        }

        impl Metrics {
            /// Adds the stream's metrics to a scrape.
            pub fn render(&self, stream: &str, e: &mut Exposition) {
                let labels = [("DeliveryStreamName", stream)];
                $(metrics!(@sample e, $kind, $name, &labels, self.$field.get());)*
            }
        }
    };
    (@type counter) => { Counter };
    (@type gauge) => { Gauge };
    (@sample $e:ident, counter, $name:literal, $labels:expr, $v:expr) => {
        $e.counter("firehose", $name, concat!("AWS/Firehose ", $name), $labels, $v)
    };
    (@sample $e:ident, gauge, $name:literal, $labels:expr, $v:expr) => {
        $e.gauge("firehose", $name, concat!("AWS/Firehose ", $name), $labels, $v as f64)
    };
}

metrics! {
    incoming_records => "IncomingRecords", counter;
    incoming_bytes => "IncomingBytes", counter;
    incoming_put_requests => "IncomingPutRequests", counter;
    throttled_records => "ThrottledRecords", counter;
    backlog_bytes => "BacklogBytes", gauge;
    s3_records => "DeliveryToS3.Records", counter;
    s3_bytes => "DeliveryToS3.Bytes", counter;
    s3_objects => "DeliveryToS3.ObjectCount", counter;
    s3_success => "DeliveryToS3.Success", gauge;
    s3_freshness_secs => "DeliveryToS3.DataFreshness", gauge;
    http_records => "DeliveryToHttpEndpoint.Records", counter;
    http_bytes => "DeliveryToHttpEndpoint.Bytes", counter;
    http_success => "DeliveryToHttpEndpoint.Success", gauge;
    http_freshness_secs => "DeliveryToHttpEndpoint.DataFreshness", gauge;
    search_records => "DeliveryToAmazonOpenSearchService.Records", counter;
    search_bytes => "DeliveryToAmazonOpenSearchService.Bytes", counter;
    search_success => "DeliveryToAmazonOpenSearchService.Success", gauge;
    search_freshness_secs => "DeliveryToAmazonOpenSearchService.DataFreshness", gauge;
    redshift_records => "DeliveryToRedshift.Records", counter;
    redshift_bytes => "DeliveryToRedshift.Bytes", counter;
    redshift_success => "DeliveryToRedshift.Success", gauge;
    splunk_records => "DeliveryToSplunk.Records", counter;
    splunk_bytes => "DeliveryToSplunk.Bytes", counter;
    splunk_success => "DeliveryToSplunk.Success", gauge;
    iceberg_records => "DeliveryToIceberg.SuccessfulRowCount", counter;
    iceberg_deleted_rows => "DeliveryToIceberg.DeletedRowCount", counter;
    iceberg_success => "DeliveryToIceberg.Success", gauge;
    backup_records => "BackupToS3.Records", counter;
    backup_bytes => "BackupToS3.Bytes", counter;
    kinesis_records => "DataReadFromKinesisStream.Records", counter;
    kinesis_bytes => "DataReadFromKinesisStream.Bytes", counter;
    partition_count => "PartitionCount", gauge;
    partition_count_exceeded => "PartitionCountExceeded", gauge;
    processing_records => "SucceedProcessing.Records", counter;
    processing_bytes => "SucceedProcessing.Bytes", counter;
}

#[cfg(test)]
mod tests {
    use freshet_runtime::metrics::Format;

    use super::*;

    #[test]
    fn renders_each_metric_as_one_block_with_the_stream_label() {
        let (a, b) = (Metrics::default(), Metrics::default());
        a.incoming_records.add(3);
        b.s3_records.add(2);
        b.backlog_bytes.set(7);
        let mut e = Exposition::new(Format::Prometheus);
        a.render("a\"b", &mut e);
        b.render("c", &mut e);
        let out = e.finish();
        assert!(
            out.contains(
                "# TYPE firehose_IncomingRecords_total counter\n\
             firehose_IncomingRecords_total{DeliveryStreamName=\"a\\\"b\"} 3\n\
             firehose_IncomingRecords_total{DeliveryStreamName=\"c\"} 0\n# HELP "
            ),
            "{out}"
        );
        assert!(out.contains("firehose_DeliveryToS3_Records_total{DeliveryStreamName=\"c\"} 2\n"));
        assert!(out.contains("# TYPE firehose_BacklogBytes gauge\n"));
        assert!(out.contains("firehose_BacklogBytes{DeliveryStreamName=\"c\"} 7\n"));
    }
}
