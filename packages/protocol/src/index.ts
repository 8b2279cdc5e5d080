/**
 * @sluice/protocol: the types the engine service shares with its clients (the web
 * app, the CLI): REST payloads and Socket.IO events. Types only; nothing here runs,
 * so depending on it costs a client nothing at run time.
 */
export type * from './common.js';
export type * from './rest.js';
export type * from './telemetry.js';
