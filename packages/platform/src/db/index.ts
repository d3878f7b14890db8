export type { Db, Queryable } from './db.js';
