//! Cluster mode's storage: many Freshet nodes share one object store and one PostgreSQL
//! database, and keep no state another node needs.
//!
//! `ObjectLog` is the record log (`LogBackend`) of a cluster node: it gathers the appends it
//! receives, for every shard, into one object per flush, writes the object, then commits each
//! shard's new range and the object's index in one PostgreSQL transaction, which assigns the
//! offsets (so a shard's order is its commit order). An append is acknowledged only after both.
//! Reads find their batches through the index and fetch them with ranged GETs, through a cache
//! of recent batches; tails are woken by PostgreSQL notifications.

mod objlog;
mod schema;

pub use objlog::{FaultPlan, FaultPoint, ObjectLog, ObjectLogConfig};
