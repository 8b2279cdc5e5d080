/**
 * Which Kafka clusters a hosted engine may connect to (the SSRF guard).
 *
 * The topic picker (GET /api/kafka/topics) and every Kafka source and sink make the
 * engine itself open connections to an address a caller wrote. On a shared engine that
 * would let any token holder probe hosts and ports inside the engine's network. So the
 * engine has an allow-list of bootstrap servers (`sluice serve --kafka-allow host:port,…`,
 * `EngineServiceOptions.kafkaAllow`):
 *
 *   - `any`: every address (a single-user engine on loopback without a token, or
 *     `--trusted`, whose user code can open sockets anyway; `--kafka-allow '*'`);
 *   - a list: each bootstrap server a caller names must be on it (host compared without
 *     case, port exactly; `localhost` and `127.0.0.1` are different entries). Empty by
 *     default on a hosted engine: no Kafka until the operator says which clusters.
 *
 * Only bootstrap addresses are checked: the brokers a cluster's metadata then names are
 * the cluster's own, which is what the operator allowed by listing it.
 */
import { graphEndpoints, type ValidatedGraph } from '@sluice/graph-model';
import { brokerKey, parseBootstrapServers } from '@sluice/operators';
import type { ApiProblem } from '@sluice/protocol';

export type KafkaAllowList = { readonly any: true } | { readonly any: false; readonly addresses: readonly string[] };

export const ANY_KAFKA: KafkaAllowList = { any: true };

/** The name of the setting, as error messages cite it. */
export const KAFKA_ALLOW_SETTING = '--kafka-allow (kafkaAllow)';

/** `['*']` or host:port entries (each may be a comma-separated list). Throws naming a malformed entry. */
export function parseKafkaAllow(entries: readonly string[]): KafkaAllowList {
  const addresses: string[] = [];
  for (const entry of entries) {
    if (entry.trim() === '*') return ANY_KAFKA;
    if (entry.trim() === '') continue;
    for (const address of parseBootstrapServers(entry, KAFKA_ALLOW_SETTING)) addresses.push(brokerKey(address));
  }
  return { any: false, addresses: [...new Set(addresses)] };
}

/**
 * The allow-list an engine uses: the entries given, else any cluster for a single-user
 * engine (no token required) and none for a hosted one.
 */
export function kafkaAllowFor(entries: readonly string[] | undefined, authRequired: boolean): KafkaAllowList {
  if (entries !== undefined) return parseKafkaAllow(entries);
  return authRequired ? { any: false, addresses: [] } : ANY_KAFKA;
}

/** The entries that give `allow` back through parseKafkaAllow. */
export function kafkaAllowEntries(allow: KafkaAllowList): string[] {
  return allow.any ? ['*'] : [...allow.addresses];
}

/** Addresses of a well-formed bootstrap list that the allow-list refuses, as written. */
export function refusedAddresses(allow: KafkaAllowList, bootstrapServers: string): string[] {
  if (allow.any) return [];
  const allowed = new Set(allow.addresses);
  return parseBootstrapServers(bootstrapServers, 'bootstrapServers').filter((address) => !allowed.has(brokerKey(address)));
}

/** The sentence an error gives for refused addresses: names them, the setting and what is allowed. */
export function refusalMessage(allow: KafkaAllowList, refused: readonly string[]): string {
  const allowed = allow.any ? 'any' : allow.addresses.length === 0 ? 'none' : allow.addresses.join(', ');
  const names = refused.map((a) => `'${a}'`).join(', ');
  return `Kafka bootstrap server${refused.length === 1 ? '' : 's'} ${names} ${refused.length === 1 ? 'is' : 'are'} not allowed on this engine (setting ${KAFKA_ALLOW_SETTING}; allowed: ${allowed})`;
}

/**
 * Every config field of the graph that names a Kafka cluster the allow-list refuses,
 * with the field's path (`nodes[2].config.bootstrapServers`). Operators declare such
 * fields in the catalog (`endpoints`), so a new connector is covered by declaring its field.
 */
export function kafkaGraphProblems(allow: KafkaAllowList, graph: ValidatedGraph): ApiProblem[] {
  if (allow.any) return [];
  const problems: ApiProblem[] = [];
  for (const { node, endpoint, value, path } of graphEndpoints(graph)) {
    if (endpoint.kind !== 'kafka-bootstrap-servers') continue;
    let refused: string[];
    try {
      refused = refusedAddresses(allow, value);
    } catch (error) {
      problems.push({ in: 'graph', path, message: error instanceof Error ? error.message : String(error), nodeId: node.id });
      continue;
    }
    if (refused.length > 0) problems.push({ in: 'graph', path, message: refusalMessage(allow, refused), nodeId: node.id });
  }
  return problems;
}
