//! An Iceberg table's schema as the Arrow schema its Parquet data files are written with:
//! every field carries its Iceberg field id (`PARQUET:field_id`), which readers resolve
//! columns by.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use freshet_iceberg::iceberg::spec::{NestedField, PrimitiveType, Schema as TableSchema, Type};

const FIELD_ID: &str = "PARQUET:field_id";

/// The Arrow schema of `schema`'s columns; an error names a column Freshet cannot write.
pub fn arrow_schema(schema: &TableSchema) -> Result<SchemaRef, String> {
    let fields = schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| field(f))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// The top-level columns `names` of `schema` (for reading unique keys), in that order.
pub fn key_schema(schema: &SchemaRef, names: &[String]) -> Result<SchemaRef, String> {
    let fields = names
        .iter()
        .map(|name| {
            schema
                .field_with_name(name)
                .cloned()
                .map_err(|_| format!("The unique key {name} is not a column of the table."))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// The Iceberg field id an Arrow field carries.
pub fn field_id(field: &Field) -> Option<i32> {
    field.metadata().get(FIELD_ID)?.parse().ok()
}

fn field(f: &NestedField) -> Result<Field, String> {
    let data_type = data_type(&f.field_type).map_err(|e| format!("Column {}: {e}", f.name))?;
    Ok(Field::new(&f.name, data_type, !f.required)
        .with_metadata(HashMap::from([(FIELD_ID.to_string(), f.id.to_string())])))
}

fn data_type(t: &Type) -> Result<DataType, String> {
    Ok(match t {
        Type::Primitive(p) => match p {
            PrimitiveType::Boolean => DataType::Boolean,
            PrimitiveType::Int => DataType::Int32,
            PrimitiveType::Long => DataType::Int64,
            PrimitiveType::Float => DataType::Float32,
            PrimitiveType::Double => DataType::Float64,
            PrimitiveType::Decimal { precision, scale } => {
                let precision = u8::try_from(*precision).map_err(|e| e.to_string())?;
                let scale = i8::try_from(*scale).map_err(|e| e.to_string())?;
                DataType::Decimal128(precision, scale)
            }
            PrimitiveType::Date => DataType::Date32,
            PrimitiveType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            PrimitiveType::Timestamptz => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
            }
            PrimitiveType::String => DataType::Utf8,
            PrimitiveType::Binary => DataType::Binary,
            PrimitiveType::Time
            | PrimitiveType::TimestampNs
            | PrimitiveType::TimestamptzNs
            | PrimitiveType::Uuid
            | PrimitiveType::Fixed(_) => {
                return Err(format!(
                    "Freshet cannot write Iceberg's {p} type from JSON yet"
                ));
            }
        },
        Type::Struct(s) => DataType::Struct(Fields::from(
            s.fields()
                .iter()
                .map(|f| field(f))
                .collect::<Result<Vec<_>, _>>()?,
        )),
        Type::List(l) => DataType::List(Arc::new(field(&l.element_field)?)),
        Type::Map(m) => {
            let entries = Field::new(
                "key_value",
                DataType::Struct(Fields::from(vec![
                    field(&m.key_field)?,
                    field(&m.value_field)?,
                ])),
                false,
            );
            DataType::Map(Arc::new(entries), false)
        }
    })
}

#[cfg(test)]
mod tests {
    use freshet_iceberg::iceberg::spec::{ListType, NestedField, PrimitiveType, Schema, Type};

    use super::*;

    #[test]
    fn fields_carry_their_ids_and_nullability() {
        let schema = Schema::builder()
            .with_fields(vec![
                NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
                NestedField::optional(2, "at", Type::Primitive(PrimitiveType::Timestamptz)).into(),
                NestedField::optional(
                    3,
                    "tags",
                    Type::List(ListType::new(
                        NestedField::list_element(4, Type::Primitive(PrimitiveType::String), true)
                            .into(),
                    )),
                )
                .into(),
            ])
            .build()
            .unwrap();
        let arrow = arrow_schema(&schema).unwrap();
        assert_eq!(field_id(arrow.field(0)), Some(1));
        assert!(!arrow.field(0).is_nullable());
        assert_eq!(
            arrow.field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
        );
        let DataType::List(element) = arrow.field(2).data_type() else {
            panic!("{:?}", arrow.field(2));
        };
        assert_eq!(field_id(element), Some(4));
        let keys = key_schema(&arrow, &["id".to_string()]).unwrap();
        assert_eq!(keys.fields().len(), 1);
        assert!(key_schema(&arrow, &["nope".to_string()]).is_err());
    }
}
