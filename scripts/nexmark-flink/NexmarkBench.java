import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.TableResult;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.types.Row;
import org.apache.flink.types.RowKind;
import org.apache.flink.util.CloseableIterator;

/**
 * Apache Flink as the peer of Freshet's Nexmark benchmark (run by scripts/bench-nexmark-peer.sh).
 *
 * <pre>
 *   NexmarkBench json COUNT [START]                      JSON lines of events START.. (for the
 *                                                        comparison with the Rust generator)
 *   NexmarkBench speed COUNT                             events (as rows) per second of this
 *                                                        generator alone, on one thread
 *   NexmarkBench bench SQL_FILE EVENTS WARMUP QUERY...   run each query on EVENTS events, after a
 *                                                        warm-up run of it on WARMUP events
 *   NexmarkBench count SQL_FILE EVENTS QUERY...          rows of each kind (+I, -U, +U, -D) each
 *                                                        query emits over EVENTS events (untimed)
 * </pre>
 *
 * <p>Each run is one Flink job in this JVM's local MiniCluster: the table {@code datagen} from the
 * Rust crate's Nexmark DDL with {@code 'connector' = 'nexmark'} ({@link NexmarkTableFactory}: a
 * bounded source of EVENTS events from {@link NexmarkGenerator}, as GenericRowData like Flink's
 * Nexmark connector produces them), the views person/auction/bid and the query's blackhole sink,
 * all read from SQL_FILE (written by the crate's example: {@code nexmark sql}). With
 * {@code -Dsource=datastream} the events enter through {@code fromDataStream} with the same
 * schema (computed {@code dateTime}, watermark 4 s behind) instead, which adds a conversion operator
 * and a copy of each event. The source ends, its final watermark fires every window, the job
 * finishes. Settings: parallelism 1, heap (hashmap) state, no checkpoints, and mini-batch on
 * (2 s / 50,000 rows) plus distinct-aggregate splitting, as Flink's Nexmark benchmark configures
 * them (its conf/config.yaml); object reuse off unless {@code -DobjectReuse=true}.
 *
 * <p>Per query it prints: events, wall seconds around the job (submission to completion, with the
 * local MiniCluster's start and stop), the job's own run time as Flink reports it (net), the JVM's
 * CPU seconds over the same span (all threads: task, GC, JIT), events per wall second and events
 * per CPU-second.
 */
public final class NexmarkBench {

  public static void main(String[] args) throws Exception {
    if (args.length >= 2 && args[0].equals("json")) {
      json(Long.parseLong(args[1]), args.length > 2 ? Long.parseLong(args[2]) : 0);
    } else if (args.length >= 4 && args[0].equals("count")) {
      countRows(Path.of(args[1]), Long.parseLong(args[2]), List.of(args).subList(3, args.length));
    } else if (args.length == 2 && args[0].equals("speed")) {
      speed(Long.parseLong(args[1]));
    } else if (args.length >= 5 && args[0].equals("bench")) {
      List<String> queries = new ArrayList<>();
      for (int i = 4; i < args.length; i++) {
        queries.add(args[i]);
      }
      bench(Path.of(args[1]), Long.parseLong(args[2]), Long.parseLong(args[3]), queries);
    } else {
      System.err.println(
          "usage: NexmarkBench json COUNT [START] | speed COUNT | bench SQL_FILE EVENTS WARMUP QUERY..."
              + " | count SQL_FILE EVENTS QUERY...");
      System.exit(2);
    }
  }

  private static void json(long count, long start) throws IOException {
    NexmarkGenerator generator = new NexmarkGenerator(new NexmarkGenerator.Config());
    OutputStream out = new BufferedOutputStream(System.out, 1 << 20);
    StringBuilder line = new StringBuilder(1024);
    for (long n = start; n < start + count; n++) {
      line.setLength(0);
      NexmarkGenerator.appendJson(generator.event(n), line);
      line.append('\n');
      out.write(line.toString().getBytes(StandardCharsets.UTF_8));
    }
    out.flush();
  }

  private static void speed(long count) {
    ToRow toRow = new ToRow(new NexmarkGenerator.Config());
    for (int round = 0; round < 3; round++) {
      long started = System.nanoTime();
      long checksum = 0;
      for (long n = 0; n < count; n++) {
        checksum += toRow.map(n).getArity();
      }
      double seconds = (System.nanoTime() - started) / 1e9;
      System.out.printf("round %d: %d events to rows in %.3f s = %.2f M events/s (%d)%n",
          round, count, seconds, count / seconds / 1e6, checksum);
    }
  }

  /** The SQL of the benchmark, from the sections of the Rust example's {@code nexmark sql}. */
  private static final class Sql {
    String table;
    final List<String> views = new ArrayList<>();
    final Map<String, String> sinkColumns = new LinkedHashMap<>();
    final Map<String, String> selects = new LinkedHashMap<>();

    static Sql read(Path file) throws IOException {
      Sql sql = new Sql();
      String kind = null;
      String name = null;
      StringBuilder text = new StringBuilder();
      for (String line : Files.readAllLines(file)) {
        if (line.startsWith("--@ ")) {
          sql.add(kind, name, text.toString().strip());
          String[] header = line.substring(4).trim().split("\\s+");
          kind = header[0];
          name = header.length > 1 ? header[1] : null;
          text.setLength(0);
        } else {
          text.append(line).append('\n');
        }
      }
      sql.add(kind, name, text.toString().strip());
      return sql;
    }

    String sinkColumns(String query) {
      return required(sinkColumns, query);
    }

    String select(String query) {
      return required(selects, query);
    }

    private static String required(Map<String, String> texts, String query) {
      String text = texts.get(query);
      if (text == null) {
        throw new IllegalArgumentException("no query " + query + " in the SQL file");
      }
      return text;
    }

    private void add(String kind, String name, String text) {
      if (kind == null) {
        return;
      }
      switch (kind) {
        case "table": table = text; break;
        case "view": views.add(text); break;
        case "sink": sinkColumns.put(name, text); break;
        case "query": selects.put(name, text); break;
        default: throw new IllegalArgumentException("unknown section " + kind);
      }
    }
  }

  /** The physical columns of Flink's Nexmark table ({@code ddl_gen.sql}). */
  static final RowType EVENT_TYPE = (RowType) eventDataType().getLogicalType();

  private static DataType eventDataType() {
    return DataTypes.ROW(
        DataTypes.FIELD("event_type", DataTypes.INT()),
        DataTypes.FIELD("person", DataTypes.ROW(
            DataTypes.FIELD("id", DataTypes.BIGINT()),
            DataTypes.FIELD("name", DataTypes.STRING()),
            DataTypes.FIELD("emailAddress", DataTypes.STRING()),
            DataTypes.FIELD("creditCard", DataTypes.STRING()),
            DataTypes.FIELD("city", DataTypes.STRING()),
            DataTypes.FIELD("state", DataTypes.STRING()),
            DataTypes.FIELD("dateTime", DataTypes.TIMESTAMP(3)),
            DataTypes.FIELD("extra", DataTypes.STRING()))),
        DataTypes.FIELD("auction", DataTypes.ROW(
            DataTypes.FIELD("id", DataTypes.BIGINT()),
            DataTypes.FIELD("itemName", DataTypes.STRING()),
            DataTypes.FIELD("description", DataTypes.STRING()),
            DataTypes.FIELD("initialBid", DataTypes.BIGINT()),
            DataTypes.FIELD("reserve", DataTypes.BIGINT()),
            DataTypes.FIELD("dateTime", DataTypes.TIMESTAMP(3)),
            DataTypes.FIELD("expires", DataTypes.TIMESTAMP(3)),
            DataTypes.FIELD("seller", DataTypes.BIGINT()),
            DataTypes.FIELD("category", DataTypes.BIGINT()),
            DataTypes.FIELD("extra", DataTypes.STRING()))),
        DataTypes.FIELD("bid", DataTypes.ROW(
            DataTypes.FIELD("auction", DataTypes.BIGINT()),
            DataTypes.FIELD("bidder", DataTypes.BIGINT()),
            DataTypes.FIELD("price", DataTypes.BIGINT()),
            DataTypes.FIELD("channel", DataTypes.STRING()),
            DataTypes.FIELD("url", DataTypes.STRING()),
            DataTypes.FIELD("dateTime", DataTypes.TIMESTAMP(3)),
            DataTypes.FIELD("extra", DataTypes.STRING()))))
        .notNull();
  }

  /** Event number to row, as Flink's Nexmark connector converts its events (GenericRowData). */
  static final class ToRow implements GeneratorFunction<Long, RowData> {
    private static final long serialVersionUID = 1L;
    private final NexmarkGenerator generator;

    ToRow(NexmarkGenerator.Config config) {
      this.generator = new NexmarkGenerator(config);
    }

    @Override
    public RowData map(Long number) {
      NexmarkGenerator.Event event = generator.event(number);
      GenericRowData row = new GenericRowData(4);
      row.setField(0, event.type);
      if (event.person != null) {
        NexmarkGenerator.Person p = event.person;
        GenericRowData person = new GenericRowData(8);
        person.setField(0, p.id);
        person.setField(1, StringData.fromString(p.name));
        person.setField(2, StringData.fromString(p.emailAddress));
        person.setField(3, StringData.fromString(p.creditCard));
        person.setField(4, StringData.fromString(p.city));
        person.setField(5, StringData.fromString(p.state));
        person.setField(6, TimestampData.fromEpochMillis(p.dateTimeMs));
        person.setField(7, StringData.fromString(p.extra));
        row.setField(1, person);
      } else if (event.auction != null) {
        NexmarkGenerator.Auction a = event.auction;
        GenericRowData auction = new GenericRowData(10);
        auction.setField(0, a.id);
        auction.setField(1, StringData.fromString(a.itemName));
        auction.setField(2, StringData.fromString(a.description));
        auction.setField(3, a.initialBid);
        auction.setField(4, a.reserve);
        auction.setField(5, TimestampData.fromEpochMillis(a.dateTimeMs));
        auction.setField(6, TimestampData.fromEpochMillis(a.expiresMs));
        auction.setField(7, a.seller);
        auction.setField(8, a.category);
        auction.setField(9, StringData.fromString(a.extra));
        row.setField(2, auction);
      } else {
        NexmarkGenerator.Bid b = event.bid;
        GenericRowData bid = new GenericRowData(7);
        bid.setField(0, b.auction);
        bid.setField(1, b.bidder);
        bid.setField(2, b.price);
        bid.setField(3, StringData.fromString(b.channel));
        bid.setField(4, StringData.fromString(b.url));
        bid.setField(5, TimestampData.fromEpochMillis(b.dateTimeMs));
        bid.setField(6, StringData.fromString(b.extra));
        row.setField(3, bid);
      }
      return row;
    }
  }

  private static Configuration flinkConfiguration() {
    Configuration conf = new Configuration();
    conf.setString("parallelism.default", "1");
    conf.setString("execution.runtime-mode", "STREAMING");
    conf.setString("state.backend.type", "hashmap");
    conf.setString("pipeline.object-reuse", System.getProperty("objectReuse", "false"));
    // As Flink's Nexmark benchmark (nexmark-flink/src/main/resources/conf/config.yaml).
    conf.setString("table.exec.mini-batch.enabled", "true");
    conf.setString("table.exec.mini-batch.allow-latency", "2 s");
    conf.setString("table.exec.mini-batch.size", "50000");
    conf.setString("table.optimizer.distinct-agg.split.enabled", "true");
    return conf;
  }

  /** A table environment with the table {@code datagen} of {@code events} events and the views. */
  private static StreamTableEnvironment nexmarkTables(Sql sql, long events) {
    StreamExecutionEnvironment env =
        StreamExecutionEnvironment.getExecutionEnvironment(flinkConfiguration());
    env.setParallelism(1);
    StreamTableEnvironment tEnv =
        StreamTableEnvironment.create(env, EnvironmentSettings.inStreamingMode());
    if (System.getProperty("source", "ddl").equals("ddl")) {
      tEnv.executeSql(sql.table.replace("${WITH}",
          "'connector' = 'nexmark', 'events.num' = '" + events + "'"));
    } else {
      InternalTypeInfo<RowData> rowType = InternalTypeInfo.of(EVENT_TYPE);
      DataGeneratorSource<RowData> source =
          new DataGeneratorSource<>(new ToRow(new NexmarkGenerator.Config()), events, rowType);
      DataStream<RowData> rows =
          env.fromSource(source, WatermarkStrategy.noWatermarks(), "nexmark", rowType);
      Table datagen = tEnv.fromDataStream(rows, Schema.newBuilder()
          .columnByExpression("dateTime",
              "CASE WHEN event_type = 0 THEN person.`dateTime` "
                  + "WHEN event_type = 1 THEN auction.`dateTime` "
                  + "ELSE bid.`dateTime` END")
          .watermark("dateTime", "`dateTime` - INTERVAL '4' SECOND")
          .build());
      tEnv.createTemporaryView("datagen", datagen);
    }
    for (String view : sql.views) {
      tEnv.executeSql(view);
    }
    return tEnv;
  }

  /** Submits {@code query} over {@code events} events into its blackhole sink; waits for the end. */
  private static JobExecutionResult runJob(Sql sql, String query, long events) throws Exception {
    StreamTableEnvironment tEnv = nexmarkTables(sql, events);
    String sink = "nexmark_" + query;
    tEnv.executeSql("CREATE TABLE " + sink + " (\n" + sql.sinkColumns(query)
        + "\n) WITH ('connector' = 'blackhole')");
    TableResult result = tEnv.executeSql("INSERT INTO " + sink + "\n" + sql.select(query));
    return result.getJobClient().orElseThrow().getJobExecutionResult().get();
  }

  /** Prints how many rows of each kind every query emits over {@code events} events (untimed). */
  private static void countRows(Path sqlFile, long events, List<String> queries) throws Exception {
    Sql sql = Sql.read(sqlFile);
    for (String query : queries) {
      long[] kinds = new long[RowKind.values().length];
      StreamTableEnvironment tEnv = nexmarkTables(sql, events);
      try (CloseableIterator<Row> rows = tEnv.executeSql(sql.select(query)).collect()) {
        while (rows.hasNext()) {
          kinds[rows.next().getKind().ordinal()]++;
        }
      }
      System.out.printf("%-6s %12d events -> rows +I %d, -U %d, +U %d, -D %d%n", query, events,
          kinds[RowKind.INSERT.ordinal()], kinds[RowKind.UPDATE_BEFORE.ordinal()],
          kinds[RowKind.UPDATE_AFTER.ordinal()], kinds[RowKind.DELETE.ordinal()]);
    }
  }

  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  private static void bench(Path sqlFile, long events, long warmup, List<String> queries)
      throws Exception {
    Sql sql = Sql.read(sqlFile);
    System.out.printf("%-6s %12s %8s %8s %8s %12s %12s%n",
        "query", "events", "wall_s", "net_s", "cpu_s", "ev/s", "ev/cpu-s");
    for (String query : queries) {
      runJob(sql, query, warmup);
      System.gc();
      long cpuBefore = processCpuNanos();
      long wallBefore = System.nanoTime();
      JobExecutionResult result = runJob(sql, query, events);
      double wall = (System.nanoTime() - wallBefore) / 1e9;
      double cpu = (processCpuNanos() - cpuBefore) / 1e9;
      double net = result.getNetRuntime() / 1e3;
      System.out.printf("%-6s %12d %8.2f %8.2f %8.2f %12.0f %12.0f%n",
          query, events, wall, net, cpu, events / wall, events / cpu);
    }
  }
}
