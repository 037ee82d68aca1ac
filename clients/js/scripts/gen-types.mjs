#!/usr/bin/env node
// Generates clients/js/api-types.d.ts from authgate's openapi.yml: one type per schema of
// `components.schemas`, and `Operations`, the request body and the success answer of every
// operation under /api/v1/auth/. authgate.d.ts builds on these, so the client's types follow the
// server's contract.
//
//   node clients/js/scripts/gen-types.mjs           write api-types.d.ts
//   node clients/js/scripts/gen-types.mjs --check   fail (exit 1) when it is stale
//
// Plain Node, no network; the YAML parser is the `yaml` devDependency (npm ci --prefix clients/js).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLIENT = path.resolve(HERE, '..');
const SPEC = path.resolve(CLIENT, '..', '..', 'openapi.yml');
const OUT = path.join(CLIENT, 'api-types.d.ts');
const PREFIX = '/api/v1/auth/';

const spec = parse(readFileSync(SPEC, 'utf8'));
const schemas = spec.components?.schemas ?? {};
const responses = spec.components?.responses ?? {};

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const key = (name) => (IDENT.test(name) ? name : JSON.stringify(name));
const literal = (value) => JSON.stringify(value);

/** A description as a one-paragraph JSDoc comment, or nothing. */
function doc(description, indent) {
  if (!description) return '';
  const text = String(description).replace(/\s+/g, ' ').trim().replace(/\*\//g, '*\\/');
  return `${indent}/** ${text} */\n`;
}

function refName(ref) {
  const m = /^#\/components\/schemas\/(.+)$/.exec(ref);
  if (!m) throw new Error(`unsupported $ref ${ref}`);
  if (!schemas[m[1]]) throw new Error(`$ref to a missing schema: ${ref}`);
  return m[1];
}

const paren = (t) => (/[|&]/.test(t) && !/^\(.*\)$/.test(t) ? `(${t})` : t);

/** An OpenAPI 3.1 (JSON Schema) schema as a TypeScript type. */
function tsType(schema, indent = '') {
  if (schema === undefined || schema === true || schema === null) return 'unknown';
  if (schema === false) return 'never';
  if (schema.$ref) return refName(schema.$ref);
  if ('const' in schema) return literal(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map(literal).join(' | ');
  const parts = [];
  if (schema.allOf) parts.push(...schema.allOf.map((s) => tsType(s, indent)));
  const own = ownType(schema, indent);
  if (own !== null) parts.push(own);
  let type = parts.length > 1 ? parts.map(paren).join(' & ') : parts[0] ?? 'unknown';
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) {
    const union = alternatives.map((s) => tsType(s, indent)).join(' | ');
    type = parts.length ? `${paren(type)} & (${union})` : union;
  }
  return type;
}

/** The type the schema's own keywords (type, properties, items) give, or null for none. */
function ownType(schema, indent) {
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (!types.length && (schema.properties || schema.required)) types.push('object');
  if (!types.length && schema.items) types.push('array');
  if (!types.length) return null;
  return types.map((t) => {
    switch (t) {
      case 'string': return 'string';
      case 'integer':
      case 'number': return 'number';
      case 'boolean': return 'boolean';
      case 'null': return 'null';
      case 'array': return `${paren(tsType(schema.items, indent))}[]`;
      case 'object': return objectType(schema, indent);
      default: throw new Error(`unsupported type ${t}`);
    }
  }).join(' | ');
}

function objectType(schema, indent) {
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const inner = `${indent}  `;
  const lines = [];
  for (const [name, prop] of Object.entries(props)) {
    lines.push(`${doc(prop.description, inner)}${inner}${key(name)}${required.has(name) ? '' : '?'}: ${tsType(prop, inner)};`);
  }
  // Required names without a property of their own (declared in an allOf part) add nothing here.
  const extra = schema.additionalProperties;
  if (extra && typeof extra === 'object') lines.push(`${inner}[field: string]: ${tsType(extra, inner)};`);
  if (!lines.length) return extra === false ? 'Record<string, never>' : 'Record<string, unknown>';
  return `{\n${lines.join('\n')}\n${indent}}`;
}

/** The JSON schema of a response (inline or a $ref to components.responses); null for no body. */
function responseBody(response) {
  let r = response;
  if (r?.$ref) {
    const m = /^#\/components\/responses\/(.+)$/.exec(r.$ref);
    if (!m || !responses[m[1]]) throw new Error(`unsupported response $ref ${r.$ref}`);
    r = responses[m[1]];
  }
  const schema = r?.content?.['application/json']?.schema;
  return schema ?? null;
}

function operations() {
  const out = [];
  for (const [p, item] of Object.entries(spec.paths ?? {})) {
    if (!p.startsWith(PREFIX)) continue;
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      const op = item[method];
      if (!op) continue;
      if (!op.operationId) throw new Error(`${method.toUpperCase()} ${p} has no operationId`);
      const body = op.requestBody?.content?.['application/json']?.schema;
      const ok = Object.keys(op.responses ?? {}).filter((s) => /^2\d\d$/.test(s)).sort();
      // Browser navigations (a 302 to a provider and back) are not calls a client makes.
      if (!ok.length && Object.keys(op.responses ?? {}).some((s) => /^3\d\d$/.test(s))) continue;
      if (!ok.length) throw new Error(`${op.operationId} has no success answer`);
      const answers = ok.map((s) => responseBody(op.responses[s]));
      const response = [...new Set(answers.map((a) => (a ? tsType(a, '    ') : 'null')))].join(' | ');
      out.push({
        id: op.operationId,
        summary: op.summary,
        method: method.toUpperCase(),
        path: p.slice(PREFIX.length),
        status: ok.map(Number),
        request: body ? tsType(body, '    ') : 'never',
        response,
      });
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

function generate() {
  const head = [
    '// Generated from openapi.yml by clients/js/scripts/gen-types.mjs: do not edit by hand.',
    `// authgate API ${spec.info?.version ?? ''}: the schemas, and the request body and success answer`,
    '// of every operation under /api/v1/auth/ (`Operations`). Regenerate after changing openapi.yml:',
    '//   node clients/js/scripts/gen-types.mjs',
    '',
  ];
  const body = [];
  for (const name of Object.keys(schemas).sort()) {
    body.push(`${doc(schemas[name].description, '')}export type ${name} = ${tsType(schemas[name], '')};`, '');
  }
  body.push('/** Every operation under /api/v1/auth/: method, path (below /api/v1/auth/), success statuses, request body (`never`: none) and success answer (`null`: no body). */');
  body.push('export interface Operations {');
  for (const op of operations()) {
    body.push(`${doc(op.summary, '  ')}  ${op.id}: {`);
    body.push(`    method: ${literal(op.method)};`);
    body.push(`    path: ${literal(op.path)};`);
    body.push(`    status: ${op.status.join(' | ')};`);
    body.push(`    request: ${op.request};`);
    body.push(`    response: ${op.response};`);
    body.push('  };');
  }
  body.push('}', '');
  body.push('/** The request body of an operation. */');
  body.push("export type RequestOf<K extends keyof Operations> = Operations[K]['request'];");
  body.push('/** The success answer of an operation. */');
  body.push("export type ResponseOf<K extends keyof Operations> = Operations[K]['response'];");
  return `${[...head, ...body].join('\n')}\n`;
}

const text = generate();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(OUT, 'utf8');
  } catch (_) {
    current = '';
  }
  if (current !== text) {
    const a = current.split('\n');
    const b = text.split('\n');
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    console.error(`${path.relative(process.cwd(), OUT)} is stale (first difference at line ${i + 1}):`);
    console.error(`  file:      ${JSON.stringify(a[i] ?? '<end of file>')}`);
    console.error(`  generated: ${JSON.stringify(b[i] ?? '<end of file>')}`);
    console.error('Regenerate it: node clients/js/scripts/gen-types.mjs');
    process.exit(1);
  }
  console.log(`${path.relative(process.cwd(), OUT)} is up to date with openapi.yml`);
} else {
  writeFileSync(OUT, text);
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
}
