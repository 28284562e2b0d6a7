#!/usr/bin/env node
// The test command: runs every compiled test file (dist/test/**/*.test.js) in its own process with
// uvu, each under a time bound, and ends with exactly one line `N passed, N failed`.
// Usage: node test/run.mjs [substring filter…]
import { spawn } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const testRoot = join(root, 'dist', 'test');
const filters = process.argv.slice(2);
const fileTimeoutMs = Number(process.env.STRATA_TEST_FILE_TIMEOUT_MS ?? 600_000);

function collect(directory) {
  if (!existsSync(directory)) return [];
  const found = [];
  for (const name of readdirSync(directory).sort()) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) found.push(...collect(path));
    else if (name.endsWith('.test.js')) found.push(path);
  }
  return found;
}

const files = collect(testRoot).filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)));
let passed = 0;
let failed = 0;

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--enable-source-maps', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk; process.stdout.write(chunk); });
    child.stderr.on('data', (chunk) => { output += chunk; process.stderr.write(chunk); });
    const timer = setTimeout(() => { output += `\n[run] timed out after ${fileTimeoutMs} ms\n`; child.kill('SIGKILL'); }, fileTimeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? NaN);
      const ok = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? NaN);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(output)?.[1] ?? 0);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (Number.isNaN(total) || Number.isNaN(ok)) {
        failed += 1;
        console.log(`[run] ${relative(root, file)}: no summary (exit ${code}) — counted as 1 failed`);
      } else {
        passed += ok;
        let bad = total - ok - skipped;
        if (code !== 0 && bad === 0) bad = 1;
        failed += bad;
        console.log(`[run] ${relative(root, file)}: ${ok} passed, ${bad} failed, ${skipped} skipped in ${seconds}s`);
      }
      resolve();
    });
  });
}

for (const file of files) await runFile(file);
if (files.length === 0) { console.log('[run] no test files found: did you run `npm run build`?'); failed += 1; }
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
