/**
 * The RocksDB keyed state backend with incremental (native) checkpoints.
 * See CONTEXT.md in this folder for the design, the byte format and the pitfalls.
 */
export { RocksDBKeyedStateBackend, canonicalFromNative, type RocksDBBackendOptions, type NativeCapture } from './backend.js';
export {
  NATIVE_HANDLE_FORMAT,
  collectSharedGarbage,
  referencedSharedFiles,
  relativizeHandle,
  resolveHandle,
  verifyNativeHandle,
  type NativeCheckpointHandle,
  type NativeCheckpointStats,
  type NativeFile,
  type SharedNativeFile,
} from './native.js';
export { ROCKSDB_FORMAT_VERSION } from './format.js';
export type { RocksDbTuning } from './binding.js';
