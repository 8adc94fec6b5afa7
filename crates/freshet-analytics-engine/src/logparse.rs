//! KDA's log-parsing functions (the SQL Reference's "Log Parsing Functions"): `REGEX_LOG_PARSE`,
//! `FAST_REGEX_LOG_PARSE`, `VARIABLE_COLUMN_LOG_PARSE`, `FIXED_COLUMN_LOG_PARSE`, `W3C_LOG_PARSE`
//! and `SYS_LOG_PARSE`. Each returns a ROW (an Arrow struct) that code reads through a subquery
//! (`l.r.COLUMN1`); the literal pattern, format or column list decides the row's fields when the
//! code is planned, and is compiled once per application.
//!
//! A line that does not parse gives a NULL row (every field NULL), as REGEX_LOG_PARSE's page says
//! ("If the regular expression does not match ..., NULL is returned"); the other pages are silent
//! and get the same rule.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion_common::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, StringArray, StringBuilder, StructArray,
    Time32MillisecondArray, TimestampMillisecondArray,
};
use datafusion_common::arrow::buffer::NullBuffer;
use datafusion_common::arrow::compute::{CastOptions, cast_with_options, nullif};
use datafusion_common::arrow::datatypes::{
    DataType, Field, FieldRef, Fields, TimeUnit, TimestampMillisecondType,
};
use datafusion_common::config::ConfigOptions;
use datafusion_common::{DataFusionError, Result, ScalarValue};
use datafusion_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::parser::Parser as SqlParser;
use datafusion_sql::sqlparser::tokenizer::Token;
use regex::Regex;

use crate::parse::normalize;
use crate::types::{TIMESTAMP, arrow_type};

mod fast_regex;
mod w3c;

use fast_regex::FastRegex;
use w3c::w3c;

/// The most columns one call may make (a `VARIABLE_COLUMN_LOG_PARSE(x, 1000000000, ',')` would
/// otherwise allocate that many builders per batch).
const MAX_COLUMNS: usize = 4096;

const MS_PER_DAY: i64 = 86_400_000;

/// The functions, to be registered with KDA's other scalar functions.
pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    [
        Kind::Regex,
        Kind::FastRegex,
        Kind::VariableColumn,
        Kind::FixedColumn,
        Kind::W3c,
        Kind::SysLog,
    ]
    .into_iter()
    .map(|kind| Arc::new(ScalarUDF::new_from_impl(LogParse::new(kind))))
    .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Regex,
    FastRegex,
    VariableColumn,
    FixedColumn,
    W3c,
    SysLog,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Regex => "regex_log_parse",
            Kind::FastRegex => "fast_regex_log_parse",
            Kind::VariableColumn => "variable_column_log_parse",
            Kind::FixedColumn => "fixed_column_log_parse",
            Kind::W3c => "w3c_log_parse",
            Kind::SysLog => "sys_log_parse",
        }
    }

    fn sql_name(self) -> String {
        self.name().to_uppercase()
    }

    /// The fewest and most arguments, the text included.
    fn arity(self) -> (usize, usize) {
        match self {
            Kind::Regex => (2, 3),
            Kind::FastRegex | Kind::FixedColumn | Kind::W3c => (2, 2),
            Kind::VariableColumn => (3, 5),
            Kind::SysLog => (1, 1),
        }
    }
}

#[derive(Debug)]
struct LogParse {
    kind: Kind,
    signature: Signature,
    /// Parsers by their literal arguments: planning builds each once and every batch reuses it.
    /// Bounded by the distinct literals in one application's code (non-literals are refused).
    parsers: Mutex<HashMap<Vec<ScalarValue>, Arc<Parser>>>,
}

impl PartialEq for LogParse {
    fn eq(&self, other: &LogParse) -> bool {
        self.kind == other.kind
    }
}

impl Eq for LogParse {}

impl std::hash::Hash for LogParse {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
    }
}

impl LogParse {
    fn new(kind: Kind) -> LogParse {
        LogParse {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
            parsers: Mutex::new(HashMap::new()),
        }
    }

    /// The parser the literal arguments (all but the text) describe, built on first use.
    fn parser(&self, arguments: &[Option<&ScalarValue>]) -> Result<Arc<Parser>> {
        let mut spec = Vec::with_capacity(arguments.len().saturating_sub(1));
        for (i, argument) in arguments.iter().enumerate().skip(1) {
            match argument {
                Some(value) => spec.push((*value).clone()),
                None => {
                    return Err(DataFusionError::Plan(format!(
                        "{}: argument {} must be a literal: it decides the columns the function \
                         returns",
                        self.kind.sql_name(),
                        i + 1
                    )));
                }
            }
        }
        // A poisoned lock only means another thread panicked mid-insert; the map is still whole.
        let mut parsers = self.parsers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(parser) = parsers.get(&spec) {
            return Ok(parser.clone());
        }
        let parser = Arc::new(
            Parser::plan(self.kind, &spec)
                .map_err(|e| DataFusionError::Plan(format!("{}: {e}", self.kind.sql_name())))?,
        );
        parsers.insert(spec, parser.clone());
        Ok(parser)
    }
}

impl ScalarUDFImpl for LogParse {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let (least, most) = self.kind.arity();
        if arg_types.len() < least || arg_types.len() > most {
            let count = match (least, most) {
                (1, 1) => "1 argument".to_string(),
                (least, most) if least == most => format!("{least} arguments"),
                (least, most) => format!("{least} to {most} arguments"),
            };
            return Err(DataFusionError::Plan(format!(
                "{} takes {count}, not {}",
                self.kind.sql_name(),
                arg_types.len()
            )));
        }
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                // VARIABLE_COLUMN_LOG_PARSE's second argument may be a number of columns.
                if self.kind == Kind::VariableColumn && i == 1 && t.is_integer() {
                    DataType::Int64
                } else {
                    DataType::Utf8
                }
            })
            .collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        // Only reached without the arguments' values, and the fields depend on them.
        Err(DataFusionError::Plan(format!(
            "{}'s columns depend on its literal arguments",
            self.kind.sql_name()
        )))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let parser = self.parser(args.scalar_arguments)?;
        Ok(Arc::new(Field::new(self.name(), parser.data_type(), true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalars: Vec<Option<&ScalarValue>> = args
            .args
            .iter()
            .map(|a| match a {
                ColumnarValue::Scalar(s) => Some(s),
                ColumnarValue::Array(_) => None,
            })
            .collect();
        let parser = self.parser(&scalars)?;
        let text = args.args.first().ok_or_else(|| {
            DataFusionError::Plan(format!("{} takes a text first", self.kind.sql_name()))
        })?;
        let all_scalar = scalars.iter().all(Option::is_some);
        let text = text.to_array(args.number_rows)?;
        let text = cast_with_options(&text, &DataType::Utf8, &CastOptions::default())?;
        let rows = parser.parse(text.as_string::<i32>())?;
        Ok(if all_scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&rows, 0)?)
        } else {
            ColumnarValue::Array(rows)
        })
    }
}

/// One of the row's fields: its name, its type, and how text becomes that type.
#[derive(Debug, Clone, PartialEq)]
struct Column {
    name: String,
    data_type: DataType,
    /// A line whose value for this column is NULL (missing, or not of the type) is not parsed.
    not_null: bool,
    /// A Java `SimpleDateFormat` pattern, for DATE, TIME and TIMESTAMP columns.
    format: Option<String>,
}

impl Column {
    /// `COLUMNn` of VARCHAR(1024), the columns the SQL Reference gives where none are named.
    fn numbered(n: usize) -> Column {
        Column {
            name: format!("COLUMN{n}"),
            data_type: DataType::Utf8,
            not_null: false,
            format: None,
        }
    }
}

fn numbered(count: usize) -> Vec<Column> {
    (1..=count).map(Column::numbered).collect()
}

/// A planned call: the row's columns and how a line is cut into their text.
#[derive(Debug)]
struct Parser {
    columns: Vec<Column>,
    lines: Lines,
    /// KDA's CHAR_TO_TIMESTAMP, for columns with a date format (it owns the translation of
    /// `SimpleDateFormat` patterns).
    char_to_timestamp: Option<Arc<ScalarUDF>>,
}

#[derive(Debug)]
enum Lines {
    /// An anchored regular expression whose groups are the columns (REGEX_LOG_PARSE, W3C_LOG_PARSE).
    Regex(Regex),
    Fast(FastRegex),
    Delimited(Delimited),
    Fixed(Vec<Span>),
    SysLog(Regex),
}

impl Parser {
    fn plan(kind: Kind, spec: &[ScalarValue]) -> Result<Parser, String> {
        // Planning checks the arity first; this keeps the indexing below safe regardless.
        let (least, most) = kind.arity();
        if spec.len() + 1 < least || spec.len() + 1 > most {
            return Err(format!("takes {least} to {most} arguments"));
        }
        let (columns, lines) = match kind {
            Kind::Regex => regex_columns(spec)?,
            Kind::FastRegex => {
                let pattern = text(&spec[0], "the pattern")?;
                let fast = FastRegex::compile(pattern)
                    .map_err(|e| format!("the pattern '{pattern}': {e}"))?;
                (numbered(fast.groups), Lines::Fast(fast))
            }
            Kind::VariableColumn => variable_columns(spec)?,
            Kind::FixedColumn => fixed_columns(spec)?,
            Kind::W3c => {
                let format = text(&spec[0], "the format")?;
                let (regex, count) = w3c(format)?;
                (numbered(count), Lines::Regex(regex))
            }
            Kind::SysLog => {
                let regex = Regex::new(SYS_LOG).map_err(|e| e.to_string())?;
                let mut columns = numbered(2);
                columns[0].data_type = TIMESTAMP;
                (columns, Lines::SysLog(regex))
            }
        };
        if columns.is_empty() {
            return Err("there are no columns to return".into());
        }
        if columns.len() > MAX_COLUMNS {
            return Err(format!(
                "{} columns are more than the {MAX_COLUMNS} Freshet allows",
                columns.len()
            ));
        }
        for (i, column) in columns.iter().enumerate() {
            if columns[..i].iter().any(|c| c.name == column.name) {
                return Err(format!("the column {} is named twice", column.name));
            }
        }
        let char_to_timestamp = if columns.iter().any(|c| c.format.is_some()) {
            crate::scalar::functions()
                .into_iter()
                .find(|f| f.name() == "char_to_timestamp")
        } else {
            None
        };
        Ok(Parser {
            columns,
            lines,
            char_to_timestamp,
        })
    }

    fn fields(&self) -> Fields {
        self.columns
            .iter()
            .map(|c| Field::new(&c.name, c.data_type.clone(), true))
            .collect()
    }

    fn data_type(&self) -> DataType {
        DataType::Struct(self.fields())
    }

    /// A row per line: NULL where the line is NULL or does not parse.
    fn parse(&self, lines: &StringArray) -> Result<ArrayRef> {
        let rows = lines.len();
        let mut builders: Vec<StringBuilder> = self
            .columns
            .iter()
            .map(|_| StringBuilder::with_capacity(rows, 0))
            .collect();
        let mut valid = Vec::with_capacity(rows);
        let mut fields: Vec<Option<Cow<'_, str>>> = Vec::with_capacity(self.columns.len());
        for row in 0..rows {
            fields.clear();
            let parsed = lines.is_valid(row) && self.lines.split(lines.value(row), &mut fields);
            valid.push(parsed);
            for (i, builder) in builders.iter_mut().enumerate() {
                match fields.get(i) {
                    Some(Some(value)) if parsed => builder.append_value(value),
                    _ => builder.append_null(),
                }
            }
        }
        let mut children = Vec::with_capacity(self.columns.len());
        for (column, mut builder) in self.columns.iter().zip(builders) {
            let typed = self.convert(&builder.finish(), column)?;
            if column.not_null {
                for (row, valid) in valid.iter_mut().enumerate() {
                    *valid &= typed.is_valid(row);
                }
            }
            children.push(typed);
        }
        let nulls = NullBuffer::from(valid);
        if nulls.null_count() > 0 {
            // DataFusion's field access returns a child as it is, without its parent's nulls,
            // so a NULL row must have NULL fields.
            let unparsed = BooleanArray::from_iter(nulls.iter().map(|v| Some(!v)));
            for child in &mut children {
                *child = nullif(child, &unparsed)?;
            }
        }
        Ok(Arc::new(StructArray::try_new(
            self.fields(),
            children,
            Some(nulls),
        )?))
    }

    /// A column's text as the column's type: a value that does not convert is NULL, as a
    /// field that is not there is.
    fn convert(&self, text: &StringArray, column: &Column) -> Result<ArrayRef> {
        if column.data_type == DataType::Utf8 {
            return Ok(Arc::new(text.clone()));
        }
        // Fixed-width and delimited fields are padded; numbers and times are read without it.
        let trimmed: StringArray = text.iter().map(|v| v.map(str::trim)).collect();
        if let (Some(format), Some(udf)) = (&column.format, &self.char_to_timestamp) {
            return dated(udf, &trimmed, format, &column.data_type);
        }
        let options = CastOptions {
            safe: true,
            ..CastOptions::default()
        };
        Ok(cast_with_options(&trimmed, &column.data_type, &options)?)
    }
}

/// REGEX_LOG_PARSE: the pattern's groups, named by the optional column list.
fn regex_columns(spec: &[ScalarValue]) -> Result<(Vec<Column>, Lines), String> {
    let pattern = text(&spec[0], "the pattern")?;
    // The page does not say whether the pattern must cover the whole line (Java's
    // Matcher.matches()) or may match inside it (find()); its examples are written to cover it
    // ('.*([E].).*([R].*)'), so the whole line it is.
    let refused = |e: regex::Error| {
        format!("the pattern '{pattern}' is not a regular expression Freshet can run: {e}")
    };
    // The regex crate reads Java's possessive `a*+` as `(a*)+`, which matches where the
    // possessive form gives up: refused rather than run differently.
    if has_possessive_quantifier(pattern) {
        return Err(format!(
            "the pattern '{pattern}' has a possessive quantifier (*+, ++, ?+ or {{n}}+), which \
             Freshet cannot run"
        ));
    }
    // Compiled alone first so that an error points into the pattern as written.
    Regex::new(pattern).map_err(refused)?;
    let regex = Regex::new(&format!(r"\A(?:{pattern})\z")).map_err(refused)?;
    let groups = regex.captures_len() - 1;
    if groups == 0 {
        return Err(format!(
            "the pattern '{pattern}' has no groups, so there are no columns to return"
        ));
    }
    let columns = match spec.get(1) {
        None => numbered(groups),
        Some(list) => {
            let columns = describe(text(list, "the column list")?, false)?
                .into_iter()
                .map(|d| d.column)
                .collect::<Vec<_>>();
            if columns.len() != groups {
                return Err(format!(
                    "the column list names {} column(s) but the pattern has {groups} group(s)",
                    columns.len()
                ));
            }
            columns
        }
    };
    Ok((columns, Lines::Regex(regex)))
}

/// Whether a Java pattern repeats with `*+`, `++`, `?+` or `{n}+` (outside classes and escapes).
fn has_possessive_quantifier(pattern: &str) -> bool {
    let mut chars = pattern.chars().peekable();
    let mut in_class = 0usize;
    let mut previous = None;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
                previous = None;
                continue;
            }
            '[' => in_class += 1,
            ']' => in_class = in_class.saturating_sub(1),
            '+' if in_class == 0 && matches!(previous, Some('*' | '+' | '?' | '}')) => {
                return true;
            }
            _ => {}
        }
        previous = (in_class == 0).then_some(c);
    }
    false
}

/// VARIABLE_COLUMN_LOG_PARSE: a number of columns or a column list, the delimiter, and the
/// optional escape and quote characters.
fn variable_columns(spec: &[ScalarValue]) -> Result<(Vec<Column>, Lines), String> {
    let columns = match &spec[0] {
        ScalarValue::Int64(Some(n)) => count(*n)?,
        value => {
            let list = text(value, "the columns")?;
            match list.trim().parse::<i64>() {
                Ok(n) => count(n)?,
                Err(_) => describe(list, false)?
                    .into_iter()
                    .map(|d| d.column)
                    .collect(),
            }
        }
    };
    let delimiter = text(&spec[1], "the delimiter")?;
    if delimiter.is_empty() {
        return Err("the delimiter is empty".into());
    }
    let escape = match spec.get(2) {
        None => None,
        Some(value) => one_char(text(value, "the escape")?, "the escape")?,
    };
    let quote = match spec.get(3) {
        None => None,
        Some(value) => {
            let quote = text(value, "the quote")?;
            let chars: Vec<char> = quote.chars().collect();
            match chars.as_slice() {
                [] => None,
                [q] => Some((*q, *q)),
                [begin, end] => Some((*begin, *end)),
                _ => {
                    return Err(format!(
                        "the quote '{quote}' must be one character, or two (begin and end)"
                    ));
                }
            }
        }
    };
    let delimited = Delimited {
        delimiter: delimiter.to_string(),
        escape,
        quote,
    };
    Ok((columns, Lines::Delimited(delimited)))
}

/// FIXED_COLUMN_LOG_PARSE: a column list whose columns each have a START.
fn fixed_columns(spec: &[ScalarValue]) -> Result<(Vec<Column>, Lines), String> {
    let described = describe(text(&spec[0], "the column description")?, true)?;
    let mut columns = Vec::with_capacity(described.len());
    let mut spans = Vec::with_capacity(described.len());
    for d in described {
        let start = d
            .start
            .ok_or_else(|| format!("the column {} needs START <position>", d.column.name))?;
        spans.push(Span {
            start,
            length: d.length,
        });
        columns.push(d.column);
    }
    Ok((columns, Lines::Fixed(spans)))
}

/// DATE, TIME and TIMESTAMP text read with a `SimpleDateFormat` pattern by CHAR_TO_TIMESTAMP:
/// the whole column at once, or value by value when some value does not match (NULL then).
fn dated(
    udf: &ScalarUDF,
    text: &StringArray,
    format: &str,
    data_type: &DataType,
) -> Result<ArrayRef> {
    // A TIME is read as a time on the epoch's day.
    let is_time = matches!(data_type, DataType::Time32(_));
    let (format, text): (Cow<'_, str>, Cow<'_, StringArray>) = if is_time {
        let dated: StringArray = text
            .iter()
            .map(|v| v.map(|v| format!("1970-01-01 {v}")))
            .collect();
        (format!("yyyy-MM-dd {format}").into(), Cow::Owned(dated))
    } else {
        (format.into(), Cow::Borrowed(text))
    };
    let config = Arc::new(ConfigOptions::default());
    let call = |values: ArrayRef| -> Result<ArrayRef> {
        let rows = values.len();
        let field = |name: &str, t: DataType| Arc::new(Field::new(name, t, true));
        let result = udf.invoke_with_args(ScalarFunctionArgs {
            args: vec![
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(format.to_string()))),
                ColumnarValue::Array(values),
            ],
            arg_fields: vec![
                field("format", DataType::Utf8),
                field("text", DataType::Utf8),
            ],
            number_rows: rows,
            return_field: field("char_to_timestamp", TIMESTAMP),
            config_options: config.clone(),
        })?;
        result.to_array(rows)
    };
    let text = text.as_ref();
    let whole = call(Arc::new(text.clone()))
        .ok()
        .and_then(|all| all.as_primitive_opt::<TimestampMillisecondType>().cloned());
    let millis: TimestampMillisecondArray = match whole {
        Some(all) => all,
        None => (0..text.len())
            .map(|i| {
                if text.is_null(i) {
                    return None;
                }
                let one = call(Arc::new(text.slice(i, 1))).ok()?;
                let one = one.as_primitive_opt::<TimestampMillisecondType>()?;
                one.is_valid(0).then(|| one.value(0))
            })
            .collect(),
    };
    Ok(match data_type {
        DataType::Date32 => Arc::new(
            millis
                .iter()
                .map(|ms| ms.and_then(|ms| i32::try_from(ms.div_euclid(MS_PER_DAY)).ok()))
                .collect::<Date32Array>(),
        ),
        DataType::Time32(TimeUnit::Millisecond) => Arc::new(
            millis
                .iter()
                .map(|ms| ms.and_then(|ms| i32::try_from(ms.rem_euclid(MS_PER_DAY)).ok()))
                .collect::<Time32MillisecondArray>(),
        ),
        _ => Arc::new(millis),
    })
}

impl Lines {
    /// Cuts `line` into the columns' text; false when the line does not parse.
    fn split<'a>(&self, line: &'a str, fields: &mut Vec<Option<Cow<'a, str>>>) -> bool {
        match self {
            Lines::Regex(regex) => match regex.captures(line) {
                Some(captures) => {
                    fields.extend(
                        captures
                            .iter()
                            .skip(1)
                            .map(|g| g.map(|g| Cow::Borrowed(g.as_str()))),
                    );
                    true
                }
                None => false,
            },
            Lines::Fast(fast) => fast.split(line, fields),
            Lines::Delimited(delimited) => {
                delimited.split(line, fields);
                true
            }
            Lines::Fixed(spans) => {
                fields.extend(spans.iter().map(|s| s.cut(line).map(Cow::Borrowed)));
                true
            }
            Lines::SysLog(regex) => sys_log(regex, line, fields),
        }
    }
}

/// The string value of a literal argument.
fn text<'a>(value: &'a ScalarValue, what: &str) -> Result<&'a str, String> {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Ok(s),
        ScalarValue::Utf8(None) | ScalarValue::LargeUtf8(None) | ScalarValue::Utf8View(None) => {
            Err(format!("{what} is NULL"))
        }
        other => Err(format!("{what} must be a string, not {other}")),
    }
}

fn one_char(text: &str, what: &str) -> Result<Option<char>, String> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Ok(None),
        (Some(c), None) => Ok(Some(c)),
        _ => Err(format!("{what} '{text}' must be one character")),
    }
}

fn count(n: i64) -> Result<Vec<Column>, String> {
    match usize::try_from(n) {
        Ok(n) if (1..=MAX_COLUMNS).contains(&n) => Ok(numbered(n)),
        _ => Err(format!(
            "the number of columns must be 1 to {MAX_COLUMNS}, not {n}"
        )),
    }
}

/// A column of a column list, with FIXED_COLUMN_LOG_PARSE's position.
struct Described {
    column: Column,
    start: Option<usize>,
    length: Option<usize>,
}

/// A column list: `name [TYPE] type [NOT NULL] ['format'] [START n [FOR m]], ...`.
/// VARIABLE_COLUMN_LOG_PARSE and FIXED_COLUMN_LOG_PARSE write `name TYPE type`, REGEX_LOG_PARSE
/// `name [type]` (VARCHAR(1024) when left out); names follow the code's rule (unquoted
/// upper-cased, quoted kept) so `t.r."COL_1"` and `t.r.COL_1` find them.
fn describe(list: &str, fixed: bool) -> Result<Vec<Described>, String> {
    let error = |e: datafusion_sql::sqlparser::parser::ParserError| {
        format!("the column list '{list}' does not parse: {e}")
    };
    let mut parser = SqlParser::new(&GenericDialect)
        .try_with_sql(list)
        .map_err(error)?;
    let mut described = Vec::new();
    loop {
        let name = normalize(&parser.parse_identifier().map_err(error)?);
        let typed = parser.parse_keyword(Keyword::TYPE);
        let next = parser.peek_token().token;
        let untyped = matches!(next, Token::Comma | Token::EOF)
            || matches!(&next, Token::Word(w) if matches!(w.keyword, Keyword::NOT | Keyword::START));
        let data_type = if typed || !untyped {
            arrow_type(&parser.parse_data_type().map_err(error)?)
                .map_err(|e| format!("the column {name}: {e}"))?
        } else {
            DataType::Utf8
        };
        let mut column = Column {
            name,
            data_type,
            not_null: false,
            format: None,
        };
        let (mut start, mut length) = (None, None);
        loop {
            if parser.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
                column.not_null = true;
            } else if fixed && parser.parse_keyword(Keyword::START) {
                start = Some(position(&mut parser, list)?);
                if parser.parse_keyword(Keyword::FOR) {
                    length = Some(position(&mut parser, list)?);
                }
            } else if let Token::SingleQuotedString(format) = parser.peek_token().token {
                parser.next_token();
                if !matches!(
                    column.data_type,
                    DataType::Date32 | DataType::Time32(_) | DataType::Timestamp(..)
                ) {
                    return Err(format!(
                        "the column {} has a format, which only DATE, TIME and TIMESTAMP \
                         columns take",
                        column.name
                    ));
                }
                column.format = Some(format);
            } else {
                break;
            }
        }
        described.push(Described {
            column,
            start,
            length,
        });
        if parser.consume_token(&Token::EOF) {
            return Ok(described);
        }
        parser.expect_token(&Token::Comma).map_err(error)?;
    }
}

fn position(parser: &mut SqlParser<'_>, list: &str) -> Result<usize, String> {
    let n = parser
        .parse_literal_uint()
        .map_err(|e| format!("the column list '{list}' does not parse: {e}"))?;
    usize::try_from(n).map_err(|_| format!("the position {n} is too large"))
}

/// FIXED_COLUMN_LOG_PARSE's `START n [FOR m]`: characters from 0; without FOR, to the line's end
/// (the page does not say; the rest of the line is what a last column usually wants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    length: Option<usize>,
}

impl Span {
    /// The span's text; NULL when the line ends before the span starts, and what there is when
    /// it ends inside the span (a short last line).
    fn cut<'a>(&self, line: &'a str) -> Option<&'a str> {
        let at = |chars: usize| -> Option<usize> {
            if line.is_ascii() {
                (chars <= line.len()).then_some(chars)
            } else {
                line.char_indices()
                    .map(|(i, _)| i)
                    .chain(std::iter::once(line.len()))
                    .nth(chars)
            }
        };
        let start = at(self.start)?;
        if start == line.len() && self.start > 0 {
            return None;
        }
        let end = match self.length {
            Some(length) => at(self.start.saturating_add(length)).unwrap_or(line.len()),
            None => line.len(),
        };
        Some(&line[start..end])
    }
}

/// VARIABLE_COLUMN_LOG_PARSE's splitting: fields between occurrences of the delimiter string;
/// the escape character makes the next character literal (and is dropped); text between quotes
/// keeps its delimiters, without the quotes. A line with more fields than columns keeps the
/// first ones (the page does not say what happens to the rest); one with fewer has NULLs.
#[derive(Debug)]
struct Delimited {
    delimiter: String,
    escape: Option<char>,
    /// Begin and end quote; either ends a quoted string, as the page allows.
    quote: Option<(char, char)>,
}

impl Delimited {
    fn split<'a>(&self, line: &'a str, fields: &mut Vec<Option<Cow<'a, str>>>) {
        if self.escape.is_none() && self.quote.is_none() {
            fields.extend(
                line.split(self.delimiter.as_str())
                    .map(|f| Some(Cow::Borrowed(f))),
            );
            return;
        }
        let mut field = String::new();
        let mut quoted = false;
        let mut at = 0;
        while let Some(c) = line[at..].chars().next() {
            let next = at + c.len_utf8();
            if Some(c) == self.escape {
                match line[next..].chars().next() {
                    Some(escaped) => {
                        field.push(escaped);
                        at = next + escaped.len_utf8();
                    }
                    None => {
                        field.push(c);
                        at = next;
                    }
                }
                continue;
            }
            if let Some((begin, end)) = self.quote {
                if quoted {
                    if c == end || c == begin {
                        quoted = false;
                    } else {
                        field.push(c);
                    }
                    at = next;
                    continue;
                }
                if c == begin {
                    quoted = true;
                    at = next;
                    continue;
                }
            }
            if line[at..].starts_with(self.delimiter.as_str()) {
                fields.push(Some(Cow::Owned(std::mem::take(&mut field))));
                at += self.delimiter.len();
                continue;
            }
            field.push(c);
            at = next;
        }
        fields.push(Some(Cow::Owned(field)));
    }
}

/// `Mon DD HH:MM:SS server message` (RFC 3164's timestamp, the day space-padded or not).
const SYS_LOG: &str = r"(?s)\A([A-Za-z]{3}) +(\d{1,2}) (\d{1,2}):(\d{2}):(\d{2})(?: (.*))?\z";

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// SYS_LOG_PARSE: COLUMN1 the timestamp, COLUMN2 the rest (`server message`). A syslog time has
/// no year; the page does not say which it gets, so it is 1970's, the year Java's
/// `SimpleDateFormat` (which KDA's date parsing is) gives a pattern without one. A day that
/// 1970 does not have (Feb 29) does not parse.
fn sys_log<'a>(regex: &Regex, line: &'a str, fields: &mut Vec<Option<Cow<'a, str>>>) -> bool {
    let Some(c) = regex.captures(line) else {
        return false;
    };
    let group = |i: usize| c.get(i).map_or("", |m| m.as_str());
    let Some(month) = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(group(1))) else {
        return false;
    };
    let number = |i: usize| group(i).parse::<u32>().ok();
    let (Some(day), Some(hour), Some(minute), Some(second)) =
        (number(2), number(3), number(4), number(5))
    else {
        return false;
    };
    let Some(time) = chrono::NaiveDate::from_ymd_opt(1970, month as u32 + 1, day)
        .and_then(|d| d.and_hms_opt(hour, minute, second))
    else {
        return false;
    };
    fields.push(Some(Cow::Owned(
        time.format("%Y-%m-%d %H:%M:%S").to_string(),
    )));
    fields.push(Some(Cow::Borrowed(group(6))));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(lines: &Lines, line: &str) -> Option<Vec<Option<String>>> {
        let mut fields = Vec::new();
        lines.split(line, &mut fields).then(|| {
            fields
                .into_iter()
                .map(|f| f.map(|f| f.into_owned()))
                .collect()
        })
    }

    fn some(values: &[&str]) -> Option<Vec<Option<String>>> {
        Some(values.iter().map(|v| Some(v.to_string())).collect())
    }

    fn planned(kind: Kind, spec: &[&str]) -> Result<Parser, String> {
        let spec: Vec<ScalarValue> = spec
            .iter()
            .map(|s| ScalarValue::Utf8(Some(s.to_string())))
            .collect();
        Parser::plan(kind, &spec)
    }

    #[test]
    fn regex_log_parse_matches_the_whole_line_greedily() {
        let parser = planned(Kind::Regex, &[".*([E].).*([R].*)"]).expect("plans");
        assert_eq!(split(&parser.lines, "ENERGY"), some(&["EN", "RGY"]));
        assert_eq!(split(&parser.lines, "HEALTHCARE"), some(&["EA", "RE"]));
        assert_eq!(split(&parser.lines, "TECHNOLOGY"), None);
        // An optional group that took no part is a NULL field, not a NULL row.
        let parser = planned(Kind::Regex, &["(a)(b)?"]).expect("plans");
        assert_eq!(
            split(&parser.lines, "a"),
            Some(vec![Some("a".to_string()), None])
        );
        // Java syntax the regex crate does not run is refused, not misread.
        for pattern in ["(a", r"(a)\1", "(?>a)(b)", "(?<=a)(b)"] {
            let e = planned(Kind::Regex, &[pattern]).expect_err(pattern);
            assert!(e.contains("not a regular expression"), "{pattern}: {e}");
        }
        for pattern in ["(a*+)", "(a++)b", "(a{2}+)", "(a?+)"] {
            let e = planned(Kind::Regex, &[pattern]).expect_err(pattern);
            assert!(e.contains("possessive"), "{pattern}: {e}");
        }
        // Not possessive: a + after a class, an escape, or a lazy quantifier's ?.
        for pattern in [r"([*]+)", r"(\*+)", "(a+?)", "(a)+"] {
            assert!(planned(Kind::Regex, &[pattern]).is_ok(), "{pattern}");
        }
        let e = planned(Kind::Regex, &["(a)", "X INTEGER, Y"]).expect_err("two names");
        assert!(e.contains("1 group(s)"), "{e}");
    }

    #[test]
    fn column_lists_name_and_type_columns() {
        let described = describe(
            r#"COL_1 TYPE VARCHAR(16), "when" TYPE TIMESTAMP 'dd/MMM/yyyy:HH:mm:ss' NOT NULL, n integer START 4 FOR 2, rest"#,
            true,
        )
        .expect("parses");
        let names: Vec<&str> = described.iter().map(|d| d.column.name.as_str()).collect();
        assert_eq!(names, ["COL_1", "when", "N", "REST"]);
        assert_eq!(described[1].column.data_type, TIMESTAMP);
        assert!(described[1].column.not_null);
        assert_eq!(
            described[1].column.format.as_deref(),
            Some("dd/MMM/yyyy:HH:mm:ss")
        );
        assert_eq!(described[2].column.data_type, DataType::Int32);
        assert_eq!(
            (described[2].start, described[2].length),
            (Some(4), Some(2))
        );
        assert_eq!(described[3].column.data_type, DataType::Utf8);
        assert!(describe("A TYPE INTEGER 'yyyy'", false).is_err());
        assert!(describe("A TYPE GEOMETRY", false).is_err());
    }

    #[test]
    fn delimited_fields_honour_escape_and_quotes() {
        let delimited = |escape, quote| Delimited {
            delimiter: ",".into(),
            escape,
            quote,
        };
        let lines = Lines::Delimited(delimited(None, None));
        assert_eq!(split(&lines, "x,y,z"), some(&["x", "y", "z"]));
        let lines = Lines::Delimited(delimited(Some('\\'), None));
        assert_eq!(split(&lines, r"a\,b,c"), some(&["a,b", "c"]));
        let lines = Lines::Delimited(delimited(None, Some(('[', ']'))));
        // The begin character ends a quote too.
        assert_eq!(split(&lines, "[a,b],c,[d,e["), some(&["a,b", "c", "d,e"]));
        let lines = Lines::Delimited(Delimited {
            delimiter: " | ".into(),
            escape: None,
            quote: Some(('"', '"')),
        });
        assert_eq!(split(&lines, r#""a | b" | c"#), some(&["a | b", "c"]));
    }

    #[test]
    fn fixed_spans_count_characters_from_zero() {
        let span = |start, length| Span { start, length };
        assert_eq!(span(0, Some(3)).cut("abcdef"), Some("abc"));
        assert_eq!(span(3, None).cut("abcdef"), Some("def"));
        assert_eq!(span(4, Some(10)).cut("abcdef"), Some("ef"));
        assert_eq!(span(6, Some(1)).cut("abcdef"), None);
        assert_eq!(span(9, None).cut("abc"), None);
        assert_eq!(span(1, Some(2)).cut("äöüß"), Some("öü"));
    }

    #[test]
    fn sys_log_lines_get_1970_timestamps() {
        let regex = Regex::new(SYS_LOG).expect("regex");
        let lines = Lines::SysLog(regex);
        assert_eq!(
            split(&lines, "Oct 11 22:14:15 mymachine su: 'su root' failed"),
            some(&["1970-10-11 22:14:15", "mymachine su: 'su root' failed"])
        );
        assert_eq!(
            split(&lines, "Feb  5 01:02:03 host"),
            some(&["1970-02-05 01:02:03", "host"])
        );
        assert_eq!(split(&lines, "Foo 11 22:14:15 x"), None);
        assert_eq!(split(&lines, "Feb 30 22:14:15 x"), None);
    }

    #[test]
    fn rows_are_null_when_lines_do_not_parse_or_break_not_null() {
        let parser = planned(
            Kind::FixedColumn,
            &["A TYPE VARCHAR(2) START 0 FOR 2, N TYPE INTEGER NOT NULL START 2 FOR 3, D TYPE DATE 'dd/MM/yyyy' START 5"],
        )
        .expect("plans");
        let lines = StringArray::from(vec![
            Some("ab 42 01/02/2003"),
            Some("cd  x 01/02/2003"),
            None,
            Some("ef  7 someday"),
        ]);
        let rows = parser.parse(&lines).expect("parses");
        let rows = rows.as_struct();
        assert_eq!(
            rows.nulls().map(|n| n.iter().collect::<Vec<_>>()),
            Some(vec![true, false, false, true])
        );
        let a = rows.column(0).as_string::<i32>();
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [Some("ab"), None, None, Some("ef")]
        );
        let n = rows
            .column(1)
            .as_primitive::<datafusion_common::arrow::datatypes::Int32Type>();
        assert_eq!(
            n.iter().collect::<Vec<_>>(),
            [Some(42), None, None, Some(7)]
        );
        let d = rows
            .column(2)
            .as_primitive::<datafusion_common::arrow::datatypes::Date32Type>();
        assert_eq!(
            d.iter().collect::<Vec<_>>(),
            [Some(12_084), None, None, None]
        );
    }
}
