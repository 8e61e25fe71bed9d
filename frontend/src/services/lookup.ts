// Names of rule sets, streams and data sources beside their ids, and choice lists of all of them.
// The API lists at most 100 a page: a choice list reads every page, and a name is read by its id
// (GET /rule-sets/{id}, ...) when no list has brought it, then kept for a while.
import { dataSources, ruleSets, streams } from "./api";

/** The API's largest page. */
export const LIST_PAGE_SIZE = 100;
/** Pages read at once when a list has more than one. */
const PARALLEL_PAGES = 4;

type PageOf<T> = { items: T[]; totalPages: number };

/**
 * Every item of a paginated list: the first page, then the others (a few at a time). An item that
 * moved to a later page while they were read (one created meanwhile) is listed once.
 */
export async function readAll<T extends { id: number }>(read: (q: { page: number; pageSize: number }) => Promise<PageOf<T>>): Promise<T[]> {
  const first = await read({ page: 1, pageSize: LIST_PAGE_SIZE });
  const pages = [first];
  for (let p = 2; p <= first.totalPages; p += PARALLEL_PAGES) {
    const batch = Array.from({ length: Math.min(PARALLEL_PAGES, first.totalPages - p + 1) }, (_, i) => read({ page: p + i, pageSize: LIST_PAGE_SIZE }));
    pages.push(...(await Promise.all(batch)));
  }
  const seen = new Set<number>();
  return pages.flatMap((pg) => pg.items).filter((x) => (seen.has(x.id) ? false : (seen.add(x.id), true)));
}

export type NamedKind = "ruleSet" | "stream" | "dataSource";

const readOne: Record<NamedKind, (id: number) => Promise<{ name: string }>> = {
  ruleSet: (id) => ruleSets.get(id),
  stream: (id) => streams.get(id),
  dataSource: (id) => dataSources.get(id),
};

/** How long a name read is trusted (a rename elsewhere shows after this; one here at once, see forgetName). */
export const NAME_TTL_MS = 60_000;
const names = new Map<string, { at: number; name: Promise<string | null> }>();
const keyOf = (kind: NamedKind, id: number) => `${kind}:${id}`;

/** Names a list read anyway has brought (no request needed for them afterwards). */
export function rememberNames(kind: NamedKind, items: { id: number; name: string }[]) {
  const at = Date.now();
  for (const x of items) names.set(keyOf(kind, x.id), { at, name: Promise.resolve(x.name) });
}

/** Drops a name read before (after a save or delete here), or every name. */
export function forgetName(kind?: NamedKind, id?: number) {
  if (kind === undefined) names.clear();
  else names.delete(keyOf(kind, id ?? 0));
}

/**
 * The names of these ids, each read by its id unless known (one request per unknown id, shared by
 * callers asking at once). An id that cannot be read (deleted, no access) maps to null and is asked
 * again next time.
 */
export async function namesOf(kind: NamedKind, ids: Iterable<number>): Promise<Record<number, string | null>> {
  const now = Date.now();
  const wanted = [...new Set(ids)].filter((id) => Number.isInteger(id) && id > 0);
  const entries = await Promise.all(
    wanted.map(async (id) => {
      const key = keyOf(kind, id);
      let hit = names.get(key);
      if (!hit || now - hit.at > NAME_TTL_MS) {
        const entry = {
          at: now,
          name: readOne[kind](id).then(
            (x) => x.name,
            () => {
              if (names.get(key) === entry) names.delete(key);
              return null;
            },
          ),
        };
        hit = entry;
        names.set(key, hit);
      }
      return [id, await hit.name] as const;
    }),
  );
  return Object.fromEntries(entries);
}

async function remembered<T extends { id: number; name: string }>(kind: NamedKind, read: (q: { page: number; pageSize: number }) => Promise<PageOf<T>>): Promise<T[]> {
  const items = await readAll(read);
  rememberNames(kind, items);
  return items;
}

/** Every rule set, stream or data source, for a choice list (their names remembered). */
export const allRuleSets = () => remembered("ruleSet", (q) => ruleSets.list(q));
export const allStreams = () => remembered("stream", (q) => streams.list(q));
export const allDataSources = () => remembered("dataSource", (q) => dataSources.list(q));
