// What the page tests share: a page rendered at its route, and lists in the streams contract's pages.
import type { ReactElement } from "react";
import { render } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";

/**
 * Renders `element` as the route `path` (`/runs/:id`) with the browser at `url` (`/runs/7#step-2`):
 * the page reads its params, query and hash as in the console.
 */
export function renderAt(url: string, path: string, element: ReactElement) {
  return render(
    <MemoryRouter initialEntries={[url]}>
      <Routes><Route path={path} element={element} /></Routes>
    </MemoryRouter>,
  );
}

/**
 * The page `q` asks for of `items`, as the streams API pages a list (20 a page by default, as the API;
 * totalPages 0 for no item). Without `q`: every item on page 1.
 */
export function pageOf<T>(items: T[], q?: { page?: number; pageSize?: number }) {
  const pageSize = q ? (q.pageSize ?? 20) : Math.max(items.length, 1), page = q?.page ?? 1;
  return { items: items.slice((page - 1) * pageSize, page * pageSize), page, pageSize, totalItems: items.length, totalPages: Math.ceil(items.length / pageSize) };
}

/** The whole console at `url`, signed in (its own router, as in the browser). */
export async function renderApp(url: string) {
  const { auth } = await import("../../src/services/api");
  auth.set("k");
  window.history.pushState({}, "", url);
  const { App } = await import("../../src/App");
  return render(<App />);
}
