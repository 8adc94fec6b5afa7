//! The Redshift destination: each buffer becomes an intermediate S3 object and a manifest naming
//! it, then one `COPY` into `CopyCommand.DataTableName` over Redshift's PostgreSQL protocol. A
//! Redshift cluster runs the generated `COPY ... FROM 's3://...manifest' ... MANIFEST`; a
//! PostgreSQL server (which cannot read S3) gets the same load as `COPY ... FROM STDIN` with the
//! options it has, the object's rows streamed by Freshet.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::config::{RetryOptions, S3Config, Thresholds, describe_destination, enabled};
use crate::error::{Result, invalid};
use crate::process::Processing;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CopyCommand {
    #[serde(default)]
    pub data_table_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_table_columns: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_options: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RedshiftConfig {
    #[serde(rename = "RoleARN", default)]
    pub role_arn: String,
    #[serde(rename = "ClusterJDBCURL", default)]
    pub cluster_jdbc_url: String,
    #[serde(default)]
    pub copy_command: CopyCommand,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_options: Option<RetryOptions>,
    #[serde(rename = "S3Configuration", default)]
    pub s3: S3Config,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processing_configuration: Option<Value>,
    #[serde(rename = "S3BackupMode", skip_serializing_if = "Option::is_none")]
    pub s3_backup_mode: Option<String>,
    #[serde(
        rename = "S3BackupConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_backup: Option<Box<S3Config>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logging_options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets_manager_configuration: Option<Value>,
}

/// AWS retries a failed COPY for an hour by default.
const DEFAULT_RETRY_SECS: u64 = 3600;

/// Where the cluster is: host, port and database of `jdbc:redshift://host:port/db`.
#[derive(Debug, PartialEq)]
pub struct Jdbc {
    pub host: String,
    pub port: u16,
    pub database: String,
}

pub fn parse_jdbc(url: &str) -> Option<Jdbc> {
    let rest = url
        .strip_prefix("jdbc:redshift://")
        .or_else(|| url.strip_prefix("jdbc:postgresql://"))?;
    let (authority, path) = rest.split_once('/')?;
    let database = path.split(['?', ';']).next()?.to_string();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().ok()?),
        None => (authority.to_string(), 5439),
    };
    (!host.is_empty() && !database.is_empty()).then_some(Jdbc {
        host,
        port,
        database,
    })
}

impl RedshiftConfig {
    pub fn thresholds(&self) -> Thresholds {
        self.s3.thresholds()
    }

    pub fn retry_ms(&self) -> u64 {
        RetryOptions::ms(self.retry_options, DEFAULT_RETRY_SECS)
    }

    pub fn backup_enabled(&self) -> bool {
        self.s3_backup_mode.as_deref() == Some("Enabled")
    }

    pub fn check(&self) -> Result<()> {
        if parse_jdbc(&self.cluster_jdbc_url).is_none() {
            return Err(invalid(format!(
                "ClusterJDBCURL {} is not a valid jdbc:redshift://host:port/database URL.",
                self.cluster_jdbc_url
            )));
        }
        if self.copy_command.data_table_name.is_empty() {
            return Err(invalid("CopyCommand.DataTableName is required."));
        }
        if enabled(&self.secrets_manager_configuration) {
            return Err(invalid(
                "SecretsManagerConfiguration is not supported by Freshet yet; give Username and Password.",
            ));
        }
        if self.username.as_deref().unwrap_or_default().is_empty()
            || self.password.as_deref().unwrap_or_default().is_empty()
        {
            return Err(invalid(
                "Username and Password are required when SecretsManagerConfiguration is not enabled.",
            ));
        }
        // AWS's rules for the intermediate bucket.
        if self.s3.prefix.as_deref().is_some_and(|p| p.contains("!{")) {
            return Err(invalid(
                "The S3Configuration Prefix of a Redshift destination cannot contain expressions.",
            ));
        }
        if self.s3.error_output_prefix.is_some() {
            return Err(invalid(
                "ErrorOutputPrefix must be null for a Redshift destination.",
            ));
        }
        use crate::compress::Compression;
        if !matches!(
            self.s3.compression(),
            Compression::Uncompressed | Compression::Gzip
        ) {
            return Err(invalid(
                "CompressionFormat must be UNCOMPRESSED or GZIP for a Redshift destination.",
            ));
        }
        copy_options(self.copy_options())?;
        Processing::parse(self.processing_configuration.as_ref(), false)?;
        self.s3.check("S3Configuration")?;
        if let Some(backup) = &self.s3_backup {
            backup.check("S3BackupConfiguration")?;
        }
        if self.backup_enabled() && self.s3_backup.is_none() {
            return Err(invalid(
                "S3BackupConfiguration is required when S3BackupMode is Enabled.",
            ));
        }
        Ok(())
    }

    fn copy_options(&self) -> &str {
        self.copy_command
            .copy_options
            .as_deref()
            .unwrap_or_default()
    }

    /// The description; the password is write-only, as in AWS.
    pub fn describe(&self) -> Value {
        let mut d = describe_destination(self, &self.s3, self.retry_ms(), "Disabled");
        d.remove("Password");
        d.remove("S3BackupConfiguration");
        if let Some(backup) = &self.s3_backup {
            d.insert("S3BackupDescription".into(), backup.describe(false));
        }
        Value::Object(d)
    }

    /// The Redshift statement for a manifest, as Firehose issues it.
    pub fn redshift_copy(&self, manifest_url: &str) -> String {
        let mut sql = format!("COPY {}", self.copy_command.data_table_name);
        if let Some(columns) = self.columns() {
            sql.push_str(&format!(" ({columns})"));
        }
        sql.push_str(&format!(
            " FROM '{}' CREDENTIALS 'aws_iam_role={}' MANIFEST",
            manifest_url.replace('\'', "''"),
            self.role_arn.replace('\'', "''")
        ));
        let options = self.copy_options().trim();
        if !options.is_empty() {
            sql.push(' ');
            sql.push_str(options);
        }
        sql.push(';');
        sql
    }

    fn columns(&self) -> Option<&str> {
        self.copy_command
            .data_table_columns
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
    }

    /// The PostgreSQL form of the load: a `COPY ... FROM STDIN` and the data to send it (the
    /// buffer as it was before the intermediate object's compression).
    pub fn postgres_copy(&self, object: &[u8]) -> std::result::Result<(String, Vec<u8>), String> {
        let options = copy_options(self.copy_options()).map_err(|e| e.to_string())?;
        let mut data = object.to_vec();
        let mut sql = format!("COPY {}", self.copy_command.data_table_name);
        let columns: Vec<String> = self
            .columns()
            .map(|c| c.split(',').map(|c| c.trim().to_string()).collect())
            .unwrap_or_default();
        if !columns.is_empty() {
            sql.push_str(&format!(" ({})", columns.join(", ")));
        }
        if options.json {
            if columns.is_empty() {
                return Err(
                    "JSON 'auto' needs CopyCommand.DataTableColumns to load PostgreSQL.".into(),
                );
            }
            data = json_to_csv(&data, &columns)?;
            sql.push_str(" FROM STDIN WITH (FORMAT csv)");
            return Ok((sql, data));
        }
        let mut with = vec![if options.csv {
            "FORMAT csv".to_string()
        } else {
            "FORMAT text".to_string()
        }];
        let delimiter = options
            .delimiter
            .clone()
            .unwrap_or_else(|| if options.csv { ",".into() } else { "|".into() });
        with.push(format!("DELIMITER '{}'", delimiter.replace('\'', "''")));
        if let Some(null) = &options.null {
            with.push(format!("NULL '{}'", null.replace('\'', "''")));
        }
        if let Some(quote) = &options.quote {
            with.push(format!("QUOTE '{}'", quote.replace('\'', "''")));
        }
        if options.ignore_header > 0 {
            let skip = data
                .split_inclusive(|&b| b == b'\n')
                .take(options.ignore_header)
                .map(<[u8]>::len)
                .sum::<usize>();
            data.drain(..skip);
        }
        sql.push_str(&format!(" FROM STDIN WITH ({})", with.join(", ")));
        Ok((sql, data))
    }
}

/// The CopyOptions Freshet understands. Options that only tune Redshift's own loading
/// (TIMEFORMAT, DATEFORMAT, TRUNCATECOLUMNS, BLANKSASNULL, EMPTYASNULL, ACCEPTINVCHARS,
/// MAXERROR, COMPUPDATE, STATUPDATE, ...) pass through to Redshift and are left out for
/// PostgreSQL.
#[derive(Debug, Default, PartialEq)]
pub struct CopyOptions {
    pub gzip: bool,
    pub csv: bool,
    pub json: bool,
    pub delimiter: Option<String>,
    pub null: Option<String>,
    pub quote: Option<String>,
    pub ignore_header: usize,
}

/// Words and 'quoted strings' of a CopyOptions text.
fn tokens(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut s = String::from("'");
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        s.push('\'');
                    }
                    Some('\'') => break,
                    Some(other) => s.push(other),
                    None => return Err(format!("Unclosed quote in CopyOptions {text}")),
                }
            }
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '\'' {
                    break;
                }
                s.push(c);
                chars.next();
            }
            out.push(s);
        }
    }
    Ok(out)
}

pub fn copy_options(text: &str) -> Result<CopyOptions> {
    let bad = |m: String| invalid(format!("Invalid CopyOptions: {m}"));
    let tokens = tokens(text).map_err(bad)?;
    let mut options = CopyOptions::default();
    let mut i = 0;
    // The quoted argument after position `i` (skipping an optional AS).
    let quoted = |i: &mut usize| -> Result<String> {
        if tokens
            .get(*i + 1)
            .is_some_and(|t| t.eq_ignore_ascii_case("AS"))
        {
            *i += 1;
        }
        *i += 1;
        match tokens.get(*i) {
            Some(t) if t.starts_with('\'') => Ok(t[1..].to_string()),
            _ => Err(bad(format!("{} needs a quoted argument", tokens[*i - 1]))),
        }
    };
    while i < tokens.len() {
        let word = tokens[i].to_ascii_uppercase();
        match word.as_str() {
            "GZIP" => options.gzip = true,
            "CSV" => options.csv = true,
            "JSON" | "FORMAT" => {
                if word == "FORMAT" {
                    i += 1;
                    if tokens.get(i).is_some_and(|t| t.eq_ignore_ascii_case("AS")) {
                        i += 1;
                    }
                    match tokens.get(i).map(|t| t.to_ascii_uppercase()).as_deref() {
                        Some("CSV") => {
                            options.csv = true;
                            i += 1;
                            continue;
                        }
                        Some("JSON") => {}
                        other => {
                            return Err(bad(format!("FORMAT {}", other.unwrap_or_default())));
                        }
                    }
                }
                options.json = true;
                if tokens.get(i + 1).is_some_and(|t| t.starts_with('\'')) {
                    i += 1;
                    if !tokens[i][1..].to_ascii_lowercase().starts_with("auto") {
                        return Err(bad(
                            "JSON with a JSONPaths file is not supported by Freshet; use 'auto'"
                                .into(),
                        ));
                    }
                }
            }
            "DELIMITER" => options.delimiter = Some(quoted(&mut i)?),
            "NULL" => options.null = Some(quoted(&mut i)?),
            "QUOTE" => options.quote = Some(quoted(&mut i)?),
            "IGNOREHEADER" => {
                if tokens
                    .get(i + 1)
                    .is_some_and(|t| t.eq_ignore_ascii_case("AS"))
                {
                    i += 1;
                }
                i += 1;
                options.ignore_header = tokens
                    .get(i)
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| bad("IGNOREHEADER needs a number".into()))?;
            }
            "TIMEFORMAT" | "DATEFORMAT" | "MAXERROR" | "COMPUPDATE" | "STATUPDATE"
            | "ACCEPTINVCHARS" | "REGION" => {
                // Their argument, if any, is the next token unless it is another option.
                if tokens.get(i + 1).is_some_and(|t| {
                    t.starts_with('\'')
                        || t.parse::<f64>().is_ok()
                        || t.eq_ignore_ascii_case("AS")
                        || t.eq_ignore_ascii_case("ON")
                        || t.eq_ignore_ascii_case("OFF")
                        || t.eq_ignore_ascii_case("TRUE")
                        || t.eq_ignore_ascii_case("FALSE")
                }) {
                    i += 1;
                    if tokens[i].eq_ignore_ascii_case("AS") {
                        i += 1;
                    }
                }
            }
            "TRUNCATECOLUMNS" | "BLANKSASNULL" | "EMPTYASNULL" | "FILLRECORD" | "TRIMBLANKS"
            | "REMOVEQUOTES" | "ESCAPE" | "EXPLICIT_IDS" | "ROUNDEC" | "IGNOREBLANKLINES" => {}
            other => return Err(bad(format!("{other} is not an option Freshet knows"))),
        }
        i += 1;
    }
    Ok(options)
}

/// JSON objects (one per line, or back to back) as CSV rows of the given columns, matched
/// case-insensitively as Redshift's `JSON 'auto ignorecase'` does; missing keys are NULL.
fn json_to_csv(data: &[u8], columns: &[String]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for doc in serde_json::Deserializer::from_slice(data).into_iter::<Map<String, Value>>() {
        let doc = doc.map_err(|e| format!("A record is not a JSON object: {e}"))?;
        let lower: Map<String, Value> = doc
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let fields: Vec<String> = columns
            .iter()
            .map(|c| match lower.get(&c.to_ascii_lowercase()) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => csv_quote(s),
                Some(other) => csv_quote(&other.to_string()),
            })
            .collect();
        out.extend_from_slice(fields.join(",").as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

fn csv_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Runs one load: the Redshift statement on Redshift, the PostgreSQL form elsewhere.
pub async fn load(
    config: &RedshiftConfig,
    manifest_url: &str,
    object: &[u8],
) -> std::result::Result<(), String> {
    let jdbc = parse_jdbc(&config.cluster_jdbc_url).ok_or("invalid ClusterJDBCURL")?;
    let options = PgConnectOptions::new()
        .host(&jdbc.host)
        .port(jdbc.port)
        .database(&jdbc.database)
        .username(config.username.as_deref().unwrap_or_default())
        .password(config.password.as_deref().unwrap_or_default());
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(|e| format!("Cannot connect to the cluster: {e}"))?;
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let result = if version.contains("Redshift") {
        sqlx::query(&config.redshift_copy(manifest_url))
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else {
        let (sql, data) = config.postgres_copy(object)?;
        async {
            let mut copy = conn.copy_in_raw(&sql).await?;
            copy.send(data).await?;
            copy.finish().await.map(|_| ())
        }
        .await
        .map_err(|e: sqlx::Error| e.to_string())
    };
    let _ = conn.close().await;
    result
}

#[cfg(test)]
mod tests;
