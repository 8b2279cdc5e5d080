/**
 * kafkajs, with one fix applied before it loads: how a read_committed consumer drops the
 * records of aborted transactions.
 *
 * KafkaJS 2.2.4 walks a fetch response's aborted-transaction list in the order the
 * broker sent it and registers at most one aborted transaction per record. The broker
 * does not sort that list by first offset, so when transactions of several producers
 * interleave in a partition (two sink subtasks writing to one topic, one aborting), the
 * aborted records of one of them are handed out as if committed. Java's consumer sorts
 * the list by first offset (a priority queue) and takes every transaction that starts at
 * or before the record; this does the same. Everything that imports kafkajs in this
 * package imports it from here.
 */
import { createRequire } from 'node:module';
import type * as KafkaJS from 'kafkajs';

interface FetchedMessage {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly batchContext: { readonly producerId: string; readonly inTransaction: boolean };
}

interface AbortedTransaction {
  readonly producerId: string;
  readonly firstOffset: string;
}

const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

export function filterAbortedMessages({ messages, abortedTransactions }: { messages: FetchedMessage[]; abortedTransactions?: AbortedTransaction[] }): FetchedMessage[] {
  if (!abortedTransactions || abortedTransactions.length === 0) return messages;
  const pending = [...abortedTransactions].sort((a, b) => (BigInt(a.firstOffset) < BigInt(b.firstOffset) ? -1 : BigInt(a.firstOffset) > BigInt(b.firstOffset) ? 1 : 0));
  const aborted = new Set<string>();
  return messages.filter((message) => {
    const offset = BigInt(message.offset);
    while (pending.length > 0 && offset >= BigInt((pending[0] as AbortedTransaction).firstOffset)) aborted.add((pending.shift() as AbortedTransaction).producerId);
    const producerId = message.batchContext.producerId;
    if (message.key !== null && Buffer.from(message.key).equals(ABORT_MARKER_KEY)) {
      aborted.delete(producerId);
      return true;
    }
    return !(aborted.has(producerId) && message.batchContext.inTransaction);
  });
}

const require = createRequire(import.meta.url);
const target = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js');
if (require.cache[target] === undefined) {
  require.cache[target] = { id: target, filename: target, loaded: true, exports: filterAbortedMessages } as unknown as NodeJS.Module;
}
const kafkajs = require('kafkajs') as typeof KafkaJS;
if (require(target) !== filterAbortedMessages) {
  // kafkajs was loaded before this module (the fix cannot apply): say so rather than read aborted data.
  throw new Error('kafkajs was loaded before @sluice/operators could fix its read_committed filtering; import kafkajs through packages/operators/src/kafka/kafkajs.ts');
}

export const { Kafka, AssignerProtocol, Partitioners, logLevel } = kafkajs;
