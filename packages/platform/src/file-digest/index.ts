/** SHA-256 of many local files on all cores, results in input order (issue #13; file-digest.ts). */
export { digestFiles, DEFAULT_DIGEST_BUFFER_BYTES, type DigestFilesOptions, type FileDigest } from './file-digest.js';
