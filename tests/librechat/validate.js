#!/usr/bin/env node
/*
 * LibreChat's verdict on librechat.yaml files, computed with LibreChat's own published code
 * (librechat-data-provider's configSchema and parameter catalogue, @librechat/data-schemas'
 * AppService start-up), for tests/test_librechat_parity.py.
 *
 * Usage: node validate.js REQUEST.json
 *   REQUEST = {"out": "RESULT.json", "env": {...}, "files": [{"id": "...", "path": "..."}]}
 * Writes RESULT = {"<id>": verdict, ...} with
 *   verdict = {accepted, stage, errors: [{path, message}], warnings: [...], endpoints: {...}}
 * where stage names the step that refused the file (read, yaml, empty, schema, customParams,
 * startup) and `endpoints` holds the /api/endpoints entries LibreChat derives from the file
 * (custom endpoints, assistants, azureAssistants, azureOpenAI).
 *
 * The steps follow LibreChat's loader (packages/api/src/app/loader.ts): js-yaml's load, then
 * `configSchema.strict().safeParse`, then the OpenRouter parameter preset and `customParams`
 * checks, then AppService (azure groups, assistants, agents).  One process validates the whole
 * list; nothing here reaches the network.
 */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const request = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'librechat-parity-logs-'));
// data-schemas configures winston at import: keep its files in a temporary directory and its
// console quiet, and give LibreChat's env-variable resolution exactly the environment asked for.
for (const key of Object.keys(process.env)) {
  if (!['PATH', 'HOME', 'TMPDIR', 'LANG'].includes(key)) delete process.env[key];
}
Object.assign(process.env, request.env || {}, {
  LIBRECHAT_LOG_DIR: logDir,
  DOTENV_CONFIG_QUIET: 'true',
  CONSOLE_JSON: 'false',
});

const yaml = require('js-yaml');
const dp = require('librechat-data-provider');
const ds = require('@librechat/data-schemas');

silenceLogger(ds.logger);

function silenceLogger(logger) {
  if (logger && Array.isArray(logger.transports)) {
    for (const transport of logger.transports) transport.silent = true;
  }
}

function zodPath(parts) {
  // ["endpoints", "custom", 0, "name"] -> "endpoints.custom[0].name" (our Problem paths)
  let out = '';
  for (const part of parts) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${part}` : String(part);
  }
  return out;
}

function flattenIssues(issues) {
  const found = [];
  for (const issue of issues) {
    if (issue.code === 'invalid_union' && Array.isArray(issue.unionErrors)) {
      found.push({ path: zodPath(issue.path), message: issue.message });
      continue;
    }
    found.push({ path: zodPath(issue.path), message: issue.message });
  }
  return found;
}

// --- the loader's custom-endpoint steps (packages/api/src/app/loader.ts) -------------------------

const OPENROUTER = 'openrouter';

function mentionsOpenRouter(value) {
  return typeof value === 'string' && value.toLowerCase().includes(OPENROUTER);
}

/** The loader gives OpenRouter endpoints OpenRouter's parameters and prompt caching on by default. */
function openRouterPreset(endpoint) {
  if (!(mentionsOpenRouter(endpoint.name) || mentionsOpenRouter(endpoint.baseURL))) return;
  const chosen = endpoint.customParams && endpoint.customParams.defaultParamsEndpoint;
  if (chosen != null && chosen !== 'custom' && chosen !== OPENROUTER) return;
  const params = endpoint.customParams || { defaultParamsEndpoint: 'custom' };
  const definitions = params.paramDefinitions || [];
  const hasCache = definitions.some((definition) => definition.key === 'promptCache');
  endpoint.customParams = {
    ...params,
    defaultParamsEndpoint: OPENROUTER,
    paramDefinitions: hasCache ? definitions : [...definitions, { key: 'promptCache', default: true }],
  };
}

/** Fills each parameter definition from LibreChat's catalogue and validates it (throws). */
function checkCustomParams(name, params) {
  const endpoint = params.defaultParamsEndpoint ?? 'custom';
  params.defaultParamsEndpoint = endpoint;
  const definitions = params.paramDefinitions ?? [];
  const known = new Set([...Object.keys(dp.paramSettings), ...Object.keys(dp.agentParamSettings)]);
  if (!known.has(endpoint)) {
    throw new Error(`defaultParamsEndpoint of "${name}" endpoint is invalid`);
  }
  const catalogue = new Map();
  for (const definition of [...(dp.paramSettings[endpoint] ?? []), ...(dp.agentParamSettings[endpoint] ?? [])]) {
    catalogue.set(definition.key, definition);
  }
  const unknown = definitions.map((d) => d.key).filter((key) => !catalogue.has(key));
  if (unknown.length) {
    throw new Error(`paramDefinitions of "${name}" endpoint contains invalid key(s): ${unknown.join(', ')}`);
  }
  params.paramDefinitions = definitions.map((d) => ({ ...catalogue.get(d.key), ...d, optionType: 'custom' }));
  dp.validateSettingDefinitions(params.paramDefinitions);
}

// --- what /api/endpoints shows for the file ----------------------------------------------------

function isUserProvided(value) {
  return value === 'user_provided';
}

function customEntries(custom) {
  const entries = {};
  for (const endpoint of Array.isArray(custom) ? custom : []) {
    const usable =
      endpoint.baseURL && endpoint.apiKey && endpoint.name && endpoint.models &&
      (endpoint.models.fetch || endpoint.models.default);
    if (!usable) continue;
    const name = dp.normalizeEndpointName(endpoint.name);
    let params = endpoint.customParams;
    if (endpoint.provider != null && (params?.defaultParamsEndpoint == null || params.defaultParamsEndpoint === 'custom')) {
      params = { ...params, defaultParamsEndpoint: endpoint.provider };
    }
    entries[name] = {
      type: 'custom',
      userProvide: isUserProvided(dp.extractEnvVariable(endpoint.apiKey ?? '')),
      userProvideURL: isUserProvided(dp.extractEnvVariable(endpoint.baseURL ?? '')),
      customParams: params,
      modelDisplayLabel: endpoint.modelDisplayLabel,
      iconURL: endpoint.iconURL,
    };
  }
  return entries;
}

function assistantsEntry(base, loaded) {
  if (!loaded) return base;
  const { disableBuilder, retrievalModels, capabilities, version } = loaded;
  return {
    ...base,
    version: version != null ? String(version) : undefined,
    retrievalModels,
    disableBuilder,
    capabilities,
  };
}

/** The default entry LibreChat's generateConfig makes for an endpoint enabled by its key variable. */
function generated(key, baseURL, endpoint) {
  if (!key) return undefined;
  const entry = { userProvide: isUserProvided(key) };
  if (baseURL) entry.userProvideURL = isUserProvided(baseURL);
  entry.retrievalModels = dp.defaultRetrievalModels;
  entry.capabilities = ['code_interpreter', 'image_vision', 'retrieval', 'actions', 'tools'];
  entry.version = dp.defaultAssistantsVersion[endpoint];
  return entry;
}

function endpointsOf(config, app) {
  const merged = { ...customEntries(config.endpoints?.custom) };
  const env = process.env;
  let assistants = generated(env.ASSISTANTS_API_KEY, env.ASSISTANTS_BASE_URL, 'assistants');
  let azureAssistants = generated(env.AZURE_ASSISTANTS_API_KEY, env.AZURE_ASSISTANTS_BASE_URL, 'azureAssistants');
  if (config.endpoints?.azureOpenAI) merged.azureOpenAI = { userProvide: false };
  if (config.endpoints?.azureOpenAI?.assistants) azureAssistants = { userProvide: false };
  if (assistants) merged.assistants = assistantsEntry(assistants, app.endpoints?.assistants);
  if (azureAssistants) merged.azureAssistants = assistantsEntry(azureAssistants, app.endpoints?.azureAssistants);
  return JSON.parse(JSON.stringify(dp.orderEndpointsConfig(merged)));
}

// --- one file -----------------------------------------------------------------------------------

/*
 * LibreChat refuses to start when an Azure group names a ${VAR} that is not set; this service
 * resolves variables per request instead.  Both sides are compared with every variable a file
 * names set (except LibreChat's Azure URL placeholders), so that only the files differ.
 */
const PLACEHOLDERS = new Set(['INSTANCE_NAME', 'DEPLOYMENT_NAME']);

function withVariablesOf(text, run) {
  const names = new Set();
  for (const match of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
    if (!PLACEHOLDERS.has(match[1]) && process.env[match[1]] === undefined) names.add(match[1]);
  }
  for (const name of names) process.env[name] = `set-for-parity-${name.toLowerCase()}`;
  return run().finally(() => {
    for (const name of names) delete process.env[name];
  });
}

async function verdict(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    return refused('read', [{ path: '', message: error.message }]);
  }
  return withVariablesOf(text, () => verdictOf(text));
}

async function verdictOf(text) {
  let config;
  try {
    config = yaml.load(text);
  } catch (error) {
    return refused('yaml', [{ path: '', message: String(error.message).split('\n')[0] }]);
  }
  if (!config) {
    // LibreChat starts without a configuration: the file is not used.
    return refused('empty', [{ path: '', message: 'empty document' }]);
  }
  const result = dp.configSchema.strict().safeParse(config);
  if (!result.success) return refused('schema', flattenIssues(result.error.errors));
  const custom = Array.isArray(config.endpoints?.custom) ? config.endpoints.custom : [];
  try {
    for (const endpoint of custom) openRouterPreset(endpoint);
    for (const endpoint of custom) {
      if (endpoint.customParams) checkCustomParams(endpoint.name, endpoint.customParams);
    }
  } catch (error) {
    return refused('customParams', [{ path: 'endpoints.custom', message: String(error.message).split('\n')[0] }]);
  }
  let app;
  try {
    app = await ds.AppService({ config });
  } catch (error) {
    return refused('startup', [{ path: 'endpoints', message: String(error.message).split('\n')[0] }]);
  }
  return { accepted: true, stage: null, errors: [], endpoints: endpointsOf(config, app) };
}

function refused(stage, errors) {
  return { accepted: false, stage, errors, endpoints: {} };
}

(async () => {
  const results = {};
  for (const { id, path: file } of request.files) {
    results[id] = await verdict(file);
  }
  fs.writeFileSync(request.out, JSON.stringify(results));
  fs.rmSync(logDir, { recursive: true, force: true });
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
