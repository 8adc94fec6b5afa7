package freshet.e2e;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.ParameterTool;

/**
 * A JAR application for the Flink-cluster test: numbers at a steady rate, a running sum per key
 * (keyed state, so a savepoint holds something), discarded. It reads its runtime properties as
 * Freshet hands them to a JAR, ParameterTool arguments: the job is named after
 * JobGroup.name, so the test sees the properties arrived.
 */
public final class CountingJob {
    private CountingJob() {}

    public static void main(String[] args) throws Exception {
        ParameterTool params = ParameterTool.fromArgs(args);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataGeneratorSource<Long> numbers =
                new DataGeneratorSource<>(
                        i -> i,
                        Long.MAX_VALUE,
                        RateLimiterStrategy.perSecond(Double.parseDouble(params.get("JobGroup.rate", "50"))),
                        Types.LONG);
        env.fromSource(numbers, WatermarkStrategy.noWatermarks(), "numbers")
                .uid("numbers")
                .keyBy((KeySelector<Long, Long>) v -> v % 4)
                .reduce(Long::sum)
                .uid("sums")
                .sinkTo(new DiscardingSink<>());
        env.execute(params.getRequired("JobGroup.name"));
    }
}
