#!/usr/bin/env node
/*
 * Prints LibreChat's parameter catalogue (librechat-data-provider's paramSettings and
 * agentParamSettings), merged per endpoint as LibreChat's config loader merges them (an agent
 * definition wins over the regular one with the same key).  endpoints/config/librechat_params.json
 * is this output; tests/test_librechat_parity.py checks that it still matches the pinned package.
 *
 *   node tests/librechat/dump_params.js > endpoints/config/librechat_params.json
 */
'use strict';

const dp = require('librechat-data-provider');
const pkg = JSON.parse(
  require('fs').readFileSync(require('path').join(__dirname, 'node_modules/librechat-data-provider/package.json'), 'utf8'),
);

const endpoints = {};
for (const endpoint of new Set([...Object.keys(dp.paramSettings), ...Object.keys(dp.agentParamSettings)])) {
  const byKey = {};
  for (const definition of [...(dp.paramSettings[endpoint] ?? []), ...(dp.agentParamSettings[endpoint] ?? [])]) {
    byKey[definition.key] = definition;
  }
  endpoints[endpoint] = byKey;
}
const catalogue = {
  _source: `librechat-data-provider ${pkg.version}: paramSettings and agentParamSettings, merged per endpoint`,
  endpoints,
};
process.stdout.write(JSON.stringify(catalogue, null, 1) + '\n');
