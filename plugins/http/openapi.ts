import type { EndpointRecord, JsonSchema, ServiceRecord } from '../../lib/registry/registry';
import { isCallable, isPublicService, streamKind } from './lookup';

/**
 * `GET /openapi.json`: an OpenAPI 3.1 document built from the registry, so the schemas that validate requests (zod or
 * class-validator DTOs, turned into JSON Schema when the service registered) are the ones that document them. OpenAPI
 * 3.1 schemas are JSON Schema 2020-12, so they go in as they are, except that each one's `$defs` are hoisted into
 * `components.schemas` (a `#/$defs/...` reference would otherwise point at the document root) and its references
 * rewritten. One POST path per callable endpoint (event subscribers are left out), every error response pointing at
 * one shared Error schema, plus /rpc, /health and /ready.
 */

type Obj = Record<string, unknown>;

const ERROR_STATUSES = ['400', '401', '403', '404', '408', '413', '415', '429', '500', '503', '504'];

export function openApiDocument(records: ServiceRecord[], headerPrefix: string): Obj {
  const schemas: Obj = { Error: ERROR_SCHEMA };
  const paths: Obj = {};
  for (const [service, endpoints] of byService(records)) {
    for (const e of endpoints) {
      paths[`/${encodeURIComponent(service)}/${encodeURIComponent(e.name)}`] = { post: operation(service, e, schemas) };
    }
  }
  paths['/rpc'] = { post: JSON_RPC_OPERATION };
  paths['/health'] = { get: probe('Liveness: 200 while the gateway process runs', 'health') };
  paths['/ready'] = { get: probe('Readiness: 200 when the service is started and the registry answers, else 503', 'ready') };
  return {
    openapi: '3.1.0',
    info: { title: 'Phobos HTTP gateway', version: '1.0.0', description: 'Generated from the endpoint schemas in the Phobos registry.' },
    paths,
    components: {
      schemas,
      responses: { Error: { description: 'An error: `{id, code, detail}` (+ `issues` for validation failures)', content: { 'application/json': { schema: ref('Error') } } } },
      parameters: {
        RequestId: { name: 'x-request-id', in: 'header', required: false, schema: { type: 'string' }, description: 'Echoed in the answer; made up when absent.' },
        Timeout: { name: `${headerPrefix}timeout`, in: 'header', required: false, schema: { type: 'string' }, description: 'Call deadline: 250ms, 2s or milliseconds (capped).' },
      },
    },
  };
}

/** Callable endpoints per public service; the first record of a name wins an endpoint name several versions share. */
function byService(records: ServiceRecord[]): [string, EndpointRecord[]][] {
  const out = new Map<string, Map<string, EndpointRecord>>();
  for (const r of records) {
    if (!isPublicService(r.name)) continue;
    let eps = out.get(r.name);
    if (!eps) out.set(r.name, (eps = new Map()));
    for (const e of r.endpoints) if (isCallable(e) && !eps.has(e.name)) eps.set(e.name, e);
  }
  return [...out.entries()]
    .filter(([, eps]) => eps.size > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, eps]) => [name, [...eps.values()].sort((a, b) => a.name.localeCompare(b.name))]);
}

function operation(service: string, e: EndpointRecord, schemas: Obj): Obj {
  const base = componentName(`${service}.${e.name}`);
  const kind = streamKind(e);
  const request: Obj = e.request ? place(e.request, `${base}.Request`, schemas) : {};
  const response: Obj = e.response ? place(e.response, `${base}.Response`, schemas) : {};
  const streamsIn = kind === 'client' || kind === 'bidi';
  const streamsOut = kind === 'server' || kind === 'bidi';
  const ok = streamsOut
    ? { description: 'Server-sent events: one `data:` line of JSON per reply, then `event: end` (or `event: error`)', content: { 'text/event-stream': { schema: { type: 'string' }, 'x-phobos-item': response } } }
    : { description: 'The reply (204 when the handler returns nothing)', content: { 'application/json': { schema: response } } };
  const responses: Obj = { '200': ok };
  for (const s of ERROR_STATUSES) responses[s] = { $ref: '#/components/responses/Error' };
  if (streamsOut) responses['406'] = { $ref: '#/components/responses/Error' };
  return {
    operationId: `${service}.${e.name}`,
    tags: [service],
    ...(kind ? { 'x-phobos-stream': kind } : {}),
    parameters: [{ $ref: '#/components/parameters/RequestId' }, { $ref: '#/components/parameters/Timeout' }],
    requestBody: {
      required: e.request !== undefined,
      content: { 'application/json': { schema: streamsIn ? { type: 'array', items: request } : request } },
    },
    responses,
  };
}

/** Puts `schema` into components under `name` (with its $defs hoisted beside it); returns the reference to it. */
function place(schema: JsonSchema, name: string, schemas: Obj): Obj {
  const copy = JSON.parse(JSON.stringify(schema)) as Obj;
  const defs = { ...(copy.$defs as Obj | undefined), ...(copy.definitions as Obj | undefined) };
  delete copy.$defs;
  delete copy.definitions;
  const rewrite = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(rewrite);
    if (typeof node !== 'object' || node === null) return;
    const o = node as Obj;
    if (typeof o.$ref === 'string') {
      const m = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(o.$ref);
      if (m) o.$ref = `#/components/schemas/${name}.${componentName(m[1])}`;
      else if (o.$ref === '#') o.$ref = `#/components/schemas/${name}`;
    }
    for (const v of Object.values(o)) rewrite(v);
  };
  rewrite(copy);
  for (const [k, v] of Object.entries(defs)) {
    rewrite(v);
    schemas[`${name}.${componentName(k)}`] = v;
  }
  schemas[name] = copy;
  return ref(name);
}

function componentName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}

function ref(name: string): Obj {
  return { $ref: `#/components/schemas/${name}` };
}

function probe(description: string, id: string): Obj {
  return {
    operationId: id,
    tags: ['gateway'],
    responses: {
      '200': { description, content: { 'application/json': { schema: { type: 'object', properties: { status: { type: 'string' } } } } } },
      '503': { description: 'Not ready', content: { 'application/json': { schema: { type: 'object', properties: { status: { type: 'string' } } } } } },
    },
  };
}

const ERROR_SCHEMA: Obj = {
  type: 'object',
  required: ['id', 'code', 'detail'],
  properties: {
    id: { type: 'string', description: 'Where the error was raised: service.endpoint, phobos.client, phobos.gateway...' },
    code: { type: 'integer', description: 'The HTTP status' },
    detail: { type: 'string' },
    issues: { type: 'array', items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } } },
  },
};

const JSON_RPC_REQUEST: Obj = {
  type: 'object',
  required: ['jsonrpc', 'method'],
  properties: {
    jsonrpc: { const: '2.0' },
    method: { type: 'string', description: 'service.endpoint (or service/endpoint)' },
    params: { type: ['object', 'array'] },
    id: { type: ['string', 'number', 'null'], description: 'Absent for a notification' },
  },
};
const JSON_RPC_RESPONSE: Obj = {
  type: 'object',
  required: ['jsonrpc', 'id'],
  properties: {
    jsonrpc: { const: '2.0' },
    result: {},
    error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'integer' }, message: { type: 'string' }, data: ref('Error') } },
    id: { type: ['string', 'number', 'null'] },
  },
};

const JSON_RPC_OPERATION: Obj = {
  operationId: 'jsonrpc',
  tags: ['gateway'],
  summary: 'JSON-RPC 2.0: one request or a batch',
  requestBody: { required: true, content: { 'application/json': { schema: { oneOf: [JSON_RPC_REQUEST, { type: 'array', items: JSON_RPC_REQUEST, minItems: 1 }] } } } },
  responses: {
    '200': { description: 'One response or a batch of them', content: { 'application/json': { schema: { oneOf: [JSON_RPC_RESPONSE, { type: 'array', items: JSON_RPC_RESPONSE }] } } } },
    '204': { description: 'Only notifications were sent' },
    '408': { $ref: '#/components/responses/Error' },
    '413': { $ref: '#/components/responses/Error' },
    '415': { $ref: '#/components/responses/Error' },
  },
};
