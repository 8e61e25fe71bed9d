// The console's API client. Everything goes through the public API under /api/v1 with the key the
// user entered (kept in sessionStorage: gone when the browser session ends).
import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./api-schema";
import type { ApiResponse, CdcError, DataSourceInput, ExceptionPatch, FileMeta, LegacyCreate, RuleSetInput, StreamInput, StreamsErrorBody } from "./types";

export const API_BASE = "/api/v1";
const KEY = "recon.apiKey";

/** What reads the API again once a new key is entered (a read refused with the old key). */
const newKeyListeners = new Set<() => void>();
export const auth = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (key: string) => {
    sessionStorage.setItem(KEY, key.trim());
    for (const fn of [...newKeyListeners]) fn();
  },
  clear: () => sessionStorage.removeItem(KEY),
};
/** Calls `fn` each time a key is entered; returns the function that stops it. */
export function onNewKey(fn: () => void): () => void {
  newKeyListeners.add(fn);
  return () => {
    newKeyListeners.delete(fn);
  };
}

let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void) {
  onUnauthorized = fn;
}
/**
 * The API answered 401: the key stopped working (rotated or revoked) or there is none. Every request of
 * the client reports it here; the console then asks for a key where the person is (a form keeps its edits).
 */
export function keyRefused() {
  onUnauthorized();
}

/** Checks a key with one authenticated read: null when the API takes it, else why not, in words. */
export async function checkKey(key: string): Promise<string | null> {
  try {
    const res = await fetch(`${API_BASE}/reconciliation/jobs?page_size=1`, { headers: { Authorization: `Bearer ${key.trim()}` } });
    if (res.status === 401) return "This key is not valid: the API answered 401 Unauthorized";
    if (!res.ok && res.status >= 500) return `The API answered ${res.status}: is the stack healthy?`;
    return null;
  } catch {
    return "The API cannot be reached: check that the stack is running";
  }
}

/** An API error in words: status, machine code, message, and the problems by field. */
export class ApiError extends Error {
  status: number;
  code: string;
  fields: Record<string, string>;
  body: unknown;
  /** Seconds the API asked to wait before trying again (Retry-After of a 429 or 503). */
  retryAfter?: number;
  /** A request refused for its key's rate limit (429): when, in epoch ms, the API takes the next one. */
  retryAt?: number;
  constructor(status: number, code: string, message: string, fields: Record<string, string> = {}, body?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.body = body;
  }
  /** The message for a field path. */
  at(field: string): string | undefined {
    return this.fields[field];
  }
}

/**
 * The error without the messages about a field the person just changed (`steps[0].sourceInput.id`
 * also clears `steps[0].sourceInput`): a fixed field stops showing its old complaint.
 */
export function withoutField(error: unknown, name: string): unknown {
  if (!(error instanceof ApiError) || !name) return error;
  const left = Object.entries(error.fields).filter(([k]) => !(name === k || name.startsWith(k + ".") || name.startsWith(k + "[")));
  if (left.length === Object.keys(error.fields).length) return error;
  if (left.length === 0 && error.status === 400 && error.code === "VALIDATION_ERROR") return null;
  const e = new ApiError(error.status, error.code, error.message, Object.fromEntries(left), error.body);
  return e;
}

/**
 * Both dialects' error bodies → ApiError; a refused key (401) says what to do. `retryAfter`: the answer's
 * Retry-After header (seconds, or an HTTP date); the CDC dialect also says it in the body (`retry_after`),
 * the streams dialect only in the header.
 */
export function toApiError(status: number, body: unknown, statusText = "", retryAfter?: string | null): ApiError {
  const e = readError(status, body, statusText);
  if (status === 401) e.message = `The API refused the key (${e.message}): enter a valid key where the console asks for one, then try again`;
  const wait = retryAfterSeconds(retryAfter) ?? e.retryAfter;
  if (wait !== undefined) e.retryAfter = wait;
  // the API's "Try again in 60 seconds." is true only as it arrives: the page counts the wait down instead
  if (status === 429) {
    e.message = "This key has sent too many of these requests: the API takes no more for now (its per-minute limit)";
    e.retryAt = Date.now() + 1000 * (wait ?? 60);
  }
  return e;
}

/** A Retry-After header's seconds (RFC 9110 §10.2.3: a number of seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterSeconds(header: string | null | undefined): number | undefined {
  const h = header?.trim();
  if (!h) return undefined;
  if (/^\d+$/.test(h)) return Number(h);
  const at = Date.parse(h);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

function readError(status: number, body: unknown, statusText: string): ApiError {
  if (body && typeof body === "object") {
    const b = body as Partial<StreamsErrorBody & CdcError>;
    if (typeof b.errorCode === "string") {
      const fields: Record<string, string> = {};
      // several problems at one field are all shown, one a line
      for (const e of b.errors ?? []) if (e.field) fields[e.field] = e.field in fields ? `${fields[e.field]}\n${e.message}` : e.message;
      return new ApiError(status, b.errorCode, b.message || b.errorCode, fields, body);
    }
    if (typeof b.error === "string") {
      const fields: Record<string, string> = {};
      for (const d of b.details ?? []) if (d.field) fields[d.field] = d.field in fields ? `${fields[d.field]}\n${d.problem}` : d.problem;
      const err = new ApiError(status, b.error, b.message || b.error, fields, body);
      if (typeof b.retry_after === "number") err.retryAfter = b.retry_after;
      if (b.valid_tables) err.fields.tables = `${b.message}. Valid tables: ${b.valid_tables.join(", ")}`;
      return err;
    }
  }
  const words = status === 0 ? "The API cannot be reached" : `The API answered ${status} ${statusText}`.trim();
  return new ApiError(status, "HTTP_" + status, words, {}, body);
}

function authHeaders(): Record<string, string> {
  const key = auth.get();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function parse(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function toQuery(q: Record<string, unknown>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null || v === "") continue;
    p.set(k, String(v));
  }
  return p.toString();
}


// ------------------------------------------------------------------------------------------ CDC
const authMiddleware: Middleware = {
  onRequest({ request }) {
    const key = auth.get();
    if (key) request.headers.set("Authorization", `Bearer ${key}`);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) keyRefused();
    return response;
  },
};
export const cdcClient = createClient<paths>({ baseUrl: "" });
cdcClient.use(authMiddleware);

async function cdcCall<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let r;
  try {
    r = await p;
  } catch {
    throw new ApiError(0, "NETWORK", "The API cannot be reached: check that the stack is running");
  }
  if (r.error !== undefined || !r.response.ok) throw toApiError(r.response.status, r.error, r.response.statusText, r.response.headers.get("Retry-After"));
  return r.data as T;
}

type Q<P extends keyof paths, M extends "get" | "post"> = paths[P][M] extends { parameters: { query?: infer X } } ? NonNullable<X> : never;
export type JobsQuery = Q<"/api/v1/reconciliation/jobs", "get">;
export type MismatchesQuery = Q<"/api/v1/reconciliation/mismatches", "get">;

const clean = <T extends object>(q: T): T =>
  Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined && v !== null && v !== "")) as T;

export const cdc = {
  jobs: (query: JobsQuery) => cdcCall(cdcClient.GET("/api/v1/reconciliation/jobs", { params: { query: clean(query) } })),
  job: (jobId: string) => cdcCall(cdcClient.GET("/api/v1/reconciliation/jobs/{job_id}", { params: { path: { job_id: jobId } } })),
  mismatches: (query: MismatchesQuery, signal?: AbortSignal) =>
    cdcCall(cdcClient.GET("/api/v1/reconciliation/mismatches", { params: { query: clean(query) }, signal })),
  trigger: (body: paths["/api/v1/reconciliation/trigger"]["post"]["requestBody"] extends { content: { "application/json": infer B } } ? B : never) =>
    cdcCall(cdcClient.POST("/api/v1/reconciliation/trigger", { body })),
  resolve: (mismatchId: string, body: { resolution_status: "MANUAL_RESOLVED" | "IGNORED"; resolution_notes: string | null }) =>
    cdcCall(cdcClient.POST("/api/v1/reconciliation/mismatches/{mismatch_id}/resolve", { params: { path: { mismatch_id: mismatchId } }, body })),
  /** The catalog's table names (sorted). */
  tables: async (): Promise<string[]> => (await cdcCall(cdcClient.GET("/api/v1/reconciliation/tables"))).tables,
  async health(): Promise<{ status: string; checks?: Record<string, { status: string; detail?: string; error?: string }> }> {
    const res = await fetch(API_BASE + "/health");
    return (await parse(res)) as never;
  },
};

// ------------------------------------------------------------------------------------------ streams
// The same typed client: paths, query parameters, bodies and the `ApiResponse<T>` envelope come from
// the OpenAPI document; `data` is unwrapped here.
type Env<T> = { data: T };
async function sx<T>(p: Promise<{ data?: Env<T>; error?: unknown; response: Response }>): Promise<T> {
  return (await cdcCall(p)).data;
}
type Query<P extends keyof paths> = paths[P]["get"] extends { parameters: { query?: infer X } } ? NonNullable<X> : never;
export type FilesQuery = Query<"/api/v1/files">;
export type StreamsQuery = Query<"/api/v1/streams">;
export type RunsQuery = Query<"/api/v1/streams/{id}/runs">;
export type ExceptionsQuery = Query<"/api/v1/exceptions">;
export type LegacyExceptionsQuery = Query<"/api/v1/reconciliations/{id}/exceptions">;
export type LegacyQuery = Query<"/api/v1/reconciliations">;
type PageQ = { page?: number; pageSize?: number };
const c = cdcClient;
const path = (id: number) => ({ path: { id } });

export const files = {
  list: (q: FilesQuery) => sx(c.GET("/api/v1/files", { params: { query: clean(q) } })),
  get: (id: number) => sx(c.GET("/api/v1/files/{id}", { params: path(id) })),
  remove: (id: number) => sx(c.DELETE("/api/v1/files/{id}", { params: path(id) })),
  createUpload: (filename: string, sizeBytes: number) => sx(c.POST("/api/v1/files/uploads", { body: { filename, sizeBytes } })),
  complete: (id: number) => sx(c.POST("/api/v1/files/{id}/complete", { params: path(id) })),
};
/** A PUT body carries the version its form was read at: the API answers 409 CONFLICT when the resource
 * changed since (another operator saved), instead of silently replacing that change. */
export type Versioned = { version?: number };
export function atVersion<T extends object>(body: T, version: number | null | undefined): T & Versioned {
  return version == null ? body : { ...body, version };
}
export const ruleSets = {
  list: (q: PageQ) => sx(c.GET("/api/v1/rule-sets", { params: { query: clean(q) } })),
  get: (id: number, version?: number) => sx(c.GET("/api/v1/rule-sets/{id}", { params: { path: { id }, query: clean({ version }) } })),
  create: (body: RuleSetInput) => sx(c.POST("/api/v1/rule-sets", { body })),
  update: (id: number, body: RuleSetInput & Versioned) => sx(c.PUT("/api/v1/rule-sets/{id}", { params: path(id), body })),
  remove: (id: number) => sx(c.DELETE("/api/v1/rule-sets/{id}", { params: path(id) })),
};
export const dataSources = {
  list: (q: PageQ) => sx(c.GET("/api/v1/data-sources", { params: { query: clean(q) } })),
  get: (id: number) => sx(c.GET("/api/v1/data-sources/{id}", { params: path(id) })),
  create: (body: DataSourceInput) => sx(c.POST("/api/v1/data-sources", { body })),
  update: (id: number, body: DataSourceInput & Versioned) => sx(c.PUT("/api/v1/data-sources/{id}", { params: path(id), body })),
  test: (id: number) => sx(c.POST("/api/v1/data-sources/{id}/test", { params: path(id) })),
  remove: (id: number) => sx(c.DELETE("/api/v1/data-sources/{id}", { params: path(id) })),
};
export const streams = {
  list: (q: StreamsQuery) => sx(c.GET("/api/v1/streams", { params: { query: clean(q) } })),
  get: (id: number) => sx(c.GET("/api/v1/streams/{id}", { params: path(id) })),
  create: (body: StreamInput) => sx(c.POST("/api/v1/streams", { body })),
  update: (id: number, body: StreamInput & Versioned) => sx(c.PUT("/api/v1/streams/{id}", { params: path(id), body })),
  validate: (id: number) => sx(c.POST("/api/v1/streams/{id}/validate", { params: path(id) })),
  pause: (id: number) => sx(c.POST("/api/v1/streams/{id}/pause", { params: path(id) })),
  resume: (id: number) => sx(c.POST("/api/v1/streams/{id}/resume", { params: path(id) })),
  archive: (id: number) => sx(c.DELETE("/api/v1/streams/{id}", { params: path(id) })),
  runs: (id: number, q: RunsQuery) => sx(c.GET("/api/v1/streams/{id}/runs", { params: { path: { id }, query: clean(q) } })),
  run: (id: number, reason?: string) =>
    sx(c.POST("/api/v1/streams/{id}/runs", { params: path(id), body: { triggerType: "MANUAL", triggerMetadata: { reason: reason || "Started from the console" } } })),
};
export const runs = {
  get: (runId: number) => sx(c.GET("/api/v1/stream-runs/{runId}", { params: { path: { runId } } })),
  steps: (runId: number, allAttempts = false) =>
    sx(c.GET("/api/v1/stream-runs/{runId}/steps", { params: { path: { runId }, query: allAttempts ? { attempts: "all" } : {} } })),
  cancel: (runId: number) => sx(c.POST("/api/v1/stream-runs/{runId}/cancel", { params: { path: { runId } } })),
  artifacts: (stepRunId: number) => sx(c.GET("/api/v1/step-runs/{stepRunId}/artifacts", { params: { path: { stepRunId } } })),
};
export const exceptions = {
  list: (q: ExceptionsQuery, signal?: AbortSignal) => sx(c.GET("/api/v1/exceptions", { params: { query: clean(q) }, signal })),
  get: (id: number) => sx(c.GET("/api/v1/exceptions/{id}", { params: path(id) })),
  patch: (id: number, body: ExceptionPatch) => sx(c.PATCH("/api/v1/exceptions/{id}", { params: path(id), body })),
  history: (id: number, q: PageQ = {}) => sx(c.GET("/api/v1/exceptions/{id}/history", { params: { path: { id }, query: clean(q) } })),
};
export const legacy = {
  list: (q: LegacyQuery) => sx(c.GET("/api/v1/reconciliations", { params: { query: clean(q) } })),
  get: (id: number) => sx(c.GET("/api/v1/reconciliations/{id}", { params: path(id) })),
  status: (id: number) => sx(c.GET("/api/v1/reconciliations/{id}/status", { params: path(id) })),
  create: (body: LegacyCreate) => sx(c.POST("/api/v1/reconciliations", { body })),
  start: (id: number) => sx(c.POST("/api/v1/reconciliations/{id}/start", { params: path(id) })),
  cancel: (id: number) => sx(c.POST("/api/v1/reconciliations/{id}/cancel", { params: path(id) })),
  exceptions: (id: number, q: LegacyExceptionsQuery) => sx(c.GET("/api/v1/reconciliations/{id}/exceptions", { params: { path: { id }, query: clean(q) } })),
};

// ------------------------------------------------------------------------------------------ bytes
export const DIRECT_UPLOAD_LIMIT = 5 * 1024 * 1024;

interface ConsoleConfig {
  uploadProxy?: boolean;
}
let configP: Promise<ConsoleConfig> | null = null;
function consoleConfig(): Promise<ConsoleConfig> {
  configP ??= fetch("/console-config.json").then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
  return configP;
}

function xhr(method: string, url: string, body: Blob, headers: Record<string, string>, onProgress: (f: number) => void, signal?: AbortSignal): Promise<{ status: number; body: unknown; statusText: string; retryAfter: string | null }> {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open(method, url);
    for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
    x.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    x.onload = () => {
      let b: unknown = x.responseText;
      try {
        b = x.responseText ? JSON.parse(x.responseText) : null;
      } catch {
        /* not JSON */
      }
      resolve({ status: x.status, body: b, statusText: x.statusText, retryAfter: x.getResponseHeader("Retry-After") });
    };
    x.onerror = () => reject(new ApiError(0, "NETWORK", "The upload was interrupted (network error)"));
    x.onabort = () => reject(new ApiError(0, "ABORTED", "The upload was canceled"));
    signal?.addEventListener("abort", () => x.abort());
    x.send(body);
  });
}

/**
 * Uploads a file with progress (0..1). Up to the direct limit: one POST /files; above it, the upload
 * session: POST /files/uploads, PUT the bytes to the presigned URL, POST /files/{id}/complete.
 */
export async function uploadFile(file: File, onProgress: (fraction: number, phase: string) => void, signal?: AbortSignal): Promise<FileMeta> {
  if (file.size <= DIRECT_UPLOAD_LIMIT) {
    const r = await xhr("POST", `${API_BASE}/files?${toQuery({ filename: file.name })}`, file, authHeaders(), (f) => onProgress(f, "uploading"), signal);
    if (r.status >= 400) {
      if (r.status === 401) keyRefused();
      if (r.status !== 413) throw toApiError(r.status, r.body, r.statusText, r.retryAfter);
    } else {
      return (r.body as ApiResponse<FileMeta>).data;
    }
  }
  const session = await files.createUpload(file.name, file.size);
  const cfg = await consoleConfig();
  const target = cfg.uploadProxy ? `/_upload?${toQuery({ to: session.uploadUrl })}` : session.uploadUrl;
  // the bytes without a content type: the presigned URL was not signed for one
  const put = await xhr("PUT", target, file.slice(0, file.size, ""), {}, (f) => onProgress(f, "uploading"), signal);
  if (put.status >= 300) throw new ApiError(put.status, "UPLOAD_FAILED", `Storing the bytes failed (${put.status} ${put.statusText})`);
  onProgress(1, "processing");
  await files.complete(session.fileId);
  return waitForFile(session.fileId, signal);
}

/** Polls a file until a worker has inspected it (READY or INVALID). */
export async function waitForFile(id: number, signal?: AbortSignal, deadlineMs = 15 * 60_000): Promise<FileMeta> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const f = await files.get(id);
    if (f.status !== "PROCESSING" || Date.now() > until || signal?.aborted) return f;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Downloads a file's exact bytes through the API (with the key), returning them and their sha256. */
export async function downloadBytes(downloadUrl: string): Promise<{ blob: Blob; sha256: string; filename: string | null }> {
  const url = downloadUrl.startsWith("/api/") || /^https?:/.test(downloadUrl) ? downloadUrl : API_BASE + downloadUrl;
  const res = await fetch(url, { headers: authHeaders() });
  if (res.status === 401) keyRefused();
  if (!res.ok) throw toApiError(res.status, await parse(res), res.statusText, res.headers.get("Retry-After"));
  const blob = await res.blob();
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  const cd = res.headers.get("Content-Disposition");
  const m = cd && /filename="?([^";]+)"?/.exec(cd);
  return { blob, sha256: "sha256:" + hex, filename: m ? m[1] : null };
}

export function saveBlob(blob: Blob, filename: string) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
}
