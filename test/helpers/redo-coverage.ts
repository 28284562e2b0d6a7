/**
 * The resource managers whose redo Strata implements (src/walredo/), by the name their
 * PS_ERR_REDO_UNSUPPORTED messages use (rmgr-table.ts module names). The redo oracle tests require
 * zero unsupported records and zero 501 pages for these; the list grows with the redo modules and,
 * when issue 3 is done, names them all.
 */
export const IMPLEMENTED_REDO_RMGRS: ReadonlySet<string> = new Set<string>(['Heap', 'Heap2', 'Btree', 'Hash', 'Gin', 'Gist', 'SPGist', 'BRIN', 'Sequence', 'Generic']);

/** The rmgr a PS_ERR_REDO_UNSUPPORTED message names ("redo of Heap records ..."), if any. */
export function unsupportedRmgrOf(message: string): string | undefined {
  return /redo of (\S+) records/.exec(message)?.[1] ?? /no redo for resource manager (\S+)/.exec(message)?.[1];
}
