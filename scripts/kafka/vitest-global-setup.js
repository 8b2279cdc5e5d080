// Vitest global setup of the `kafka` project (*.kafka.test.ts): one real broker for the
// whole run, stopped at the end whether tests passed or not. Tests read its address with
// inject('kafkaBootstrap'). The `unit` project never starts it.
import { startKafka } from './broker.js';

/** @param {import('vitest/node').TestProject} project */
export default async function setup(project) {
  const broker = await startKafka();
  project.provide('kafkaBootstrap', broker.bootstrap);
  return async () => {
    await broker.stop();
  };
}
