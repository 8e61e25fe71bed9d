import { describe, expect, it } from "vitest";
import { ago, badgeTone, bytes, differingFields, dur, pct } from "../../src/services/format";
import * as T from "../../src/services/types";

describe("status badges", () => {
  // every enum value of both contracts has a deliberate colour (not the fallback)
  const lists = {
    JOB_STATUSES: T.JOB_STATUSES, JOB_TYPES: T.JOB_TYPES, STRATEGIES: T.STRATEGIES, PRIORITIES: T.PRIORITIES,
    MISMATCH_TYPES: T.MISMATCH_TYPES, RESOLUTION_STATUSES: T.RESOLUTION_STATUSES, STREAM_STATUSES: T.STREAM_STATUSES,
    RUN_STATUSES: T.RUN_STATUSES, STEP_RUN_STATUSES: T.STEP_RUN_STATUSES, FILE_STATUSES: T.FILE_STATUSES,
    FILE_ORIGINS: T.FILE_ORIGINS, EXCEPTION_REASONS: T.EXCEPTION_REASONS, EXCEPTION_STATUSES: T.EXCEPTION_STATUSES,
    LEGACY_STATUSES: T.LEGACY_STATUSES, DATA_SOURCE_TYPES: T.DATA_SOURCE_TYPES, OCCURRENCE_STATUSES: T.OCCURRENCE_STATUSES, ARTIFACT_TYPES: T.ARTIFACT_TYPES, TRIGGER_TYPES: T.TRIGGER_TYPES, EXCEPTION_SIDES: T.EXCEPTION_SIDES,
  };
  for (const [name, values] of Object.entries(lists)) {
    it(`knows every value of ${name}`, () => {
      for (const v of values) expect(badgeTone(v), v).not.toBe("unknown");
    });
  }
  it("colours outcomes by meaning", () => {
    expect(badgeTone("COMPLETED")).toBe("ok");
    expect(badgeTone("FAILED")).toBe("bad");
    expect(badgeTone("PARTIAL_FAILED")).toBe("warn");
    expect(badgeTone("RETRY_WAIT")).toBe("warn");
    expect(badgeTone("IN_PROGRESS")).toBe("run");
    expect(badgeTone("CANCELED")).toBe("muted");
    expect(badgeTone("SOMETHING_NEW")).toBe("unknown");
  });
});

describe("differing fields", () => {
  it("finds the columns whose values differ", () => {
    const c = { id: "u1", name: "John Doe", age: 3, tags: ["a", "b"] };
    const p = { id: "u1", name: "John Smith", age: 3, tags: ["b", "a"] };
    expect([...differingFields(c, p)]).toEqual(["name"]);
  });
  it("treats a column missing on one side as differing", () => {
    expect([...differingFields({ a: 1, b: null }, { a: 1 })]).toEqual([]);
    expect([...differingFields({ a: 1, b: 2 }, { a: 1 })]).toEqual(["b"]);
  });
  it("marks nothing when a whole row is missing", () => {
    expect(differingFields(null, { a: 1 }).size).toBe(0);
  });
  it("prefers the API's differing_columns when given", () => {
    expect([...differingFields({ a: 1 }, { a: 1 }, ["a"])]).toEqual(["a"]);
  });
});

describe("numbers and times", () => {
  it("formats drift, durations and sizes", () => {
    expect(pct(0.601002)).toBe("0.601 %");
    expect(pct(null)).toBe("—");
    expect(pct(0)).toBe("0 %");
    expect(pct(100 / 1_000_000)).toBe("0.0001 %"); // one row in a million differs: not "0 %"
    expect(pct(100 / 30_000_000)).toBe("0.0000033 %");
    expect(pct(0.0005)).toBe("0.001 %");
    expect(dur(135)).toBe("2 min 15 s");
    expect(dur(59)).toBe("59 s");
    // short runs: a tenth of a second under 10 s, never "0 s" for something that took time
    expect(dur(0)).toBe("< 1 s");
    expect(dur(0.37)).toBe("0.4 s");
    expect(dur(0.02)).toBe("< 0.1 s");
    expect(dur(2.349)).toBe("2.3 s");
    expect(dur(9.96)).toBe("10 s");
    expect(dur(1)).toBe("1 s");
    expect(dur(7200)).toBe("2 h 0 min");
    expect(bytes(5 * 1024 * 1024)).toBe("5.0 MB");
    expect(bytes(12)).toBe("12 B");
  });
  it("says how long ago", () => {
    const now = Date.parse("2026-02-21T06:00:00Z");
    expect(ago("2026-02-21T05:58:00Z", now)).toBe("2 min ago");
    expect(ago("2026-02-21T06:00:02Z", now)).toBe("just now");
    expect(ago(null, now)).toBe("never");
  });
});

describe("times in a schedule's own zone", () => {
  it("reads a UTC instant as the zone's wall clock, daylight saving included", async () => {
    const { fmtInZone } = await import("../../src/services/format");
    expect(fmtInZone("2026-12-03T01:30:00Z", "Europe/Berlin")).toBe("2026-12-03 02:30:00 Europe/Berlin"); // CET, UTC+1
    expect(fmtInZone("2026-07-03T00:30:00Z", "Europe/Berlin")).toBe("2026-07-03 02:30:00 Europe/Berlin"); // CEST, UTC+2
    expect(fmtInZone("2026-03-08T07:00:00Z", "America/New_York")).toBe("2026-03-08 03:00:00 America/New_York"); // first instant after the gap
    expect(fmtInZone("2026-12-03T01:30:00Z", "UTC")).toBe("2026-12-03 01:30:00 UTC");
    expect(fmtInZone("2026-12-03T01:30:00Z", null)).toBe("2026-12-03 01:30:00 UTC");
    expect(fmtInZone("2026-12-03T01:30:00Z", "Not/AZone")).toBe("2026-12-03 01:30:00 UTC");
    expect(fmtInZone(null, "Europe/Berlin")).toBe("—");
  });
});

describe("match rates", () => {
  it("are never rounded to 100 % or 0 % when they are not", async () => {
    const { shareOf } = await import("../../src/services/format");
    expect(shareOf(531, 1000)).toBe("53.1 %");
    expect(shareOf(9999, 10000)).toBe("99.99 %");
    expect(shareOf(99996, 100000)).toBe("99.996 %"); // the API's matchRate rounds this to 100.0
    expect(shareOf(1, 100000)).toBe("0.001 %");
    expect(shareOf(10, 10)).toBe("100 %");
    expect(shareOf(0, 10)).toBe("0 %");
    expect(shareOf(1, 0)).toBeNull();
    expect(shareOf(null, 10)).toBeNull();
  });
});

describe("counts in words", () => {
  it("say one thing in the singular", async () => {
    const { counted } = await import("../../src/services/format");
    expect(counted(1, "row")).toBe("1 row");
    expect(counted(0, "row")).toBe("0 rows");
    expect(counted(1000, "exception")).toBe("1,000 exceptions");
    expect(counted(1, "mismatch", "mismatches")).toBe("1 mismatch");
    expect(counted(2, "mismatch", "mismatches")).toBe("2 mismatches");
  });
});

describe("a schedule's cron in words", () => {
  it("says the streams API's six fields (seconds first) in words, and nothing for what it cannot read", async () => {
    const { cronWords, words } = await import("../../src/services/format");
    const { triggerText } = await import("../../src/pages/streams/Streams");
    expect(cronWords("0 0 0 * * SUN")).toBe("at 00:00, only on Sunday");
    expect(cronWords("0 30 2 * * *")).toBe("at 02:30");
    expect(cronWords("0 */15 * * * *")).toBe("every 15 minutes");
    expect(cronWords("0 0 6 * * MON-FRI")).toBe("at 06:00, Monday through Friday");
    // five fields is a classic cron, which would be read as another schedule; not a cron at all
    expect(cronWords("30 2 * * *")).toBeNull();
    expect(cronWords("0 0 0 * * NOPE")).toBeNull();
    expect(cronWords("")).toBeNull();
    expect(triggerText("SCHEDULED", { cron: "0 0 0 * * SUN", timezone: "UTC" })).toBe("at 00:00, only on Sunday, UTC time (cron 0 0 0 * * SUN)");
    expect(triggerText("SCHEDULED", { cron: "30 2 * * *", timezone: "UTC" })).toBe("cron 30 2 * * * in UTC");
    // statuses in words, as badges, headings and page titles write them
    expect(words("PARTIAL_FAILED")).toBe("partial failed");
  });
});
