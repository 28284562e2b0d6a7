/**
 * A small path router for the management API: patterns like `/v1/tenant/:tenant_id/timeline`.
 *
 * Why not a framework: the API has a dozen routes; a list of compiled patterns matched segment by
 * segment is enough and keeps the edge (status codes, body limits, logging) in code we own.
 * `match` distinguishes "no such path" (404) from "path exists, wrong method" (405).
 */
import { assert } from '../assert.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteDefinition<Handler> {
  readonly method: HttpMethod;
  /** Segments separated by '/', parameters written `:name`. */
  readonly pattern: string;
  readonly handler: Handler;
}

export type RouteMatch<Handler> =
  | { readonly kind: 'found'; readonly route: RouteDefinition<Handler>; readonly params: Record<string, string> }
  | { readonly kind: 'wrongMethod'; readonly allowed: readonly HttpMethod[] }
  | { readonly kind: 'notFound' };

interface CompiledRoute<Handler> {
  readonly definition: RouteDefinition<Handler>;
  readonly segments: readonly string[];
}

const ROUTE_SEGMENTS_MAX = 16;

export class Router<Handler> {
  readonly #routes: CompiledRoute<Handler>[] = [];

  add(definition: RouteDefinition<Handler>): this {
    const segments = definition.pattern.split('/').filter((segment) => segment !== '');
    assert(definition.pattern.startsWith('/'), `route pattern must start with '/': ${definition.pattern}`);
    assert(segments.length <= ROUTE_SEGMENTS_MAX, 'route pattern too deep');
    const duplicate = this.#routes.some((route) => route.definition.pattern === definition.pattern && route.definition.method === definition.method);
    assert(!duplicate, `duplicate route ${definition.method} ${definition.pattern}`);
    this.#routes.push({ definition, segments });
    return this;
  }

  match(method: string, path: string): RouteMatch<Handler> {
    const segments = path.split('/').filter((segment) => segment !== '');
    if (segments.length > ROUTE_SEGMENTS_MAX) return { kind: 'notFound' };
    const allowed: HttpMethod[] = [];
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, segments);
      if (params === undefined) continue;
      if (route.definition.method === method) return { kind: 'found', route: route.definition, params };
      allowed.push(route.definition.method);
    }
    return allowed.length > 0 ? { kind: 'wrongMethod', allowed } : { kind: 'notFound' };
  }
}

function matchSegments(pattern: readonly string[], path: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== path.length) return undefined;
  const params: Record<string, string> = {};
  for (let index = 0; index < pattern.length; index += 1) {
    const expected = pattern[index]!;
    const actual = path[index]!;
    if (expected.startsWith(':')) {
      try {
        params[expected.slice(1)] = decodeURIComponent(actual);
      } catch {
        return undefined;
      }
    } else if (expected !== actual) {
      return undefined;
    }
  }
  return params;
}
