//! `KinesisAnalytics_20180523` (kinesisanalyticsv2): SQL applications (the same applications as
//! v1, described in v2's shapes) and Flink applications (FLINK-* runtimes, `flink.rs`), with
//! what only v2 has: versions, operations, the service execution role, snapshots
//! (`snapshots.rs`), rollbacks. Studio (ZEPPELIN-FLINK-*, INTERACTIVE) is refused. Operations that
//! exist only for Flink applications answer what AWS answers for a SQL application, and v2's
//! SQL-only operations what it answers for a Flink one.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::app::{AppDoc, Config, OperationRecord, SQL_RUNTIME};
use crate::error::{AnalyticsError, Result};
use crate::flink::{self, FlinkConfig, RunConfigurationUpdate};
use crate::model::*;
use crate::service::{AnalyticsService, Entry, in_use, seconds};

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct SqlApplicationConfiguration {
    pub inputs: Option<Vec<Input>>,
    pub outputs: Option<Vec<Output>>,
    pub reference_data_sources: Option<Vec<ReferenceDataSource>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeContent {
    pub text_content: Option<String>,
    pub zip_file_content: Option<Value>,
    #[serde(rename = "S3ContentLocation")]
    pub s3_content_location: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationCodeConfiguration {
    pub code_content: Option<CodeContent>,
    pub code_content_type: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationConfiguration {
    pub sql_application_configuration: Option<SqlApplicationConfiguration>,
    pub application_code_configuration: Option<ApplicationCodeConfiguration>,
    /// Flink, Studio, VPC, snapshot and encryption settings: not for SQL applications.
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateApplicationInput {
    pub application_name: String,
    pub application_description: Option<String>,
    pub runtime_environment: String,
    pub service_execution_role: String,
    /// `ApplicationConfiguration`, read as the runtime's kind of application takes it.
    pub application_configuration: Option<Value>,
    pub cloud_watch_logging_options: Option<Vec<CloudWatchLoggingOption>>,
    pub tags: Option<Vec<Tag>>,
    pub application_mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeApplicationInput {
    pub application_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListApplicationsInput {
    pub limit: Option<usize>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct SqlApplicationConfigurationUpdate {
    pub input_updates: Option<Vec<InputUpdate>>,
    pub output_updates: Option<Vec<OutputUpdate>>,
    pub reference_data_source_updates: Option<Vec<ReferenceDataSourceUpdate>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeContentUpdate {
    pub text_content_update: Option<String>,
    pub zip_file_content_update: Option<Value>,
    #[serde(rename = "S3ContentLocationUpdate")]
    pub s3_content_location_update: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationCodeConfigurationUpdate {
    pub code_content_type_update: Option<String>,
    pub code_content_update: Option<CodeContentUpdate>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationConfigurationUpdate {
    pub sql_application_configuration_update: Option<SqlApplicationConfigurationUpdate>,
    pub application_code_configuration_update: Option<ApplicationCodeConfigurationUpdate>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateApplicationInput {
    pub application_name: String,
    pub current_application_version_id: Option<u64>,
    /// `ApplicationConfigurationUpdate`, read as the application's kind takes it.
    pub application_configuration_update: Option<Value>,
    pub service_execution_role_update: Option<String>,
    pub run_configuration_update: Option<Value>,
    pub cloud_watch_logging_option_updates: Option<Vec<CloudWatchLoggingOptionUpdate>>,
    pub conditional_token: Option<String>,
    pub runtime_environment_update: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SqlRunConfiguration {
    pub input_id: String,
    pub input_starting_position_configuration: InputStartingPositionConfiguration,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfiguration {
    pub sql_run_configurations: Option<Vec<SqlRunConfiguration>>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartApplicationInput {
    pub application_name: String,
    /// `RunConfiguration`, read as the application's kind takes it.
    pub run_configuration: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RollbackApplicationInput {
    pub application_name: String,
    pub current_application_version_id: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MaintenanceConfigurationUpdate {
    pub application_maintenance_window_start_time_update: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateMaintenanceInput {
    pub application_name: String,
    pub application_maintenance_configuration_update: MaintenanceConfigurationUpdate,
}

/// AddApplicationVpcConfiguration, DeleteApplicationVpcConfiguration and
/// CreateApplicationPresignedUrl: only the application matters to Freshet's answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationNameInput {
    pub application_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StopApplicationInput {
    pub application_name: String,
    pub force: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationVersionInput {
    pub application_name: String,
    pub application_version_id: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPagedInput {
    pub application_name: String,
    pub limit: Option<usize>,
    pub next_token: Option<String>,
    pub operation: Option<String>,
    pub operation_status: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationInput {
    pub application_name: String,
    pub operation_id: String,
}

/// AWS's answer, for a SQL application, to an operation only Flink or Studio applications have.
pub fn flink_only(operation: &str) -> AnalyticsError {
    AnalyticsError::UnsupportedOperation(format!(
        "{operation} is supported only for Managed Service for Apache Flink applications; this is a SQL-1_0 application."
    ))
}

/// Same, for operations whose model has no UnsupportedOperationException (VPC configurations,
/// presigned URLs): AWS answers InvalidArgumentException there.
pub fn flink_only_argument(operation: &str) -> AnalyticsError {
    AnalyticsError::InvalidArgument(format!(
        "{operation} is supported only for Managed Service for Apache Flink applications; this is a SQL-1_0 application."
    ))
}

/// What a v2 operation that only SQL applications have answers for a Flink application (their
/// models have no UnsupportedOperationException).
fn sql_only(operation: &str, runtime: &str) -> AnalyticsError {
    AnalyticsError::InvalidArgument(format!(
        "{operation} is supported only for SQL-1_0 applications; this is a {runtime} application."
    ))
}

/// Studio notebooks: Freshet runs no Zeppelin.
fn no_studio(what: &str) -> AnalyticsError {
    AnalyticsError::UnsupportedOperation(format!(
        "{what} is not supported by Freshet: Studio notebooks (ZEPPELIN-FLINK-* runtimes, ApplicationMode INTERACTIVE) are not."
    ))
}

/// A member the edge has checked against the model, read as the type the application's kind
/// takes.
fn read<T: DeserializeOwned + Default>(value: Option<Value>) -> Result<T> {
    match value {
        None => Ok(T::default()),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| AnalyticsError::InvalidArgument(format!("Invalid request: {e}."))),
    }
}

/// `ConditionalToken`: names the application version it was read at, as
/// CurrentApplicationVersionId does.
fn conditional_token(uid: u64, version: u64) -> String {
    use md5::{Digest, Md5};
    Md5::digest(format!("{uid}:{version}"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn code_of(code: Option<ApplicationCodeConfiguration>) -> Result<String> {
    let Some(code) = code else {
        return Ok(String::new());
    };
    if code.code_content_type != "PLAINTEXT" {
        return Err(AnalyticsError::InvalidArgument(
            "SQL applications take their code as PLAINTEXT TextContent.".into(),
        ));
    }
    match code.code_content {
        None => Ok(String::new()),
        Some(c) if c.zip_file_content.is_some() || c.s3_content_location.is_some() => {
            Err(AnalyticsError::InvalidArgument(
                "SQL applications take their code as TextContent, not a ZIP file or S3 object."
                    .into(),
            ))
        }
        Some(c) => Ok(c.text_content.unwrap_or_default()),
    }
}

fn no_other(other: &serde_json::Map<String, Value>) -> Result<()> {
    match other.keys().next() {
        Some(key) => Err(AnalyticsError::InvalidArgument(format!(
            "{key} is not supported for SQL-1_0 applications."
        ))),
        None => Ok(()),
    }
}

impl AnalyticsService {
    fn detail_v2(&self, entry: &Entry, doc: &AppDoc, config: &Config, version: u64) -> Value {
        if let Some(flink) = &config.flink {
            return self.flink_detail(entry, doc, config, flink, version);
        }
        let mut detail = json!({
            "ApplicationARN": entry.arn,
            "ApplicationName": entry.name,
            "RuntimeEnvironment": doc.runtime,
            "ApplicationStatus": doc.status,
            "ApplicationVersionId": version,
            "CreateTimestamp": seconds(entry.created_ms),
            "LastUpdateTimestamp": seconds(doc.updated_ms),
            "ApplicationMode": "STREAMING",
            "ApplicationConfigurationDescription": {
                "SqlApplicationConfigurationDescription": {
                    "InputDescriptions": config.inputs,
                    "OutputDescriptions": config.outputs,
                    "ReferenceDataSourceDescriptions": config.references,
                },
                "ApplicationCodeConfigurationDescription": {
                    "CodeContentType": "PLAINTEXT",
                    "CodeContentDescription": {
                        "TextContent": config.code,
                        "CodeSize": config.code.len(),
                    },
                },
            },
            "CloudWatchLoggingOptionDescriptions": config.cloudwatch,
        });
        if let Some(d) = &config.description {
            detail["ApplicationDescription"] = json!(d);
        }
        if let Some(role) = &config.service_execution_role {
            detail["ServiceExecutionRole"] = json!(role);
        }
        detail
    }

    fn flink_detail(
        &self,
        entry: &Entry,
        doc: &AppDoc,
        config: &Config,
        flink: &FlinkConfig,
        version: u64,
    ) -> Value {
        let mut detail = json!({
            "ApplicationARN": entry.arn,
            "ApplicationName": entry.name,
            "RuntimeEnvironment": flink.runtime,
            "ApplicationStatus": doc.status,
            "ApplicationVersionId": version,
            "CreateTimestamp": seconds(entry.created_ms),
            "LastUpdateTimestamp": seconds(doc.updated_ms),
            "ApplicationMode": "STREAMING",
            "ApplicationConfigurationDescription": flink.describe(),
            "CloudWatchLoggingOptionDescriptions": config.cloudwatch,
            "ConditionalToken": conditional_token(entry.uid, version),
        });
        if let Some(d) = &config.description {
            detail["ApplicationDescription"] = json!(d);
        }
        if let Some(role) = &config.service_execution_role {
            detail["ServiceExecutionRole"] = json!(role);
        }
        if version == doc.version {
            if let Some(from) = doc.updated_from {
                detail["ApplicationVersionUpdatedFrom"] = json!(from);
            }
            if let (Some(from), Some(to)) = (doc.rolled_back_from, doc.rolled_back_to) {
                detail["ApplicationVersionRolledBackFrom"] = json!(from);
                detail["ApplicationVersionRolledBackTo"] = json!(to);
            }
        }
        if let Some(start) = &doc.maintenance_window_start {
            detail["ApplicationMaintenanceConfigurationDescription"] = maintenance(start);
        }
        detail
    }

    fn current_v2(&self, entry: &Entry) -> Value {
        let doc = entry.doc();
        self.detail_v2(entry, &doc, &doc.config, doc.version)
    }

    pub async fn v2_create_application(&self, input: CreateApplicationInput) -> Result<Value> {
        if input
            .application_mode
            .as_deref()
            .is_some_and(|m| m != "STREAMING")
        {
            return Err(no_studio("ApplicationMode INTERACTIVE"));
        }
        if flink::is_flink(&input.runtime_environment) {
            return self.create_flink(input).await;
        }
        if input.runtime_environment != SQL_RUNTIME {
            return Err(no_studio(&format!(
                "RuntimeEnvironment {}",
                input.runtime_environment
            )));
        }
        let configuration: ApplicationConfiguration = read(input.application_configuration)?;
        no_other(&configuration.other)?;
        let mut config = Config {
            description: input.application_description,
            code: code_of(configuration.application_code_configuration)?,
            service_execution_role: Some(input.service_execution_role),
            ..Config::default()
        };
        let sql = configuration
            .sql_application_configuration
            .unwrap_or_default();
        for i in sql.inputs.unwrap_or_default() {
            config.add_input(i, 1)?;
        }
        for o in sql.outputs.unwrap_or_default() {
            config.add_output(o, 1)?;
        }
        for r in sql.reference_data_sources.unwrap_or_default() {
            config.add_reference(r, 1)?;
        }
        let entry = self
            .create(
                input.application_name,
                config,
                input.cloud_watch_logging_options,
                input.tags,
            )
            .await?;
        Ok(json!({ "ApplicationDetail": self.current_v2(&entry) }))
    }

    async fn create_flink(&self, input: CreateApplicationInput) -> Result<Value> {
        let mut members: serde_json::Map<String, Value> = read(input.application_configuration)?;
        let code = members
            .remove("ApplicationCodeConfiguration")
            .map(read_required)
            .transpose()?;
        let flink = FlinkConfig::create(
            input.runtime_environment,
            code,
            read(Some(Value::Object(members)))?,
        )?;
        if !self.flink_cluster() {
            flink.check_code()?;
        }
        let config = Config {
            description: input.application_description,
            service_execution_role: Some(input.service_execution_role),
            flink: Some(flink),
            ..Config::default()
        };
        let entry = self
            .create(
                input.application_name,
                config,
                input.cloud_watch_logging_options,
                input.tags,
            )
            .await?;
        Ok(json!({ "ApplicationDetail": self.current_v2(&entry) }))
    }

    pub fn v2_describe_application(&self, input: DescribeApplicationInput) -> Result<Value> {
        let entry = self.get(&input.application_name)?;
        Ok(json!({ "ApplicationDetail": self.current_v2(&entry) }))
    }

    pub fn v2_list_applications(&self, input: ListApplicationsInput) -> Result<Value> {
        let (page, more) = self.page(
            input.next_token.as_deref(),
            input.limit.unwrap_or(50),
            false,
        );
        let summaries: Vec<Value> = page
            .iter()
            .map(|e| {
                let doc = e.doc();
                json!({
                    "ApplicationName": e.name,
                    "ApplicationARN": e.arn,
                    "ApplicationStatus": doc.status,
                    "ApplicationVersionId": doc.version,
                    "RuntimeEnvironment": doc.runtime,
                    "ApplicationMode": "STREAMING",
                })
            })
            .collect();
        let mut out = json!({ "ApplicationSummaries": summaries });
        if more && let Some(last) = page.last() {
            out["NextToken"] = json!(last.name);
        }
        Ok(out)
    }

    pub async fn v2_update_application(&self, input: UpdateApplicationInput) -> Result<Value> {
        if self
            .get(&input.application_name)?
            .doc()
            .config
            .flink
            .is_some()
        {
            return self.update_flink(input).await;
        }
        if let Some(runtime) = &input.runtime_environment_update
            && runtime != SQL_RUNTIME
        {
            return Err(AnalyticsError::InvalidArgument(format!(
                "RuntimeEnvironmentUpdate to {runtime} is not supported for SQL-1_0 applications."
            )));
        }
        if input.conditional_token.is_some() && input.current_application_version_id.is_none() {
            return Err(AnalyticsError::InvalidArgument(
                "ConditionalToken is not supported for SQL-1_0 applications: use CurrentApplicationVersionId.".into(),
            ));
        }
        if input.current_application_version_id.is_none() {
            return Err(AnalyticsError::InvalidArgument(
                "CurrentApplicationVersionId is required.".into(),
            ));
        }
        if input.run_configuration_update.is_some() {
            return Err(flink_only_argument("RunConfigurationUpdate"));
        }
        let configuration: ApplicationConfigurationUpdate =
            read(input.application_configuration_update)?;
        no_other(&configuration.other)?;
        let code = match configuration.application_code_configuration_update {
            None => None,
            Some(u) => {
                if u.code_content_type_update
                    .as_deref()
                    .is_some_and(|t| t != "PLAINTEXT")
                {
                    return Err(AnalyticsError::InvalidArgument(
                        "SQL applications take their code as PLAINTEXT TextContent.".into(),
                    ));
                }
                match u.code_content_update {
                    Some(c)
                        if c.zip_file_content_update.is_some()
                            || c.s3_content_location_update.is_some() =>
                    {
                        return Err(AnalyticsError::InvalidArgument(
                            "SQL applications take their code as TextContent, not a ZIP file or S3 object.".into(),
                        ));
                    }
                    Some(c) => c.text_content_update,
                    None => None,
                }
            }
        };
        let sql = configuration
            .sql_application_configuration_update
            .unwrap_or_default();
        let update = ApplicationUpdate {
            input_updates: sql.input_updates,
            application_code_update: code,
            output_updates: sql.output_updates,
            reference_data_source_updates: sql.reference_data_source_updates,
            cloud_watch_logging_option_updates: input.cloud_watch_logging_option_updates,
        };
        let role = input.service_execution_role_update;
        let name = input.application_name.clone();
        let (entry, doc) = self
            .change(
                &input.application_name,
                input.current_application_version_id,
                "UpdateApplication",
                true,
                |config, _| {
                    if let Some(role) = role {
                        config.service_execution_role = Some(role);
                    }
                    config.apply(update, &name)
                },
            )
            .await?;
        Ok(json!({
            "ApplicationDetail": self.detail_v2(&entry, &doc, &doc.config, doc.version),
            "OperationId": doc.operations.last().map(|o| o.id.clone()),
        }))
    }

    /// UpdateApplication of a Flink application: CurrentApplicationVersionId or ConditionalToken
    /// names the version it changes; a RUNNING application restarts with the new version
    /// (`lifecycle.rs`).
    async fn update_flink(&self, input: UpdateApplicationInput) -> Result<Value> {
        let name = input.application_name.clone();
        if input.current_application_version_id.is_none() && input.conditional_token.is_none() {
            return Err(AnalyticsError::InvalidArgument(
                "Either CurrentApplicationVersionId or ConditionalToken is required.".into(),
            ));
        }
        let mut members: serde_json::Map<String, Value> =
            read(input.application_configuration_update)?;
        let code = members
            .remove("ApplicationCodeConfigurationUpdate")
            .map(read_required)
            .transpose()?;
        let updates: flink::FlinkMemberUpdates = read(Some(Value::Object(members)))?;
        let run: Option<RunConfigurationUpdate> = input
            .run_configuration_update
            .map(read_required)
            .transpose()?;
        let entry = self.get(&name)?;
        let admin = entry.admin.lock().await;
        let before = entry.doc();
        if !matches!(
            before.status,
            ApplicationStatus::Ready | ApplicationStatus::Running
        ) {
            return Err(in_use(&name, before.status));
        }
        before.check_version(&name, input.current_application_version_id)?;
        if let Some(token) = &input.conditional_token
            && *token != conditional_token(entry.uid, before.version)
        {
            return Err(AnalyticsError::ConcurrentModification(format!(
                "The provided ConditionalToken {token} for application {name} is not current."
            )));
        }
        let mut doc = before.clone();
        let cloudwatch = ApplicationUpdate {
            cloud_watch_logging_option_updates: input.cloud_watch_logging_option_updates,
            ..ApplicationUpdate::default()
        };
        doc.config.apply(cloudwatch, &name)?;
        if let Some(role) = input.service_execution_role_update {
            doc.config.service_execution_role = Some(role);
        }
        let flink = doc
            .config
            .flink
            .as_mut()
            .ok_or_else(crate::lifecycle::not_flink)?;
        flink.apply(updates, code, run, input.runtime_environment_update)?;
        if !self.flink_cluster() {
            flink.check_code()?;
        }
        let archive = flink.take_archive();
        let restart = doc.status == ApplicationStatus::Running;
        if restart {
            // The snapshot the new version restores from must exist before the old one stops.
            let flink = flink.clone();
            self.restore_point(&entry, &flink, false).await?;
        }
        let now = self.now_ms();
        doc.bump(now);
        doc.updated_from = Some(before.version);
        doc.rolled_back_from = None;
        doc.rolled_back_to = None;
        let operation = doc.begin_operation("UpdateApplication", before.version, now);
        if restart {
            doc.status = ApplicationStatus::Updating;
        } else {
            doc.end_operation(Ok(()), now);
        }
        self.keep_archive(entry.uid, archive).await?;
        self.save(&entry, doc.clone()).await?;
        drop(admin);
        if restart {
            self.restart_flink(entry.clone(), &before, &doc);
        }
        Ok(json!({
            "ApplicationDetail": self.detail_v2(&entry, &doc, &doc.config, doc.version),
            "OperationId": operation,
        }))
    }

    pub async fn v2_start_application(&self, input: StartApplicationInput) -> Result<Value> {
        let entry = self.get(&input.application_name)?;
        if entry.doc().config.flink.is_some() {
            let mut run: serde_json::Map<String, Value> = read(input.run_configuration)?;
            if run.remove("SqlRunConfigurations").is_some() {
                return Err(AnalyticsError::InvalidArgument(
                    "SqlRunConfigurations are only for SQL-1_0 applications.".into(),
                ));
            }
            let run: RunConfigurationUpdate = read(Some(Value::Object(run)))?;
            let operation = self.start_flink(&input.application_name, Some(run)).await?;
            return Ok(json!({ "OperationId": operation }));
        }
        let run: Option<RunConfiguration> =
            input.run_configuration.map(read_required).transpose()?;
        if let Some(r) = &run {
            no_other(&r.other)?;
        }
        // Without SqlRunConfigurations every input starts where it last stopped (NOW the
        // first time), as AWS's v2 does.
        let starting = match run.and_then(|r| r.sql_run_configurations) {
            Some(configs) => configs
                .into_iter()
                .map(|c| (c.input_id, c.input_starting_position_configuration))
                .collect(),
            None => entry
                .doc()
                .config
                .inputs
                .iter()
                .map(|i| {
                    let position = InputStartingPosition::LastStoppedPoint;
                    (
                        i.input_id.clone(),
                        InputStartingPositionConfiguration {
                            input_starting_position: Some(position),
                        },
                    )
                })
                .collect(),
        };
        let operation = self.start(&input.application_name, starting).await?;
        Ok(json!({ "OperationId": operation }))
    }

    /// For a SQL application `Force` makes no difference: its run always stops at once,
    /// keeping its last checkpoint.
    pub async fn v2_stop_application(&self, input: StopApplicationInput) -> Result<Value> {
        let force = input.force.unwrap_or(false);
        let operation = if self
            .get(&input.application_name)?
            .doc()
            .config
            .flink
            .is_some()
        {
            self.stop_flink(&input.application_name, force).await?
        } else {
            self.stop(&input.application_name).await?
        };
        Ok(json!({ "OperationId": operation }))
    }

    /// RollbackApplication (Flink applications only, as on AWS).
    pub async fn v2_rollback_application(&self, input: RollbackApplicationInput) -> Result<Value> {
        self.require_kind(&input.application_name, true, |_| {
            flink_only("RollbackApplication")
        })?;
        let (entry, doc) = self
            .rollback(
                &input.application_name,
                input.current_application_version_id,
            )
            .await?;
        Ok(json!({
            "ApplicationDetail": self.detail_v2(&entry, &doc, &doc.config, doc.version),
            "OperationId": doc.operations.last().map(|o| o.id.clone()),
        }))
    }

    /// UpdateApplicationMaintenanceConfiguration: the window is recorded and described (8 hours
    /// from its start, as AWS's); Freshet performs no maintenance, so MAINTENANCE is never
    /// entered. Allowed READY or RUNNING; no new version.
    pub async fn v2_update_application_maintenance_configuration(
        &self,
        input: UpdateMaintenanceInput,
    ) -> Result<Value> {
        let name = &input.application_name;
        self.require_kind(name, true, |_| {
            flink_only("UpdateApplicationMaintenanceConfiguration")
        })?;
        let entry = self.get(name)?;
        let _admin = entry.admin.lock().await;
        let mut doc = entry.doc();
        if !matches!(
            doc.status,
            ApplicationStatus::Ready | ApplicationStatus::Running
        ) {
            return Err(in_use(name, doc.status));
        }
        let start = input
            .application_maintenance_configuration_update
            .application_maintenance_window_start_time_update;
        doc.maintenance_window_start = Some(start.clone());
        self.save(&entry, doc).await?;
        Ok(json!({
            "ApplicationARN": entry.arn,
            "ApplicationMaintenanceConfigurationDescription": maintenance(&start),
        }))
    }

    /// Add/DeleteApplicationVpcConfiguration: Freshet has no VPC to attach an application to.
    pub fn v2_vpc_configuration(
        &self,
        operation: &str,
        input: ApplicationNameInput,
    ) -> Result<Value> {
        self.require_kind(&input.application_name, true, |_| {
            flink_only_argument(operation)
        })?;
        Err(AnalyticsError::InvalidArgument(format!(
            "{operation} is not supported by Freshet: applications run inside the server, which has no VPC to attach them to."
        )))
    }

    /// CreateApplicationPresignedUrl: there is no Apache Flink dashboard (nor Zeppelin UI) to
    /// sign a URL for.
    pub fn v2_create_application_presigned_url(
        &self,
        input: ApplicationNameInput,
    ) -> Result<Value> {
        self.require_kind(&input.application_name, true, |_| {
            flink_only_argument("CreateApplicationPresignedUrl")
        })?;
        Err(AnalyticsError::InvalidArgument(
            "CreateApplicationPresignedUrl is not supported by Freshet: its embedded engine has no Apache Flink dashboard (and Studio notebooks are not supported).".into(),
        ))
    }

    pub async fn v2_delete_application(&self, input: DeleteApplicationInput) -> Result<Value> {
        self.delete(&input.application_name, input.create_timestamp)
            .await?;
        Ok(json!({}))
    }

    /// What v2's Add*/Delete* calls answer: the ARN, the new version and the affected list.
    fn changed(&self, entry: &Entry, doc: &AppDoc, member: &str, list: Value) -> Value {
        let mut out = json!({
            "ApplicationARN": entry.arn,
            "ApplicationVersionId": doc.version,
        });
        if !member.is_empty() {
            out[member] = list;
        }
        out
    }

    pub async fn v2_add_application_input(&self, input: AddApplicationInputInput) -> Result<Value> {
        self.require_kind(&input.application_name, false, |runtime| {
            sql_only("AddApplicationInput", runtime)
        })?;
        let new = input.input;
        let (entry, doc) = self
            .change(
                &input.application_name,
                Some(input.current_application_version_id),
                "AddApplicationInput",
                true,
                |config, version| config.add_input(new, version).map(drop),
            )
            .await?;
        Ok(self.changed(&entry, &doc, "InputDescriptions", json!(doc.config.inputs)))
    }

    pub async fn v2_add_application_output(
        &self,
        input: AddApplicationOutputInput,
    ) -> Result<Value> {
        self.require_kind(&input.application_name, false, |runtime| {
            sql_only("AddApplicationOutput", runtime)
        })?;
        let new = input.output;
        let (entry, doc) = self
            .change(
                &input.application_name,
                Some(input.current_application_version_id),
                "AddApplicationOutput",
                true,
                |config, version| config.add_output(new, version).map(drop),
            )
            .await?;
        Ok(self.changed(
            &entry,
            &doc,
            "OutputDescriptions",
            json!(doc.config.outputs),
        ))
    }

    pub async fn v2_add_application_reference_data_source(
        &self,
        input: AddApplicationReferenceDataSourceInput,
    ) -> Result<Value> {
        self.require_kind(&input.application_name, false, |runtime| {
            sql_only("AddApplicationReferenceDataSource", runtime)
        })?;
        let new = input.reference_data_source;
        let (entry, doc) = self
            .change(
                &input.application_name,
                Some(input.current_application_version_id),
                "AddApplicationReferenceDataSource",
                true,
                |config, version| config.add_reference(new, version).map(drop),
            )
            .await?;
        let list = json!(doc.config.references);
        Ok(self.changed(&entry, &doc, "ReferenceDataSourceDescriptions", list))
    }

    pub async fn v2_add_application_cloud_watch_logging_option(
        &self,
        input: AddApplicationCloudWatchLoggingOptionInput,
    ) -> Result<Value> {
        let option = input.cloud_watch_logging_option;
        let (entry, doc) = self
            .change(
                &input.application_name,
                input.current_application_version_id,
                "AddApplicationCloudWatchLoggingOption",
                false,
                |config, version| config.add_cloudwatch(option, version).map(drop),
            )
            .await?;
        let list = json!(doc.config.cloudwatch);
        let mut out = self.changed(&entry, &doc, "CloudWatchLoggingOptionDescriptions", list);
        out["OperationId"] = json!(doc.operations.last().map(|o| o.id.clone()));
        Ok(out)
    }

    pub async fn v2_delete_application_cloud_watch_logging_option(
        &self,
        input: DeleteApplicationCloudWatchLoggingOptionInput,
    ) -> Result<Value> {
        let app = input.application_name.clone();
        let (entry, doc) = self
            .change(
                &input.application_name,
                input.current_application_version_id,
                "DeleteApplicationCloudWatchLoggingOption",
                false,
                |config, _| config.remove_cloudwatch(&input.cloud_watch_logging_option_id, &app),
            )
            .await?;
        let mut out = self.changed(
            &entry,
            &doc,
            "CloudWatchLoggingOptionDescriptions",
            json!(doc.config.cloudwatch),
        );
        out["OperationId"] = json!(doc.operations.last().map(|o| o.id.clone()));
        Ok(out)
    }

    /// The v1 operation, answered in v2's shape (the ARN and the new version).
    async fn answered(&self, name: &str, done: Result<Empty>) -> Result<Value> {
        done?;
        let entry = self.get(name)?;
        let doc = entry.doc();
        Ok(self.changed(&entry, &doc, "", Value::Null))
    }

    pub async fn v2_delete_application_output(
        &self,
        input: DeleteApplicationOutputInput,
    ) -> Result<Value> {
        self.require_kind(&input.application_name, false, |runtime| {
            sql_only("DeleteApplicationOutput", runtime)
        })?;
        let name = input.application_name.clone();
        let done = self.delete_application_output(input).await;
        self.answered(&name, done).await
    }

    pub async fn v2_delete_application_reference_data_source(
        &self,
        input: DeleteApplicationReferenceDataSourceInput,
    ) -> Result<Value> {
        self.require_kind(&input.application_name, false, |runtime| {
            sql_only("DeleteApplicationReferenceDataSource", runtime)
        })?;
        let name = input.application_name.clone();
        let done = self.delete_application_reference_data_source(input).await;
        self.answered(&name, done).await
    }

    pub async fn v2_add_application_input_processing_configuration(
        &self,
        input: AddApplicationInputProcessingConfigurationInput,
    ) -> Result<Value> {
        self.require_kind(&input.application_name, false, |runtime| {
            sql_only("AddApplicationInputProcessingConfiguration", runtime)
        })?;
        let name = input.application_name.clone();
        let done = self
            .add_application_input_processing_configuration(input)
            .await;
        self.answered(&name, done).await
    }

    pub async fn v2_delete_application_input_processing_configuration(
        &self,
        input: DeleteApplicationInputProcessingConfigurationInput,
    ) -> Result<Value> {
        self.require_kind(&input.application_name, false, |runtime| {
            sql_only("DeleteApplicationInputProcessingConfiguration", runtime)
        })?;
        let name = input.application_name.clone();
        let done = self
            .delete_application_input_processing_configuration(input)
            .await;
        self.answered(&name, done).await
    }

    pub async fn v2_discover_input_schema(
        &self,
        input: DiscoverInputSchemaInput,
    ) -> Result<DiscoverInputSchemaOutput> {
        if input.service_execution_role.is_none() {
            return Err(AnalyticsError::InvalidArgument(
                "ServiceExecutionRole is required.".into(),
            ));
        }
        self.discover_input_schema(input).await
    }

    pub fn v2_list_application_versions(&self, input: ListPagedInput) -> Result<Value> {
        let entry = self.get(&input.application_name)?;
        let doc = entry.doc();
        let (items, next) = page_by(
            doc.versions.iter().rev().collect(),
            |v| v.version.to_string(),
            input.next_token.as_deref(),
            input.limit.unwrap_or(50),
        )?;
        let summaries: Vec<Value> = items
            .iter()
            .map(|v| {
                let status = if v.version == doc.version {
                    doc.status
                } else {
                    v.status
                };
                json!({"ApplicationVersionId": v.version, "ApplicationStatus": status})
            })
            .collect();
        let mut out = json!({ "ApplicationVersionSummaries": summaries });
        if let Some(next) = next {
            out["NextToken"] = json!(next);
        }
        Ok(out)
    }

    pub fn v2_describe_application_version(&self, input: ApplicationVersionInput) -> Result<Value> {
        let entry = self.get(&input.application_name)?;
        let doc = entry.doc();
        let version = doc
            .versions
            .iter()
            .find(|v| v.version == input.application_version_id)
            .ok_or_else(|| {
                AnalyticsError::ResourceNotFound(format!(
                    "Application version {} of application {} not found.",
                    input.application_version_id, entry.name
                ))
            })?;
        let mut detail = self.detail_v2(&entry, &doc, &version.config, version.version);
        if version.version != doc.version {
            detail["ApplicationStatus"] = json!(version.status);
        }
        detail["ApplicationVersionCreateTimestamp"] = json!(seconds(version.created_ms));
        Ok(json!({ "ApplicationVersionDetail": detail }))
    }

    pub fn v2_list_application_operations(&self, input: ListPagedInput) -> Result<Value> {
        let entry = self.get(&input.application_name)?;
        let doc = entry.doc();
        let matching: Vec<&OperationRecord> = doc
            .operations
            .iter()
            .rev()
            .filter(|o| input.operation.as_ref().is_none_or(|op| &o.operation == op))
            .filter(|o| {
                input
                    .operation_status
                    .as_ref()
                    .is_none_or(|s| json!(o.status) == json!(s))
            })
            .collect();
        let (items, next) = page_by(
            matching,
            |o| o.id.clone(),
            input.next_token.as_deref(),
            input.limit.unwrap_or(50),
        )?;
        let list: Vec<Value> = items
            .iter()
            .map(|o| {
                let mut v = json!({
                    "Operation": o.operation,
                    "OperationId": o.id,
                    "StartTime": seconds(o.start_ms),
                    "OperationStatus": o.status,
                });
                if let Some(end) = o.end_ms {
                    v["EndTime"] = json!(seconds(end));
                }
                v
            })
            .collect();
        let mut out = json!({ "ApplicationOperationInfoList": list });
        if let Some(next) = next {
            out["NextToken"] = json!(next);
        }
        Ok(out)
    }

    pub fn v2_describe_application_operation(&self, input: OperationInput) -> Result<Value> {
        let entry = self.get(&input.application_name)?;
        let doc = entry.doc();
        let o = doc
            .operations
            .iter()
            .find(|o| o.id == input.operation_id)
            .ok_or_else(|| {
                AnalyticsError::ResourceNotFound(format!(
                    "Operation {} of application {} not found.",
                    input.operation_id, entry.name
                ))
            })?;
        let mut details = json!({
            "Operation": o.operation,
            "StartTime": seconds(o.start_ms),
            "EndTime": seconds(o.end_ms.unwrap_or(o.start_ms)),
            "OperationStatus": o.status,
        });
        if o.to_version != o.from_version {
            details["ApplicationVersionChangeDetails"] = json!({
                "ApplicationVersionUpdatedFrom": o.from_version,
                "ApplicationVersionUpdatedTo": o.to_version,
            });
        }
        if let Some(error) = &o.error {
            details["OperationFailureDetails"] = json!({"ErrorInfo": {"ErrorString": error}});
        }
        Ok(json!({ "ApplicationOperationInfoDetails": details }))
    }
}

/// `ApplicationMaintenanceConfigurationDescription`: AWS's windows last 8 hours.
fn maintenance(start: &str) -> Value {
    let (h, m) = start.split_once(':').unwrap_or(("0", "0"));
    let h = (h.parse::<u32>().unwrap_or(0) + 8) % 24;
    json!({
        "ApplicationMaintenanceWindowStartTime": start,
        "ApplicationMaintenanceWindowEndTime": format!("{h:02}:{m}"),
    })
}

fn read_required<T: DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(value)
        .map_err(|e| AnalyticsError::InvalidArgument(format!("Invalid request: {e}.")))
}

/// One page of `items` (already in answer order) after the item whose key is `token`.
pub(crate) fn page_by<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    token: Option<&str>,
    limit: usize,
) -> Result<(Vec<T>, Option<String>)> {
    let start =
        match token {
            None => 0,
            Some(t) => {
                items.iter().position(|i| key(i) == t).ok_or_else(|| {
                    AnalyticsError::InvalidArgument(format!("Invalid NextToken {t}."))
                })? + 1
            }
        };
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let more = rest.len() > limit;
    rest.truncate(limit);
    let next = if more { rest.last().map(&key) } else { None };
    Ok((rest, next))
}
