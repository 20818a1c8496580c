/**
 * The platform of the built-in pool-race (scenarios/pool-race.yaml) as one YAML flow mapping, for test
 * scenarios that want its small, cheap board: tzc400-board with 1 GiB of DRAM, a 64 MiB CMA area,
 * OP-TEE's secure-video pool at 4 MiB, and no speculation daemon.
 */
export const SMALL_BOARD =
  "{ preset: tzc400-board, dram_size: 1GiB, cma: [{ name: reserved, base: 0x70000000, size: 64MiB }], " +
  "protmem: { secure-video: 4MiB }, spec_fills_per_ms: 0 }";
