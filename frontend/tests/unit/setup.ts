// findBy*/waitFor poll until their deadline: 15 s instead of Testing Library's 1 s, as the machines that run
// the tests are shared (load averages of 8 on 2 cores were seen) and a page that reads the API several times
// in a row, after its module was first loaded, took more than 5 s there. A passing test does not wait longer
// for it; only a failing one takes longer to fail. No test sets a shorter deadline of its own.
import { afterEach } from "vitest";
import { configure } from "@testing-library/react";

configure({ asyncUtilTimeout: 15000 });

// names read by id are kept for a while (src/services/lookup.ts): each test starts without them, as a
// page opened in a new browser tab would (imported only once the test file's own vi.mock of the API is set)
afterEach(async () => (await import("../../src/services/lookup")).forgetName());
