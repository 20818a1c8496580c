/**
 * The built-in scenarios, run by name (`rstmem explore pool-race`); `default` is what `rstmem run` with
 * no file and `npm start` run. Paths resolve the same from src/cli (tsx) and dist/cli (compiled).
 */
import { fileURLToPath } from "node:url";

const scenario = (name: string) => fileURLToPath(new URL(`../../scenarios/${name}`, import.meta.url));

/** The built-in default scenario, run by `rstmem run` with no file and by `npm start`. */
export const DEFAULT_SCENARIO = scenario("default.yaml");

export const BUILTIN_SCENARIOS: Readonly<Record<string, string>> = {
  default: DEFAULT_SCENARIO,
  "secure-video-session": scenario("secure-video-session.yaml"),
  "cma-pressure": scenario("cma-pressure.yaml"),
  "pool-race": scenario("pool-race.yaml"),
};
