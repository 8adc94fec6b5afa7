//! The MetadataExtraction processor's jq query (jaq, jq 1.6's language): run on each record's
//! JSON, it must give one object whose members are the partition keys. Strings are taken as they
//! are; numbers and booleans as their JSON text; null, arrays and objects are refused, since they
//! name no partition.

use std::sync::Arc;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;

use crate::prefix::{KeySource, PartitionKeys};

type Data = data::JustLut<Val>;

/// A compiled query.
#[derive(Clone)]
pub struct Query {
    filter: Arc<jaq_core::Filter<Data>>,
}

impl Query {
    pub fn compile(code: &str) -> Result<Query, String> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(&arena, File { code, path: () })
            .map_err(|errors| format!("cannot parse the query ({} errors)", errors.len()))?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                let names: Vec<String> = errors
                    .into_iter()
                    .flat_map(|(_, errs)| errs.into_iter().map(|(name, _)| name.to_string()))
                    .collect();
                format!("undefined names: {}", names.join(", "))
            })?;
        Ok(Query {
            filter: Arc::new(filter),
        })
    }

    /// The partition keys of one record.
    pub fn extract(&self, record: &[u8]) -> Result<PartitionKeys, String> {
        let input = jaq_json::read::parse_single(record)
            .map_err(|e| format!("The record is not valid JSON: {e}"))?;
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([]));
        let mut outputs = self.filter.id.run((ctx, input)).map(unwrap_valr);
        let first = match outputs.next() {
            Some(Ok(value)) => value,
            Some(Err(e)) => return Err(format!("The query failed: {e}")),
            None => return Err("The query gave no output.".into()),
        };
        let Val::Obj(members) = first else {
            return Err(format!("The query gave {first}, not an object."));
        };
        let mut keys = PartitionKeys::new();
        for (name, value) in members.iter() {
            let name = match name {
                Val::TStr(s) => String::from_utf8_lossy(s).into_owned(),
                other => other.to_string(),
            };
            let value = match value {
                Val::TStr(s) | Val::BStr(s) => String::from_utf8_lossy(s).into_owned(),
                Val::Num(_) | Val::Bool(_) => value.to_string(),
                other => {
                    return Err(format!(
                        "The partition key {name} is {other}, not a string, number or boolean."
                    ));
                }
            };
            keys.insert((KeySource::Query, name), value);
        }
        Ok(keys)
    }
}
