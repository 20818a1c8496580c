/**
 * The kmalloc ledger (src/kernel/mm/slab.ts): kmalloc's size classes as kmemleak records them
 * (slab_post_alloc_hook(): s->object_size), kcalloc()'s overflow check, and the unreferenced objects
 * a kmemleak scan reports: an object whose holder was kfree()d while it lived.
 */
import { describe, expect, it } from "vitest";
import { Slab } from "../../src/kernel/mm/slab.ts";
import { ModelBug } from "../../src/sim/assert.ts";

describe("kmalloc caches", () => {
  it("round the request up to the kmalloc size classes; beyond two pages the request itself", () => {
    const s = new Slab();
    const sizes = [1, 4, 8, 9, 65, 96, 97, 200, 4097, 8192, 8193].map(
      (n) => s.live.get(s.kmalloc(n, "f"))!.size,
    );
    expect(sizes).toEqual([8, 8, 8, 16, 96, 96, 128, 256, 8192, 8192, 8193]);
  });

  it("kmalloc(0) is ZERO_SIZE_PTR and takes nothing; kfree(NULL) and kfree(ZERO_SIZE_PTR) are no-ops", () => {
    const s = new Slab();
    expect(s.kmalloc(0, "f")).toBe(0x10n);
    s.kfree(0n);
    s.kfree(0x10n);
    expect(s.live.size).toBe(0);
  });

  it("addresses are distinct and deterministic; a kfree of an object the ledger never gave is a model bug", () => {
    const a = new Slab();
    const b = new Slab();
    const xa = [a.kmalloc(8, "f"), a.kmalloc(8, "f"), a.kmalloc(96, "g")];
    const xb = [b.kmalloc(8, "f"), b.kmalloc(8, "f"), b.kmalloc(96, "g")];
    expect(new Set(xa).size).toBe(3);
    expect(xa).toEqual(xb);
    a.kfree(xa[0]);
    expect(() => a.kfree(xa[0])).toThrow(ModelBug);
  });
});

describe("kmemleak's unreferenced objects", () => {
  it("an object held only by a freed holder is reported; freeing it too, or a holder left, is not", () => {
    const s = new Slab();
    const rp = s.kmalloc(96, "optee_protmem_alloc_dyn_pool");
    const attrs = s.kmalloc(4, "optee_protmem_alloc_dyn_pool");
    s.link(rp, attrs);
    expect(s.unreferenced()).toEqual([]);
    s.kfree(rp); // pool_op_dyn_destroy_pool()
    expect(s.unreferenced().map((o) => [o.addr, o.size, o.site])).toEqual([
      [attrs, 8, "optee_protmem_alloc_dyn_pool"],
    ]);
    s.kfree(attrs);
    expect(s.unreferenced()).toEqual([]);

    const h1 = s.kmalloc(32, "a");
    const h2 = s.kmalloc(32, "b");
    const x = s.kmalloc(16, "c");
    s.link(h1, x);
    s.link(h2, x);
    s.kfree(h1);
    expect(s.unreferenced()).toEqual([]); // h2 still holds it
  });

  it("an object never stored in another ledger object is held from outside and never reported", () => {
    const s = new Slab();
    s.kmalloc(64, "somewhere");
    expect(s.unreferenced()).toEqual([]);
  });
});
