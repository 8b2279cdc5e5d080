package dev.sluice.bench;

import java.io.BufferedWriter;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.math.BigDecimal;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.TableDescriptor;
import org.apache.flink.table.api.TableResult;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;

/**
 * Runs a Flink SQL file in an embedded MiniCluster, for the Nexmark comparison with
 * Sluice (bench/nexmark.js). Every statement but the last is executed as it is (DDL,
 * views); the last must be a query. Run 1 collects the query's changelog into the
 * --out file when one is given (the correctness oracle); every other run inserts it
 * into a blackhole sink (throughput). One JSON line per run goes to
 * stdout: wall and CPU milliseconds from submission to the end of the job, the time
 * to the first result and the number of changelog rows (collect runs), and the peak resident set size of the run.
 *
 * The MiniCluster is started once, before the first run, and jobs are submitted to it
 * over its REST endpoint, so cluster start-up is not part of any run's time (as on a
 * standing cluster).
 *
 * Arguments: --sql FILE [--sql FILE]... (read in order) [--var NAME=VALUE]... [--conf KEY=VALUE]... [--parallelism N]
 * [--runs N] [--out FILE]
 *
 * Result lines are JSON: {"op":"+I","row":[...]}; TIMESTAMP values are epoch
 * milliseconds (UTC), DECIMAL values strings (exact), other values as JSON has them.
 */
public final class RunSql {
  private RunSql() {}

  public static void main(String[] args) throws Exception {
    List<Path> sqlFiles = new ArrayList<>();
    Path out = null;
    int parallelism = 2;
    int runs = 1;
    Map<String, String> vars = new LinkedHashMap<>();
    Map<String, String> conf = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      String v = i + 1 < args.length ? args[i + 1] : null;
      if (v == null) throw new IllegalArgumentException(a + " needs a value");
      switch (a) {
        case "--sql": sqlFiles.add(Path.of(v)); break;
        case "--out": out = Path.of(v); break;
        case "--parallelism": parallelism = Integer.parseInt(v); break;
        case "--runs": runs = Integer.parseInt(v); break;
        case "--var": put(vars, v, a); break;
        case "--conf": put(conf, v, a); break;
        default: throw new IllegalArgumentException("unknown argument " + a);
      }
      i++;
    }
    if (sqlFiles.isEmpty()) throw new IllegalArgumentException("--sql FILE is required");

    List<String> statements = new ArrayList<>();
    for (Path file : sqlFiles) statements.addAll(split(substitute(Files.readString(file), vars, file)));
    if (statements.isEmpty()) throw new IllegalArgumentException(sqlFiles + ": no statements");
    String query = statements.remove(statements.size() - 1);

    Configuration config = new Configuration();
    config.setString("parallelism.default", String.valueOf(parallelism));
    config.setString("taskmanager.numberOfTaskSlots", String.valueOf(parallelism));
    config.setString("state.backend.type", "hashmap");
    config.setString("table.local-time-zone", "UTC");
    // As the Nexmark project's own Flink configuration.
    config.setString("table.exec.mini-batch.enabled", "true");
    config.setString("table.exec.mini-batch.allow-latency", "2s");
    config.setString("table.exec.mini-batch.size", "50000");
    config.setString("table.optimizer.distinct-agg.split.enabled", "true");
    config.setString("rest.bind-address", "127.0.0.1");
    config.setString("rest.address", "127.0.0.1");
    config.setString("rest.port", "0");
    for (Map.Entry<String, String> e : conf.entrySet()) config.setString(e.getKey(), e.getValue());

    MiniCluster cluster = new MiniCluster(new MiniClusterConfiguration.Builder()
        .setConfiguration(config)
        .setNumTaskManagers(1)
        .setNumSlotsPerTaskManager(parallelism)
        .build());
    cluster.start();
    try {
      URI rest = cluster.getRestAddress().get();
      // The client side of the same configuration must name the port the cluster picked.
      config.setString("rest.port", String.valueOf(rest.getPort()));
      StreamExecutionEnvironment env = StreamExecutionEnvironment.createRemoteEnvironment(rest.getHost(), rest.getPort(), config);
      env.setParallelism(parallelism);
      StreamTableEnvironment tEnv = StreamTableEnvironment.create(env, EnvironmentSettings.newInstance().inStreamingMode().withConfiguration(config).build());
      for (String statement : statements) tEnv.executeSql(statement);

      com.sun.management.OperatingSystemMXBean os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
      for (int run = 1; run <= runs; run++) {
        boolean collect = run == 1 && out != null;
        resetPeakRss();
        long cpu0 = os.getProcessCpuTime();
        long t0 = System.nanoTime();
        long firstOutputNs = -1;
        long rows = 0;
        if (collect) {
          Files.createDirectories(out.toAbsolutePath().getParent());
          try (BufferedWriter w = Files.newBufferedWriter(out, StandardCharsets.UTF_8)) {
            TableResult result = tEnv.executeSql(query);
            try (CloseableIterator<Row> it = result.collect()) {
              while (it.hasNext()) {
                Row row = it.next();
                if (firstOutputNs < 0) firstOutputNs = System.nanoTime() - t0;
                writeRow(w, row);
                rows++;
              }
            }
          }
        } else {
          Table table = tEnv.sqlQuery(query);
          TableResult result = table.executeInsert(TableDescriptor.forConnector("blackhole")
              .schema(org.apache.flink.table.api.Schema.newBuilder().fromResolvedSchema(table.getResolvedSchema()).build())
              .build());
          result.await();
        }
        long wallNs = System.nanoTime() - t0;
        long cpuNs = os.getProcessCpuTime() - cpu0;
        StringBuilder line = new StringBuilder("{\"run\":").append(run)
            .append(",\"mode\":\"").append(collect ? "collect" : "blackhole").append('"')
            .append(",\"wall_ms\":").append(wallNs / 1_000_000.0)
            .append(",\"cpu_ms\":").append(cpuNs / 1_000_000.0)
            .append(",\"first_output_ms\":").append(firstOutputNs < 0 ? "null" : String.valueOf(firstOutputNs / 1_000_000.0))
            .append(",\"changes\":").append(collect ? String.valueOf(rows) : "null")
            .append(",\"peak_rss_kb\":").append(peakRssKb())
            .append('}');
        System.out.println(line);
        System.out.flush();
      }
    } finally {
      cluster.close();
    }
  }

  private static void put(Map<String, String> map, String pair, String option) {
    int eq = pair.indexOf('=');
    if (eq <= 0) throw new IllegalArgumentException(option + " expects NAME=VALUE, got '" + pair + "'");
    map.put(pair.substring(0, eq), pair.substring(eq + 1));
  }

  private static String substitute(String sql, Map<String, String> vars, Path file) {
    for (Map.Entry<String, String> e : vars.entrySet()) sql = sql.replace("${" + e.getKey() + "}", e.getValue());
    int at = sql.indexOf("${");
    if (at >= 0) {
      int end = sql.indexOf('}', at);
      throw new IllegalArgumentException(file + ": no value for " + sql.substring(at, end < 0 ? sql.length() : end + 1) + " (pass --var NAME=VALUE)");
    }
    return sql;
  }

  /** Statements end with ';' at the end of a line; lines starting with '--' are comments. */
  private static List<String> split(String sql) {
    List<String> statements = new ArrayList<>();
    StringBuilder current = new StringBuilder();
    for (String line : sql.split("\n", -1)) {
      String trimmed = line.strip();
      if (trimmed.startsWith("--")) continue;
      current.append(line).append('\n');
      if (trimmed.endsWith(";")) {
        String s = current.toString().strip();
        statements.add(s.substring(0, s.length() - 1));
        current.setLength(0);
      }
    }
    if (!current.toString().isBlank()) statements.add(current.toString().strip());
    return statements;
  }

  private static void writeRow(BufferedWriter w, Row row) throws IOException {
    w.write("{\"op\":\"");
    w.write(row.getKind().shortString());
    w.write("\",\"row\":[");
    for (int i = 0; i < row.getArity(); i++) {
      if (i > 0) w.write(',');
      writeValue(w, row.getField(i));
    }
    w.write("]}\n");
  }

  private static void writeValue(BufferedWriter w, Object v) throws IOException {
    if (v == null) {
      w.write("null");
    } else if (v instanceof LocalDateTime) {
      w.write(String.valueOf(((LocalDateTime) v).toInstant(ZoneOffset.UTC).toEpochMilli()));
    } else if (v instanceof Instant) {
      w.write(String.valueOf(((Instant) v).toEpochMilli()));
    } else if (v instanceof BigDecimal) {
      writeString(w, ((BigDecimal) v).toPlainString());
    } else if (v instanceof Number || v instanceof Boolean) {
      w.write(v.toString());
    } else {
      writeString(w, v.toString());
    }
  }

  private static void writeString(BufferedWriter w, String s) throws IOException {
    w.write('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '"' || c == '\\') {
        w.write('\\');
        w.write(c);
      } else if (c < 0x20) {
        w.write(String.format("\\u%04x", (int) c));
      } else {
        w.write(c);
      }
    }
    w.write('"');
  }

  /** Resets the kernel's peak-RSS mark (VmHWM), so each run reports its own peak. */
  private static void resetPeakRss() {
    try {
      Files.writeString(Path.of("/proc/self/clear_refs"), "5");
    } catch (IOException | UnsupportedOperationException e) {
      // Not Linux, or not permitted: the peak then covers the process so far.
    }
  }

  private static long peakRssKb() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    } catch (IOException e) {
      // Fall through.
    }
    return -1;
  }
}
