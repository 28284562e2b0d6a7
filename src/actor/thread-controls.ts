/**
 * Per-thread control hooks, run by `ActorSystem.broadcast(control)` on every actor thread.
 *
 * To add a control: add a member to `ThreadControl` (thread-protocol.ts) and its handler here; the
 * mapped type makes a missing handler a compile error. Handlers return structured-cloneable data.
 *   failpoints  configure this thread's failpoint registry (failpoints are per thread)
 *   metrics     this thread's Metrics registry (threadMetrics()) as JSON, for the main thread to aggregate
 *   ping        liveness and identity of the thread
 */
import { threadId } from 'node:worker_threads';
import { configureFailpoints } from '../failpoints.js';
import { threadMetrics } from '../observability/metrics.js';
import type { ThreadControl } from './thread-protocol.js';

export type ControlHandlers = {
  [Kind in ThreadControl['kind']]: (control: Extract<ThreadControl, { kind: Kind }>) => Promise<unknown>;
};

export const threadControlHandlers: ControlHandlers = {
  failpoints: async (control) => {
    configureFailpoints(control.spec);
    return { threadId };
  },
  metrics: async () => threadMetrics().registry.getMetricsAsJSON(),
  ping: async () => ({ threadId }),
};

export function runControl(handlers: ControlHandlers, control: ThreadControl): Promise<unknown> {
  const handler = handlers[control.kind] as (control: ThreadControl) => Promise<unknown>;
  return handler(control);
}
