// Display helpers shared by the pages (pure: unit-tested).
import cronstrue from "cronstrue";

export type Tone = "ok" | "bad" | "warn" | "run" | "wait" | "muted" | "info" | "unknown";

const TONES: Record<string, Tone> = {
  // CDC job status, resolution status, mismatch types
  RUNNING: "run", COMPLETED: "ok", FAILED: "bad",
  PENDING: "wait", AUTO_RESOLVED: "ok", MANUAL_RESOLVED: "ok", IGNORED: "muted",
  MISSING_IN_POSTGRES: "warn", MISSING_IN_CASSANDRA: "warn", DATA_MISMATCH: "bad",
  HOURLY_SCHEDULED: "info", MANUAL_ONDEMAND: "info",
  ROW_COUNT: "info", CHECKSUM: "info", TIMESTAMP_RANGE: "info", SAMPLE: "info",
  LOW: "muted", NORMAL: "info", HIGH: "warn",
  // streams
  ACTIVE: "ok", PAUSED: "wait", ARCHIVED: "muted",
  PARTIAL_FAILED: "warn", CANCELED: "muted",
  IN_PROGRESS: "run", RETRY_WAIT: "warn", SKIPPED: "muted",
  PROCESSING: "run", READY: "ok", INVALID: "bad",
  UPLOAD: "info", ARTIFACT: "info", SNAPSHOT: "info",
  OPEN: "warn", RESOLVED: "ok",
  NO_CANDIDATE: "bad", TOLERANCE_EXCEEDED: "warn", DATE_OUT_OF_WINDOW: "warn", BELOW_SIMILARITY: "warn", AMBIGUOUS: "warn",
  MANUAL: "info", SCHEDULED: "info", EVENT: "info",
  STARTED: "ok", QUEUED: "wait", SKIPPED_RUN_ACTIVE: "muted", SKIPPED_NOT_ACTIVE: "muted",
  SOURCE: "info", TARGET: "info",
  POSTGRES: "info", CDC_TABLE: "info",
  MATCHED: "ok", UNMATCHED_SOURCE: "warn", UNMATCHED_TARGET: "warn", SNAPSHOT_SOURCE: "info", SNAPSHOT_TARGET: "info",
  UP: "ok", DOWN: "bad",
};

export function badgeTone(value: string): Tone {
  return TONES[value] ?? "unknown";
}

/** An enum value in words, as badges and headings write it: PARTIAL_FAILED is "partial failed". */
export function words(value: string): string {
  return value.replace(/_/g, " ").toLowerCase();
}

export function fmtDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");
}

export function ago(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "never";
  const s = Math.round((now - new Date(iso).getTime()) / 1000);
  if (Number.isNaN(s)) return iso;
  if (Math.abs(s) < 5) return "just now"; // a few seconds of clock skew either way
  if (s < 0) return `in ${dur(-s)}`;
  return `${dur(s)} ago`;
}

/**
 * A RUNNING CDC job's note that it waits out a fault (Cassandra or PostgreSQL unreachable), in the
 * contract's `validation_errors`: "retrying since <time>: <what>" (docs/decisions.md). Null for anything else.
 */
export function retryNote(v: unknown): { since: string; cause: string } | null {
  const m = typeof v === "string" ? /^retrying since (\S+?): ([\s\S]*)$/.exec(v) : null;
  return m ? { since: m[1], cause: m[2] } : null;
}

/**
 * A duration in words. Under 10 s a fraction keeps its tenth ("0.4 s", "2.3 s"; "< 0.1 s"), and a whole 0 — the
 * CDC API's `duration_seconds` counts whole seconds — reads "< 1 s" rather than a job that took no time.
 */
export function dur(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds <= 0) return "< 1 s";
  if (seconds < 9.95 && !Number.isInteger(seconds)) return seconds < 0.05 ? "< 0.1 s" : `${(Math.round(seconds * 10) / 10).toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ""}`.trim();
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function pct(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined) return "—";
  // a drift too small for `digits` decimals is not zero: 1 row in a million is 0.0001 %, not "0 %"
  if (v !== 0 && Math.abs(v) < 0.5 * 10 ** -digits) return `${v.toLocaleString("en-US", { maximumSignificantDigits: 2 })} %`;
  return `${Number(v.toFixed(digits))} %`;
}

export function num(v: number | null | undefined): string {
  return v === null || v === undefined ? "—" : v.toLocaleString("en-US");
}

/** A count in words: counted(1, "row") is "1 row", counted(1000, "row") "1,000 rows"; `many` when not `one` + "s". */
export function counted(n: number, one: string, many = one + "s"): string {
  return `${num(n)} ${n === 1 ? one : many}`;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${u[i]}`;
}

/** Columns whose values differ between the Cassandra and PostgreSQL row images (either side may be missing). */
export function differingFields(a: Record<string, unknown> | null | undefined, b: Record<string, unknown> | null | undefined, hint?: string[] | null): Set<string> {
  if (hint && hint.length) return new Set(hint);
  const out = new Set<string>();
  if (!a || !b) return out;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (stable(a[k]) !== stable(b[k])) out.add(k);
  }
  return out;
}

function stable(v: unknown): string {
  if (Array.isArray(v)) return JSON.stringify([...v].map(stable).sort());
  if (v && typeof v === "object") return JSON.stringify(Object.keys(v).sort().map((k) => [k, stable((v as Record<string, unknown>)[k])]));
  return JSON.stringify(v ?? null);
}

export function show(v: unknown): string {
  if (v === null || v === undefined) return "∅";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/**
 * A date filter as the person typed it, read as UTC whatever the browser's zone or locale, for the
 * API: `2026-12-02` (a whole day), `2026-12-02 14:30` (a whole minute), `2026-12-02 14:30:15`, also
 * with a `T` or a trailing `Z` as the API writes its times. The API takes a bound at the precision it is
 * given and both ends inclusive, so "to 2026-12-02" keeps the whole day and "to 14:30" the whole
 * minute. Null when it is not such a date (a month 13, a 30 February, 02/12/2026).
 */
export function parseUtcBound(text: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?Z?$/i.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, sec] = m;
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (day.getUTCFullYear() !== Number(y) || day.getUTCMonth() !== Number(mo) - 1 || day.getUTCDate() !== Number(d)) return null;
  if (h === undefined) return `${y}-${mo}-${d}`;
  if (Number(h) > 23 || Number(mi) > 59 || (sec !== undefined && Number(sec) > 59)) return null;
  return `${y}-${mo}-${d}T${h}:${mi}${sec !== undefined ? `:${sec}` : ""}Z`;
}

/** A bound from the URL as the filter shows it: `2026-12-02T14:30Z` → `2026-12-02 14:30`. */
export function boundText(iso: string): string {
  return iso.replace("T", " ").replace(/Z$/i, "");
}

/**
 * What a CDC job's row counts (and so its drift) cover, by strategy: the whole table for CHECKSUM and
 * ROW_COUNT; a SAMPLE counts the sampled keys found on each side, TIMESTAMP_RANGE the rows changed in
 * its window. Null for the whole table.
 */
export function countScope(strategy: string | null | undefined): string | null {
  if (strategy === "SAMPLE") return "in the sample";
  if (strategy === "TIMESTAMP_RANGE") return "changed in the window";
  return null;
}

/**
 * A UTC instant as the wall-clock time of an IANA time zone ("2026-12-03 02:30:00 Europe/Berlin"):
 * a schedule is written in its own zone, so its times are read there. UTC (or no zone) is fmtDate.
 */
export function fmtInZone(iso: string | null | undefined, timeZone: string | null | undefined): string {
  if (!iso) return "—";
  if (!timeZone || timeZone === "UTC" || timeZone === "Etc/UTC") return fmtDate(iso);
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }).formatToParts(d);
  } catch {
    return fmtDate(iso); // a zone this browser does not know
  }
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${timeZone}`;
}

/**
 * `part` of `whole` as a percentage with one decimal, but never rounded to 100 % or 0 % when it is
 * not: 9,999 of 10,000 rows matched is 99.99 %, not "100.0 %" (nor the API's own rounding to two
 * decimals, which makes 99.996 read 100). Null when there is nothing to divide.
 */
export function shareOf(part: number | null | undefined, whole: number | null | undefined): string | null {
  if (part === null || part === undefined || !whole) return null;
  if (part === whole) return "100 %";
  if (part === 0) return "0 %";
  const v = (100 * part) / whole;
  for (let d = 1; d <= 8; d++) {
    const t = v.toFixed(d);
    if (Number(t) !== 100 && Number(t) !== 0) return `${t} %`;
  }
  return `${v} %`;
}

/**
 * A schedule's cron in words: the streams API's six fields, seconds first ("0 0 0 * * SUN" is "at 00:00,
 * only on Sunday"), times on the 24-hour clock. Null for what is not six fields or cannot be read (the page
 * shows the cron as written then): five fields read as a classic cron would say another schedule.
 */
export function cronWords(cron: string | null | undefined): string | null {
  if (!cron || cron.trim().split(/\s+/).length !== 6) return null;
  try {
    const t = cronstrue.toString(cron.trim(), { use24HourTimeFormat: true, throwExceptionOnParseError: true });
    return t.charAt(0).toLowerCase() + t.slice(1);
  } catch {
    return null;
  }
}
