//! KDA SQL types as Arrow types: the columns of in-application streams, of input schemas
//! (`RecordColumns[].SqlType`) and of reference tables all go through [`arrow_type`].

use datafusion_common::arrow::datatypes::{DataType, TimeUnit};
use datafusion_sql::sqlparser::ast::{DataType as SqlType, ExactNumberInfo};
use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::parser::Parser;

/// `ROWTIME` and the other timestamps: milliseconds, as Kinesis arrival times are.
pub const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);

/// SQLstream's default precision for a bare `DECIMAL`.
const DEFAULT_DECIMAL_PRECISION: u8 = 19;

/// The Arrow type a column of `sql_type` holds, or why it has none.
pub fn arrow_type(sql_type: &SqlType) -> Result<DataType, String> {
    Ok(match sql_type {
        SqlType::Varchar(_)
        | SqlType::CharVarying(_)
        | SqlType::CharacterVarying(_)
        | SqlType::Char(_)
        | SqlType::Character(_) => DataType::Utf8,
        SqlType::TinyInt(_) => DataType::Int8,
        SqlType::SmallInt(_) => DataType::Int16,
        SqlType::Int(_) | SqlType::Integer(_) => DataType::Int32,
        SqlType::BigInt(_) => DataType::Int64,
        SqlType::Real => DataType::Float32,
        SqlType::Float(_) | SqlType::Double(_) | SqlType::DoublePrecision => DataType::Float64,
        SqlType::Decimal(info) | SqlType::Numeric(info) | SqlType::Dec(info) => {
            let (precision, scale) = match info {
                ExactNumberInfo::None => (DEFAULT_DECIMAL_PRECISION, 0),
                ExactNumberInfo::Precision(p) => (narrow(*p)?, 0),
                ExactNumberInfo::PrecisionAndScale(p, s) => (narrow(*p)?, narrow(*s as u64)? as i8),
            };
            if precision == 0 || precision > 38 || scale as u8 > precision {
                return Err(format!("invalid DECIMAL precision and scale: {sql_type}"));
            }
            DataType::Decimal128(precision, scale)
        }
        SqlType::Boolean | SqlType::Bool => DataType::Boolean,
        SqlType::Timestamp(..) => TIMESTAMP,
        SqlType::Date => DataType::Date32,
        SqlType::Time(..) => DataType::Time32(TimeUnit::Millisecond),
        SqlType::Varbinary(_) | SqlType::Binary(_) => DataType::Binary,
        other => return Err(format!("the SQL type {other} is not supported")),
    })
}

fn narrow(value: u64) -> Result<u8, String> {
    u8::try_from(value).map_err(|_| format!("precision {value} is too large"))
}

/// Parses a type as written in an input or reference schema (`VARCHAR(4)`, `DECIMAL(8,2)`).
pub fn parse_sql_type(text: &str) -> Result<DataType, String> {
    let mut parser = Parser::new(&GenericDialect)
        .try_with_sql(text)
        .map_err(|e| e.to_string())?;
    let sql_type = parser.parse_data_type().map_err(|e| e.to_string())?;
    arrow_type(&sql_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kda_types_map_to_arrow() {
        assert_eq!(parse_sql_type("VARCHAR(4)"), Ok(DataType::Utf8));
        assert_eq!(parse_sql_type("real"), Ok(DataType::Float32));
        assert_eq!(parse_sql_type("DOUBLE"), Ok(DataType::Float64));
        assert_eq!(parse_sql_type("INTEGER"), Ok(DataType::Int32));
        assert_eq!(parse_sql_type("BIGINT"), Ok(DataType::Int64));
        assert_eq!(
            parse_sql_type("DECIMAL(8,2)"),
            Ok(DataType::Decimal128(8, 2))
        );
        assert_eq!(parse_sql_type("TIMESTAMP"), Ok(TIMESTAMP));
        assert_eq!(parse_sql_type("BOOLEAN"), Ok(DataType::Boolean));
        assert!(parse_sql_type("GEOMETRY").is_err());
        assert!(parse_sql_type("DECIMAL(3,5)").is_err());
    }
}
