//! A table's Iceberg schema as Glue columns with Hive type names, as Iceberg's own Glue catalog
//! writes them (`IcebergToGlueConverter`): Glue clients (Athena, Firehose's record format
//! conversion) read a table's schema from its columns, not from its metadata file.

use freshet_glue::model::{Parameters, TableColumn};
use iceberg::spec::{PrimitiveType, Schema, Type};

/// The schema's top-level fields as Glue columns, in order, with Iceberg's field id and
/// optionality in each column's parameters (as AWS Glue shows them).
pub(super) fn glue_columns(schema: &Schema) -> Vec<TableColumn> {
    schema
        .as_struct()
        .fields()
        .iter()
        .map(|field| TableColumn {
            name: field.name.clone(),
            type_name: Some(hive_type(&field.field_type)),
            comment: field.doc.clone(),
            parameters: Some(Parameters::from([
                ("iceberg.field.id".to_string(), field.id.to_string()),
                (
                    "iceberg.field.optional".into(),
                    (!field.required).to_string(),
                ),
                ("iceberg.field.current".into(), "true".into()),
            ])),
        })
        .collect()
}

/// The Hive type name of an Iceberg type. Hive has no time, uuid or fixed type: they read as
/// `string`, `string` and `binary`, and every timestamp as `timestamp`, as in Iceberg's Glue
/// catalog.
pub(super) fn hive_type(t: &Type) -> String {
    match t {
        Type::Primitive(p) => primitive(p),
        Type::Struct(s) => {
            let fields: Vec<String> = s
                .fields()
                .iter()
                .map(|f| format!("{}:{}", f.name, hive_type(&f.field_type)))
                .collect();
            format!("struct<{}>", fields.join(","))
        }
        Type::List(l) => format!("array<{}>", hive_type(&l.element_field.field_type)),
        Type::Map(m) => format!(
            "map<{},{}>",
            hive_type(&m.key_field.field_type),
            hive_type(&m.value_field.field_type)
        ),
    }
}

fn primitive(p: &PrimitiveType) -> String {
    let name = match p {
        PrimitiveType::Boolean => "boolean",
        PrimitiveType::Int => "int",
        PrimitiveType::Long => "bigint",
        PrimitiveType::Float => "float",
        PrimitiveType::Double => "double",
        PrimitiveType::Decimal { precision, scale } => {
            return format!("decimal({precision},{scale})");
        }
        PrimitiveType::Date => "date",
        PrimitiveType::Timestamp
        | PrimitiveType::Timestamptz
        | PrimitiveType::TimestampNs
        | PrimitiveType::TimestamptzNs => "timestamp",
        PrimitiveType::Time | PrimitiveType::String | PrimitiveType::Uuid => "string",
        PrimitiveType::Fixed(_) | PrimitiveType::Binary => "binary",
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use iceberg::spec::{ListType, MapType, NestedField, StructType};

    use super::*;

    fn field(id: i32, name: &str, t: Type) -> Arc<NestedField> {
        Arc::new(NestedField::optional(id, name, t))
    }

    #[test]
    fn iceberg_types_read_as_hive_type_names() {
        let p = |p| Type::Primitive(p);
        assert_eq!(hive_type(&p(PrimitiveType::Long)), "bigint");
        assert_eq!(hive_type(&p(PrimitiveType::Timestamptz)), "timestamp");
        assert_eq!(hive_type(&p(PrimitiveType::Uuid)), "string");
        assert_eq!(hive_type(&p(PrimitiveType::Fixed(16))), "binary");
        let decimal = PrimitiveType::Decimal {
            precision: 10,
            scale: 2,
        };
        assert_eq!(hive_type(&p(decimal)), "decimal(10,2)");
        let nested = Type::Struct(StructType::new(vec![
            field(2, "a", p(PrimitiveType::Int)),
            field(
                3,
                "tags",
                Type::List(ListType::new(field(4, "element", p(PrimitiveType::String)))),
            ),
            field(
                5,
                "m",
                Type::Map(MapType::new(
                    Arc::new(NestedField::required(6, "key", p(PrimitiveType::String))),
                    field(7, "value", p(PrimitiveType::Double)),
                )),
            ),
        ]));
        assert_eq!(
            hive_type(&nested),
            "struct<a:int,tags:array<string>,m:map<string,double>>"
        );
    }
}
