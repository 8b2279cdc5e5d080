/**
 * `sluice token create | list | revoke` on an engine's data directory, and a running
 * engine honouring the change at its next request (no restart); `sluice serve
 * --kafka-allow` refusing a malformed entry before anything starts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '@sluice/cli';
import { createEngineService, JobManager, TaskManager } from '@sluice/engine';

const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (t) => (out += t), stderr: (t) => (err += t), cwd: dir });
  return { code, out, err };
}

describe('sluice token', () => {
  it('creates a token (printed once, kept as a hash), lists it without the token, and revokes it by id or by tenant', async () => {
    const created = await cli(['token', 'create', 'acme', '--data-dir', 'data']);
    expect(created.code).toBe(0);
    const token = created.out.trim();
    expect(token).toMatch(/^sluice_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const id = token.slice(7, 19);
    expect(created.err).toBe(`token ${id} for tenant 'acme' created; it is shown only now (the engine keeps its SHA-256). Revoke it with: sluice token revoke ${id}\n`);
    const stored = readFileSync(join(dir, 'data', 'tokens.json'), 'utf8');
    expect(stored).not.toContain(token);
    expect(stored).toContain(id);

    const listed = await cli(['token', 'list', '--data-dir', 'data', '--json']);
    expect(JSON.parse(listed.out)).toEqual({ tokens: [{ id, tenant: 'acme', createdAt: expect.any(Number) as number }] });
    expect((await cli(['token', 'list', '--data-dir', 'data'])).out).toMatch(new RegExp(`^${id}  acme {16}  created \\d{4}-\\d\\d-\\d\\dT`));

    expect(await cli(['token', 'revoke', id, '--data-dir', 'data'])).toEqual({ code: 0, out: `revoked ${id} (tenant 'acme')\n`, err: '' });
    const again = await cli(['token', 'revoke', id, '--data-dir', 'data']);
    expect(again.code).toBe(1);
    expect(again.err).toBe(`sluice token revoke: no token with id '${id}' in ${join(dir, 'data', 'tokens.json')}\n`);

    await cli(['token', 'create', 'globex', '--data-dir', 'data']);
    await cli(['token', 'create', 'globex', '--data-dir', 'data']);
    const tenant = await cli(['token', 'revoke', '--tenant', 'globex', '--data-dir', 'data', '--json']);
    expect(tenant.code).toBe(0);
    expect((JSON.parse(tenant.out) as { revoked: unknown[] }).revoked).toHaveLength(2);
    expect((await cli(['token', 'list', '--data-dir', 'data'])).out).toBe('no tenant tokens\n');
  });

  it('refuses a tenant name that is not a DNS label, and revoke without an id or --tenant', async () => {
    const bad = await cli(['token', 'create', 'Acme Corp', '--data-dir', 'data']);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe("sluice token create: tenant name 'Acme Corp' is not valid: 1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit\n");
    expect((await cli(['token', 'revoke', '--data-dir', 'data'])).code).toBe(2);
  });

  it('a running engine accepts a token created by the CLI at once and refuses it once the CLI revoked it', async () => {
    const dataDir = join(dir, 'live');
    const taskManager = new TaskManager({ slots: 1 });
    const service = await createEngineService({ host: '127.0.0.1', port: 0, dataDir, jobManager: new JobManager(taskManager, { dataDir }), token: 'the-admin-token-0123456789abcdef' });
    try {
      const created = await cli(['token', 'create', 'acme', '--data-dir', dataDir]);
      const token = created.out.trim();
      const overview = async () => {
        const response = await fetch(`${service.url}/api/overview`, { headers: { authorization: `Bearer ${token}` } });
        return { status: response.status, body: (await response.json()) as { tenant?: string; error?: string } };
      };
      expect(await overview()).toMatchObject({ status: 200, body: { tenant: 'acme' } });
      // sluice list: the tenant sees its own job; the admin sees every job with its tenant.
      const graph = { schemaVersion: 1, name: 'acme clicks', nodes: [{ id: 'gen', type: 'generator', config: { profile: 'sequence', ratePerSecond: 10 } }, { id: 'out', type: 'blackhole-sink', config: {} }], edges: [{ id: 'e', source: 'gen', target: 'out' }] };
      const submitted = await fetch(`${service.url}/api/jobs`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ graph }) });
      const jobId = ((await submitted.json()) as { id: string }).id;
      const asTenant = await cli(['list', '--url', service.url, '--token', token, '--json']);
      expect((JSON.parse(asTenant.out) as Array<{ id: string; tenant: string }>).map((j) => [j.id, j.tenant])).toEqual([[jobId, 'acme']]);
      const asAdmin = await cli(['list', '--url', service.url, '--token', 'the-admin-token-0123456789abcdef']);
      expect(asAdmin.out.split('\n')[0]).toMatch(/^ID +TENANT +STATUS/);
      expect(asAdmin.out).toMatch(new RegExp(`${jobId} +acme +running +.*acme clicks`));
      expect((await cli(['cancel', jobId, '--url', service.url, '--token', token])).code).toBe(0);

      expect((await cli(['token', 'revoke', '--tenant', 'acme', '--data-dir', dataDir])).code).toBe(0);
      expect(await overview()).toEqual({ status: 401, body: { error: 'the bearer token is not valid' } });
    } finally {
      await service.close();
      await taskManager.shutdown();
    }
  });
});

describe('sluice serve --kafka-allow', () => {
  it('refuses an entry that is not host:port before starting', async () => {
    const answer = await cli(['serve', '--port', '0', '--data-dir', 'serve', '--kafka-allow', 'broker-1']);
    expect(answer.code).toBe(2);
    expect(answer.err).toContain("--kafka-allow (kafkaAllow): bootstrap server 'broker-1' is not host:port");
  });
});
