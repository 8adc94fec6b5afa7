package dev.freshet.flink;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.StatementSet;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;

/**
 * Runs a Flink SQL application that Freshet submits to a Flink cluster: each program argument
 * is one statement, already cut and with its runtime properties substituted by Freshet. DDL and
 * SET statements are executed in order; every INSERT goes into one statement set, so the
 * application is one job, as on Managed Service for Apache Flink. {@code SET 'key' = 'value'}
 * is the SQL client's statement, not the TableEnvironment's, so it is applied here.
 */
public final class SqlRunner {
    private static final Pattern SET =
            Pattern.compile("(?is)\\s*SET\\s+'((?:[^']|'')*)'\\s*=\\s*'((?:[^']|'')*)'\\s*");

    private SqlRunner() {}

    public static void main(String[] args) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        StreamTableEnvironment tables = StreamTableEnvironment.create(env);
        StatementSet inserts = tables.createStatementSet();
        int count = 0;
        for (String statement : args) {
            Matcher set = SET.matcher(statement);
            if (set.matches()) {
                tables.getConfig()
                        .set(set.group(1).replace("''", "'"), set.group(2).replace("''", "'"));
            } else if (statement.strip().toUpperCase(Locale.ROOT).startsWith("INSERT")) {
                inserts.addInsertSql(statement);
                count++;
            } else {
                tables.executeSql(statement);
            }
        }
        if (count == 0) {
            throw new IllegalArgumentException(
                    "No operators defined in streaming topology: the code has no INSERT INTO");
        }
        inserts.execute();
    }
}
