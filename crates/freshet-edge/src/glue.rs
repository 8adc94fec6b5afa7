//! The Glue Data Catalog operations at the edge: `AWSGlue.*` targets decoded into typed
//! requests for the glue service and its answers encoded back (AWS JSON 1.1, the protocol every
//! Glue SDK speaks). The embedded model holds only the served operations, so any other Glue
//! target answers UnknownOperationException.

use freshet_glue::{GlueError, GlueService};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;

use crate::api::{Api, Call, Members, Reply, Scope};
use crate::codec::{Format, decode_request, encode, typed};
use crate::error::ApiError;
use crate::shape::{Model, glue};

/// The Glue Data Catalog API (`AWSGlue`): databases and tables.
pub struct GlueApi {
    svc: GlueService,
}

impl GlueApi {
    pub fn new(svc: GlueService) -> GlueApi {
        GlueApi { svc }
    }

    async fn run(&self, call: Call<'_>) -> Result<Reply, ApiError> {
        let model = glue();
        if !model.operations.contains_key(call.op) {
            return Err(ApiError::unknown_operation());
        }
        let body = decode_request(model, call.op, call.format, &call.body)?;
        dispatch(&self.svc, call.op, body).await.map(Reply::Body)
    }
}

impl Api for GlueApi {
    fn name(&self) -> &'static str {
        "glue"
    }

    fn model(&self) -> Option<&'static Model> {
        Some(glue())
    }

    /// As Glue authorizes: the catalog, and the database and table a call names.
    fn resources(&self, _op: &str, m: &Members, scope: &Scope) -> Vec<String> {
        let mut out = vec![scope.arn("glue", "catalog")];
        // Glue keeps names in lower case: a policy on `database/sales` covers `Sales`.
        let (database, table) = match m.get("DatabaseName") {
            Some(db) => (Some(db), m.get("TableName").or(m.get("Name"))),
            None => (m.get("Name"), None),
        };
        if let Some(db) = database.map(str::to_lowercase) {
            out.push(scope.arn("glue", &format!("database/{db}")));
            if let Some(table) = table.map(str::to_lowercase) {
                out.push(scope.arn("glue", &format!("table/{db}/{table}")));
            }
        }
        out
    }

    fn call<'a>(&'a self, call: Call<'a>) -> BoxFuture<'a, Result<Reply, ApiError>> {
        Box::pin(self.run(call))
    }

    fn health(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { self.svc.health().await.map_err(|e| e.to_string()) })
    }
}

impl From<GlueError> for ApiError {
    fn from(e: GlueError) -> ApiError {
        let mut error = ApiError::from_service(e.is_internal(), e.aws_type(), &e);
        if e.is_internal() {
            // Glue's own name for its faults (HTTP 500), which Glue SDKs know.
            error.aws_type = "InternalServiceException";
        }
        error
    }
}

fn output<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    encode(Format::Json, None, value)
}

/// Runs one operation whose body has already been checked against the Glue model.
async fn dispatch(svc: &GlueService, op: &str, body: Value) -> Result<Vec<u8>, ApiError> {
    macro_rules! run {
        ($method:ident) => {
            output(&svc.$method(typed(body)?).await?)
        };
    }
    match op {
        "CreateDatabase" => run!(create_database),
        "GetDatabase" => run!(get_database),
        "GetDatabases" => run!(get_databases),
        "UpdateDatabase" => run!(update_database),
        "DeleteDatabase" => run!(delete_database),
        "CreateTable" => run!(create_table),
        "GetTable" => run!(get_table),
        "GetTables" => run!(get_tables),
        "UpdateTable" => run!(update_table),
        "DeleteTable" => run!(delete_table),
        "GetTableVersion" => run!(get_table_version),
        "GetTableVersions" => run!(get_table_versions),
        _ => Err(ApiError::unknown_operation()),
    }
}
