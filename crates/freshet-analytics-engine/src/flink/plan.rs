//! From Flink SQL statements to the job's graph of streaming operators. Queries are planned by
//! DataFusion's SQL planner (tables, views and window tables resolved by [`Catalog`]), their
//! types coerced, and each plan node compiled into an operator: projections and filters run
//! row for row, and the nodes that hold state (window aggregates, joins) are chosen by the
//! time attributes their inputs carry, as Flink's planner chooses them.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion_common::config::ConfigOptions;
use datafusion_common::{Column, DFSchema, DataFusionError, ScalarValue, TableReference};
use datafusion_expr::logical_plan::builder::LogicalTableSource;
use datafusion_expr::planner::{ContextProvider, ExprPlanner};
use datafusion_expr::utils::split_conjunction;
use datafusion_expr::{
    AggregateUDF, BinaryExpr, Cast, Expr, HigherOrderUDF, JoinType, LogicalPlan, Operator,
    ScalarUDF, TableSource, WindowUDF,
};
use datafusion_optimizer::analyzer::AnalyzerRule;
use datafusion_optimizer::analyzer::type_coercion::TypeCoercion;
use datafusion_physical_expr::PhysicalExpr;
use datafusion_sql::planner::{ParserOptions, PlannerContext, SqlToRel};
use datafusion_sql::sqlparser::ast::{Expr as SqlExpr, Query};

use super::connector::{Connector, Format, TableConnector, table_connector};
use super::format::Decoder;
use super::join::{JoinKind, JoinSpec, LookupJoin, StreamJoin, WindowJoin};
use super::lookup::{LookupTable, lookup_index, lookup_table};
use super::over::Over;
use super::script::{ColumnKind, CreateTable, FlinkType};
use super::session::{SessionAggregate, SessionColumn};
use super::tvf::{WindowKind, WindowTvf, window_table};
use super::window::{Key, WindowAggregate, WindowAssign};
use crate::expr::{Functions, interval_ms, message};
use crate::pump::{aggregate, constant, count_star};
use crate::types::TIMESTAMP;

/// What a column carries in time: the event-time attribute, the processing-time one
/// (`PROCTIME()`), or a window's bounds. Rows only ever come with these at or past the
/// watermark, which is what lets windows close and joins forget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attr {
    Rowtime,
    Proctime,
    WindowStart,
    WindowEnd,
}

impl Attr {
    /// A time attribute windows and OVER can order by: event or processing time (the engine
    /// runs both alike: a processing-time source's watermark is the arrival time).
    fn is_time(self) -> bool {
        matches!(self, Attr::Rowtime | Attr::Proctime)
    }
}

/// A node's operator.
pub(crate) enum Op {
    /// Rows pushed from a source table.
    Source,
    Map {
        filter: Option<Arc<dyn PhysicalExpr>>,
        exprs: Option<Vec<Arc<dyn PhysicalExpr>>>,
        schema: SchemaRef,
    },
    Assign(WindowAssign),
    Aggregate(Box<WindowAggregate>),
    Session(Box<SessionAggregate>),
    WindowJoin(Box<WindowJoin>),
    Join(Box<StreamJoin>),
    Lookup(Box<LookupJoin>),
    Over(Box<Over>),
    Union,
    Sink(usize),
}

impl Op {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Op::Source => "source",
            Op::Map { .. } => "map",
            Op::Assign(_) => "window",
            Op::Aggregate(_) => "window-aggregate",
            Op::Session(_) => "session-aggregate",
            Op::WindowJoin(_) => "window-join",
            Op::Join(_) => "join",
            Op::Lookup(_) => "lookup-join",
            Op::Over(_) => "over",
            Op::Union => "union",
            Op::Sink(_) => "sink",
        }
    }
}

pub(crate) struct Node {
    pub op: Op,
    pub inputs: Vec<usize>,
    /// Where its rows go: (node, which of that node's inputs).
    pub consumers: Vec<(usize, usize)>,
    /// Names the node across restarts of the same code (its snapshot's key).
    pub id: String,
}

/// A table read by the job.
pub(crate) struct SourceTable {
    pub name: String,
    pub connector: TableConnector,
    pub decoder: Option<Decoder>,
    /// The table's columns in order.
    pub schema: SchemaRef,
    /// Every column: where its value comes from.
    pub columns: Vec<SourceColumn>,
    /// The non-computed columns' schema (what computed columns are evaluated over).
    pub base_schema: SchemaRef,
    pub watermark: Option<Arc<dyn PhysicalExpr>>,
    /// A `PROCTIME()` column: its time is the arrival, and so is the watermark.
    pub proctime: bool,
    /// A lookup join's table: loaded whole at every start, its rows no state of the job.
    pub lookup: bool,
    pub node: usize,
}

pub(crate) enum SourceColumn {
    /// The format's column at this index.
    Physical(usize),
    Metadata(MetadataKey),
    Computed(Arc<dyn PhysicalExpr>),
    Proctime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetadataKey {
    Timestamp,
    ShardId,
    SequenceNumber,
    PartitionKey,
}

/// A table written by the job.
pub(crate) struct SinkTable {
    pub name: String,
    pub connector: Connector,
    pub format: Format,
    /// The columns whose values make a Kinesis record's partition key.
    pub partition_key: Vec<usize>,
}

/// A declared table, before the job reads or writes it.
struct TableEntry {
    def: CreateTable,
    connector: TableConnector,
    schema: SchemaRef,
    physical: SchemaRef,
    /// Rowtime column and watermark expression (logical, over the table's schema).
    watermark: Option<(usize, Expr)>,
    proctime: Option<usize>,
    computed: Vec<(usize, Expr)>,
}

/// Resolves the names queries read: tables, views, window tables.
struct Catalog<'a> {
    functions: &'a Functions,
    relations: HashMap<String, SchemaRef>,
    /// The names a lookup table is read by, to the user's name for its table.
    lookups: HashMap<String, String>,
}

impl ContextProvider for Catalog<'_> {
    fn get_table_source(
        &self,
        name: TableReference,
    ) -> datafusion_common::Result<Arc<dyn TableSource>> {
        let schema = self.relations.get(name.table()).ok_or_else(|| {
            let table = self.lookups.get(name.table()).map_or(name.table(), |t| t);
            DataFusionError::Plan(format!(
                "Object '{table}' not found within 'default_catalog.default_database'"
            ))
        })?;
        Ok(Arc::new(LogicalTableSource::new(schema.clone())))
    }

    fn get_expr_planners(&self) -> &[Arc<dyn ExprPlanner>] {
        self.functions.get_expr_planners()
    }

    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.functions.get_function_meta(name)
    }

    fn get_higher_order_meta(&self, name: &str) -> Option<Arc<HigherOrderUDF>> {
        self.functions.get_higher_order_meta(name)
    }

    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.functions.get_aggregate_meta(name)
    }

    fn get_window_meta(&self, name: &str) -> Option<Arc<WindowUDF>> {
        self.functions.get_window_meta(name)
    }

    fn get_variable_type(&self, names: &[String]) -> Option<DataType> {
        self.functions.get_variable_type(names)
    }

    fn options(&self) -> &ConfigOptions {
        self.functions.options()
    }

    fn udf_names(&self) -> Vec<String> {
        self.functions.udf_names()
    }

    fn higher_order_function_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn udaf_names(&self) -> Vec<String> {
        self.functions.udaf_names()
    }

    fn udwf_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A compiled plan node: where its rows come out, and the time attributes of its columns.
#[derive(Clone)]
struct Compiled {
    node: usize,
    attrs: Vec<Option<Attr>>,
}

pub(crate) struct Planner<'a> {
    functions: &'a Functions,
    tables: HashMap<String, TableEntry>,
    views: HashMap<String, LogicalPlan>,
    windows: Vec<WindowTvf>,
    lookups: Vec<LookupTable>,
    pub nodes: Vec<Node>,
    pub sources: Vec<SourceTable>,
    pub sinks: Vec<SinkTable>,
    /// Per source table name, its index in `sources`.
    source_index: HashMap<String, usize>,
}

impl<'a> Planner<'a> {
    pub(crate) fn new(
        functions: &'a Functions,
        windows: Vec<WindowTvf>,
        lookups: Vec<LookupTable>,
    ) -> Planner<'a> {
        Planner {
            functions,
            tables: HashMap::new(),
            views: HashMap::new(),
            windows,
            lookups,
            nodes: Vec::new(),
            sources: Vec::new(),
            sinks: Vec::new(),
            source_index: HashMap::new(),
        }
    }

    fn catalog(&self) -> Catalog<'_> {
        let mut relations: HashMap<String, SchemaRef> = HashMap::new();
        for (name, table) in &self.tables {
            relations.insert(name.clone(), table.schema.clone());
        }
        for (name, view) in &self.views {
            relations.insert(name.clone(), Arc::new(view.schema().as_arrow().clone()));
        }
        for (i, window) in self.windows.iter().enumerate() {
            if let Some(input) = relations.get(&window.input).cloned() {
                relations.insert(window_table(i), window_schema(&input));
            }
        }
        let mut lookups = HashMap::new();
        for (i, lookup) in self.lookups.iter().enumerate() {
            if let Some(table) = relations.get(&lookup.table).cloned() {
                relations.insert(lookup_table(i), table);
            }
            lookups.insert(lookup_table(i), lookup.table.clone());
        }
        Catalog {
            functions: self.functions,
            relations,
            lookups,
        }
    }

    fn sql_to_rel<T>(
        &self,
        f: impl FnOnce(&SqlToRel<'_, Catalog<'_>>) -> datafusion_common::Result<T>,
    ) -> Result<T, String> {
        let catalog = self.catalog();
        let options = ParserOptions {
            enable_ident_normalization: false,
            map_string_types_to_utf8view: false,
            ..ParserOptions::new()
        };
        let planner = SqlToRel::new_with_options(&catalog, options);
        f(&planner).map_err(message)
    }

    /// A logical expression over `schema`, types coerced.
    fn expr(&self, sql: &SqlExpr, schema: &DFSchema) -> Result<Expr, String> {
        let expr =
            self.sql_to_rel(|p| p.sql_to_expr(sql.clone(), schema, &mut PlannerContext::new()))?;
        crate::expr::coerce(expr, schema)
    }

    /// Plans a query: DataFusion's logical plan with types coerced.
    fn query(&self, query: &Query) -> Result<LogicalPlan, String> {
        let plan = self.sql_to_rel(|p| {
            p.sql_statement_to_plan(datafusion_sql::sqlparser::ast::Statement::Query(Box::new(
                query.clone(),
            )))
        })?;
        TypeCoercion::new()
            .analyze(plan, &ConfigOptions::default())
            .map_err(message)
    }

    pub(crate) fn create_table(&mut self, def: CreateTable) -> Result<(), String> {
        if self.tables.contains_key(&def.name) || self.views.contains_key(&def.name) {
            return Err(format!(
                "Table or view `{}` already exists in the job's catalog",
                def.name
            ));
        }
        let connector = table_connector(&def.options, &def.partitioned_by)?;
        let mut fields = Vec::new();
        let mut physical = Vec::new();
        for column in &def.columns {
            if let Some(ty) = &column.data_type {
                let data_type = arrow_of(ty)?;
                let field = Field::new(&column.name, data_type, !column.not_null);
                if matches!(column.kind, ColumnKind::Physical) {
                    physical.push(field.clone());
                }
                fields.push(Some(field));
            } else {
                fields.push(None);
            }
        }
        // Computed columns are planned over the others (they cannot read each other).
        let base: Vec<Field> = fields.iter().flatten().cloned().collect();
        let base_schema = DFSchema::try_from(Schema::new(base)).map_err(message)?;
        let mut computed = Vec::new();
        let mut proctime = None;
        for (i, column) in def.columns.iter().enumerate() {
            if let ColumnKind::Computed(sql) = &column.kind {
                if is_proctime(sql) {
                    proctime = Some(i);
                    fields[i] = Some(Field::new(&column.name, TIMESTAMP, false));
                    continue;
                }
                let expr = self.expr(sql, &base_schema)?;
                let data_type = crate::expr::type_of(&expr, &base_schema)?;
                fields[i] = Some(Field::new(&column.name, data_type, true));
                computed.push((i, expr));
            }
        }
        let schema = Arc::new(Schema::new(
            fields.into_iter().flatten().collect::<Vec<_>>(),
        ));
        let watermark = match &def.watermark {
            Some((column, sql)) => {
                let index = schema.index_of(column).map_err(|_| {
                    format!(
                        "The rowtime attribute field '{column}' is not defined in the table schema"
                    )
                })?;
                if !matches!(schema.field(index).data_type(), DataType::Timestamp(..)) {
                    return Err(format!(
                        "Invalid data type of time field for watermark definition. The field must be of type TIMESTAMP(p) or TIMESTAMP_LTZ(p), the supported precision 'p' is from 0 to 3, but the time field type is {}",
                        schema.field(index).data_type()
                    ));
                }
                let df = DFSchema::try_from(schema.as_ref().clone()).map_err(message)?;
                Some((index, self.expr(sql, &df)?))
            }
            None => None,
        };
        let entry = TableEntry {
            connector,
            schema,
            physical: Arc::new(Schema::new(physical)),
            watermark,
            proctime,
            computed,
            def,
        };
        self.tables.insert(entry.def.name.clone(), entry);
        Ok(())
    }

    pub(crate) fn create_view(
        &mut self,
        name: String,
        columns: &[String],
        query: &Query,
    ) -> Result<(), String> {
        if self.tables.contains_key(&name) || self.views.contains_key(&name) {
            return Err(format!(
                "Table or view `{name}` already exists in the job's catalog"
            ));
        }
        let mut plan = self.query(query)?;
        if !columns.is_empty() {
            if columns.len() != plan.schema().fields().len() {
                return Err(format!(
                    "the view {name} names {} columns but its query has {}",
                    columns.len(),
                    plan.schema().fields().len()
                ));
            }
            let exprs = plan
                .schema()
                .columns()
                .into_iter()
                .zip(columns)
                .map(|(c, n)| Expr::Column(c).alias(n))
                .collect::<Vec<_>>();
            plan = datafusion_expr::LogicalPlanBuilder::from(plan)
                .project(exprs)
                .and_then(|b| b.build())
                .map_err(message)?;
        }
        self.views.insert(name, plan);
        Ok(())
    }

    pub(crate) fn insert(
        &mut self,
        table: &str,
        columns: &[String],
        query: &Query,
    ) -> Result<(), String> {
        let entry = self.tables.get(table).ok_or_else(|| {
            format!("Object '{table}' not found within 'default_catalog.default_database'")
        })?;
        match entry.connector.connector {
            Connector::Datagen { .. } => {
                return Err(format!(
                    "Table sink 'default_catalog.default_database.{table}' cannot be written: the datagen connector only reads"
                ));
            }
            Connector::Filesystem { .. } => {
                return Err(format!(
                    "Table sink 'default_catalog.default_database.{table}' cannot be written: writing the 'filesystem' connector's files is not supported by Freshet's embedded engine yet (it reads them, as a bounded source or a lookup join's table); write S3 objects through a 'firehose' table"
                ));
            }
            _ => {}
        }
        let sink_schema = entry.physical.clone();
        let plan = self.query(query)?;
        let compiled = self.compile(&plan)?;
        let query_schema = plan.schema().clone();
        // The query's columns by position, to the sink's (named) columns.
        let targets: Vec<usize> = if columns.is_empty() {
            (0..sink_schema.fields().len()).collect()
        } else {
            columns
                .iter()
                .map(|c| {
                    sink_schema
                        .index_of(c)
                        .map_err(|_| format!("Unknown target column '{c}'"))
                })
                .collect::<Result<_, _>>()?
        };
        if targets.len() != query_schema.fields().len() {
            return Err(format!(
                "Column types of query result and sink for 'default_catalog.default_database.{table}' do not match.\nCause: Different number of columns.\n\nQuery schema: [{}]\nSink schema:  [{}]",
                describe(query_schema.as_arrow()),
                describe(&sink_schema)
            ));
        }
        let mut exprs = Vec::new();
        for (i, field) in sink_schema.fields().iter().enumerate() {
            let expr = match targets.iter().position(|t| *t == i) {
                Some(q) => {
                    let column = Expr::Column(Column::from(query_schema.qualified_field(q)));
                    if query_schema.field(q).data_type() == field.data_type() {
                        column
                    } else {
                        Expr::Cast(Cast::new(Box::new(column), field.data_type().clone()))
                    }
                }
                None => Expr::Cast(Cast::new(
                    Box::new(Expr::Literal(ScalarValue::Null, None)),
                    field.data_type().clone(),
                )),
            };
            exprs.push(self.functions.physical(&expr, &query_schema)?);
        }
        let schema = Arc::new(Schema::new(
            sink_schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ));
        let map = self.add(
            Op::Map {
                filter: None,
                exprs: Some(exprs),
                schema: schema.clone(),
            },
            vec![compiled.node],
        );
        let entry = &self.tables[table];
        let partition_key = entry
            .def
            .partitioned_by
            .iter()
            .map(|c| {
                schema
                    .index_of(c)
                    .map_err(|_| format!("Partition column '{c}' not defined in the table schema"))
            })
            .collect::<Result<_, _>>()?;
        let sink = SinkTable {
            name: table.to_string(),
            connector: entry.connector.connector.clone(),
            format: entry.connector.format,
            partition_key,
        };
        self.sinks.push(sink);
        self.add(Op::Sink(self.sinks.len() - 1), vec![map]);
        Ok(())
    }

    fn add(&mut self, op: Op, inputs: Vec<usize>) -> usize {
        let id = self.nodes.len();
        for (side, input) in inputs.iter().enumerate() {
            self.nodes[*input].consumers.push((id, side));
        }
        let key = format!("{id}:{}", op.kind());
        self.nodes.push(Node {
            op,
            inputs,
            consumers: Vec::new(),
            id: key,
        });
        id
    }

    fn compile(&mut self, plan: &LogicalPlan) -> Result<Compiled, String> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                if scan.projection.is_some() || !scan.filters.is_empty() {
                    return Err("a projected table scan is not expected here".into());
                }
                self.relation(scan.table_name.table())
            }
            LogicalPlan::SubqueryAlias(alias) => self.compile(&alias.input),
            LogicalPlan::Projection(projection) => {
                let (input, filter) = match projection.input.as_ref() {
                    LogicalPlan::Filter(f) if !is_join_input(&f.input) => {
                        let input = self.compile(&f.input)?;
                        let filter = self.functions.physical(&f.predicate, f.input.schema())?;
                        (input, Some(filter))
                    }
                    other => (self.compile(other)?, None),
                };
                let in_schema = projection.input.schema();
                let mut attrs = Vec::new();
                let mut exprs = Vec::new();
                for expr in &projection.expr {
                    attrs.push(column_of(expr, in_schema).and_then(|i| input.attrs[i]));
                    exprs.push(self.functions.physical(expr, in_schema)?);
                }
                let schema = Arc::new(projection.schema.as_arrow().clone());
                let node = self.add(
                    Op::Map {
                        filter,
                        exprs: Some(exprs),
                        schema,
                    },
                    vec![input.node],
                );
                Ok(Compiled { node, attrs })
            }
            LogicalPlan::Filter(filter) => {
                if let LogicalPlan::Join(join) = filter.input.as_ref() {
                    return self.join(join, Some(&filter.predicate));
                }
                let input = self.compile(&filter.input)?;
                let predicate = self.functions.physical(&filter.predicate, filter.input.schema())?;
                let schema = Arc::new(filter.input.schema().as_arrow().clone());
                let node = self.add(
                    Op::Map {
                        filter: Some(predicate),
                        exprs: None,
                        schema,
                    },
                    vec![input.node],
                );
                Ok(Compiled {
                    node,
                    attrs: input.attrs,
                })
            }
            LogicalPlan::Aggregate(aggregate) => self.aggregate(aggregate),
            LogicalPlan::Join(join) => self.join(join, None),
            LogicalPlan::Union(union) => {
                let inputs = union
                    .inputs
                    .iter()
                    .map(|i| self.compile(i))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut attrs = inputs[0].attrs.clone();
                for other in &inputs[1..] {
                    for (a, b) in attrs.iter_mut().zip(&other.attrs) {
                        if a != b {
                            *a = None;
                        }
                    }
                }
                let node = self.add(Op::Union, inputs.iter().map(|c| c.node).collect());
                Ok(Compiled { node, attrs })
            }
            LogicalPlan::Distinct(_) => Err(updating("SELECT DISTINCT")),
            LogicalPlan::Sort(_) | LogicalPlan::Limit(_) => Err(
                "Sort on a non-time-attribute field is not supported (ORDER BY and LIMIT need an ending stream)"
                    .into(),
            ),
            LogicalPlan::Window(window) => self.over(window),
            other => Err(format!(
                "this query shape is not supported by Freshet's embedded engine: {}",
                other.display()
            )),
        }
    }

    /// A name in FROM: a table (its source, created once), a view (its query, compiled where
    /// it is read), or a window table.
    fn relation(&mut self, name: &str) -> Result<Compiled, String> {
        if let Some(i) = name
            .strip_prefix("$window")
            .and_then(|n| n.parse::<usize>().ok())
        {
            return self.window(i);
        }
        if lookup_index(name).is_some() {
            return Err("FOR SYSTEM_TIME AS OF names a lookup join's table: the right side of a JOIN ... ON an equality with the left side's columns".into());
        }
        if let Some(view) = self.views.get(name).cloned() {
            return self.compile(&view);
        }
        let entry = self
            .tables
            .get(name)
            .ok_or_else(|| format!("Object '{name}' not found"))?;
        let mut attrs = vec![None; entry.schema.fields().len()];
        if let Some((rowtime, _)) = entry.watermark {
            attrs[rowtime] = Some(Attr::Rowtime);
        }
        if let Some(p) = entry.proctime {
            attrs[p] = Some(Attr::Proctime);
        }
        if let Some(&i) = self.source_index.get(name) {
            return Ok(Compiled {
                node: self.sources[i].node,
                attrs,
            });
        }
        if matches!(
            entry.connector.connector,
            Connector::Blackhole | Connector::Print { .. } | Connector::Firehose { .. }
        ) {
            return Err(format!(
                "Connector '{}' can only be used as a sink. It cannot be used as a source.",
                entry.connector.connector.name()
            ));
        }
        let source = self.source_table(name)?;
        let node = self.add(Op::Source, Vec::new());
        self.source_index
            .insert(name.to_string(), self.sources.len());
        self.sources.push(SourceTable { node, ..source });
        Ok(Compiled { node, attrs })
    }

    fn source_table(&self, name: &str) -> Result<SourceTable, String> {
        let entry = &self.tables[name];
        let connector = table_connector(&entry.def.options, &entry.def.partitioned_by)?;
        let decoder = match connector.format {
            Format::None => None,
            format => Some(Decoder::new(format, entry.physical.clone())?),
        };
        let df = DFSchema::try_from(entry.schema.as_ref().clone()).map_err(message)?;
        let mut base = Vec::new();
        let mut columns = Vec::new();
        let mut physical = 0;
        for (i, column) in entry.def.columns.iter().enumerate() {
            let field = entry.schema.field(i).clone();
            match &column.kind {
                ColumnKind::Physical => {
                    columns.push(SourceColumn::Physical(physical));
                    physical += 1;
                    base.push(field);
                }
                ColumnKind::Metadata(key) => {
                    columns.push(SourceColumn::Metadata(metadata_key(
                        key,
                        &connector.connector,
                    )?));
                    base.push(field);
                }
                ColumnKind::Computed(_) if entry.proctime == Some(i) => {
                    columns.push(SourceColumn::Proctime);
                }
                ColumnKind::Computed(_) => columns.push(SourceColumn::Proctime),
            }
        }
        let base_schema = Arc::new(Schema::new(base));
        let base_df = DFSchema::try_from(base_schema.as_ref().clone()).map_err(message)?;
        for (i, expr) in &entry.computed {
            columns[*i] = SourceColumn::Computed(self.functions.physical(expr, &base_df)?);
        }
        let watermark = entry
            .watermark
            .as_ref()
            .map(|(_, e)| self.functions.physical(e, &df))
            .transpose()?;
        Ok(SourceTable {
            name: name.to_string(),
            decoder,
            schema: entry.schema.clone(),
            columns,
            base_schema,
            watermark,
            proctime: entry.proctime.is_some(),
            lookup: false,
            node: 0,
            connector,
        })
    }

    /// Lookup table `i` as a join's right side: its own source (a lookup join's table is
    /// loaded for each join that reads it, and its rows carry no time), once the AS OF is
    /// found to be the left side's processing time, as Flink's lookup joins require.
    fn lookup_source(
        &mut self,
        i: usize,
        left_schema: &DFSchema,
        left: &Compiled,
    ) -> Result<Compiled, String> {
        let lookup = self.lookups[i].clone();
        let entry = self.tables.get(&lookup.table).ok_or_else(|| {
            if self.views.contains_key(&lookup.table) {
                format!(
                    "{} is a view: a lookup join (FOR SYSTEM_TIME AS OF) reads a 'filesystem' table",
                    lookup.table
                )
            } else {
                format!(
                    "Object '{}' not found within 'default_catalog.default_database'",
                    lookup.table
                )
            }
        })?;
        if !matches!(entry.connector.connector, Connector::Filesystem { .. }) {
            return Err(format!(
                "Processing-time temporal join is not supported on the '{}' connector's table {}: a lookup join (FOR SYSTEM_TIME AS OF) reads a 'filesystem' table in Freshet's embedded engine",
                entry.connector.connector.name(),
                lookup.table
            ));
        }
        let time = self.expr(&lookup.time, left_schema)?;
        match column_of(&time, left_schema).and_then(|c| left.attrs[c]) {
            Some(Attr::Proctime) => {}
            Some(Attr::Rowtime) => {
                return Err(format!(
                    "Event-Time Temporal Table Join requires both primary key and row time attribute in versioned table, but no row time attribute can be found: FOR SYSTEM_TIME AS OF {} is event time, and a lookup join of the 'filesystem' table {} is by processing time (a PROCTIME() column)",
                    lookup.time, lookup.table
                ));
            }
            _ => {
                return Err(format!(
                    "Temporal table join currently only supports 'FOR SYSTEM_TIME AS OF' left table's time attribute field, not {}",
                    lookup.time
                ));
            }
        }
        let width = entry.schema.fields().len();
        let source = self.source_table(&lookup.table)?;
        let node = self.add(Op::Source, Vec::new());
        self.sources.push(SourceTable {
            node,
            lookup: true,
            ..source
        });
        Ok(Compiled {
            node,
            attrs: vec![None; width],
        })
    }

    fn window(&mut self, i: usize) -> Result<Compiled, String> {
        let tvf = self.windows[i].clone();
        if tvf.kind == WindowKind::Session {
            return Err(
                "SESSION windows are supported in window aggregations only (GROUP BY window_start, window_end)".into(),
            );
        }
        let input = self.relation(&tvf.input)?;
        let schema = self.relation_schema(&tvf.input)?;
        let assign = self.window_assign(&tvf, &schema, &input)?;
        let node = self.add(Op::Assign(assign), vec![input.node]);
        // The input's time attribute is a plain timestamp after the window function.
        let mut attrs: Vec<Option<Attr>> = input
            .attrs
            .iter()
            .map(|a| a.filter(|a| !a.is_time()))
            .collect();
        attrs.extend([
            Some(Attr::WindowStart),
            Some(Attr::WindowEnd),
            Some(Attr::Rowtime),
        ]);
        Ok(Compiled { node, attrs })
    }

    /// A TUMBLE, HOP or CUMULATE window function over `input` (of `schema`).
    fn window_assign(
        &self,
        tvf: &WindowTvf,
        schema: &SchemaRef,
        input: &Compiled,
    ) -> Result<WindowAssign, String> {
        let time = time_column(schema, input, tvf)?;
        let size = self.interval(&tvf.size)?;
        let step = match &tvf.step {
            Some(s) => self.interval(s)?,
            None => size,
        };
        let offset = tvf
            .offset
            .as_ref()
            .map(|o| self.interval(o))
            .transpose()?
            .unwrap_or(0);
        if size % step != 0 {
            return Err(match tvf.kind {
                WindowKind::Hop => "HOP table function based aggregate requires size must be an integral multiple of slide",
                _ => "CUMULATE table function based aggregate requires maxSize must be an integral multiple of step",
            }
            .into());
        }
        Ok(WindowAssign {
            time,
            kind: tvf.kind,
            size,
            step,
            offset,
            schema: window_schema(schema),
        })
    }

    fn relation_schema(&self, name: &str) -> Result<SchemaRef, String> {
        if let Some(view) = self.views.get(name) {
            return Ok(Arc::new(view.schema().as_arrow().clone()));
        }
        self.tables
            .get(name)
            .map(|t| t.schema.clone())
            .ok_or_else(|| format!("Object '{name}' not found"))
    }

    /// A window's size, slide, gap or offset in ms.
    fn interval(&self, sql: &SqlExpr) -> Result<i64, String> {
        let value = constant(self.functions, sql.clone())?;
        let ms = match &value {
            ScalarValue::IntervalMonthDayNano(Some(i)) => interval_ms(i),
            ScalarValue::IntervalDayTime(Some(i)) => {
                Some(i64::from(i.days) * 86_400_000 + i64::from(i.milliseconds))
            }
            _ => None,
        };
        ms.filter(|ms| *ms > 0)
            .ok_or_else(|| format!("a window's size is a positive day-time INTERVAL, not {sql}"))
    }

    fn aggregate(&mut self, aggregate: &datafusion_expr::Aggregate) -> Result<Compiled, String> {
        if let Some((tvf, filters)) = session_input(&aggregate.input, &self.windows) {
            return self.session(aggregate, tvf, filters);
        }
        if let Some(fused) = self.fused_window_aggregate(aggregate)? {
            return Ok(fused);
        }
        let input = self.compile(&aggregate.input)?;
        let in_schema = aggregate.input.schema();
        let columns: Vec<Option<usize>> = aggregate
            .group_expr
            .iter()
            .map(|g| column_of(g, in_schema))
            .collect();
        let end_key = columns
            .iter()
            .position(|c| c.is_some_and(|c| input.attrs[c] == Some(Attr::WindowEnd)))
            .ok_or_else(|| {
                updating("GROUP BY without window_start and window_end of a window table function")
            })?;
        let keys = aggregate
            .group_expr
            .iter()
            .map(|g| self.functions.physical(g, in_schema).map(Key::Expr))
            .collect::<Result<Vec<_>, _>>()?;
        let aggregates = self.aggregate_specs(&aggregate.aggr_expr, in_schema)?;
        let schema = Arc::new(aggregate.schema.as_arrow().clone());
        let op = WindowAggregate::new(keys, end_key, None, aggregates, schema)?;
        let mut attrs: Vec<Option<Attr>> = columns
            .iter()
            .map(|c| c.and_then(|c| input.attrs[c]))
            .collect();
        attrs.extend(std::iter::repeat_n(None, aggregate.aggr_expr.len()));
        let node = self.add(Op::Aggregate(Box::new(op)), vec![input.node]);
        Ok(Compiled { node, attrs })
    }

    /// A window aggregate reading a TUMBLE, HOP or CUMULATE table function directly (through
    /// aliases), whose keys are the window's bounds or expressions of the input's columns, and
    /// whose arguments read only the input's columns: the window function is fused into the
    /// aggregate, which then repeats per window only the values it aggregates, not whole rows.
    /// None when the query has another shape (then the window function runs on its own).
    fn fused_window_aggregate(
        &mut self,
        aggregate: &datafusion_expr::Aggregate,
    ) -> Result<Option<Compiled>, String> {
        let mut plan = aggregate.input.as_ref();
        while let LogicalPlan::SubqueryAlias(a) = plan {
            plan = &a.input;
        }
        let LogicalPlan::TableScan(scan) = plan else {
            return Ok(None);
        };
        let Some(index) = scan
            .table_name
            .table()
            .strip_prefix("$window")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return Ok(None);
        };
        let tvf = self.windows[index].clone();
        if tvf.kind == WindowKind::Session {
            return Ok(None);
        }
        let window_df = aggregate.input.schema();
        let schema = self.relation_schema(&tvf.input)?;
        let width = schema.fields().len();
        let reads_window = |e: &Expr| {
            e.column_refs()
                .iter()
                .any(|c| window_df.index_of_column(c).is_ok_and(|i| i >= width))
        };
        let mut keys = Vec::new();
        let mut attrs = Vec::new();
        for g in &aggregate.group_expr {
            match column_of(g, window_df).and_then(|i| i.checked_sub(width)) {
                Some(bound) => {
                    keys.push(Key::Bound(bound));
                    attrs.push(Some(
                        [Attr::WindowStart, Attr::WindowEnd, Attr::Rowtime][bound],
                    ));
                }
                None if reads_window(g) => return Ok(None),
                None => {
                    keys.push(Key::Expr(self.functions.physical(g, window_df)?));
                    attrs.push(None);
                }
            }
        }
        let Some(end_key) = keys.iter().position(|k| matches!(k, Key::Bound(1))) else {
            return Ok(None);
        };
        if aggregate.aggr_expr.iter().any(reads_window) {
            return Ok(None);
        }
        let input = self.relation(&tvf.input)?;
        let assign = self.window_assign(&tvf, &schema, &input)?;
        let aggregates = self.aggregate_specs(&aggregate.aggr_expr, window_df)?;
        let out = Arc::new(aggregate.schema.as_arrow().clone());
        let op = WindowAggregate::new(keys, end_key, Some(assign), aggregates, out)?;
        attrs.extend(std::iter::repeat_n(None, aggregate.aggr_expr.len()));
        let node = self.add(Op::Aggregate(Box::new(op)), vec![input.node]);
        Ok(Some(Compiled { node, attrs }))
    }

    fn aggregate_specs(
        &self,
        exprs: &[Expr],
        schema: &DFSchema,
    ) -> Result<Vec<crate::operator::AggregateSpec>, String> {
        exprs
            .iter()
            .map(|e| {
                let Expr::AggregateFunction(agg) = strip_alias(e) else {
                    return Err(format!("not an aggregate: {e}"));
                };
                aggregate(self.functions, &count_star(agg.clone()), schema).map(|(spec, _)| spec)
            })
            .collect()
    }

    fn session(
        &mut self,
        aggregate: &datafusion_expr::Aggregate,
        index: usize,
        filters: Vec<Expr>,
    ) -> Result<Compiled, String> {
        let tvf = self.windows[index].clone();
        let input = self.relation(&tvf.input)?;
        let schema = self.relation_schema(&tvf.input)?;
        let time = time_column(&schema, &input, &tvf)?;
        let gap = self.interval(&tvf.size)?;
        // Expressions are planned over the window table; its own columns come after the
        // input's, so over the input's rows they read the same places.
        let window_df = aggregate.input.schema();
        let input_len = schema.fields().len();
        let reads_window = |e: &Expr| {
            e.column_refs()
                .iter()
                .any(|c| window_df.index_of_column(c).is_ok_and(|i| i >= input_len))
        };
        let mut node = input.node;
        if !filters.is_empty() {
            if filters.iter().any(reads_window) {
                return Err(
                    "a filter on window_start or window_end of a SESSION window is not supported"
                        .into(),
                );
            }
            let predicate =
                datafusion_expr::utils::conjunction(filters).ok_or("an empty filter")?;
            let filter = self.functions.physical(&predicate, window_df)?;
            node = self.add(
                Op::Map {
                    filter: Some(filter),
                    exprs: None,
                    schema: schema.clone(),
                },
                vec![node],
            );
        }
        let mut layout = Vec::new();
        let mut keys = Vec::new();
        let mut key_types = Vec::new();
        let mut key_names = Vec::new();
        for g in &aggregate.group_expr {
            match column_of(g, window_df).map(|i| i.checked_sub(input_len)) {
                Some(Some(0)) => layout.push(SessionColumn::Start),
                Some(Some(1)) => layout.push(SessionColumn::End),
                Some(Some(_)) => layout.push(SessionColumn::Time),
                _ => {
                    if reads_window(g) {
                        return Err("a SESSION window's keys cannot compute on its bounds".into());
                    }
                    layout.push(SessionColumn::Key(keys.len()));
                    key_types.push(crate::expr::type_of(g, window_df)?);
                    if let Some(i) = column_of(g, window_df) {
                        key_names.push(schema.field(i).name().clone());
                    }
                    keys.push(self.functions.physical(g, window_df)?);
                }
            }
        }
        if let Some(missing) = tvf.partition.iter().find(|p| !key_names.contains(p)) {
            return Err(format!(
                "the SESSION window's PARTITION BY column {missing} must be grouped by too"
            ));
        }
        let aggregates = self.aggregate_specs(&aggregate.aggr_expr, window_df)?;
        let out_schema = Arc::new(aggregate.schema.as_arrow().clone());
        let time_expr = self.functions.physical(
            &Expr::Column(Column::from(window_df.qualified_field(time))),
            window_df,
        )?;
        let op = SessionAggregate::new(
            time_expr,
            keys,
            key_types,
            gap,
            aggregates,
            layout.clone(),
            out_schema,
        )?;
        let mut attrs: Vec<Option<Attr>> = layout
            .iter()
            .map(|l| match l {
                SessionColumn::Start => Some(Attr::WindowStart),
                SessionColumn::End => Some(Attr::WindowEnd),
                SessionColumn::Time => Some(Attr::Rowtime),
                SessionColumn::Key(_) => None,
            })
            .collect();
        attrs.extend(std::iter::repeat_n(None, aggregate.aggr_expr.len()));
        let node = self.add(Op::Session(Box::new(op)), vec![node]);
        Ok(Compiled { node, attrs })
    }

    /// `AGG(x) OVER (PARTITION BY ... ORDER BY time attribute [frame])`, each window run by the
    /// KDA engine's sliding windows over rows led by the ORDER BY time.
    fn over(&mut self, window: &datafusion_expr::logical_plan::Window) -> Result<Compiled, String> {
        use datafusion_expr::{WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition};
        let input = self.compile(&window.input)?;
        let in_schema = window.input.schema();
        // The input's columns led by the time: the sliding windows read their time first.
        let mut qualifiers = vec![None];
        let mut fields = vec![Arc::new(Field::new("$time", TIMESTAMP, false))];
        for (q, f) in in_schema.iter() {
            qualifiers.push(q.cloned());
            fields.push(f.clone());
        }
        let led_arrow = Arc::new(Schema::new(fields));
        let led = DFSchema::from_field_specific_qualified_schema(qualifiers, &led_arrow)
            .map_err(message)?;
        let mut time = None;
        let mut windows = Vec::new();
        let mut range_partitions = Vec::new();
        for e in &window.window_expr {
            let Expr::WindowFunction(f) = strip_alias(e) else {
                return Err(format!("not a window function: {e}"));
            };
            let WindowFunctionDefinition::AggregateUDF(udaf) = &f.fun else {
                return Err(format!(
                    "{} OVER a window is not supported by Freshet's embedded engine yet (aggregate functions are)",
                    f.fun
                ));
            };
            let p = &f.params;
            let [order] = p.order_by.as_slice() else {
                return Err("OVER windows' ordering in stream mode must be defined on a time attribute (ORDER BY one time attribute)".into());
            };
            let column = column_of(&order.expr, in_schema)
                .filter(|c| input.attrs[*c].is_some_and(Attr::is_time) && order.asc)
                .ok_or("OVER windows' ordering in stream mode must be defined on a time attribute, ascending")?;
            if time.is_some_and(|t| t != column) {
                return Err(
                    "every OVER window of a query orders by the same time attribute".into(),
                );
            }
            time = Some(column);
            let frame = &p.window_frame;
            if !matches!(frame.end_bound, WindowFrameBound::CurrentRow) {
                return Err("an OVER window ends at the CURRENT ROW".into());
            }
            let frame = match (&frame.units, &frame.start_bound) {
                (_, WindowFrameBound::Preceding(v)) if v.is_null() => {
                    crate::sliding::Frame::Unbounded
                }
                (WindowFrameUnits::Range, WindowFrameBound::Preceding(v)) => {
                    let ms = match v {
                        ScalarValue::IntervalMonthDayNano(Some(i)) => interval_ms(i),
                        ScalarValue::IntervalDayTime(Some(i)) => {
                            Some(i64::from(i.days) * 86_400_000 + i64::from(i.milliseconds))
                        }
                        _ => None,
                    };
                    crate::sliding::Frame::Range(
                        ms.ok_or("a RANGE OVER window's bound is a day-time INTERVAL")?,
                    )
                }
                (WindowFrameUnits::Rows, WindowFrameBound::Preceding(v)) => {
                    let n = match v {
                        ScalarValue::UInt64(Some(n)) => *n as usize,
                        ScalarValue::Int64(Some(n)) if *n >= 0 => *n as usize,
                        _ => return Err("a ROWS OVER window's bound is a number of rows".into()),
                    };
                    crate::sliding::Frame::Rows(n)
                }
                _ => {
                    return Err(
                        "an OVER window starts PRECEDING the current row (or UNBOUNDED PRECEDING)"
                            .into(),
                    );
                }
            };
            let agg = datafusion_expr::expr::AggregateFunction::new_udf(
                udaf.clone(),
                p.args.clone(),
                p.distinct,
                None,
                Vec::new(),
                None,
            );
            let (spec, _) = aggregate(self.functions, &count_star(agg), &led)?;
            let partition_by = p
                .partition_by
                .iter()
                .map(|e| self.functions.physical(e, &led))
                .collect::<Result<Vec<_>, _>>()?;
            let types = p
                .partition_by
                .iter()
                .map(|e| crate::expr::type_of(e, &led))
                .collect::<Result<Vec<_>, _>>()?;
            range_partitions.push(
                matches!(
                    frame,
                    crate::sliding::Frame::Range(_) | crate::sliding::Frame::Unbounded
                )
                .then(|| partition_by.clone()),
            );
            windows.push(crate::sliding::Window::new(
                spec,
                partition_by,
                types,
                frame,
            )?);
        }
        let time = time.ok_or("an OVER window without a function")?;
        // What the sliding windows put out: the time, the input's columns, each window's value.
        let inputs = in_schema.fields().len();
        let mut extended: Vec<Field> = led_arrow
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut outputs: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
        for i in 0..inputs {
            outputs.push(Arc::new(
                datafusion_physical_expr::expressions::Column::new(&format!("c{i}"), i + 1),
            ));
        }
        for (w, field) in window.schema.fields()[inputs..].iter().enumerate() {
            extended.push(field.as_ref().clone().with_name(format!("$w{w}")));
            outputs.push(Arc::new(
                datafusion_physical_expr::expressions::Column::new(
                    &format!("w{w}"),
                    1 + inputs + w,
                ),
            ));
        }
        let schema = Arc::new(window.schema.as_arrow().clone());
        let mut out_fields = vec![Field::new("$time", TIMESTAMP, false)];
        out_fields.extend(schema.fields().iter().map(|f| f.as_ref().clone()));
        let sliding = crate::sliding::Sliding::new(
            None,
            windows,
            outputs,
            Arc::new(Schema::new(extended)),
            Arc::new(Schema::new(out_fields)),
        );
        let op = Over::new(time, sliding, range_partitions, led_arrow, schema)?;
        let mut attrs = input.attrs.clone();
        attrs.extend(std::iter::repeat_n(None, window.window_expr.len()));
        let node = self.add(Op::Over(Box::new(op)), vec![input.node]);
        Ok(Compiled { node, attrs })
    }

    fn join(
        &mut self,
        join: &datafusion_expr::logical_plan::Join,
        extra: Option<&Expr>,
    ) -> Result<Compiled, String> {
        let kind = match join.join_type {
            JoinType::Inner => JoinKind::Inner,
            JoinType::Left => JoinKind::Left,
            JoinType::Right => JoinKind::Right,
            JoinType::Full => JoinKind::Full,
            other => {
                return Err(format!(
                    "{other} joins (IN / EXISTS subqueries) are not supported by Freshet's embedded engine yet"
                ));
            }
        };
        let lookup = lookup_of(&join.right);
        if extra.is_some() && kind != JoinKind::Inner && lookup.is_none() {
            return Err("a WHERE clause over an outer join is not supported yet".into());
        }
        let left = self.compile(&join.left)?;
        let (ls, rs) = (join.left.schema(), join.right.schema());
        let right = match lookup {
            Some(i) => self.lookup_source(i, ls, &left)?,
            None => self.compile(&join.right)?,
        };
        let mut conjuncts: Vec<Expr> = join
            .on
            .iter()
            .map(|(l, r)| l.clone().eq(r.clone()))
            .collect();
        // A WHERE over a lookup join filters what it emits (for a LEFT join, after the rows
        // that met nothing got their NULLs); over any other join it is part of the condition.
        let condition_extra = if lookup.is_some() { None } else { extra };
        for e in join.filter.iter().chain(condition_extra) {
            conjuncts.extend(split_conjunction(e).into_iter().cloned());
        }
        let side_of = |e: &Expr| -> Option<usize> {
            let refs = e.column_refs();
            if refs.is_empty() {
                None
            } else if refs.iter().all(|c| ls.has_column(c)) {
                Some(0)
            } else if refs.iter().all(|c| rs.has_column(c)) {
                Some(1)
            } else {
                None
            }
        };
        let mut keys: [Vec<Expr>; 2] = [Vec::new(), Vec::new()];
        let mut residual = Vec::new();
        for c in conjuncts {
            if let Expr::BinaryExpr(BinaryExpr {
                left: a,
                op: Operator::Eq,
                right: b,
            }) = &c
            {
                match (side_of(a), side_of(b)) {
                    (Some(0), Some(1)) => {
                        keys[0].push(a.as_ref().clone());
                        keys[1].push(b.as_ref().clone());
                        continue;
                    }
                    (Some(1), Some(0)) => {
                        keys[0].push(b.as_ref().clone());
                        keys[1].push(a.as_ref().clone());
                        continue;
                    }
                    _ => {}
                }
            }
            residual.push(c);
        }
        let attr_of = |e: &Expr, schema: &DFSchema, c: &Compiled| {
            column_of(e, schema)
                .and_then(|i| c.attrs[i])
                .map(|a| (column_of(e, schema).unwrap_or(0), a))
        };
        let window_ends = keys[0].iter().zip(&keys[1]).find_map(|(l, r)| {
            match (attr_of(l, ls, &left), attr_of(r, rs, &right)) {
                (Some((li, Attr::WindowEnd)), Some((ri, Attr::WindowEnd))) => Some([li, ri]),
                _ => None,
            }
        });
        let bounds = if window_ends.is_none() {
            interval_bounds(&residual, ls, rs, &left, &right)
        } else {
            None
        };
        let mut key_types = Vec::new();
        let mut physical: [Vec<Arc<dyn PhysicalExpr>>; 2] = [Vec::new(), Vec::new()];
        for (l, r) in keys[0].iter().zip(&keys[1]) {
            let lt = crate::expr::type_of(l, ls)?;
            let rt = crate::expr::type_of(r, rs)?;
            let r = if lt == rt {
                r.clone()
            } else {
                Expr::Cast(Cast::new(Box::new(r.clone()), lt.clone()))
            };
            physical[0].push(self.functions.physical(l, ls)?);
            physical[1].push(self.functions.physical(&r, rs)?);
            key_types.push(lt);
        }
        let filter = datafusion_expr::utils::conjunction(residual)
            .map(|f| self.functions.physical(&f, &join.schema))
            .transpose()?;
        let schema = Arc::new(join.schema.as_arrow().clone());
        let spec = JoinSpec::new(physical, key_types, filter, kind, schema)?;
        let schemas = [
            Arc::new(ls.as_arrow().clone()),
            Arc::new(rs.as_arrow().clone()),
        ];
        let mut attrs: Vec<Option<Attr>> = left.attrs.iter().chain(&right.attrs).copied().collect();
        if let Some(i) = lookup {
            if spec.keys[0].is_empty() {
                return Err(format!(
                    "Temporal table join requires an equality condition on fields of table [default_catalog.default_database.{}].",
                    self.lookups[i].table
                ));
            }
            if !matches!(kind, JoinKind::Inner | JoinKind::Left) {
                return Err(format!(
                    "{} JOIN ... FOR SYSTEM_TIME AS OF is not supported: a lookup join is INNER or LEFT",
                    join.join_type
                ));
            }
            let op = Op::Lookup(Box::new(LookupJoin::new(spec, schemas)));
            let mut node = self.add(op, vec![left.node, right.node]);
            if let Some(predicate) = extra {
                let filter = self.functions.physical(predicate, &join.schema)?;
                node = self.add(
                    Op::Map {
                        filter: Some(filter),
                        exprs: None,
                        schema: Arc::new(join.schema.as_arrow().clone()),
                    },
                    vec![node],
                );
            }
            return Ok(Compiled { node, attrs });
        }
        let op = match (window_ends, bounds) {
            (Some(ends), _) => Op::WindowJoin(Box::new(WindowJoin::new(spec, ends, schemas))),
            (None, bounds) => {
                if kind != JoinKind::Inner {
                    return Err(updating("an outer join that is not a window join"));
                }
                if bounds.is_none() {
                    // A regular join's rows are kept for ever: no time to close anything on.
                    attrs = vec![None; attrs.len()];
                }
                Op::Join(Box::new(StreamJoin::new(spec, bounds, schemas)))
            }
        };
        let node = self.add(op, vec![left.node, right.node]);
        Ok(Compiled { node, attrs })
    }
}

/// Bounds `lower <= l.t - r.t <= upper` from the residual conditions, over time attributes of
/// both sides: an interval join. None when a bound is missing (a regular join).
fn interval_bounds(
    residual: &[Expr],
    ls: &DFSchema,
    rs: &DFSchema,
    left: &Compiled,
    right: &Compiled,
) -> Option<([usize; 2], i64, i64)> {
    let mut lower: Option<i64> = None;
    let mut upper: Option<i64> = None;
    let mut times: Option<[usize; 2]> = None;
    // `e` as (side, column, offset ms): a time attribute plus or minus an interval.
    let linear = |e: &Expr| -> Option<(usize, usize, i64)> {
        let (column, offset) = match e {
            Expr::BinaryExpr(BinaryExpr {
                left: a,
                op,
                right: b,
            }) if matches!(op, Operator::Plus | Operator::Minus) => {
                let Expr::Literal(value, _) = b.as_ref() else {
                    return None;
                };
                let ms = match value {
                    ScalarValue::IntervalMonthDayNano(Some(i)) => interval_ms(i)?,
                    ScalarValue::IntervalDayTime(Some(i)) => {
                        i64::from(i.days) * 86_400_000 + i64::from(i.milliseconds)
                    }
                    _ => return None,
                };
                (a.as_ref(), if *op == Operator::Plus { ms } else { -ms })
            }
            other => (other, 0),
        };
        let column = strip_cast(column);
        if let Some(i) = column_of(column, ls).filter(|i| left.attrs[*i].is_some()) {
            return Some((0, i, offset));
        }
        column_of(column, rs)
            .filter(|i| right.attrs[*i].is_some())
            .map(|i| (1, i, offset))
    };
    let mut bound = |a: &Expr, op: Operator, b: &Expr| {
        let (Some((sa, ca, oa)), Some((sb, cb, ob))) = (linear(a), linear(b)) else {
            return;
        };
        if sa == sb {
            return;
        }
        // a + oa  op  b + ob, as l.t - r.t op' k.
        let (op, k, l, r) = if sa == 0 {
            (op, ob - oa, ca, cb)
        } else {
            let flipped = match op {
                Operator::Lt => Operator::Gt,
                Operator::LtEq => Operator::GtEq,
                Operator::Gt => Operator::Lt,
                Operator::GtEq => Operator::LtEq,
                o => o,
            };
            (flipped, oa - ob, cb, ca)
        };
        if times.is_some_and(|t| t != [l, r]) {
            return;
        }
        times = Some([l, r]);
        match op {
            Operator::Lt => upper = Some(upper.map_or(k - 1, |u| u.min(k - 1))),
            Operator::LtEq => upper = Some(upper.map_or(k, |u| u.min(k))),
            Operator::Gt => lower = Some(lower.map_or(k + 1, |u| u.max(k + 1))),
            Operator::GtEq => lower = Some(lower.map_or(k, |u| u.max(k))),
            _ => {}
        }
    };
    for e in residual {
        match e {
            Expr::BinaryExpr(BinaryExpr {
                left: a,
                op,
                right: b,
            }) if matches!(
                op,
                Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq
            ) =>
            {
                bound(a, *op, b);
            }
            Expr::Between(between) if !between.negated => {
                bound(&between.expr, Operator::GtEq, &between.low);
                bound(&between.expr, Operator::LtEq, &between.high);
            }
            _ => {}
        }
    }
    match (times, lower, upper) {
        (Some(t), Some(lo), Some(hi)) => Some((t, lo, hi)),
        _ => None,
    }
}

/// The lookup table a join's side reads (through its alias), if it is one.
fn lookup_of(plan: &LogicalPlan) -> Option<usize> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => lookup_of(&a.input),
        LogicalPlan::TableScan(scan) => lookup_index(scan.table_name.table()),
        _ => None,
    }
}

/// A window table function's columns: its input's, then the window's.
fn window_schema(input: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("window_start", TIMESTAMP, false));
    fields.push(Field::new("window_end", TIMESTAMP, false));
    fields.push(Field::new("window_time", TIMESTAMP, false));
    Arc::new(Schema::new(fields))
}

fn time_column(schema: &SchemaRef, input: &Compiled, tvf: &WindowTvf) -> Result<usize, String> {
    let time = schema.index_of(&tvf.time).map_err(|_| {
        format!(
            "Unknown field '{}' in DESCRIPTOR of the window function",
            tvf.time
        )
    })?;
    if !input.attrs[time].is_some_and(Attr::is_time) {
        return Err(format!(
            "The window function requires the timecol is a time attribute type, but is {}.",
            schema.field(time).data_type()
        ));
    }
    Ok(time)
}

/// The window table a SESSION aggregate reads (through aliases and filters), and the filters.
fn session_input(plan: &LogicalPlan, windows: &[WindowTvf]) -> Option<(usize, Vec<Expr>)> {
    let mut filters = Vec::new();
    let mut plan = plan;
    loop {
        match plan {
            LogicalPlan::SubqueryAlias(a) => plan = &a.input,
            LogicalPlan::Filter(f) => {
                filters.push(f.predicate.clone());
                plan = &f.input;
            }
            LogicalPlan::TableScan(scan) => {
                let i = scan
                    .table_name
                    .table()
                    .strip_prefix("$window")?
                    .parse::<usize>()
                    .ok()?;
                return (windows.get(i)?.kind == WindowKind::Session).then_some((i, filters));
            }
            _ => return None,
        }
    }
}

fn is_join_input(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Join(_))
}

fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => strip_alias(&a.expr),
        other => other,
    }
}

fn strip_cast(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => strip_cast(&c.expr),
        Expr::Alias(a) => strip_cast(&a.expr),
        other => other,
    }
}

/// The input column `e` is (through aliases), if it is one.
fn column_of(e: &Expr, schema: &DFSchema) -> Option<usize> {
    match strip_alias(e) {
        Expr::Column(c) => schema.index_of_column(c).ok(),
        _ => None,
    }
}

fn is_proctime(sql: &SqlExpr) -> bool {
    matches!(sql, SqlExpr::Function(f) if f.name.to_string().eq_ignore_ascii_case("PROCTIME"))
}

fn metadata_key(key: &str, connector: &Connector) -> Result<MetadataKey, String> {
    if !matches!(connector, Connector::Kinesis { .. }) {
        return Err(format!(
            "Invalid metadata key '{key}': the {} connector has no metadata",
            connector.name()
        ));
    }
    Ok(match key {
        "timestamp" | "ApproximateArrivalTimestamp" => MetadataKey::Timestamp,
        "shard-id" | "ShardId" => MetadataKey::ShardId,
        "sequence-number" | "SequenceNumber" => MetadataKey::SequenceNumber,
        "partition-key" | "PartitionKey" => MetadataKey::PartitionKey,
        other => {
            return Err(format!(
                "Invalid metadata key '{other}' in column. Supported metadata keys are: timestamp, shard-id, sequence-number, partition-key."
            ));
        }
    })
}

fn updating(what: &str) -> String {
    format!(
        "{what} produces an updating result (rows retracted and replaced), which Freshet's embedded engine does not run yet: aggregate per window (window table functions) or join within windows or time bounds"
    )
}

fn describe(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A Flink type as Arrow's.
pub(crate) fn arrow_of(ty: &FlinkType) -> Result<DataType, String> {
    Ok(match ty {
        FlinkType::Sql(sql) => match sql {
            datafusion_sql::sqlparser::ast::DataType::Text
            | datafusion_sql::sqlparser::ast::DataType::String(_) => DataType::Utf8,
            datafusion_sql::sqlparser::ast::DataType::Bytes(_)
            | datafusion_sql::sqlparser::ast::DataType::Bytea => DataType::Binary,
            other => crate::types::arrow_type(other)?,
        },
        FlinkType::TimestampLtz => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        FlinkType::Row(fields) => DataType::Struct(
            fields
                .iter()
                .map(|(n, t)| Ok(Field::new(n, arrow_of(t)?, true)))
                .collect::<Result<Vec<_>, String>>()?
                .into(),
        ),
        FlinkType::Array(item) => {
            DataType::List(Arc::new(Field::new("element", arrow_of(item)?, true)))
        }
        FlinkType::Map(k, v) => DataType::Map(
            Arc::new(Field::new(
                "entries",
                DataType::Struct(
                    vec![
                        Field::new("key", arrow_of(k)?, false),
                        Field::new("value", arrow_of(v)?, true),
                    ]
                    .into(),
                ),
                false,
            )),
            false,
        ),
    })
}
