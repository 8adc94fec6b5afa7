//! What AWS checks about an application's configuration beyond the service model's shapes
//! (which the edge has already enforced): counts per application, parallelism, schemas, SQL
//! types, tags and the application code itself (KDA SQL, or Flink SQL).

use std::collections::BTreeMap;

use crate::error::{AnalyticsError, Result};
use crate::model::*;

/// One streaming source per application (AWS: "an application can have only one input").
pub const MAX_INPUTS: usize = 1;
/// One reference data source per application.
pub const MAX_REFERENCES: usize = 1;
/// Three destinations per application (AWS's documented limit).
pub const MAX_OUTPUTS: usize = 3;
/// User tags per application.
pub const MAX_TAGS: usize = 50;
/// ApplicationCode / TextContent.
pub const MAX_CODE_CHARS: usize = 102_400;
/// InputParallelism.Count.
pub const MAX_PARALLELISM: u32 = 64;

fn invalid(message: impl Into<String>) -> AnalyticsError {
    AnalyticsError::InvalidArgument(message.into())
}

/// The code compiles as Kinesis Data Analytics SQL (empty code is allowed until the
/// application starts, as with AWS).
pub fn code(code: &str) -> Result<()> {
    if code.chars().count() > MAX_CODE_CHARS {
        return Err(invalid(format!(
            "ApplicationCode exceeds the maximum length of {MAX_CODE_CHARS} characters."
        )));
    }
    if code.trim().is_empty() {
        return Ok(());
    }
    freshet_analytics_engine::parse(code)
        .map(drop)
        .map_err(|e| {
            AnalyticsError::CodeValidation(format!(
                "Invalid SQL code: {} (line {}, column {}).",
                e.message, e.line, e.column
            ))
        })
}

/// Flink SQL code compiles (Freshet's extension: AWS checks no Flink code before it runs).
/// Only errors in the code itself refuse it: whatever depends on the configuration (a
/// `${group.key}` property not set yet, a connector option) is reported when it starts.
pub fn flink_code(
    code: &str,
    properties: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<()> {
    if code.trim().is_empty() {
        return Ok(());
    }
    match freshet_analytics_engine::flink::FlinkJob::compile(code, properties) {
        Ok(_) | Err(freshet_analytics_engine::CompileError::Configuration(_)) => Ok(()),
        Err(freshet_analytics_engine::CompileError::Code(e)) => {
            Err(AnalyticsError::CodeValidation(format!(
                "Invalid Flink SQL code: {} (line {}, column {}).",
                e.message, e.line, e.column
            )))
        }
    }
}

pub fn parallelism(count: Option<u32>) -> Result<u32> {
    let count = count.unwrap_or(1);
    if !(1..=MAX_PARALLELISM).contains(&count) {
        return Err(invalid(format!(
            "InputParallelism Count {count} is not in the range 1 to {MAX_PARALLELISM}."
        )));
    }
    Ok(count)
}

/// A source schema: its columns' SQL types parse, its mapping parameters match its format.
pub fn schema(schema: &SourceSchema) -> Result<()> {
    if schema.record_columns.is_empty() {
        return Err(invalid("RecordColumns must contain at least one column."));
    }
    if let Some(encoding) = &schema.record_encoding
        && encoding != "UTF-8"
    {
        return Err(invalid(format!(
            "RecordEncoding {encoding} is not supported: only UTF-8 is."
        )));
    }
    let mut names = std::collections::BTreeSet::new();
    for column in &schema.record_columns {
        if !names.insert(column.name.to_ascii_uppercase()) {
            return Err(invalid(format!(
                "Duplicate column name {} in RecordColumns.",
                column.name
            )));
        }
        freshet_analytics_engine::parse_sql_type(&column.sql_type).map_err(|e| {
            invalid(format!(
                "Invalid SqlType {} for column {}: {e}",
                column.sql_type, column.name
            ))
        })?;
    }
    let mapping = schema.record_format.mapping_parameters.as_ref();
    match schema.record_format.record_format_type {
        RecordFormatType::Json => {
            if mapping.is_some_and(|m| m.csv.is_some()) {
                return Err(invalid(
                    "CSVMappingParameters cannot be used with RecordFormatType JSON.",
                ));
            }
            if let Some(json) = mapping.and_then(|m| m.json.as_ref())
                && !json.record_row_path.starts_with('$')
            {
                return Err(invalid(format!(
                    "RecordRowPath {} must be a JSONPath starting with $.",
                    json.record_row_path
                )));
            }
        }
        RecordFormatType::Csv => {
            if mapping.is_some_and(|m| m.json.is_some()) {
                return Err(invalid(
                    "JSONMappingParameters cannot be used with RecordFormatType CSV.",
                ));
            }
            if mapping.and_then(|m| m.csv.as_ref()).is_none() {
                return Err(invalid(
                    "CSVMappingParameters are required for RecordFormatType CSV.",
                ));
            }
        }
    }
    Ok(())
}

/// Lambda preprocessing and Lambda destinations: Freshet runs no functions.
pub fn no_lambda(what: &str) -> AnalyticsError {
    invalid(format!(
        "{what} is not supported by Freshet yet: Freshet runs no Lambda functions."
    ))
}

/// Tags being set: AWS reserves the `aws:` prefix, and an application has at most 50.
pub fn tags(tags: &BTreeMap<String, Option<String>>) -> Result<()> {
    if tags
        .keys()
        .any(|k| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(invalid(
            "Tag keys starting with 'aws:' are reserved for AWS use.",
        ));
    }
    if tags.len() > MAX_TAGS {
        return Err(AnalyticsError::TooManyTags(format!(
            "Application cannot have more than {MAX_TAGS} tags."
        )));
    }
    Ok(())
}

/// The counts an application's configuration may reach.
pub fn counts(inputs: usize, outputs: usize, references: usize) -> Result<()> {
    if inputs > MAX_INPUTS {
        return Err(invalid(format!(
            "An application can have only {MAX_INPUTS} input."
        )));
    }
    if outputs > MAX_OUTPUTS {
        return Err(invalid(format!(
            "An application can have at most {MAX_OUTPUTS} outputs."
        )));
    }
    if references > MAX_REFERENCES {
        return Err(invalid(format!(
            "An application can have only {MAX_REFERENCES} reference data source."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_schema(sql_type: &str) -> SourceSchema {
        SourceSchema {
            record_format: RecordFormat {
                record_format_type: RecordFormatType::Json,
                mapping_parameters: Some(MappingParameters {
                    json: Some(JsonMappingParameters {
                        record_row_path: "$".into(),
                    }),
                    csv: None,
                }),
            },
            record_encoding: Some("UTF-8".into()),
            record_columns: vec![RecordColumn {
                name: "a".into(),
                mapping: Some("$.a".into()),
                sql_type: sql_type.into(),
            }],
        }
    }

    #[test]
    fn schemas_need_known_types_and_matching_mappings() {
        schema(&json_schema("VARCHAR(8)")).unwrap();
        schema(&json_schema("INTEGER")).unwrap();
        assert!(matches!(
            schema(&json_schema("NOT A TYPE")),
            Err(AnalyticsError::InvalidArgument(_))
        ));
        let mut csv = json_schema("DOUBLE");
        csv.record_format.record_format_type = RecordFormatType::Csv;
        assert!(schema(&csv).is_err());
        csv.record_format.mapping_parameters = Some(MappingParameters {
            json: None,
            csv: Some(CsvMappingParameters {
                record_row_delimiter: "\n".into(),
                record_column_delimiter: ",".into(),
            }),
        });
        schema(&csv).unwrap();
        let mut latin = json_schema("DOUBLE");
        latin.record_encoding = Some("LATIN1".into());
        assert!(schema(&latin).is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(parallelism(None).unwrap(), 1);
        assert_eq!(parallelism(Some(64)).unwrap(), 64);
        assert!(parallelism(Some(0)).is_err());
        assert!(parallelism(Some(65)).is_err());
        counts(1, 3, 1).unwrap();
        assert!(counts(2, 0, 0).is_err());
        assert!(counts(1, 4, 0).is_err());
        assert!(counts(1, 0, 2).is_err());
        let many: BTreeMap<_, _> = (0..51).map(|i| (format!("k{i}"), None)).collect();
        assert!(matches!(tags(&many), Err(AnalyticsError::TooManyTags(_))));
        let reserved = BTreeMap::from([("aws:x".to_string(), None)]);
        assert!(matches!(
            tags(&reserved),
            Err(AnalyticsError::InvalidArgument(_))
        ));
    }

    #[test]
    fn code_is_parsed_with_line_and_column() {
        code("").unwrap();
        code("CREATE OR REPLACE STREAM \"S\" (a INTEGER);").unwrap();
        let Err(AnalyticsError::CodeValidation(message)) = code("CREATE OR REPLACE STREM x;")
        else {
            panic!("bad code is refused");
        };
        assert!(message.contains("line 1"), "{message}");
        assert!(matches!(
            code(&"x".repeat(MAX_CODE_CHARS + 1)),
            Err(AnalyticsError::InvalidArgument(_))
        ));
    }
}
