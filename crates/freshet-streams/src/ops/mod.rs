//! The operations of the Data Streams API, one module per family.

pub mod admin;
pub mod consumers;
pub mod records;
pub mod reshard;
pub mod settings;
pub mod shards;
pub mod subscribe;
pub mod tags;
