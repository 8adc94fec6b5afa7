//! The Iceberg REST catalog at the edge, where AWS Glue serves it: `/iceberg/v1/config` and
//! `/iceberg/v1/catalogs/{catalog}/...` (the `prefix` the config answers is
//! `catalogs/<account id>`). JSON in and out; errors in the REST specification's model,
//! `{"error": {"message", "type", "code"}}`, with the status of `code`. Every request is
//! SigV4-checked like every other API when the server has keys.

use std::collections::HashMap;
use std::sync::Arc;

use ::iceberg::NamespaceIdent;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use freshet_iceberg::catalog::{Page, namespace_name};
use freshet_iceberg::{IcebergCatalog, IcebergError, TableCatalog, TableName};
use futures_util::future::BoxFuture;
use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::Auth;
use crate::api::Api;
use crate::error::{ApiError, FailureDetail};

const CATALOG: &str = "/iceberg/v1/catalogs/{catalog}";

/// The REST specification's separator of a multi-level namespace's parts in a path segment.
const NAMESPACE_SEPARATOR: char = '\u{1f}';

/// What the config answers clients may call (the REST specification's `endpoints`): renames
/// are answered, but only with Unsupported, so they are not offered.
const ENDPOINTS: [&str; 12] = [
    "GET /v1/{prefix}/namespaces",
    "POST /v1/{prefix}/namespaces",
    "GET /v1/{prefix}/namespaces/{namespace}",
    "HEAD /v1/{prefix}/namespaces/{namespace}",
    "DELETE /v1/{prefix}/namespaces/{namespace}",
    "POST /v1/{prefix}/namespaces/{namespace}/properties",
    "GET /v1/{prefix}/namespaces/{namespace}/tables",
    "POST /v1/{prefix}/namespaces/{namespace}/tables",
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
];

/// The Iceberg REST catalog over the Glue Data Catalog.
pub struct IcebergApi {
    catalog: IcebergCatalog,
}

impl IcebergApi {
    pub fn new(catalog: IcebergCatalog) -> IcebergApi {
        IcebergApi { catalog }
    }
}

impl Api for IcebergApi {
    fn name(&self) -> &'static str {
        "iceberg"
    }

    fn routes(self: Arc<Self>, auth: Arc<Auth>) -> Router {
        let state = Arc::new(Served {
            catalog: self.catalog.clone(),
            auth,
        });
        let namespace = format!("{CATALOG}/namespaces/{{namespace}}");
        Router::new()
            .route("/iceberg/v1/config", get(config))
            .route(
                &format!("{CATALOG}/namespaces"),
                get(list_namespaces).post(create_namespace),
            )
            .route(
                &namespace,
                get(load_namespace)
                    .head(namespace_exists)
                    .delete(drop_namespace),
            )
            .route(&format!("{namespace}/properties"), post(update_properties))
            .route(
                &format!("{namespace}/tables"),
                get(list_tables).post(create_table),
            )
            .route(
                &format!("{namespace}/tables/{{table}}"),
                get(load_table)
                    .post(commit_table)
                    .delete(drop_table)
                    .head(table_exists),
            )
            .route(&format!("{CATALOG}/tables/rename"), post(rename_table))
            .with_state(state)
    }

    fn health(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(self.catalog.health())
    }
}

struct Served {
    catalog: IcebergCatalog,
    auth: Arc<Auth>,
}

/// A request as the handlers take it: authenticated, its catalog id checked, its query
/// parameters and body apart.
struct Checked {
    query: HashMap<String, String>,
    body: Bytes,
}

impl Served {
    async fn check(&self, catalog: Option<&str>, req: Request) -> Result<Checked, Failure> {
        let action = glue_action(req.method(), req.uri().path());
        let (parts, body, caller, _room) = self.auth.body(req, crate::CONTROL_BODY_BYTES).await?;
        caller
            .authorize(action, &self.auth.scope.arn("glue", "catalog"), None)
            .map_err(|denied| ApiError {
                status: StatusCode::FORBIDDEN,
                ..ApiError::client("ForbiddenException", denied.message())
            })?;
        if let Some(catalog) = catalog {
            self.catalog.check_catalog(catalog)?;
        }
        let query = form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
        Ok(Checked { query, body })
    }
}

/// The Glue action an Iceberg REST call stands for (Glue authorizes its Iceberg endpoint with
/// its own actions): by method, on tables or namespaces.
fn glue_action(method: &Method, path: &str) -> &'static str {
    let tables = path.contains("/tables");
    let named = !(path.ends_with("/tables") || path.ends_with("/namespaces"));
    match (method.as_str(), tables, named) {
        ("GET" | "HEAD", true, true) => "glue:GetTable",
        ("GET" | "HEAD", true, false) => "glue:GetTables",
        ("GET" | "HEAD", false, true) => "glue:GetDatabase",
        ("GET" | "HEAD", false, false) => "glue:GetDatabases",
        ("DELETE", true, _) => "glue:DeleteTable",
        ("DELETE", false, _) => "glue:DeleteDatabase",
        ("POST", true, true) => "glue:UpdateTable",
        ("POST", true, false) => "glue:CreateTable",
        ("POST", false, true) => "glue:UpdateDatabase",
        _ => "glue:CreateDatabase",
    }
}

impl Checked {
    fn json<T: DeserializeOwned>(&self) -> Result<T, IcebergError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| IcebergError::BadRequest(format!("Malformed request body: {e}")))
    }

    /// The page a listing asks for (`pageToken`, `pageSize`).
    fn page(&self) -> Result<Page, IcebergError> {
        let size = match self.query.get("pageSize") {
            Some(size) => Some(size.parse().map_err(|_| {
                IcebergError::BadRequest(format!("pageSize {size} is not a positive number."))
            })?),
            None => None,
        };
        Ok(Page {
            token: self
                .query
                .get("pageToken")
                .filter(|t| !t.is_empty())
                .cloned(),
            size,
        })
    }
}

/// A namespace from its path segment (parts joined by the unit separator).
fn namespace(segment: &str) -> Result<NamespaceIdent, IcebergError> {
    NamespaceIdent::from_strs(segment.split(NAMESPACE_SEPARATOR))
        .map_err(|e| IcebergError::BadRequest(format!("Namespace {segment:?}: {e}")))
}

fn table_name(segment: &str, table: String) -> Result<TableName, IcebergError> {
    let namespace = namespace(segment)?;
    Ok(TableName {
        namespace: namespace_name(&namespace)?.to_string(),
        table,
    })
}

type Answer = Result<Response, Failure>;
type Shared = State<Arc<Served>>;
type CatalogPath = Result<Path<String>, PathRejection>;
type NamespacePath = Result<Path<(String, String)>, PathRejection>;
type TablePath = Result<Path<(String, String, String)>, PathRejection>;

fn path<T>(path: Result<Path<T>, PathRejection>) -> Result<T, IcebergError> {
    path.map(|Path(p)| p)
        .map_err(|e| IcebergError::BadRequest(e.body_text()))
}

async fn config(State(s): Shared, req: Request) -> Answer {
    let req = s.check(None, req).await?;
    let prefix = s
        .catalog
        .prefix(req.query.get("warehouse").map(String::as_str))?;
    ok(&json!({
        "defaults": {},
        "overrides": {"prefix": prefix},
        "endpoints": ENDPOINTS,
    }))
}

async fn list_namespaces(State(s): Shared, p: CatalogPath, req: Request) -> Answer {
    let catalog = path(p)?;
    let req = s.check(Some(&catalog), req).await?;
    let parent = match req.query.get("parent").filter(|p| !p.is_empty()) {
        Some(parent) => Some(namespace(parent)?),
        None => None,
    };
    ok(&s
        .catalog
        .list_namespaces(parent.as_ref(), req.page()?)
        .await?)
}

async fn create_namespace(State(s): Shared, p: CatalogPath, req: Request) -> Answer {
    let catalog = path(p)?;
    let req = s.check(Some(&catalog), req).await?;
    ok(&s.catalog.create_namespace(req.json()?).await?)
}

async fn load_namespace(State(s): Shared, p: NamespacePath, req: Request) -> Answer {
    let (catalog, ns) = path(p)?;
    s.check(Some(&catalog), req).await?;
    ok(&s.catalog.load_namespace(&namespace(&ns)?).await?)
}

async fn namespace_exists(State(s): Shared, p: NamespacePath, req: Request) -> Answer {
    let (catalog, ns) = path(p)?;
    s.check(Some(&catalog), req).await?;
    s.catalog.load_namespace(&namespace(&ns)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn drop_namespace(State(s): Shared, p: NamespacePath, req: Request) -> Answer {
    let (catalog, ns) = path(p)?;
    s.check(Some(&catalog), req).await?;
    s.catalog.drop_namespace(&namespace(&ns)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn update_properties(State(s): Shared, p: NamespacePath, req: Request) -> Answer {
    let (catalog, ns) = path(p)?;
    let req = s.check(Some(&catalog), req).await?;
    let changes = req.json()?;
    ok(&s
        .catalog
        .update_namespace_properties(&namespace(&ns)?, changes)
        .await?)
}

async fn list_tables(State(s): Shared, p: NamespacePath, req: Request) -> Answer {
    let (catalog, ns) = path(p)?;
    let req = s.check(Some(&catalog), req).await?;
    ok(&s.catalog.list_tables(&namespace(&ns)?, req.page()?).await?)
}

async fn create_table(State(s): Shared, p: NamespacePath, req: Request) -> Answer {
    let (catalog, ns) = path(p)?;
    let req = s.check(Some(&catalog), req).await?;
    ok(&s
        .catalog
        .create_table(&namespace(&ns)?, req.json()?)
        .await?)
}

async fn load_table(State(s): Shared, p: TablePath, req: Request) -> Answer {
    let (catalog, ns, table) = path(p)?;
    s.check(Some(&catalog), req).await?;
    ok(&s.catalog.load_table(&table_name(&ns, table)?).await?)
}

async fn table_exists(State(s): Shared, p: TablePath, req: Request) -> Answer {
    let (catalog, ns, table) = path(p)?;
    s.check(Some(&catalog), req).await?;
    let name = table_name(&ns, table)?;
    match s.catalog.table_exists(&name).await? {
        true => Ok(StatusCode::NO_CONTENT.into_response()),
        false => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

async fn commit_table(State(s): Shared, p: TablePath, req: Request) -> Answer {
    let (catalog, ns, table) = path(p)?;
    let req = s.check(Some(&catalog), req).await?;
    let name = table_name(&ns, table)?;
    ok(&s.catalog.commit(&name, req.json()?).await?)
}

async fn drop_table(State(s): Shared, p: TablePath, req: Request) -> Answer {
    let (catalog, ns, table) = path(p)?;
    s.check(Some(&catalog), req).await?;
    s.catalog.drop_table(&table_name(&ns, table)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rename_table(State(s): Shared, p: CatalogPath, req: Request) -> Answer {
    let catalog = path(p)?;
    let req = s.check(Some(&catalog), req).await?;
    s.catalog.rename_table(&req.json()?)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn ok<T: Serialize>(value: &T) -> Answer {
    let body = serde_json::to_vec(value)
        .map_err(|e| IcebergError::Internal(format!("cannot encode an answer: {e}")))?;
    Ok(json_response(StatusCode::OK, body))
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A failed request: the catalog's error, or the edge's own (authentication, body size).
enum Failure {
    Catalog(IcebergError),
    Edge(ApiError),
}

impl From<IcebergError> for Failure {
    fn from(e: IcebergError) -> Failure {
        Failure::Catalog(e)
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure::Edge(e)
    }
}

impl IntoResponse for Failure {
    /// The REST error model. Our own faults show the client a generic message; their detail
    /// goes to the log once, with the request's id (`request::finish`).
    fn into_response(self) -> Response {
        let (status, kind, message, detail) = match self {
            Failure::Catalog(IcebergError::Internal(detail)) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceFailureException",
                "Internal service failure.".to_string(),
                Some(detail),
            ),
            Failure::Catalog(e) => (
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                e.rest_type(),
                e.to_string(),
                None,
            ),
            Failure::Edge(e) => (
                e.status,
                e.aws_type,
                e.message.unwrap_or_default(),
                e.detail,
            ),
        };
        let body = json!({"error": {"message": message, "type": kind, "code": status.as_u16()}});
        let mut response = json_response(status, body.to_string().into_bytes());
        if let Some(detail) = detail {
            response.extensions_mut().insert(FailureDetail(detail));
        }
        response
    }
}
