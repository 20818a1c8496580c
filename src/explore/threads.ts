/**
 * Where a worker-thread module is and how its threads must start. `path` is the module's place under
 * the sources' root, without extension ("explore/explore_worker"); `here` is the caller's URL, a module
 * one level under that root (src/x/ or dist/x/, or the command's bundle in dist/bundle/, which
 * scripts/build.mjs puts at that depth for this). The `.ts` module under tsx (each thread then imports
 * tsx's loader too), the `.js` one in dist/ when the command runs compiled: the bundle's threads load
 * dist/ itself. Used by the sweep's pool (cli/sweep_pool.ts) and the parallel explorer
 * (explore_parallel.ts).
 */
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";

export function workerEntry(path: string, here: string): { filename: string; execArgv: string[] } {
  const ts = /\.[cm]?ts$/.test(new URL(here).pathname);
  const filename = new URL(`../${path}.${ts ? "ts" : "js"}`, here).href;
  const execArgv = workerExecArgv(process.execArgv);
  if (ts && !execArgv.some((a) => a.includes("tsx"))) {
    // tsx registered at run time (bin/rstmem.js) stays in the main thread: each worker imports its loader.
    execArgv.push("--import", pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href);
  }
  return { filename, execArgv };
}

/** Node options a worker thread takes that say how modules load; each with its value when it has one. */
const LOADER_OPTIONS = new Set([
  "--import",
  "--require",
  "-r",
  "--loader",
  "--experimental-loader",
  "--conditions",
  "-C",
]);
const LOADER_FLAGS = new Set(["--enable-source-maps", "--no-warnings"]);

/**
 * The parent's options a worker gets: how modules load (tsx's loader, source maps), nothing else. Node
 * refuses a worker whose execArgv holds a V8 or per-process option — `node --max-old-space-size=8192
 * bin/rstmem.js sweep …` ended in "Initiated Worker with invalid execArgv flags" — and those apply to
 * the whole process anyway (one V8 heap limit per isolate is the one exception, and workers get the
 * default). Profiling flags would make every thread write its own profile.
 */
export function workerExecArgv(parent: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const a = parent[i];
    const name = a.includes("=") ? a.slice(0, a.indexOf("=")) : a;
    if (LOADER_FLAGS.has(a)) out.push(a);
    else if (LOADER_OPTIONS.has(name)) {
      out.push(a);
      if (name === a && i + 1 < parent.length) out.push(parent[++i]);
    }
  }
  return out;
}

/** `--jobs` default: the machine's cores. */
export const defaultJobs = (): number => Math.max(1, availableParallelism());

/**
 * The hand-out loop of a search split in chunks (explore_parallel.ts, fuzz_parallel.ts): `remoteLanes`
 * lanes each hand a chunk to a worker thread and wait for it (`remote`), and this thread makes chunks
 * itself (`here`) between the workers' replies, one turn of the event loop apart, so that a reply is
 * taken and its lane's next chunk sent out while this thread works. Chunks come from handOut() in
 * order until it says −1; the caller merges what comes back in order. The first error (of a lane or of
 * this thread) stops every loop before its next chunk; it is thrown once all have stopped, so nothing
 * goes on making chunks for a search that has already failed.
 */
export async function shareChunks(
  handOut: () => number,
  here: (chunk: number) => void,
  remote: (chunk: number) => Promise<void>,
  remoteLanes: number,
): Promise<void> {
  let failed: { readonly error: unknown } | null = null;
  const next = (): number => (failed ? -1 : handOut());
  const guard = async (loop: () => Promise<void>): Promise<void> => {
    try {
      await loop();
    } catch (error) {
      failed ??= { error };
    }
  };
  const lane = async (): Promise<void> => {
    for (let c = next(); c >= 0; c = next()) await remote(c);
  };
  const mine = async (): Promise<void> => {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      const c = next();
      if (c < 0) return;
      here(c);
    }
  };
  await Promise.all([guard(mine), ...Array.from({ length: remoteLanes }, () => guard(lane))]);
  if (failed) throw (failed as { readonly error: unknown }).error;
}
