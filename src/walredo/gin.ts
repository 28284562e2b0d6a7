/**
 * WAL redo of the Gin resource manager (PostgreSQL 15). Not implemented yet: every record is
 * PS_ERR_REDO_UNSUPPORTED (see types.ts for the contract a routine follows).
 */
import { unsupportedRedo } from './unsupported.js';
import type { RmgrRedo } from './types.js';

export const ginRedo: RmgrRedo = unsupportedRedo('Gin');
