//! The Kinesis Data Analytics operations at the edge: `KinesisAnalytics_20150814.*` (v1) and
//! `KinesisAnalytics_20180523.*` (v2, SQL and Flink applications) decoded into typed requests for the one
//! analytics service, and its answers encoded back (AWS JSON 1.1, as every SDK speaks it).

use freshet_analytics::{AnalyticsError, AnalyticsService};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::{Value, json};

use crate::api::{Api, Call, Members, Reply, Scope};
use crate::codec::{Format, decode_request, encode, typed};
use crate::error::ApiError;
use crate::shape::{Model, kinesisanalytics, kinesisanalyticsv2};

/// The v1 API (`KinesisAnalytics_20150814`).
pub struct AnalyticsApi {
    svc: AnalyticsService,
}

/// The v2 API (`KinesisAnalytics_20180523`) over the same applications.
pub struct AnalyticsV2Api {
    svc: AnalyticsService,
}

impl AnalyticsApi {
    pub fn new(svc: AnalyticsService) -> AnalyticsApi {
        AnalyticsApi { svc }
    }
}

impl AnalyticsV2Api {
    pub fn new(svc: AnalyticsService) -> AnalyticsV2Api {
        AnalyticsV2Api { svc }
    }
}

/// Both versions act on applications, named or by ARN (tags).
fn application(m: &Members, scope: &Scope) -> Vec<String> {
    match (m.get("ResourceARN"), m.get("ApplicationName")) {
        (Some(arn), _) => vec![arn.to_string()],
        (None, Some(name)) => vec![scope.arn("kinesisanalytics", &format!("application/{name}"))],
        (None, None) => vec!["*".to_string()],
    }
}

/// The body of a call, checked against `model`.
fn checked(model: &'static Model, call: &Call<'_>) -> Result<Value, ApiError> {
    if !model.operations.contains_key(call.op) {
        return Err(ApiError::unknown_operation());
    }
    decode_request(model, call.op, call.format, &call.body)
}

impl Api for AnalyticsApi {
    fn name(&self) -> &'static str {
        "analytics"
    }

    fn model(&self) -> Option<&'static Model> {
        Some(kinesisanalytics())
    }

    fn iam_prefix(&self) -> &'static str {
        "kinesisanalytics"
    }

    fn resources(&self, _op: &str, m: &Members, scope: &Scope) -> Vec<String> {
        application(m, scope)
    }

    fn call<'a>(&'a self, call: Call<'a>) -> BoxFuture<'a, Result<Reply, ApiError>> {
        Box::pin(async move {
            let body = checked(kinesisanalytics(), &call)?;
            dispatch_v1(&self.svc, call.op, body).await.map(Reply::Body)
        })
    }

    fn health(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { self.svc.health().await.map_err(|e| e.to_string()) })
    }
}

impl Api for AnalyticsV2Api {
    fn name(&self) -> &'static str {
        "analyticsv2"
    }

    fn model(&self) -> Option<&'static Model> {
        Some(kinesisanalyticsv2())
    }

    fn iam_prefix(&self) -> &'static str {
        "kinesisanalytics"
    }

    fn resources(&self, _op: &str, m: &Members, scope: &Scope) -> Vec<String> {
        application(m, scope)
    }

    fn call<'a>(&'a self, call: Call<'a>) -> BoxFuture<'a, Result<Reply, ApiError>> {
        Box::pin(async move {
            let body = checked(kinesisanalyticsv2(), &call)?;
            dispatch_v2(&self.svc, call.op, body).await.map(Reply::Body)
        })
    }

    fn health(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { self.svc.health().await.map_err(|e| e.to_string()) })
    }

    // Rendered by this adapter only: both API versions share one service.
    fn render_metrics(&self, e: &mut freshet_runtime::metrics::Exposition) {
        self.svc.render_metrics(e);
    }
}

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> ApiError {
        let mut error = ApiError::from_service(e.is_internal(), e.aws_type(), &e);
        if let AnalyticsError::UnableToDetectSchema {
            raw_input_records,
            processed_input_records,
            ..
        } = e
        {
            let members = json!({
                "RawInputRecords": raw_input_records,
                "ProcessedInputRecords": processed_input_records,
            });
            if let Value::Object(members) = members {
                error.members = Some(Box::new(members));
            }
        }
        error
    }
}

fn output<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    encode(Format::Json, None, value)
}

macro_rules! run {
    ($svc:expr, $body:expr, async $method:ident) => {
        output(&$svc.$method(typed($body)?).await?)
    };
    ($svc:expr, $body:expr, $method:ident) => {
        output(&$svc.$method(typed($body)?)?)
    };
}

/// Runs one v1 operation whose body has already been checked against the v1 model.
async fn dispatch_v1(svc: &AnalyticsService, op: &str, body: Value) -> Result<Vec<u8>, ApiError> {
    match op {
        "CreateApplication" => run!(svc, body, async create_application),
        "DescribeApplication" => run!(svc, body, describe_application),
        "ListApplications" => run!(svc, body, list_applications),
        "UpdateApplication" => run!(svc, body, async update_application),
        "DeleteApplication" => run!(svc, body, async delete_application),
        "StartApplication" => run!(svc, body, async start_application),
        "StopApplication" => run!(svc, body, async stop_application),
        "DiscoverInputSchema" => run!(svc, body, async discover_input_schema),
        "AddApplicationInput" => run!(svc, body, async add_application_input),
        "AddApplicationOutput" => run!(svc, body, async add_application_output),
        "DeleteApplicationOutput" => run!(svc, body, async delete_application_output),
        "AddApplicationReferenceDataSource" => {
            run!(svc, body, async add_application_reference_data_source)
        }
        "DeleteApplicationReferenceDataSource" => {
            run!(svc, body, async delete_application_reference_data_source)
        }
        "AddApplicationInputProcessingConfiguration" => {
            run!(svc, body, async add_application_input_processing_configuration)
        }
        "DeleteApplicationInputProcessingConfiguration" => {
            run!(svc, body, async delete_application_input_processing_configuration)
        }
        "AddApplicationCloudWatchLoggingOption" => {
            run!(svc, body, async add_application_cloud_watch_logging_option)
        }
        "DeleteApplicationCloudWatchLoggingOption" => {
            run!(svc, body, async delete_application_cloud_watch_logging_option)
        }
        "TagResource" => run!(svc, body, async tag_resource),
        "UntagResource" => run!(svc, body, async untag_resource),
        "ListTagsForResource" => run!(svc, body, list_tags_for_resource),
        _ => Err(ApiError::unknown_operation()),
    }
}

/// Runs one v2 operation whose body has already been checked against the v2 model.
async fn dispatch_v2(svc: &AnalyticsService, op: &str, body: Value) -> Result<Vec<u8>, ApiError> {
    match op {
        "CreateApplication" => run!(svc, body, async v2_create_application),
        "DescribeApplication" => run!(svc, body, v2_describe_application),
        "ListApplications" => run!(svc, body, v2_list_applications),
        "UpdateApplication" => run!(svc, body, async v2_update_application),
        "DeleteApplication" => run!(svc, body, async v2_delete_application),
        "StartApplication" => run!(svc, body, async v2_start_application),
        "StopApplication" => run!(svc, body, async v2_stop_application),
        "DiscoverInputSchema" => run!(svc, body, async v2_discover_input_schema),
        "AddApplicationInput" => run!(svc, body, async v2_add_application_input),
        "AddApplicationOutput" => run!(svc, body, async v2_add_application_output),
        "DeleteApplicationOutput" => run!(svc, body, async v2_delete_application_output),
        "AddApplicationReferenceDataSource" => {
            run!(svc, body, async v2_add_application_reference_data_source)
        }
        "DeleteApplicationReferenceDataSource" => {
            run!(svc, body, async v2_delete_application_reference_data_source)
        }
        "AddApplicationInputProcessingConfiguration" => {
            run!(svc, body, async v2_add_application_input_processing_configuration)
        }
        "DeleteApplicationInputProcessingConfiguration" => {
            run!(svc, body, async v2_delete_application_input_processing_configuration)
        }
        "AddApplicationCloudWatchLoggingOption" => {
            run!(svc, body, async v2_add_application_cloud_watch_logging_option)
        }
        "DeleteApplicationCloudWatchLoggingOption" => {
            run!(svc, body, async v2_delete_application_cloud_watch_logging_option)
        }
        "ListApplicationVersions" => run!(svc, body, v2_list_application_versions),
        "DescribeApplicationVersion" => run!(svc, body, v2_describe_application_version),
        "ListApplicationOperations" => run!(svc, body, v2_list_application_operations),
        "DescribeApplicationOperation" => run!(svc, body, v2_describe_application_operation),
        "TagResource" => run!(svc, body, async tag_resource),
        "UntagResource" => run!(svc, body, async untag_resource),
        "ListTagsForResource" => run!(svc, body, list_tags_for_resource),
        "CreateApplicationSnapshot" => run!(svc, body, async v2_create_application_snapshot),
        "DeleteApplicationSnapshot" => run!(svc, body, async v2_delete_application_snapshot),
        "DescribeApplicationSnapshot" => run!(svc, body, async v2_describe_application_snapshot),
        "ListApplicationSnapshots" => run!(svc, body, async v2_list_application_snapshots),
        "RollbackApplication" => run!(svc, body, async v2_rollback_application),
        "UpdateApplicationMaintenanceConfiguration" => {
            run!(svc, body, async v2_update_application_maintenance_configuration)
        }
        "AddApplicationVpcConfiguration" | "DeleteApplicationVpcConfiguration" => {
            output(&svc.v2_vpc_configuration(op, typed(body)?)?)
        }
        "CreateApplicationPresignedUrl" => run!(svc, body, v2_create_application_presigned_url),
        _ => Err(ApiError::unknown_operation()),
    }
}
