/**
 * Writes `trivy-java.db`: the SQLite database Trivy's jar analyzer queries to identify a jar by
 * its SHA-1 (spec shared/specs/trivy-db-and-oci.md §2; aquasecurity/trivy-java-db pkg/db, schema
 * v1, unchanged between the commit trivy v0.74.0 pins and HEAD). The schema statements are
 * trivy-java-db's own, byte for byte (they are what `sqlite_master` holds).
 *
 * Determinism: the caller inserts in sorted order (artifacts by (group, artifact), indices by
 * (group, artifact, version, type, sha1)) and ids are assigned 1, 2, … in that order; page size is
 * fixed at 4096, one transaction, then VACUUM, which rebuilds every table and index in rowid /
 * key order. SQLite stores no time in the file; its header holds counters that depend only on the
 * statements run, and the library's version number (pinned node-sqlite3-wasm) — so the same
 * input gives the same bytes. The file lives on disk (node-sqlite3-wasm's Node fs VFS), not in
 * memory: SQLite's page cache bounds the memory, not the row count.
 */
import sqlite from 'node-sqlite3-wasm';

export const JAVA_DB_SCHEMA_VERSION = 1;

/** trivy-java-db pkg/db/db.go Init(), in its order. */
export const JAVA_DB_SCHEMA = [
  'CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT)',
  'CREATE TABLE indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT, foreign key (artifact_id) references artifacts(id))',
  'CREATE UNIQUE INDEX artifacts_idx ON artifacts(artifact_id, group_id)',
  'CREATE INDEX indices_artifact_idx ON indices(artifact_id)',
  'CREATE UNIQUE INDEX indices_sha1_idx ON indices(sha1)',
] as const;

export const JAVA_DB_PAGE_SIZE = 4096;

export interface JavaIndexRow {
  readonly groupId: string;
  readonly artifactId: string;
  readonly version: string;
  /** 20 raw bytes. */
  readonly sha1: Uint8Array;
  readonly archiveType: string;
}

export class JavaDbWriter {
  private artifactId = 0;
  private last: { groupId: string; artifactId: string } | null = null;
  private readonly insertArtifact: sqlite.Statement;
  private readonly insertIndex: sqlite.Statement;
  rows = 0;

  private constructor(private readonly db: sqlite.Database) {
    this.insertArtifact = db.prepare('INSERT INTO artifacts(id, group_id, artifact_id) VALUES (?, ?, ?)');
    this.insertIndex = db.prepare('INSERT INTO indices(artifact_id, version, sha1, archive_type) VALUES (?, ?, ?, ?)');
  }

  /** A new database at `path` (which must not exist), schema created, a transaction open. */
  static create(path: string): JavaDbWriter {
    const db = new sqlite.Database(path);
    try {
      db.exec(`PRAGMA page_size=${JAVA_DB_PAGE_SIZE}`);
      db.exec('PRAGMA foreign_keys=true'); // as trivy-java-db's connections: a bad reference fails the write
      db.exec('PRAGMA synchronous=OFF'); // a temp file; a crash discards it anyway
      for (const stmt of JAVA_DB_SCHEMA) db.exec(stmt);
      db.exec('BEGIN');
      return new JavaDbWriter(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /**
   * One index row; rows must come sorted by (groupId, artifactId) so each artifact is inserted once
   * and gets the next id. A repeated sha1 fails (the unique index) — the caller picks one first.
   */
  add(row: JavaIndexRow): void {
    if (!this.last || this.last.groupId !== row.groupId || this.last.artifactId !== row.artifactId) {
      this.artifactId++;
      this.insertArtifact.run([this.artifactId, row.groupId, row.artifactId]);
      this.last = { groupId: row.groupId, artifactId: row.artifactId };
    }
    this.insertIndex.run([this.artifactId, row.version, row.sha1, row.archiveType]);
    this.rows++;
  }

  get artifacts(): number {
    return this.artifactId;
  }

  /** Commits, VACUUMs and closes. */
  finish(): void {
    try {
      this.insertArtifact.finalize();
      this.insertIndex.finalize();
      this.db.exec('COMMIT');
      this.db.exec('VACUUM');
    } finally {
      this.db.close();
    }
  }

  /** Closes without committing (the caller removes the file). */
  abort(): void {
    try {
      if (!this.insertArtifact.isFinalized) this.insertArtifact.finalize();
      if (!this.insertIndex.isFinalized) this.insertIndex.finalize();
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    } finally {
      this.db.close();
    }
  }
}
