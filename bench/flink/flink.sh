#!/usr/bin/env bash
# Runs bench/flink's RunSql (a Flink SQL file in an embedded MiniCluster) with Apache
# Flink 1.20 from Maven Central. The first call fetches the jars (mvn) and compiles the
# class; both are kept under .cache/flink/ and rebuilt when pom.xml or the source changes.
#   bench/flink/flink.sh --sql FILE --var INPUT=events.ndjson --parallelism 2 --runs 4 --out result.jsonl
# FLINK_JAVA_OPTS adds JVM options (default: -Xmx4g).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="$root/.cache/flink"
lib="$cache/lib"
classes="$cache/classes"
mkdir -p "$cache/tmp"

pom_hash="$(sha256sum "$here/pom.xml" | cut -c1-16)"
if [[ ! -f "$lib/.pom-$pom_hash" ]]; then
  echo "flink.sh: fetching Flink jars from Maven Central into $lib" >&2
  rm -rf "$lib"
  (cd "$here" && mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$lib") >&2
  touch "$lib/.pom-$pom_hash"
fi

src="$here/src/main/java/dev/sluice/bench/RunSql.java"
if [[ ! -f "$classes/dev/sluice/bench/RunSql.class" || "$src" -nt "$classes/dev/sluice/bench/RunSql.class" || "$lib/.pom-$pom_hash" -nt "$classes/dev/sluice/bench/RunSql.class" ]]; then
  rm -rf "$classes" && mkdir -p "$classes"
  javac --release 17 -d "$classes" -cp "$lib/*" "$src" >&2
fi

# The module flags Flink's own distribution sets for Java 17 (env.java.opts.all).
jdk_flags=(
  --add-exports=java.base/sun.net.util=ALL-UNNAMED
  --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED
  --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED
  --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.text=ALL-UNNAMED
  --add-opens=java.base/java.time=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
)
# shellcheck disable=SC2086
exec java "${jdk_flags[@]}" ${FLINK_JAVA_OPTS:--Xmx4g} -Djava.io.tmpdir="$cache/tmp" \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=error \
  -cp "$classes:$lib/*" dev.sluice.bench.RunSql "$@"
