import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';

describe('logging and metrics options', { timeout: 180_000 }, () => {
  it('default to auto-formatted logs and no metrics endpoint', () => {
    const config = loadConfig({}, {});
    assert.equal(config.logFormat, 'auto');
    assert.equal(config.metricsPort, undefined);
  });

  it('take the metrics port and log format from flags or the environment, flags first', () => {
    assert.equal(loadConfig({}, { LONGRUN_METRICS_PORT: '9464' }).metricsPort, 9464);
    assert.equal(loadConfig({ 'metrics-port': '0' }, { LONGRUN_METRICS_PORT: '9464' }).metricsPort, 0);
    assert.equal(loadConfig({}, { LONGRUN_METRICS_PORT: '' }).metricsPort, undefined);
    assert.equal(loadConfig({ 'log-format': 'JSON' }, { LONGRUN_LOG_FORMAT: 'pretty' }).logFormat, 'json');
    assert.equal(loadConfig({}, { LONGRUN_LOG_FORMAT: 'pretty' }).logFormat, 'pretty');
  });

  it('refuse bad values naming where they came from', () => {
    assert.throws(() => loadConfig({ 'metrics-port': '70000' }, {}), (error: unknown) =>
      error instanceof ConfigError && /^--metrics-port: must be a port number/.test(error.message));
    assert.throws(() => loadConfig({}, { LONGRUN_LOG_FORMAT: 'xml' }), { name: 'ConfigError', message: /^LONGRUN_LOG_FORMAT: must be one of auto, json, pretty/ });
  });
});

describe('limit options', { timeout: 180_000 }, () => {
  it('take --max-waits-per-principal from the flag or the environment (default 1000), refusing 0', () => {
    assert.equal(loadConfig({}, {}).maxWaitsPerPrincipal, 1000);
    assert.equal(loadConfig({}, { LONGRUN_MAX_WAITS_PER_PRINCIPAL: '20' }).maxWaitsPerPrincipal, 20);
    assert.equal(loadConfig({ 'max-waits-per-principal': '5' }, { LONGRUN_MAX_WAITS_PER_PRINCIPAL: '20' }).maxWaitsPerPrincipal, 5);
    assert.throws(() => loadConfig({ 'max-waits-per-principal': '0' }, {}), { name: 'ConfigError', message: /^--max-waits-per-principal: must be a whole number >= 1/ });
  });

  it('take --concurrency-per-key from the flag or the environment (default 1), from 1 to MAX_CONCURRENCY_PER_KEY', () => {
    assert.equal(loadConfig({}, {}).concurrencyPerKey, 1);
    assert.equal(loadConfig({}, { LONGRUN_CONCURRENCY_PER_KEY: '4' }).concurrencyPerKey, 4);
    assert.equal(loadConfig({ 'concurrency-per-key': '1000' }, { LONGRUN_CONCURRENCY_PER_KEY: '4' }).concurrencyPerKey, 1000);
    assert.throws(() => loadConfig({ 'concurrency-per-key': '1001' }, {}), { name: 'ConfigError', message: /^--concurrency-per-key: must be a whole number from 1 to 1000, got "1001"/ });
    assert.throws(() => loadConfig({}, { LONGRUN_CONCURRENCY_PER_KEY: '0' }), { name: 'ConfigError', message: /^LONGRUN_CONCURRENCY_PER_KEY: must be a whole number >= 1/ });
  });

  it('are in the configuration reference (docs/configuration.md)', () => {
    const reference = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    assert.match(reference, /\| `--max-waits-per-principal` \| `LONGRUN_MAX_WAITS_PER_PRINCIPAL` \| `1000` \|/);
  });
});

describe('the Vision sample option', { timeout: 180_000 }, () => {
  it('is on by default; --no-vision or LONGRUN_ENABLE_VISION=false turn it off; --enable-vision wins over the environment', () => {
    assert.equal(loadConfig({}, {}).enableVision, true);
    assert.equal(loadConfig({ 'no-vision': true }, {}).enableVision, false);
    assert.equal(loadConfig({}, { LONGRUN_ENABLE_VISION: 'false' }).enableVision, false);
    assert.equal(loadConfig({ 'enable-vision': true }, { LONGRUN_ENABLE_VISION: 'false' }).enableVision, true);
    assert.equal(loadConfig({ 'no-vision': true }, { LONGRUN_ENABLE_VISION: 'true' }).enableVision, false);
    assert.equal(loadConfig({}, {}).enableSleeper, false, 'the Sleeper stays opt-in');
    assert.throws(() => loadConfig({ 'no-vision': true, 'enable-vision': true }, {}), { name: 'ConfigError', message: /contradict/ });
  });
});
