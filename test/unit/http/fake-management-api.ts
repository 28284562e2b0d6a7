/**
 * An in-memory ManagementApi for HTTP and CLI tests: tenants and timelines in Maps, relation sizes
 * and pages synthesised from their arguments, and `failure` to make every call throw a chosen error.
 * It records the last arguments so tests can check what the routes passed down.
 */
import { randomBytes } from 'node:crypto';
import { StrataError } from '../../../src/errors.js';
import type {
  CreateTimelineRequest, ManagementApi, ServerStatus, TenantInfo, TimelineInfo,
} from '../../../src/http/management-api.js';
import type { RelTag, SlruKind } from '../../../src/keys.js';
import { type Lsn, formatLsn } from '../../../src/lsn.js';

export interface PageCall {
  tenantId: string;
  timelineId: string;
  rel: RelTag;
  blockNumber?: number;
  lsn: Lsn | undefined;
}

export class FakeManagementApi implements ManagementApi {
  readonly tenants = new Map<string, TenantInfo>();
  readonly timelines = new Map<string, TimelineInfo>();
  failure: Error | undefined;
  lastPageCall: PageCall | undefined;
  lastCreateTimeline: CreateTimelineRequest | undefined;

  #check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  #tenant(tenantId: string): TenantInfo {
    const tenant = this.tenants.get(tenantId);
    if (tenant === undefined) throw new StrataError('PS_ERR_NOT_FOUND', `tenant ${tenantId} not found`);
    return tenant;
  }

  async status(): Promise<ServerStatus> {
    this.#check();
    return { id: 'fake', version: '0.1.0', uptime_seconds: 1, tenants: this.tenants.size, actor_threads: 2 };
  }

  async createTenant(request: { new_tenant_id?: string }): Promise<TenantInfo> {
    this.#check();
    const id = request.new_tenant_id ?? randomBytes(16).toString('hex');
    if (this.tenants.has(id)) throw new StrataError('PS_ERR_ALREADY_EXISTS', `tenant ${id} already exists`);
    const tenant: TenantInfo = { id, state: { slug: 'Active' }, timelines: [] };
    this.tenants.set(id, tenant);
    return tenant;
  }

  async listTenants(): Promise<TenantInfo[]> {
    this.#check();
    return [...this.tenants.values()];
  }

  async getTenant(tenantId: string): Promise<TenantInfo> {
    this.#check();
    return this.#tenant(tenantId);
  }

  async createTimeline(tenantId: string, request: CreateTimelineRequest): Promise<TimelineInfo> {
    this.#check();
    this.lastCreateTimeline = request;
    const tenant = this.#tenant(tenantId);
    const timelineId = request.new_timeline_id ?? randomBytes(16).toString('hex');
    const info: TimelineInfo = {
      tenant_id: tenantId, timeline_id: timelineId, state: 'Active', last_record_lsn: formatLsn(0x1_6b_37_48),
      disk_consistent_lsn: '0/0', remote_consistent_lsn: '0/0', ancestor_timeline_id: request.ancestor_timeline_id ?? null,
      ancestor_lsn: request.ancestor_start_lsn ?? null, pg_version: 15,
    };
    this.timelines.set(`${tenantId}/${timelineId}`, info);
    tenant.timelines.push(timelineId);
    return info;
  }

  async listTimelines(tenantId: string): Promise<TimelineInfo[]> {
    this.#check();
    this.#tenant(tenantId);
    return [...this.timelines.values()].filter((timeline) => timeline.tenant_id === tenantId);
  }

  async getTimeline(tenantId: string, timelineId: string): Promise<TimelineInfo> {
    this.#check();
    const timeline = this.timelines.get(`${tenantId}/${timelineId}`);
    if (timeline === undefined) throw new StrataError('PS_ERR_NOT_FOUND', `timeline ${timelineId} not found`);
    return timeline;
  }

  /** Size = relNode + forkNumber, so a test can tell the parameters arrived. */
  async relSize(tenantId: string, timelineId: string, rel: RelTag, lsn: Lsn | undefined): Promise<number> {
    await this.getTimeline(tenantId, timelineId);
    this.lastPageCall = { tenantId, timelineId, rel, lsn };
    return rel.relNode + rel.forkNumber;
  }

  /** Page bytes: block number in byte 0, fork in byte 1, 0xAB elsewhere. */
  async getPage(tenantId: string, timelineId: string, rel: RelTag, blockNumber: number, lsn: Lsn | undefined): Promise<Uint8Array> {
    await this.getTimeline(tenantId, timelineId);
    this.lastPageCall = { tenantId, timelineId, rel, blockNumber, lsn };
    const page = new Uint8Array(8192).fill(0xab);
    page[0] = blockNumber & 0xff;
    page[1] = rel.forkNumber;
    return page;
  }

  lastSlruCall: { tenantId: string; timelineId: string; kind: SlruKind; segment: number; lsn: Lsn | undefined } | undefined;

  /** Two pages: byte 0 of each is the kind, byte 1 the segment's low byte. */
  async getSlruSegment(tenantId: string, timelineId: string, kind: SlruKind, segment: number, lsn: Lsn | undefined): Promise<Uint8Array> {
    await this.getTimeline(tenantId, timelineId);
    this.lastSlruCall = { tenantId, timelineId, kind, segment, lsn };
    const bytes = new Uint8Array(2 * 8192);
    for (const page of [0, 8192]) {
      bytes[page] = kind;
      bytes[page + 1] = segment & 0xff;
    }
    return bytes;
  }

  readonly maintenanceCalls: string[] = [];

  #timeline(tenantId: string, timelineId: string): TimelineInfo {
    const info = this.timelines.get(`${tenantId}/${timelineId}`);
    if (info === undefined) throw new StrataError('PS_ERR_NOT_FOUND', `timeline ${timelineId} not found`);
    return info;
  }

  async deleteTimeline(tenantId: string, timelineId: string): Promise<void> {
    this.#check();
    this.#timeline(tenantId, timelineId);
    this.timelines.delete(`${tenantId}/${timelineId}`);
    const tenant = this.#tenant(tenantId);
    tenant.timelines = tenant.timelines.filter((id) => id !== timelineId);
  }

  async timelineLayers(tenantId: string, timelineId: string): Promise<unknown> {
    this.#check();
    this.#timeline(tenantId, timelineId);
    return { in_memory_layers: [], historic_layers: [] };
  }

  async checkpoint(tenantId: string, timelineId: string): Promise<unknown> {
    this.#check();
    this.#timeline(tenantId, timelineId);
    this.maintenanceCalls.push('checkpoint');
    return {};
  }

  async compact(tenantId: string, timelineId: string, force: boolean): Promise<unknown> {
    this.#check();
    this.#timeline(tenantId, timelineId);
    this.maintenanceCalls.push(`compact force=${force}`);
    return {};
  }

  async doGc(tenantId: string, timelineId: string, gcHorizonBytes: number | undefined): Promise<unknown> {
    this.#check();
    this.#timeline(tenantId, timelineId);
    this.maintenanceCalls.push(`do_gc ${gcHorizonBytes ?? 'default'}`);
    return { layers_removed: 0 };
  }
}
