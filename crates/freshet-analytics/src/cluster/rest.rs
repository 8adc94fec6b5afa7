//! The part of Apache Flink's REST API (the JobManager's, `rest.port`) that runs applications:
//! JAR upload and run, job status and exceptions, savepoints, stop and cancel.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum RestError {
    /// The cluster did not answer (down, wrong address).
    #[error("the Flink cluster at {url} did not answer: {why}")]
    Unreachable { url: String, why: String },
    /// The cluster answered with an error: its root cause.
    #[error("{0}")]
    Flink(String),
}

/// A job's state as Flink reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    /// Flink's `JobStatus`.
    pub status: String,
    /// Whether every task of the job runs (a RUNNING job still deploys its tasks for a while,
    /// and takes no savepoint until they run).
    pub tasks_running: bool,
}

impl JobState {
    /// Whether the job ended (it will not run again by itself).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.status.as_str(),
            "FINISHED" | "CANCELED" | "FAILED" | "SUSPENDED"
        )
    }

    /// Whether the job and all its tasks run.
    pub fn is_running(&self) -> bool {
        self.status == "RUNNING" && self.tasks_running
    }
}

/// Where an asynchronous savepoint (or stop-with-savepoint) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Savepoint {
    InProgress,
    Completed(String),
    Failed(String),
}

/// What `/jars/{id}/run` takes.
#[derive(Debug, Clone, Default)]
pub struct RunJar {
    pub args: Vec<String>,
    pub parallelism: u32,
    pub savepoint: Option<String>,
    pub allow_non_restored_state: bool,
}

#[derive(Clone)]
pub struct FlinkRest {
    url: String,
    client: reqwest::Client,
}

impl FlinkRest {
    /// A client of the cluster whose REST API is at `url` (`http://host:8081`).
    pub fn new(url: &str) -> Result<FlinkRest, RestError> {
        // One TLS stack per process (ring, as the edge uses); an earlier install is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| RestError::Unreachable {
                url: url.into(),
                why: e.to_string(),
            })?;
        Ok(FlinkRest {
            url: url.trim_end_matches('/').to_string(),
            client,
        })
    }

    /// Uploads a JAR; answers its id on the cluster.
    pub async fn upload(&self, jar: Vec<u8>, file_name: &str) -> Result<String, RestError> {
        let part = reqwest::multipart::Part::bytes(jar)
            .file_name(file_name.to_string())
            .mime_str("application/x-java-archive")
            .map_err(|e| RestError::Flink(e.to_string()))?;
        let form = reqwest::multipart::Form::new().part("jarfile", part);
        #[derive(Deserialize)]
        struct Uploaded {
            filename: String,
        }
        let request = self.client.post(self.at("/jars/upload")).multipart(form);
        let uploaded: Uploaded = self.answer(request).await?;
        // The id is the stored file's name (Flink's JarUploadHandler names it <uuid>_<name>).
        Ok(uploaded
            .filename
            .rsplit('/')
            .next()
            .unwrap_or(&uploaded.filename)
            .to_string())
    }

    /// Runs an uploaded JAR's main class (its manifest's); answers the job id.
    pub async fn run(&self, jar_id: &str, run: &RunJar) -> Result<String, RestError> {
        let mut body = json!({
            "programArgsList": run.args,
            "parallelism": run.parallelism,
            "allowNonRestoredState": run.allow_non_restored_state,
        });
        if let Some(path) = &run.savepoint {
            body["savepointPath"] = json!(path);
        }
        #[derive(Deserialize)]
        struct Submitted {
            jobid: String,
        }
        let request = self.client.post(self.at(&format!("/jars/{jar_id}/run")));
        let submitted: Submitted = self.answer(request.json(&body)).await?;
        Ok(submitted.jobid)
    }

    pub async fn delete_jar(&self, jar_id: &str) -> Result<(), RestError> {
        let request = self.client.delete(self.at(&format!("/jars/{jar_id}")));
        self.answer::<Value>(request).await.map(drop)
    }

    /// The job's state; None when the cluster does not know the job (it was never there, or
    /// the cluster restarted without high availability).
    pub async fn state(&self, job: &str) -> Result<Option<JobState>, RestError> {
        #[derive(Deserialize)]
        struct Vertex {
            status: String,
        }
        #[derive(Deserialize)]
        struct Job {
            state: String,
            #[serde(default)]
            vertices: Vec<Vertex>,
        }
        let request = self.client.get(self.at(&format!("/jobs/{job}")));
        match self.answer::<Job>(request).await {
            Ok(job) => Ok(Some(JobState {
                tasks_running: job.vertices.iter().all(|v| v.status == "RUNNING"),
                status: job.state,
            })),
            Err(RestError::Flink(why)) if why.contains("not find Flink job") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Why a job failed: the root exception Flink recorded.
    pub async fn failure(&self, job: &str) -> Result<Option<String>, RestError> {
        let request = self.client.get(self.at(&format!("/jobs/{job}/exceptions")));
        let answer: Value = self.answer(request).await?;
        let entries = answer["exceptionHistory"]["entries"].as_array();
        let latest = entries.and_then(|e| e.last());
        Ok(latest
            .and_then(|e| e["stacktrace"].as_str().or(e["exceptionName"].as_str()))
            .map(root_cause))
    }

    /// Starts a savepoint of a running job, which goes on running; answers the trigger id.
    pub async fn trigger_savepoint(
        &self,
        job: &str,
        dir: Option<&str>,
    ) -> Result<String, RestError> {
        let mut body = json!({ "cancel-job": false });
        if let Some(dir) = dir {
            body["target-directory"] = json!(dir);
        }
        let request = self
            .client
            .post(self.at(&format!("/jobs/{job}/savepoints")));
        self.trigger(request.json(&body)).await
    }

    /// Starts stopping a job with a savepoint (without draining, so its windows stay open in
    /// the savepoint); answers the trigger id.
    pub async fn stop_with_savepoint(
        &self,
        job: &str,
        dir: Option<&str>,
    ) -> Result<String, RestError> {
        let mut body = json!({ "drain": false });
        if let Some(dir) = dir {
            body["targetDirectory"] = json!(dir);
        }
        let request = self.client.post(self.at(&format!("/jobs/{job}/stop")));
        self.trigger(request.json(&body)).await
    }

    pub async fn savepoint(&self, job: &str, trigger: &str) -> Result<Savepoint, RestError> {
        let request = self
            .client
            .get(self.at(&format!("/jobs/{job}/savepoints/{trigger}")));
        let answer: Value = self.answer(request).await?;
        if answer["status"]["id"] != "COMPLETED" {
            return Ok(Savepoint::InProgress);
        }
        let operation = &answer["operation"];
        Ok(match operation["location"].as_str() {
            Some(location) => Savepoint::Completed(location.to_string()),
            None => Savepoint::Failed(
                operation["failure-cause"]["stack-trace"]
                    .as_str()
                    .map_or_else(|| operation.to_string(), root_cause),
            ),
        })
    }

    pub async fn cancel(&self, job: &str) -> Result<(), RestError> {
        let request = self
            .client
            .patch(self.at(&format!("/jobs/{job}?mode=cancel")));
        self.answer::<Value>(request).await.map(drop)
    }

    async fn trigger(&self, request: reqwest::RequestBuilder) -> Result<String, RestError> {
        #[derive(Deserialize)]
        struct Triggered {
            #[serde(rename = "request-id")]
            request_id: String,
        }
        let triggered: Triggered = self.answer(request).await?;
        Ok(triggered.request_id)
    }

    fn at(&self, path: &str) -> String {
        format!("{}/v1{path}", self.url)
    }

    /// The answer's JSON; an error status is Flink's error (its root cause).
    async fn answer<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, RestError> {
        let unreachable = |e: reqwest::Error| RestError::Unreachable {
            url: self.url.clone(),
            why: e.to_string(),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            #[derive(Deserialize)]
            struct Errors {
                errors: Vec<String>,
            }
            let why = serde_json::from_slice::<Errors>(&body)
                .ok()
                .and_then(|e| e.errors.last().map(|e| root_cause(e)))
                .unwrap_or_else(|| format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
            return Err(RestError::Flink(why));
        }
        serde_json::from_slice(&body).map_err(|e| {
            RestError::Flink(format!(
                "the Flink cluster's answer is not what Freshet reads: {e}"
            ))
        })
    }
}

/// The innermost cause of a Java stack trace: the message of its last `Caused by:` (or its
/// first line), without the exception's class name.
pub fn root_cause(trace: &str) -> String {
    let line = trace
        .lines()
        .rfind(|l| l.starts_with("Caused by: "))
        .map_or_else(
            || trace.lines().next().unwrap_or(trace),
            |l| &l["Caused by: ".len()..],
        );
    // `org.example.SomeException: the message`: the class name is noise to an API user.
    match line.split_once(": ") {
        Some((class, message)) if !class.contains(' ') && class.contains('.') => message.trim(),
        _ => line.trim(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::root_cause;

    #[test]
    fn root_cause_is_the_last_caused_by_without_its_class() {
        let trace = "org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute application.\n\tat x.y(Z.java:1)\nCaused by: java.util.concurrent.CompletionException: outer\n\tat a.b\nCaused by: org.apache.flink.table.api.ValidationException: Object 'nope' not found\n\tat c.d\n";
        assert_eq!(root_cause(trace), "Object 'nope' not found");
        assert_eq!(root_cause("plain words: here"), "plain words: here");
        assert_eq!(
            root_cause("java.lang.IllegalStateException: bad\n\tat x"),
            "bad"
        );
    }
}
