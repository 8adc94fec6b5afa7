//! The service model, loaded from the botocore JSON that ships in `models/`: operations and
//! the shapes of their inputs and outputs. It drives request validation (AWS's exact
//! constraint messages) and the CBOR codec (which members are blobs and timestamps), so the
//! wire contract lives in one authoritative place instead of being restated by hand.

use std::collections::HashMap;

use regex::Regex;
use serde_json::Value;

#[derive(Debug)]
pub enum Shape {
    Structure {
        /// Members in model order, which is the order AWS reports validation errors in.
        members: Vec<(String, String)>,
        required: Vec<String>,
    },
    List {
        member: String,
        min: Option<i64>,
        max: Option<i64>,
    },
    Map {
        key: String,
        value: String,
        min: Option<i64>,
        max: Option<i64>,
    },
    String {
        min: Option<i64>,
        max: Option<i64>,
        pattern: Option<(String, Regex)>,
        enumeration: Option<Vec<String>>,
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Long {
        min: Option<i64>,
        max: Option<i64>,
    },
    Boolean,
    Double,
    Blob {
        min: Option<i64>,
        max: Option<i64>,
    },
    Timestamp,
}

#[derive(Debug)]
pub struct Operation {
    pub input: Option<String>,
    pub output: Option<String>,
    /// The path of rest-json operations (`/createStream`); `/` for the target-routed protocols.
    pub request_uri: String,
}

#[derive(Debug)]
pub struct Model {
    /// The `X-Amz-Target` prefix; empty for rest-json models, which route by path.
    pub target_prefix: String,
    pub operations: HashMap<String, Operation>,
    pub shapes: HashMap<String, Shape>,
    /// The HTTP status of each modelled error shape (`"error": {"httpStatusCode": N}`).
    pub error_status: HashMap<String, u16>,
}

#[derive(thiserror::Error, Debug)]
#[error("invalid service model: {0}")]
pub struct ModelError(String);

/// The member names of every structure shape in document order. serde_json's maps sort their
/// keys, and the order matters: AWS lists validation errors in the model's member order.
fn member_orders(json: &str) -> Result<HashMap<String, Vec<String>>, ModelError> {
    use serde::de::{IgnoredAny, MapAccess, Visitor};

    struct Names(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Names {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Names;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Names, A::Error> {
                    let mut names = Vec::new();
                    while let Some((k, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                        names.push(k);
                    }
                    Ok(Names(names))
                }
            }
            d.deserialize_map(V)
        }
    }
    #[derive(serde::Deserialize)]
    struct ShapeMembers {
        members: Option<Names>,
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        shapes: HashMap<String, ShapeMembers>,
    }
    let doc: Doc = serde_json::from_str(json).map_err(|e| ModelError(e.to_string()))?;
    Ok(doc
        .shapes
        .into_iter()
        .filter_map(|(name, s)| Some((name, s.members?.0)))
        .collect())
}

impl Model {
    pub fn parse(json: &str) -> Result<Model, ModelError> {
        let orders = member_orders(json)?;
        let doc: Value = serde_json::from_str(json).map_err(|e| ModelError(e.to_string()))?;
        let target_prefix = match doc["metadata"]["protocol"].as_str() {
            Some("rest-json") => String::new(),
            _ => doc["metadata"]["targetPrefix"]
                .as_str()
                .ok_or_else(|| ModelError("metadata.targetPrefix missing".into()))?
                .to_string(),
        };
        let shape_name = |v: &Value| v["shape"].as_str().map(str::to_string);
        let operations = doc["operations"]
            .as_object()
            .ok_or_else(|| ModelError("operations missing".into()))?
            .iter()
            .map(|(name, op)| {
                (
                    name.clone(),
                    Operation {
                        input: shape_name(&op["input"]),
                        output: shape_name(&op["output"]),
                        request_uri: op["http"]["requestUri"].as_str().unwrap_or("/").to_string(),
                    },
                )
            })
            .collect();
        let mut shapes = HashMap::new();
        let mut error_status = HashMap::new();
        for (name, s) in doc["shapes"]
            .as_object()
            .ok_or_else(|| ModelError("shapes missing".into()))?
        {
            if let Some(status) = s["error"]["httpStatusCode"].as_u64() {
                error_status.insert(name.clone(), status as u16);
            }
            let min = s["min"].as_i64();
            let max = s["max"].as_i64();
            let shape = match s["type"].as_str().unwrap_or_default() {
                "structure" => Shape::Structure {
                    members: orders
                        .get(name)
                        .map(|order| {
                            order
                                .iter()
                                .filter_map(|k| Some((k.clone(), shape_name(&s["members"][k])?)))
                                .collect()
                        })
                        .unwrap_or_default(),
                    required: s["required"]
                        .as_array()
                        .map(|r| {
                            r.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                },
                "list" => Shape::List {
                    member: shape_name(&s["member"])
                        .ok_or_else(|| ModelError(format!("{name}: list member")))?,
                    min,
                    max,
                },
                "map" => Shape::Map {
                    key: shape_name(&s["key"])
                        .ok_or_else(|| ModelError(format!("{name}: map key")))?,
                    value: shape_name(&s["value"])
                        .ok_or_else(|| ModelError(format!("{name}: map value")))?,
                    min,
                    max,
                },
                "string" => Shape::String {
                    min,
                    max,
                    pattern: s["pattern"].as_str().and_then(|p| {
                        // AWS patterns must match the whole value, and their classes are Java's
                        // ASCII ones (a Unicode `\w{1,255}` would also compile to a regex far
                        // over the size limit). The few patterns with look-around (Redshift JDBC
                        // URLs) cannot be expressed by this engine and are not checked.
                        let ascii = p.replace("\\w", "[0-9A-Za-z_]").replace("\\d", "[0-9]");
                        let scalars = utf16_ranges_as_scalars(&ascii);
                        let anchored = format!("^(?:{})$", scalars.trim_start_matches('^'));
                        Regex::new(&anchored).ok().map(|re| (p.to_string(), re))
                    }),
                    enumeration: s["enum"].as_array().map(|e| {
                        e.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    }),
                },
                "integer" => Shape::Integer { min, max },
                "long" => Shape::Long { min, max },
                "boolean" => Shape::Boolean,
                // Only in Firehose's Iceberg settings, which Freshet refuses anyway.
                "double" | "float" => Shape::Double,
                "blob" => Shape::Blob { min, max },
                "timestamp" => Shape::Timestamp,
                // Event streams and errors are structures too; anything else is unused here.
                other => return Err(ModelError(format!("{name}: unsupported type {other}"))),
            };
            shapes.insert(name.clone(), shape);
        }
        Ok(Model {
            target_prefix,
            operations,
            shapes,
            error_status,
        })
    }

    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }
}

/// Java's patterns describe UTF-16 code units: Glue's "any printable character" class spells the
/// supplementary planes as the surrogate-pair range `\uD800\uDC00-\uDBFF\uDFFF`, and a lone
/// surrogate is no character to this engine, which would refuse the whole pattern (leaving the
/// constraint unchecked). Here that range is the code points it stands for.
fn utf16_ranges_as_scalars(pattern: &str) -> String {
    pattern.replace("\\uD800\\uDC00-\\uDBFF\\uDFFF", "\\x{10000}-\\x{10FFFF}")
}

/// An AWS service model embedded in the binary, parsed on first use.
macro_rules! embedded_model {
    ($(#[$doc:meta])* $name:ident, $file:literal) => {
        $(#[$doc])*
        pub fn $name() -> &'static Model {
            static MODEL: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
            MODEL.get_or_init(|| {
                Model::parse(include_str!(concat!("../models/", $file)))
                    .expect(concat!("the embedded model ", $file, " is valid (checked by tests)"))
            })
        }
    };
}

embedded_model!(
    /// Kinesis Data Streams (`Kinesis_20131202`).
    kinesis,
    "kinesis-2013-12-02.json"
);
embedded_model!(
    /// CloudWatch (`GraniteServiceVersion20100801`), AWS JSON 1.0, trimmed to the metric reads
    /// Freshet serves by `scripts/trim-model.py`.
    cloudwatch,
    "cloudwatch-2010-08-01.json"
);
embedded_model!(
    /// KMS (`TrentService`), trimmed to the local KMS's operations by `scripts/trim-model.py`.
    kms,
    "kms-2014-11-01.json"
);
embedded_model!(
    /// Firehose (`Firehose_20150804`).
    firehose,
    "firehose-2015-08-04.json"
);
embedded_model!(
    /// The AWS Glue Data Catalog (`AWSGlue`), trimmed to the operations Freshet serves (databases
    /// and tables) and the shapes they reach by `scripts/trim-model.py`: any other Glue
    /// target is not in the model and answers UnknownOperationException.
    glue,
    "glue-2017-03-31.json"
);
embedded_model!(
    /// Kinesis Data Analytics v1 (`KinesisAnalytics_20150814`): SQL applications.
    kinesisanalytics,
    "kinesisanalytics-2015-08-14.json"
);
embedded_model!(
    /// Kinesis Data Analytics v2 (`KinesisAnalytics_20180523`, Managed Service for Apache Flink).
    kinesisanalyticsv2,
    "kinesisanalyticsv2-2018-05-23.json"
);
embedded_model!(
    /// The Kinesis Video Streams control plane (rest-json: routed by `request_uri`).
    kinesisvideo,
    "kinesisvideo-2017-09-30.json"
);
embedded_model!(
    /// The Kinesis Video media model (GetMedia).
    kinesis_video_media,
    "kinesis-video-media-2017-09-30.json"
);
embedded_model!(
    /// The Kinesis Video archived-media model (fragments, HLS, DASH, clips, images).
    kinesis_video_archived_media,
    "kinesis-video-archived-media-2017-09-30.json"
);
embedded_model!(
    /// The Kinesis Video signaling model (ICE servers, Alexa offers).
    kinesis_video_signaling,
    "kinesis-video-signaling-2019-12-04.json"
);
embedded_model!(
    /// The Kinesis Video WebRTC storage model (storage sessions for WebRTC ingestion).
    kinesis_video_webrtc_storage,
    "kinesis-video-webrtc-storage-2018-05-10.json"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinesis_model_loads_with_every_operation() {
        let model = kinesis();
        assert_eq!(model.target_prefix, "Kinesis_20131202");
        assert_eq!(firehose().target_prefix, "Firehose_20150804");
        assert_eq!(firehose().operations.len(), 12);
        assert!(model.operations.len() >= 39, "{}", model.operations.len());
        for op in model.operations.values() {
            for shape in op.input.iter().chain(&op.output) {
                assert!(model.shape(shape).is_some(), "{shape}");
            }
        }
        let Some(Shape::Structure { members, .. }) = model.shape("PutRecordInput") else {
            panic!("PutRecordInput is a structure")
        };
        assert_eq!(members[0].0, "StreamName");
    }

    #[test]
    fn analytics_models_load_with_every_operation() {
        assert_eq!(
            kinesisanalytics().target_prefix,
            "KinesisAnalytics_20150814"
        );
        assert_eq!(kinesisanalytics().operations.len(), 20);
        assert_eq!(
            kinesisanalyticsv2().target_prefix,
            "KinesisAnalytics_20180523"
        );
        assert_eq!(kinesisanalyticsv2().operations.len(), 33);
    }

    #[test]
    fn cloudwatch_model_is_trimmed_to_the_metric_reads() {
        let model = cloudwatch();
        assert_eq!(model.target_prefix, "GraniteServiceVersion20100801");
        let mut ops: Vec<_> = model.operations.keys().map(String::as_str).collect();
        ops.sort_unstable();
        assert_eq!(ops, ["GetMetricData", "GetMetricStatistics", "ListMetrics"]);
    }

    #[test]
    fn glue_model_is_trimmed_to_the_served_operations() {
        let model = glue();
        assert_eq!(model.target_prefix, "AWSGlue");
        let mut ops: Vec<_> = model.operations.keys().map(String::as_str).collect();
        ops.sort_unstable();
        assert_eq!(
            ops,
            [
                "CreateDatabase",
                "CreateTable",
                "DeleteDatabase",
                "DeleteTable",
                "GetDatabase",
                "GetDatabases",
                "GetTable",
                "GetTableVersion",
                "GetTableVersions",
                "GetTables",
                "UpdateDatabase",
                "UpdateTable",
            ]
        );
        for op in model.operations.values() {
            for shape in op.input.iter().chain(&op.output) {
                assert!(model.shape(shape).is_some(), "{shape}");
            }
        }
        assert!(model.shape("EntityNotFoundException").is_some());
        assert!(model.shape("ListCrawlersRequest").is_none(), "trimmed");
    }

    #[test]
    fn java_surrogate_pair_ranges_are_checked_as_code_points() {
        let Some(Shape::String {
            pattern: Some((text, re)),
            ..
        }) = glue().shape("NameString")
        else {
            panic!("NameString has a pattern")
        };
        assert!(
            text.contains("\\uD800\\uDC00-\\uDBFF\\uDFFF"),
            "AWS's text is kept"
        );
        assert!(re.is_match("orders_2024"));
        assert!(re.is_match("caf\u{e9} \u{1F600}\t"));
        assert!(!re.is_match("two\nlines"));
    }

    #[test]
    fn kinesisvideo_model_routes_by_path_and_knows_error_statuses() {
        let model = kinesisvideo();
        assert_eq!(model.target_prefix, "");
        assert_eq!(
            model.operations["CreateStream"].request_uri,
            "/createStream"
        );
        assert_eq!(model.operations["TagResource"].request_uri, "/TagResource");
        assert_eq!(model.error_status["ResourceNotFoundException"], 404);
        assert_eq!(model.error_status["NotAuthorizedException"], 401);
        assert_eq!(model.error_status["VersionMismatchException"], 400);
        for op in model.operations.values() {
            for shape in op.input.iter().chain(&op.output) {
                assert!(model.shape(shape).is_some(), "{shape}");
            }
        }
        let signaling = kinesis_video_signaling();
        assert_eq!(
            signaling.operations["GetIceServerConfig"].request_uri,
            "/v1/get-ice-server-config"
        );
        assert_eq!(signaling.operations.len(), 2);
        let storage = kinesis_video_webrtc_storage();
        assert_eq!(
            storage.operations["JoinStorageSession"].request_uri,
            "/joinStorageSession"
        );
        assert_eq!(storage.error_status["AccessDeniedException"], 403);
    }
}
