/**
 * Deterministic tar + gzip writing and safe streaming tar reading (issue #3 item 6;
 * docs/formats/tar.md).
 */
export { createTar, createTarGz, type TarEntryInput, type TarWriteOptions, type TarBodySource } from './tar-writer.js';
export {
  readTar,
  readTarGz,
  DEFAULT_TAR_READ_LIMITS,
  type TarReadOptions,
  type TarEntry,
  type TarEntryType,
  type TarSource,
} from './tar-reader.js';
export { gzipDeterministic, GZIP_OS_UNIX, DEFAULT_GZIP_LEVEL } from './deterministic-gzip.js';
export {
  gzipParallel,
  gzipBlocks,
  parallelGzipSettings,
  GZIP_BLOCK_SIZE,
  GZIP_DICTIONARY_SIZE,
  type ParallelGzipOptions,
} from './parallel-gzip.js';
export { normalizeArchivePath, compareUtf8, DEFAULT_MAX_PATH_BYTES } from './archive-path.js';
export { readBundleFiles, parseChecksumsTxt, type BundleFile, type ReadBundleFilesOptions } from './bundle-files.js';
