// The API client with some of its functions faked, for the page tests. In a test file:
//
//   vi.mock("../../src/services/api", async (orig) =>
//     (await import("./fake-api")).withFakeApi(orig, (real) => ({
//       streams: { get: async () => stream, runs: async () => pageOf([]) },
//       ruleSets: { remove: async () => { throw new real.ApiError(409, "CONFLICT", "in use"); } },
//     })));
//
// (vi.mock is hoisted above the file's imports, hence the import inside the factory; `real` is the
// real module, for its ApiError and toApiError.) Every function given is a vi.fn (so
// `expect(api.streams.run).toHaveBeenCalledWith(...)` works on it); the rest of the client is the real one.
import { vi } from "vitest";

type Api = typeof import("../../src/services/api");
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Fake = (...args: any[]) => unknown;
type Group = "cdc" | "files" | "ruleSets" | "dataSources" | "streams" | "runs" | "exceptions" | "legacy";
export type Fakes = { [G in Group]?: Partial<Record<keyof Api[G], Fake>> } & { saveBlob?: Fake; uploadFile?: Fake };

export async function withFakeApi(orig: () => Promise<Api>, fakes: Fakes | ((real: Api) => Fakes)): Promise<Api> {
  const real = await orig();
  const given = typeof fakes === "function" ? fakes(real) : fakes;
  const out: Record<string, unknown> = { ...real };
  for (const [name, value] of Object.entries(given)) {
    if (typeof value === "function") out[name] = vi.fn(value as Fake);
    else out[name] = { ...(real[name as Group] as object), ...Object.fromEntries(Object.entries(value as Record<string, Fake>).map(([k, fn]) => [k, vi.fn(fn)])) };
  }
  return out as unknown as Api;
}
