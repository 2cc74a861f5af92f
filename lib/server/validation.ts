import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validateSync, type ValidationError } from 'class-validator';
import { errors, type ValidationIssue } from '../errors';
import type { JsonSchema } from '../registry/registry';

/**
 * Request validation, compiled once per endpoint. A request schema is either a Standard Schema (zod 4, valibot,
 * arktype...) or a class-validator DTO class; with neither declared, the first parameter's reflected type is used
 * when it is a DTO. A failure is an RpcError 400 whose `issues` name each field.
 */

export interface StandardSchemaLike {
  readonly '~standard': {
    validate(value: unknown): StandardResult | Promise<StandardResult>;
  };
}
type StandardResult =
  | { value: unknown; issues?: undefined }
  | { issues: ReadonlyArray<{ message: string; path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> }> };

export type DtoClass = new (...args: any[]) => object;
export type RequestSchema = StandardSchemaLike | DtoClass;

/** Returns the value to hand the handler (parsed/whitelisted), or a promise of it; throws RpcError 400. */
export type Validator = (value: unknown) => unknown;

export function isStandardSchema(s: unknown): s is StandardSchemaLike {
  return typeof s === 'object' && s !== null && typeof (s as StandardSchemaLike)['~standard']?.validate === 'function';
}

export function isDto(t: unknown): t is DtoClass {
  if (typeof t !== 'function' || PRIMITIVE_CTORS.has(t)) return false;
  return getMetadataStorage().getTargetValidationMetadatas(t, '', true, false).length > 0;
}

const PRIMITIVE_CTORS = new Set<unknown>([Object, String, Number, Boolean, Array, Promise, Function, Symbol, BigInt]);

/** Picks the declared schema, else a reflected DTO type; undefined when the request is not validated. */
export function effectiveSchema(declared: RequestSchema | undefined, reflected: unknown): RequestSchema | undefined {
  if (declared) return declared;
  return isDto(reflected) ? reflected : undefined;
}

export function compileValidator(id: string, schema: RequestSchema | undefined): Validator | undefined {
  if (!schema) return undefined;
  if (isStandardSchema(schema)) {
    const std = schema['~standard'];
    const settle = (r: StandardResult) => {
      if (r.issues) throw errors.badRequest(id, describeIssues(r.issues.map(standardIssue)), r.issues.map(standardIssue));
      return r.value;
    };
    return (value) => {
      const r = std.validate(value);
      return r instanceof Promise ? r.then(settle) : settle(r);
    };
  }
  if (typeof schema === 'function') {
    const dto = schema;
    return (value) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw errors.badRequest(id, 'request must be an object', [{ path: '', message: 'expected an object' }]);
      }
      const instance = plainToInstance(dto, value);
      const found = validateSync(instance, { whitelist: true, forbidUnknownValues: true });
      if (found.length > 0) {
        const issues = flattenClassErrors(found, '');
        throw errors.badRequest(id, describeIssues(issues), issues);
      }
      return instance;
    };
  }
  throw new Error(`${id}: unsupported request schema (expected a Standard Schema such as zod, or a class-validator DTO)`);
}

function standardIssue(i: { message: string; path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> }): ValidationIssue {
  const path = (i.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.');
  return { path, message: i.message };
}

function flattenClassErrors(list: ValidationError[], prefix: string): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const e of list) {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    for (const message of Object.values(e.constraints ?? {})) out.push({ path, message });
    if (e.children?.length) out.push(...flattenClassErrors(e.children, path));
  }
  return out;
}

function describeIssues(issues: ValidationIssue[]): string {
  const parts = issues.slice(0, 5).map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
  const more = issues.length > 5 ? ` (+${issues.length - 5} more)` : '';
  return `invalid request: ${parts.join('; ')}${more}`;
}

/** JSON Schema for the registry record, so gateways and the CLI can describe endpoints. Best effort. */
export function toJsonSchema(schema: RequestSchema | undefined): JsonSchema | undefined {
  if (!schema) return undefined;
  if (isStandardSchema(schema) && '_zod' in (schema as object)) {
    try {
      const { toJSONSchema } = require('zod') as { toJSONSchema: (s: unknown) => JsonSchema };
      const out = toJSONSchema(schema);
      delete out.$schema;
      return out;
    } catch {
      return undefined;
    }
  }
  if (typeof schema === 'function') return dtoJsonSchema(schema);
  return undefined;
}

const DTO_TYPES: Record<string, JsonSchema> = {
  isString: { type: 'string' },
  isInt: { type: 'integer' },
  isNumber: { type: 'number' },
  isBoolean: { type: 'boolean' },
  isArray: { type: 'array' },
  isEmail: { type: 'string', format: 'email' },
  isUUID: { type: 'string', format: 'uuid' },
  isDateString: { type: 'string', format: 'date-time' },
  isISO8601: { type: 'string', format: 'date-time' },
};
const DTO_CONSTRAINTS: Record<string, string> = { minLength: 'minLength', maxLength: 'maxLength', min: 'minimum', max: 'maximum' };

function dtoJsonSchema(dto: DtoClass): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const optional = new Set<string>();
  for (const m of getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false)) {
    const prop = (properties[m.propertyName] ??= {});
    if (m.name === 'isOptional') optional.add(m.propertyName);
    else if (m.name && DTO_TYPES[m.name]) Object.assign(prop, DTO_TYPES[m.name]);
    else if (m.name && DTO_CONSTRAINTS[m.name] && typeof m.constraints?.[0] === 'number') prop[DTO_CONSTRAINTS[m.name]] = m.constraints[0];
  }
  const required = Object.keys(properties).filter((p) => !optional.has(p));
  return { type: 'object', properties, ...(required.length ? { required } : {}), additionalProperties: false };
}
