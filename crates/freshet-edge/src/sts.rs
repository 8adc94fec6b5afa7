//! STS on the edge port: `AssumeRole`, `GetSessionToken` and `GetCallerIdentity` in STS's query
//! protocol (a form-encoded POST to `/`, XML answers), so SDK credential chains with
//! `role_arn` profiles work against Freshet. The semantics are `freshet_iam`'s.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::post;
use freshet_iam::{AssumeRoleInput, Granted, Iam, StsError};
use futures_util::future::BoxFuture;
use http::{HeaderValue, StatusCode, header};

use crate::api::Api;
use crate::error::ApiError;
use crate::video::escape;
use crate::{Auth, Caller};

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// An STS request is a few parameters and at most a 2 KiB session policy.
const MAX_BODY: usize = 64 * 1024;

/// The STS query API.
pub struct StsApi {
    iam: Arc<Iam>,
}

impl StsApi {
    pub fn new(iam: Arc<Iam>) -> StsApi {
        StsApi { iam }
    }
}

impl Api for StsApi {
    fn name(&self) -> &'static str {
        "sts"
    }

    fn routes(self: Arc<Self>, auth: Arc<Auth>) -> Router {
        Router::new().route(
            "/",
            post(move |req: Request| async move {
                // Only a form is an STS call; anything else posted to the root is no operation.
                let form = req
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
                if !form {
                    return crate::error_response(
                        ApiError::unknown_operation(),
                        crate::codec::Format::Json,
                    );
                }
                let result = match auth.body(req, MAX_BODY).await {
                    Ok((parts, body, caller, _room)) => {
                        let mut params: Vec<(String, String)> =
                            form_urlencoded::parse(&body).into_owned().collect();
                        params.extend(
                            form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                                .into_owned(),
                        );
                        self.run(&caller, &params, auth.clock.now_ms())
                    }
                    Err(e) => Err(from_edge(e)),
                };
                match result {
                    Ok(xml) => xml_response(StatusCode::OK, xml),
                    Err(e) => error_response(&e),
                }
            }),
        )
    }

    fn health(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn missing(name: &str) -> StsError {
    StsError {
        code: "MissingParameter",
        message: format!("The request must contain the parameter {name}"),
        status: 400,
    }
}

fn integer(params: &[(String, String)], name: &str) -> Result<Option<i64>, StsError> {
    param(params, name)
        .map(|v| {
            v.parse().map_err(|_| StsError {
                code: "ValidationError",
                message: format!("1 validation error detected: Value '{v}' at '{name}' failed to satisfy constraint: Member must be a number"),
                status: 400,
            })
        })
        .transpose()
}

/// Members this server does not act on: refused by name rather than ignored.
fn unsupported(params: &[(String, String)], members: &[&str]) -> Result<(), StsError> {
    for (key, _) in params {
        if let Some(m) = members.iter().find(|m| key.starts_with(*m)) {
            return Err(StsError {
                code: "ValidationError",
                message: format!("{m} is not supported by this server"),
                status: 400,
            });
        }
    }
    Ok(())
}

impl StsApi {
    fn run(
        &self,
        caller: &Caller,
        params: &[(String, String)],
        now_ms: i64,
    ) -> Result<String, StsError> {
        let action = param(params, "Action").ok_or_else(|| missing("Action"))?;
        let identity = caller
            .identity()
            .cloned()
            .unwrap_or_else(|| self.iam.anonymous());
        let body = match action {
            "GetCallerIdentity" => format!(
                "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
                escape(&identity.arn),
                escape(&identity.user_id),
                escape(&identity.account)
            ),
            "GetSessionToken" => {
                unsupported(params, &["SerialNumber", "TokenCode"])?;
                let granted = self.iam.get_session_token(
                    &identity,
                    integer(params, "DurationSeconds")?,
                    now_ms,
                )?;
                credentials(&granted)
            }
            "AssumeRole" => {
                unsupported(
                    params,
                    &[
                        "PolicyArns",
                        "Tags",
                        "TransitiveTagKeys",
                        "SerialNumber",
                        "TokenCode",
                        "SourceIdentity",
                        "ProvidedContexts",
                    ],
                )?;
                let input = AssumeRoleInput {
                    role_arn: param(params, "RoleArn")
                        .ok_or_else(|| missing("RoleArn"))?
                        .to_string(),
                    role_session_name: param(params, "RoleSessionName")
                        .ok_or_else(|| missing("RoleSessionName"))?
                        .to_string(),
                    duration_seconds: integer(params, "DurationSeconds")?,
                    policy: param(params, "Policy").map(str::to_string),
                    external_id: param(params, "ExternalId").map(str::to_string),
                };
                let assumed = self
                    .iam
                    .assume_role(&identity, &caller.context(), &input, now_ms)?;
                let mut xml = credentials(&assumed.granted);
                xml.push_str(&format!(
                    "<AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>",
                    escape(&assumed.assumed_role_id),
                    escape(&assumed.arn)
                ));
                if let Some(size) = assumed.packed_policy_size {
                    xml.push_str(&format!("<PackedPolicySize>{size}</PackedPolicySize>"));
                }
                xml
            }
            other => {
                return Err(StsError {
                    code: "InvalidAction",
                    message: format!("Could not find operation {other} for version 2011-06-15"),
                    status: 400,
                });
            }
        };
        Ok(format!(
            "<{action}Response xmlns=\"{NAMESPACE}\"><{action}Result>{body}</{action}Result></{action}Response>"
        ))
    }
}

fn credentials(granted: &Granted) -> String {
    let c = &granted.credentials;
    format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>",
        escape(&c.access_key_id),
        escape(&c.secret_access_key),
        escape(&c.session_token),
        freshet_iam::iso8601(granted.expires_ms)
    )
}

/// The edge's authentication errors under STS's names for them.
fn from_edge(e: ApiError) -> StsError {
    let (code, status) = match e.aws_type {
        "UnrecognizedClientException" => ("InvalidClientTokenId", 403),
        "InvalidSignatureException" => ("SignatureDoesNotMatch", 403),
        "IncompleteSignatureException" => ("IncompleteSignature", 400),
        "ExpiredTokenException" => ("ExpiredToken", 400),
        "MissingAuthenticationTokenException" => ("MissingAuthenticationToken", 403),
        other => (other, e.status.as_u16()),
    };
    StsError {
        code,
        message: e.message.unwrap_or_default(),
        status,
    }
}

fn xml_response(status: StatusCode, xml: String) -> Response {
    let mut response = Response::new(xml.into());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

fn error_response(e: &StsError) -> Response {
    let xml = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error></ErrorResponse>",
        escape(e.code),
        escape(&e.message)
    );
    xml_response(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        xml,
    )
}
