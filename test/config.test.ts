import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';

describe('logging and metrics options', () => {
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
