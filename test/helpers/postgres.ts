// Tests use the same PostgreSQL 15 cluster helper as the demo (src/platform/postgres-cluster.ts).
export * from '../../src/platform/postgres-cluster.js';
