import java.util.Set;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.connector.source.ScanTableSource;
import org.apache.flink.table.connector.source.SourceProvider;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DynamicTableSourceFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.logical.RowType;

/**
 * The table connector {@code 'connector' = 'nexmark'}: a stand-in for the connector of Flink's
 * Nexmark benchmark (not shipped with Flink), generating {@link NexmarkGenerator}'s events. Like
 * Flink's, it is a plain {@link ScanTableSource} (no push-downs) whose source emits one
 * GenericRowData per event, so the benchmark's DDL ({@code ddl_gen.sql}) runs unchanged, with
 * these of its options: {@code events.num} (required; the source is bounded), {@code first-event.rate}
 * and the three proportions. Registered for discovery in
 * {@code META-INF/services/org.apache.flink.table.factories.Factory}.
 */
public final class NexmarkTableFactory implements DynamicTableSourceFactory {

  static final ConfigOption<Long> EVENTS =
      ConfigOptions.key("events.num").longType().noDefaultValue();
  static final ConfigOption<Long> FIRST_EVENT_RATE =
      ConfigOptions.key("first-event.rate").longType().defaultValue(10_000_000L);
  static final ConfigOption<Long> PERSON_PROPORTION =
      ConfigOptions.key("person.proportion").longType().defaultValue(1L);
  static final ConfigOption<Long> AUCTION_PROPORTION =
      ConfigOptions.key("auction.proportion").longType().defaultValue(3L);
  static final ConfigOption<Long> BID_PROPORTION =
      ConfigOptions.key("bid.proportion").longType().defaultValue(46L);

  @Override
  public String factoryIdentifier() {
    return "nexmark";
  }

  @Override
  public Set<ConfigOption<?>> requiredOptions() {
    return Set.of(EVENTS);
  }

  @Override
  public Set<ConfigOption<?>> optionalOptions() {
    return Set.of(FIRST_EVENT_RATE, PERSON_PROPORTION, AUCTION_PROPORTION, BID_PROPORTION);
  }

  @Override
  public DynamicTableSource createDynamicTableSource(Context context) {
    FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
    helper.validate();
    ReadableConfig options = helper.getOptions();
    NexmarkGenerator.Config config = new NexmarkGenerator.Config();
    config.firstEventRate = options.get(FIRST_EVENT_RATE);
    config.personProportion = options.get(PERSON_PROPORTION);
    config.auctionProportion = options.get(AUCTION_PROPORTION);
    config.bidProportion = options.get(BID_PROPORTION);
    RowType rowType = (RowType) context.getPhysicalRowDataType().getLogicalType();
    if (!rowType.copy(true).equals(NexmarkBench.EVENT_TYPE.copy(true))) {
      throw new IllegalArgumentException(
          "the nexmark connector produces " + NexmarkBench.EVENT_TYPE + ", not " + rowType);
    }
    return new Source(config, options.get(EVENTS), rowType);
  }

  static final class Source implements ScanTableSource {
    private final NexmarkGenerator.Config config;
    private final long events;
    private final RowType rowType;

    Source(NexmarkGenerator.Config config, long events, RowType rowType) {
      this.config = config;
      this.events = events;
      this.rowType = rowType;
    }

    @Override
    public ChangelogMode getChangelogMode() {
      return ChangelogMode.insertOnly();
    }

    @Override
    public ScanRuntimeProvider getScanRuntimeProvider(ScanContext context) {
      return SourceProvider.of(new DataGeneratorSource<RowData>(
          new NexmarkBench.ToRow(config), events, InternalTypeInfo.of(rowType)));
    }

    @Override
    public DynamicTableSource copy() {
      return new Source(config, events, rowType);
    }

    @Override
    public String asSummaryString() {
      return "Nexmark (freshet-nexmark generator)";
    }
  }
}
