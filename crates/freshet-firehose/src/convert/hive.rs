//! Glue (Hive) column types as Arrow types: what a table's `StorageDescriptor.Columns` say the
//! converted files hold.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, TimeUnit};

/// Parses one Hive type string (`bigint`, `array<string>`, `struct<a:int,b:map<string,double>>`,
/// `decimal(10,2)`, ...).
pub fn data_type(text: &str) -> Result<DataType, String> {
    let mut parser = Parser {
        text: text.trim(),
        at: 0,
    };
    let t = parser.parse()?;
    parser.skip_space();
    if parser.at != parser.text.len() {
        return Err(format!("unexpected text after the type in {text}"));
    }
    Ok(t)
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.text[self.at..].starts_with(' ') {
            self.at += 1;
        }
    }

    fn word(&mut self) -> &str {
        self.skip_space();
        let rest = &self.text[self.at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.at += end;
        &rest[..end]
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        self.skip_space();
        if self.text[self.at..].starts_with(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!(
                "expected '{c}' at position {} of {}",
                self.at, self.text
            ))
        }
    }

    fn peek(&mut self, c: char) -> bool {
        self.skip_space();
        self.text[self.at..].starts_with(c)
    }

    fn number(&mut self) -> Result<u32, String> {
        let w = self.word().to_string();
        w.parse()
            .map_err(|_| format!("expected a number, found {w:?} in {}", self.text))
    }

    fn parse(&mut self) -> Result<DataType, String> {
        let name = self.word().to_ascii_lowercase();
        Ok(match name.as_str() {
            "string" => DataType::Utf8,
            "varchar" | "char" => {
                // The length limits nothing in the file.
                self.expect('(')?;
                self.number()?;
                self.expect(')')?;
                DataType::Utf8
            }
            "boolean" => DataType::Boolean,
            "tinyint" => DataType::Int8,
            "smallint" => DataType::Int16,
            "int" | "integer" => DataType::Int32,
            "bigint" => DataType::Int64,
            "float" => DataType::Float32,
            "double" => DataType::Float64,
            "date" => DataType::Date32,
            "timestamp" => DataType::Timestamp(TimeUnit::Millisecond, None),
            "binary" => DataType::Binary,
            "decimal" => {
                let (precision, scale) = if self.peek('(') {
                    self.expect('(')?;
                    let p = self.number()?;
                    self.expect(',')?;
                    let s = self.number()?;
                    self.expect(')')?;
                    (p, s)
                } else {
                    (10, 0)
                };
                if !(1..=38).contains(&precision) || scale > precision {
                    return Err(format!(
                        "decimal({precision},{scale}) is not a valid decimal"
                    ));
                }
                DataType::Decimal128(precision as u8, scale as i8)
            }
            "array" => {
                self.expect('<')?;
                let item = self.parse()?;
                self.expect('>')?;
                DataType::List(Arc::new(Field::new("item", item, true)))
            }
            "map" => {
                self.expect('<')?;
                let key = self.parse()?;
                self.expect(',')?;
                let value = self.parse()?;
                self.expect('>')?;
                let entries = Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", key, false),
                        Field::new("value", value, true),
                    ])),
                    false,
                );
                DataType::Map(Arc::new(entries), false)
            }
            "struct" => {
                self.expect('<')?;
                let mut fields = Vec::new();
                loop {
                    let name = self.word().to_ascii_lowercase();
                    if name.is_empty() {
                        return Err(format!("expected a field name in {}", self.text));
                    }
                    self.expect(':')?;
                    fields.push(Field::new(name, self.parse()?, true));
                    if self.peek(',') {
                        self.expect(',')?;
                    } else {
                        break;
                    }
                }
                self.expect('>')?;
                DataType::Struct(Fields::from(fields))
            }
            "" => return Err(format!("expected a type in {}", self.text)),
            other => return Err(format!("the column type {other} is not supported")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_types_become_arrow_types() {
        assert_eq!(data_type("string").unwrap(), DataType::Utf8);
        assert_eq!(data_type("varchar(20)").unwrap(), DataType::Utf8);
        assert_eq!(data_type(" BIGINT ").unwrap(), DataType::Int64);
        assert_eq!(
            data_type("decimal(10,2)").unwrap(),
            DataType::Decimal128(10, 2)
        );
        assert_eq!(
            data_type("array<int>").unwrap(),
            DataType::List(Arc::new(Field::new("item", DataType::Int32, true)))
        );
        let DataType::Struct(fields) = data_type("struct<a:int, B:array<string>>").unwrap() else {
            panic!()
        };
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[1].name(), "b");
        assert!(matches!(
            data_type("map<string,double>").unwrap(),
            DataType::Map(..)
        ));
        for bad in [
            "",
            "uniontype<int>",
            "array<int",
            "decimal(40,2)",
            "int int",
        ] {
            assert!(data_type(bad).is_err(), "{bad}");
        }
    }
}
