/**
 * Errors travel between processes as a plain `{id, code, detail, status}` record and come back to the caller as an
 * RpcError it can branch on (`err.code === 404`). Codes follow HTTP so gateways map them one to one.
 */

export interface ErrorRecord {
  /** Where the error was raised: usually `service.endpoint`, or `phobos.client` / `phobos.transport`. */
  id: string;
  /** HTTP-like numeric code: 400, 404, 408, 429, 500, 503 ... */
  code: number;
  /** Human-readable message. */
  detail: string;
  /** The status text for the code ("Not Found"). */
  status: string;
  /** Field-level problems, for validation errors. */
  issues?: ValidationIssue[];
}

export interface ValidationIssue {
  path: string;
  message: string;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function statusText(code: number): string {
  return STATUS_TEXT[code] ?? 'Unknown';
}

export class RpcError extends Error implements ErrorRecord {
  readonly id: string;
  readonly code: number;
  readonly detail: string;
  readonly status: string;
  readonly issues?: ValidationIssue[];

  constructor(id: string, code: number, detail: string, issues?: ValidationIssue[]) {
    super(detail);
    this.name = 'RpcError';
    this.id = id;
    this.code = code;
    this.detail = detail;
    this.status = statusText(code);
    if (issues) this.issues = issues;
  }

  toJSON(): ErrorRecord {
    const rec: ErrorRecord = { id: this.id, code: this.code, detail: this.detail, status: this.status };
    if (this.issues) rec.issues = this.issues;
    return rec;
  }

  static from(record: Partial<ErrorRecord> | undefined | null): RpcError {
    if (record instanceof RpcError) return record;
    const code = typeof record?.code === 'number' ? record.code : 500;
    const detail = typeof record?.detail === 'string' ? record.detail : 'unknown error';
    const id = typeof record?.id === 'string' ? record.id : 'phobos';
    const issues = Array.isArray(record?.issues) ? record.issues : undefined;
    return new RpcError(id, code, detail, issues);
  }

  /** True for failures where another attempt may succeed: the connection failed or the server was unavailable. */
  get retryable(): boolean {
    return this.code === 503 || this.code === 502;
  }
}

export const errors = {
  badRequest: (id: string, detail: string, issues?: ValidationIssue[]) => new RpcError(id, 400, detail, issues),
  notFound: (id: string, detail: string) => new RpcError(id, 404, detail),
  timeout: (id: string, detail: string) => new RpcError(id, 408, detail),
  tooMany: (id: string, detail: string) => new RpcError(id, 429, detail),
  cancelled: (id: string, detail: string) => new RpcError(id, 499, detail),
  internal: (id: string, detail: string) => new RpcError(id, 500, detail),
  unavailable: (id: string, detail: string) => new RpcError(id, 503, detail),
};
